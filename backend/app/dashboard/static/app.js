// The dashboard: sign-in, portfolio and date pickers, charts, positions table.
import { ApiError, get, getPublic, signIn, token } from "./api.js";
import { drawBeta, drawConcentration, drawSectors, drawVolatility, purge } from "./charts.js";
import { DEMO_COMMAND, fillHint } from "./commands.js";
import { fixed, percent, signedPercent, typeLabel } from "./format.js";

const $ = (id) => document.getElementById(id);
const state = {
  portfolios: [], history: new Map(), weightSources: new Map(), positions: [], sort: { key: "weight", dir: "desc" },
};
let loadSeq = 0; // a newer selection wins over a slower, older load

const COLUMNS = [
  { key: "symbol", label: "Symbol", text: (p) => p.symbol, type: "text" },
  { key: "position_type", label: "Type", text: (p) => typeLabel(p.position_type), type: "text" },
  { key: "weight", label: "Weight", text: (p) => percent(p.weight), type: "number" },
  { key: "beta", label: "Beta", text: (p) => fixed(p.beta), type: "number" },
  { key: "r_squared", label: "R²", text: (p) => fixed(p.r_squared), type: "number" },
  { key: "realized_vol_21d", label: "21-day vol", text: (p) => percent(p.realized_vol_21d), type: "number" },
  { key: "vol_trend", label: "Trend", text: (p) => p.vol_trend ?? "–", type: "text" },
];

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

// ---- loading -----------------------------------------------------------------------

async function start() {
  if (!token.get()) return showSignIn();
  try {
    const me = await get("/api/v1/me");
    $("user-email").textContent = me.email;
    $("user-box").hidden = false;
    $("signin-view").hidden = true;
    $("dashboard-view").hidden = false;
    const list = await get("/api/v1/portfolios");
    state.portfolios = list.items;
    const select = $("portfolio");
    select.replaceChildren(...list.items.map((p) => new Option(p.name, p.id)));
    if (!list.items.length) {
      select.disabled = true;
      $("asof").disabled = true;
      return showMessage("You have no portfolios yet. Load the demo with:", { command: DEMO_COMMAND });
    }
    select.disabled = false;
    await selectPortfolio(select.value);
  } catch (error) {
    handleError(error);
  }
}

async function selectPortfolio(id) {
  const portfolio = state.portfolios.find((p) => p.id === id);
  const asof = $("asof");
  if (!portfolio.latest_snapshot_date) {
    asof.value = "";
    asof.disabled = true;
    $("asof-note").textContent = "";
    return showFillHint(portfolio, null);
  }
  asof.disabled = false;
  asof.max = portfolio.latest_snapshot_date;
  asof.value = portfolio.latest_snapshot_date;
  await load();
}

// No snapshot to show (none yet, or none on or before the date picked): the command that
// calculates THIS portfolio's figures over its own range, which the positions answer gives.
async function showFillHint(portfolio, on) {
  const seq = ++loadSeq;
  try {
    const positions = await get(`/api/v1/portfolios/${portfolio.id}/positions`, { date: on });
    if (seq !== loadSeq) return;
    const symbols = [...new Set(positions.items.map((p) => p.underlying_symbol ?? p.symbol))];
    const hint = fillHint(portfolio, positions, symbols, on);
    showMessage(hint.text, { command: hint.command });
  } catch (error) {
    if (seq === loadSeq) handleError(error);
  } finally {
    if (seq === loadSeq) document.body.dataset.loaded = `${portfolio.id}@${on ?? ""}`;
  }
}

async function history(id) {
  if (!state.history.has(id)) {
    state.history.set(id, (await get(`/api/v1/portfolios/${id}/risk/history`)).points);
  }
  return state.history.get(id);
}

async function load() {
  const seq = ++loadSeq;
  const id = $("portfolio").value;
  const on = $("asof").value || null;
  document.body.setAttribute("aria-busy", "true");
  try {
    const [risk, positions, points] = await Promise.all([
      get(`/api/v1/portfolios/${id}/risk`, { date: on }),
      get(`/api/v1/portfolios/${id}/positions`, { date: on }),
      history(id),
    ]);
    if (seq !== loadSeq) return;
    render(risk, positions, points, on);
  } catch (error) {
    if (seq !== loadSeq) return;
    if (error instanceof ApiError && error.status === 404 && /no snapshot/.test(error.message)) {
      // The note speaks of this date, never of the selection shown before.
      $("asof-note").textContent = `No snapshot on or before ${on}.`;
      const portfolio = state.portfolios.find((p) => p.id === id);
      document.body.removeAttribute("aria-busy");
      return showFillHint(portfolio, on);
    }
    handleError(error);
  } finally {
    if (seq === loadSeq) {
      document.body.removeAttribute("aria-busy");
      document.body.dataset.loaded = `${id}@${on}`;
    }
  }
}

// ---- rendering ---------------------------------------------------------------------

function render(risk, positions, points, requested) {
  hideMessage();
  $("content").hidden = false;
  const date = risk.calculation_date;
  $("asof-note").textContent = requested && requested !== date ? `Showing the latest snapshot on or before ${requested}: ${date}.` : "";
  $("headline-date").textContent = date;
  renderHeadline(risk);
  drawBeta($("beta-chart"), points, date);
  drawVolatility($("vol-chart"), points, date);
  drawConcentration($("concentration-chart"), points, date);
  renderSectors(risk);
  $("positions-date").textContent = positions.as_of ?? date;
  state.positions = positions.items;
  renderPositions();
}

function renderHeadline(risk) {
  const items = [
    ["Market beta (weighted)", fixed(risk.market_beta_weighted), "beta-weighted"],
    ["Market beta (direct)", fixed(risk.market_beta_direct), "beta-direct"],
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

function sortValue(position, column) {
  const value = position[column.key];
  if (column.type === "number") return value === null ? Number.NEGATIVE_INFINITY : Number(value);
  return value === null || value === undefined ? "" : column.text(position); // as shown
}

function renderPositions() {
  const { key, dir } = state.sort;
  const column = COLUMNS.find((c) => c.key === key);
  const sign = dir === "asc" ? 1 : -1;
  const rows = [...state.positions].sort((a, b) => {
    const x = sortValue(a, column);
    const y = sortValue(b, column);
    return sign * (column.type === "number" ? x - y : x.localeCompare(y));
  });
  const head = $("positions").tHead.rows[0];
  head.replaceChildren(
    ...COLUMNS.map((c) => {
      const th = document.createElement("th");
      th.scope = "col";
      if (c.type === "number") th.className = "num";
      th.setAttribute("aria-sort", c.key === key ? (dir === "asc" ? "ascending" : "descending") : "none");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.sort = c.key;
      button.textContent = c.label + (c.key === key ? (dir === "asc" ? " ▲" : " ▼") : "");
      th.append(button);
      return th;
    }),
  );
  $("positions").tBodies[0].replaceChildren(
    ...rows.map((p) => {
      const tr = document.createElement("tr");
      for (const c of COLUMNS) {
        const td = document.createElement("td");
        if (c.type === "number") td.className = "num";
        td.textContent = c.text(p);
        tr.append(td);
      }
      return tr;
    }),
  );
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
  for (const id of ["beta-chart", "vol-chart", "sector-chart", "concentration-chart"]) purge($(id));
  showSignIn("You are signed out.");
});

// Enter in a picker must not submit (and reload) the page: changes apply on their own.
$("controls").addEventListener("submit", (event) => event.preventDefault());
$("portfolio").addEventListener("change", (event) => selectPortfolio(event.target.value));
$("asof").addEventListener("change", () => {
  if ($("asof").value) load();
});

$("positions").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-sort]");
  if (!button) return;
  const key = button.dataset.sort;
  const same = state.sort.key === key;
  state.sort = { key, dir: same && state.sort.dir === "desc" ? "asc" : same ? "desc" : COLUMNS.find((c) => c.key === key).type === "text" ? "asc" : "desc" };
  renderPositions();
  $("positions").querySelector(`button[data-sort="${key}"]`).focus();
});

// plotly.min.js is a deferred classic script: it has run before this module does.
start();
