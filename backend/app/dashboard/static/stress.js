// The stress table: the portfolio's P&L in each scenario (GET /api/v1/portfolios/{id}/stress),
// through its factor exposures, and for a historical replay the prices cover also by full
// revaluation, so the model's error shows. What cannot be priced says why.
import { ApiError, get } from "./api.js";
import { num, signedPercent } from "./format.js";

const $ = (id) => document.getElementById(id);

const money = (value, currency) => {
  const n = num(value);
  return n === null ? "–" : n.toLocaleString("en-US", { style: "currency", currency, maximumFractionDigits: 0 });
};

function cell(row, text, className = "") {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

export async function loadStress(portfolioId, on) {
  const panel = $("stress-panel");
  const body = $("stress").querySelector("tbody");
  let report;
  try {
    report = await get(`/api/v1/portfolios/${portfolioId}/stress`, { date: on });
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404 && /no factor exposures/.test(error.message))) throw error;
    report = null;
  }
  body.replaceChildren();
  panel.hidden = !report;
  if (!report) return null;
  const of = report.denominator_is_equity ? "equity" : "gross exposure";
  $("stress-note").textContent =
    `Exposures of ${report.calculation_date}; fractions of ${of} (${money(report.denominator, report.currency)}).`;
  for (const s of report.scenarios) {
    const row = document.createElement("tr");
    row.dataset.scenario = s.code;
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = s.name;
    row.append(name);
    cell(row, s.kind === "historical" ? `${s.start} – ${s.end}` : "hypothetical");
    cell(row, money(s.pnl, report.currency), num(s.pnl) < 0 ? "neg" : "");
    cell(row, signedPercent(s.pnl_fraction));
    const reval = s.revaluation;
    cell(row, reval && num(reval.coverage) > 0 ? money(reval.pnl, report.currency) : "–");
    cell(row, reval && num(reval.coverage) > 0 ? money(reval.model_error, report.currency) : "–");
    const notes = [];
    if (s.null_reason) notes.push(s.null_reason);
    for (const left of s.left_out) notes.push(`${left.factor} left out: ${left.null_reason}`);
    if (reval && num(reval.coverage) < 1) notes.push(`revaluation covers ${signedPercent(reval.coverage, 0).replace("+", "")} of gross`);
    cell(row, notes.join("; "), "muted notes");
    body.append(row);
  }
  return report;
}
