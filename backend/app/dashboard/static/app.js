// The dashboard: sign-in, portfolio and date pickers, charts, the positions table and the
// book's actions (book.js).
import { ApiError, get, getPublic, signIn, token } from "./api.js";
import { initBook, rowAction } from "./book.js";
import { drawBeta, drawConcentration, drawSectors, drawVolatility, purge } from "./charts.js";
import { DEMO_COMMAND, fillHint, staleCommand } from "./commands.js";
import { loadFactors } from "./factors.js";
import { loadStress } from "./stress.js";
import { purgeCorrelations, showCorrelations } from "./correlations.js";
import { fixed, percent, signedPercent } from "./format.js";
import { initDialogs } from "./forms.js";
import { renderLeftOut, showFreshness } from "./freshness.js";
import { initPositions, renderPositions } from "./positions.js";
import { betaNote, drawDrawdown, renderTailFigures, tailNote } from "./tail.js";

const $ = (id) => document.getElementById(id);
const state = { portfolios: [], history: new Map(), weightSources: new Map() };
let loadSeq = 0; // a newer selection wins over a slower, older load

const current = () => state.portfolios.find((p) => p.id === $("portfolio").value) ?? null;

// ---- views -------------------------------------------------------------------------

function showSignIn(notice = "") {
  token.clear();
  state.history.clear();
  $("dashboard-view").hidden = true;
  $("user-box").hidden = true;
  $("signin-view").hidden = false;
  $("signin-notice").textContent = notice;
  $("signin-error").textContent = "";
  $("password").value = "";
  $("email").focus();
}

function showMessage(text, { kind = "info", command = null } = {}) {
  const box = $("message");
  box.className = `message ${kind}`;
  box.replaceChildren(document.createTextNode(text));
  if (command) {
    const code = document.createElement("code");
    code.textContent = command;
    box.append(document.createElement("br"), code);
  }
  box.hidden = false;
  $("content").hidden = true;
}

function hideMessage() {
  $("message").hidden = true;
}

// What the last change of the book did (book.js says it).
function notify(text) {
  const box = $("book-status");
  box.textContent = text;
  box.hidden = false;
}

// A failed request: an expired token goes back to sign-in, the rest say what happened.
function handleError(error) {
  if (error instanceof ApiError && error.status === 401) {
    showSignIn("Your session has expired. Please sign in again.");
  } else if (error instanceof ApiError && error.status === 503) {
    showMessage("The service is unavailable right now (the database did not answer). Try again in a moment.", { kind: "error" });
  } else if (error instanceof ApiError) {
    showMessage(`The request failed (${error.status}): ${error.message}`, { kind: "error" });
  } else {
    showMessage(`Could not reach the server: ${error.message}`, { kind: "error" });
  }
}

// Figures a change of the book made out of date (without figures yet, the hint to
// calculate them says it all).
function showStale(portfolio) {
  const box = $("stale");
  box.hidden = !portfolio?.stale_from || !portfolio.latest_snapshot_date;
  if (box.hidden) return;
  const code = document.createElement("code");
  code.textContent = staleCommand(portfolio.id);
  box.replaceChildren(
    document.createTextNode(`Figures out of date from ${portfolio.stale_from}: the book changed since they were calculated. Recalculate them with`),
    document.createElement("br"),
    code,
  );
}

function enableBookActions(portfolio) {
  for (const id of ["import-csv", "add-position", "delete-portfolio"]) $(id).disabled = !portfolio;
}

// ---- loading -----------------------------------------------------------------------

async function start() {
  if (!token.get()) return showSignIn();
  try {
    const me = await get("/api/v1/me");
    $("user-email").textContent = me.email;
    $("user-box").hidden = false;
    $("signin-view").hidden = true;
    $("dashboard-view").hidden = false;
    $("book-status").hidden = true;
    await refresh(null);
  } catch (error) {
    handleError(error);
  }
}

// The portfolio list again (a change moves names and stale marks), then the portfolio
// `selectId` (or the first) shown.
async function refresh(selectId) {
  const list = await get("/api/v1/portfolios");
  state.portfolios = list.items;
  const select = $("portfolio");
  select.replaceChildren(...list.items.map((p) => new Option(p.name, p.id)));
  if (!list.items.length) {
    select.disabled = true;
    $("asof").disabled = true;
    $("asof").value = "";
    $("asof-note").textContent = "";
    $("positions-panel").hidden = true;
    $("correlation-panel").hidden = true;
    $("stale").hidden = true;
    $("freshness").hidden = true;
    enableBookActions(null);
    return showMessage("You have no portfolios yet: create one with New portfolio, or load the demo with:", { command: DEMO_COMMAND });
  }
  select.disabled = false;
  if (selectId && list.items.some((p) => p.id === selectId)) select.value = selectId;
  await selectPortfolio(select.value);
}

async function selectPortfolio(id) {
  const portfolio = state.portfolios.find((p) => p.id === id);
  const asof = $("asof");
  enableBookActions(portfolio);
  showStale(portfolio);
  showFreshness(portfolio);
  asof.disabled = !portfolio.latest_snapshot_date;
  asof.max = portfolio.latest_snapshot_date ?? "";
  asof.value = portfolio.latest_snapshot_date ?? "";
  $("asof-note").textContent = "";
  await load();
}

async function history(id) {
  if (!state.history.has(id)) {
    state.history.set(id, (await get(`/api/v1/portfolios/${id}/risk/history`)).points);
  }
  return state.history.get(id);
}

const noSnapshot = (error) => error instanceof ApiError && error.status === 404 && /no snapshot/.test(error.message);

// The selected portfolio on the selected date: its positions always; its figures when a
// snapshot is on or before the date, else what to run to calculate them.
async function load() {
  const seq = ++loadSeq;
  const portfolio = current();
  const on = $("asof").value || null;
  document.body.setAttribute("aria-busy", "true");
  try {
    const figures = portfolio.latest_snapshot_date
      ? Promise.all([get(`/api/v1/portfolios/${portfolio.id}/risk`, { date: on }), history(portfolio.id)]).catch(
          (error) => (noSnapshot(error) ? null : Promise.reject(error)),
        )
      : null;
    const [positions, found] = await Promise.all([
      get(`/api/v1/portfolios/${portfolio.id}/positions`, { date: on }),
      figures,
      showCorrelations(portfolio.id, on),
    ]);
    if (seq !== loadSeq) return;
    $("positions-panel").hidden = !positions.items.length;
    renderPositions(positions);
    if (found) {
      render(found[0], found[1], on);
      await Promise.all([loadFactors(portfolio.id, on), loadStress(portfolio.id, on)]);
      if (seq !== loadSeq) return;
    } else {
      // The note speaks of this date, never of the selection shown before.
      $("asof-note").textContent = on ? `No snapshot on or before ${on}.` : "";
      const symbols = [...new Set(positions.items.map((p) => p.underlying_symbol ?? p.symbol))];
      const hint = fillHint(portfolio, positions, symbols, on);
      showMessage(hint.text, { command: hint.command });
      $("stress-panel").hidden = true;
    }
  } catch (error) {
    if (seq === loadSeq) handleError(error);
  } finally {
    if (seq === loadSeq) {
      document.body.removeAttribute("aria-busy");
      document.body.dataset.loaded = `${portfolio.id}@${on ?? ""}`;
    }
  }
}

// ---- rendering ---------------------------------------------------------------------

function render(risk, points, requested) {
  hideMessage();
  $("content").hidden = false;
  const date = risk.calculation_date;
  $("asof-note").textContent = requested && requested !== date ? `Showing the latest snapshot on or before ${requested}: ${date}.` : "";
  $("headline-date").textContent = date;
  renderHeadline(risk);
  renderLeftOut(risk);
  drawBeta($("beta-chart"), points, date);
  drawVolatility($("vol-chart"), points, date);
  drawConcentration($("concentration-chart"), points, date);
  renderSectors(risk);
  renderTail(risk, points, date);
}

function renderTail(risk, points, date) {
  const note = betaNote(risk);
  $("beta-note").textContent = note ?? "";
  $("beta-note").hidden = note === null;
  renderTailFigures($("tail-figures"), risk);
  $("tail-note").textContent = tailNote(risk);
  drawDrawdown($("drawdown-chart"), points, date);
}

function renderHeadline(risk) {
  const items = [
    ["Market beta (weighted)", fixed(risk.market_beta_weighted), "beta-weighted"],
    ["Market beta (direct)", fixed(risk.market_beta_direct), "beta-direct"],
    ["Beta coverage", percent(risk.beta_coverage), "beta-coverage"],
    ["Realized vol 21d", percent(risk.realized_volatility_21d), "vol-21d"],
    ["Realized vol 63d", percent(risk.realized_volatility_63d), "vol-63d"],
    ["Expected vol 21d (HAR)", percent(risk.expected_volatility_21d), "vol-expected"],
    ["Vol trend", risk.volatility_trend ?? "–", "vol-trend"],
    ["HHI", fixed(risk.hhi, 0), "hhi"],
    ["Effective positions", fixed(risk.effective_num_positions, 1), "effective-n"],
    ["Top 3", percent(risk.top_3_concentration), "top-3"],
    ["Top 10", percent(risk.top_10_concentration), "top-10"],
  ];
  $("headline").replaceChildren(
    ...items.map(([label, value, key]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = label;
      dd.textContent = value;
      dd.dataset.metric = key;
      div.append(dt, dd);
      return div;
    }),
  );
}

function renderSectors(risk) {
  const comparison = risk.benchmark_comparison;
  let sectors;
  if (comparison) {
    sectors = comparison.sectors;
    const over = sectors.filter((s) => Number(s.active_weight) > 0).sort((a, b) => b.active_weight - a.active_weight);
    const under = sectors.filter((s) => Number(s.active_weight) < 0).sort((a, b) => a.active_weight - b.active_weight);
    const words = (list) => list.slice(0, 3).map((s) => `${s.sector} ${signedPercent(s.active_weight)}`).join(", ") || "none";
    $("sector-note").textContent =
      `Against ${comparison.benchmark_code} weights of ${comparison.asof_date}. Overweight: ${words(over)}. Underweight: ${words(under)}.`;
    showWeightsSource(comparison.benchmark_code, comparison.asof_date);
  } else {
    sectors = Object.entries(risk.sector_exposure ?? {}).map(([sector, weight]) => ({
      sector, portfolio_weight: weight, benchmark_weight: null, active_weight: null,
    }));
    $("sector-note").textContent =
      "No benchmark weights on or before this date (seed them with scripts/seed_benchmark_weights.py); portfolio weights only.";
    $("sector-source").hidden = true;
  }
  drawSectors($("sector-chart"), sectors);
}

// Where the benchmark's weights come from (the API gives each weight's data_source): made-up
// weights (the demo's) are marked as such, never shown as the index's.
async function showWeightsSource(code, asof) {
  const box = $("sector-source");
  const key = `${code}@${asof}`;
  try {
    if (!state.weightSources.has(key)) {
      const weights = await getPublic(`/api/v1/benchmarks/${encodeURIComponent(code)}/sector-weights`, { asof });
      state.weightSources.set(key, [...new Set(weights.weights.map((w) => w.data_source))]);
    }
  } catch {
    box.hidden = true;
    return;
  }
  const sources = state.weightSources.get(key);
  const synthetic = sources.some((s) => /synthetic|demo/i.test(s));
  box.className = synthetic ? "badge warn" : "muted";
  box.textContent = synthetic
    ? `Synthetic weights (${sources.join(", ")}): made up for the demo, not the real ${code}.`
    : `Weights source: ${sources.join(", ")}.`;
  box.hidden = false;
}

// ---- events ------------------------------------------------------------------------

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("signin-error");
  error.textContent = "";
  try {
    await signIn($("email").value.trim(), $("password").value);
  } catch (e) {
    error.textContent =
      e instanceof ApiError && e.status === 401
        ? "Wrong email or password."
        : e instanceof ApiError && e.status === 429
          ? "Too many failed sign-ins. Wait a minute and try again."
          : `Sign-in failed: ${e.message}`;
    $("password").value = "";
    $("password").focus();
    return;
  }
  $("password").value = "";
  await start();
  $("main").focus();
});

$("sign-out").addEventListener("click", () => {
  for (const id of ["beta-chart", "vol-chart", "sector-chart", "concentration-chart", "drawdown-chart"]) purge($(id));
  purgeCorrelations();
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  showSignIn("You are signed out.");
});

// Enter in a picker must not submit (and reload) the page: changes apply on their own.
$("controls").addEventListener("submit", (event) => event.preventDefault());
$("portfolio").addEventListener("change", (event) => {
  $("book-status").hidden = true;
  selectPortfolio(event.target.value);
});
$("asof").addEventListener("change", () => {
  if ($("asof").value) load();
});

initDialogs();
initPositions(rowAction);
initBook({
  portfolio: current,
  refresh: async (id) => {
    try {
      await refresh(id);
    } catch (error) {
      handleError(error);
    }
  },
  notify,
  handleError,
});

// plotly.min.js is a deferred classic script: it has run before this module does.
start();
