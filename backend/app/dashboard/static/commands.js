// The commands the page tells an operator to run (from the repository root).
const RUN = "cd backend && uv run python scripts";

export const calculateCommand = (portfolioId, from, to) =>
  `${RUN}/calculate_risk_metrics.py --portfolio ${portfolioId} --from ${from} --to ${to}`;

export const staleCommand = (portfolioId) =>
  `${RUN}/calculate_risk_metrics.py --stale --portfolio ${portfolioId}`;

export const loadDataCommand = (symbols) => `${RUN}/load_prices.py --fmp ${symbols.join(" ")}`;

export const loadPricesCommand = (symbols, from) =>
  `${RUN}/load_prices.py --fmp ${["SPY", ...symbols.filter((s) => s !== "SPY")].join(" ")}${from ? ` --from ${from}` : ""}`;

export const DEMO_COMMAND = `${RUN}/demo_data.py`;

// Brings prices, profiles, weights and figures of every portfolio up to date.
export const REFRESH_COMMAND = `${RUN}/refresh.py`;

// What to run so that a portfolio without figures (none yet, or none on or before `on`)
// gets them: its own range, from the first entry of its positions to the last SPY price,
// which the positions answer gives when there is no snapshot. A book changed through the
// API carries an out-of-date mark from its earliest change: the range starts there when
// that is earlier, and a range through the last SPY price that holds the whole mark
// clears it. Returns {text, command}.
export function fillHint(portfolio, range, symbols = [], on = null) {
  const { first_entry_date: first, last_price_date: last } = range;
  const none = on ? `No risk snapshot of ${portfolio.name} on or before ${on}.` : `No risk snapshots yet for ${portfolio.name}.`;
  if (!first) {
    return { text: `${none} It has no positions: add one or import a CSV, then calculate its figures.`, command: null };
  }
  if (!last || last < first) {
    const after = last ? ` (the last is ${last})` : "";
    return {
      text: `${none} There is no SPY price on or after its first entry date, ${first}${after}: load prices first, with:`,
      command: loadPricesCommand(symbols, first),
    };
  }
  const pick = on ? " Pick a later date, or calculate" : " Calculate";
  const marked = portfolio.stale_from && portfolio.stale_from < first;
  const from = marked
    ? `from ${portfolio.stale_from}, where its out-of-date mark starts,`
    : `from its first entry (${first})`;
  return {
    text: `${none}${pick} its figures ${from} to the last SPY price (${last}) with:`,
    command: calculateCommand(portfolio.id, marked ? portfolio.stale_from : first, last),
  };
}
