// The factor-exposure panel: the portfolio's exposure to each style factor (GET
// /api/v1/portfolios/{id}/factors) as horizontal bars, with what explains the figures: R²,
// specific volatility, positions on the ridge, and why a factor has no exposure.
import { ApiError, get } from "./api.js";
import { num, percent } from "./format.js";

const $ = (id) => document.getElementById(id);
const CONFIG = { responsive: true, displaylogo: false, displayModeBar: false };

const noFactors = (error) => error instanceof ApiError && error.status === 404 && /no factor exposures/.test(error.message);

// The exposures of the latest date on or before `on` (null: the latest); the panel says
// how to compute them when there are none. Resolves once the panel is drawn.
export async function loadFactors(portfolioId, on) {
  const panel = $("factor-panel");
  let body;
  try {
    body = await get(`/api/v1/portfolios/${portfolioId}/factors`, { date: on });
  } catch (error) {
    if (!noFactors(error)) throw error;
    body = null;
  }
  panel.hidden = false;
  const list = $("factor-reasons");
  list.replaceChildren();
  if (!body) {
    if (window.Plotly) Plotly.purge($("factor-chart"));
    $("factor-note").textContent =
      "No factor exposures on or before this date: compute them with scripts/calculate_risk_metrics.py.";
    return null;
  }
  const names = new Map(body.factors.map((f) => [f.code, `${f.name} (${f.definition})`]));
  const p = body.portfolio;
  const ridge = p.ridge_positions ? ` ${p.ridge_positions} position(s) on the ridge: their factors were nearly collinear.` : "";
  $("factor-note").textContent =
    `On ${body.calculation_date}, ${body.window_days}-day window. Factors explain ${percent(p.r_squared)} of the variance; ` +
    `specific volatility ${percent(p.specific_volatility)}.${ridge}`;
  for (const row of p.exposures.filter((e) => e.exposure === null)) {
    const item = document.createElement("li");
    item.textContent = `${names.get(row.factor) ?? row.factor}: ${row.null_reason}`;
    list.append(item);
  }
  drawFactors($("factor-chart"), body, names);
  return body;
}

export function drawFactors(el, body, names) {
  const rows = [...body.portfolio.exposures].reverse(); // plotly draws the first at the bottom
  const x = rows.map((r) => num(r.exposure));
  return Plotly.react(el, [{
    type: "bar", orientation: "h", name: "Exposure",
    y: rows.map((r) => names.get(r.factor) ?? r.factor), x,
    marker: { color: x.map((v) => (v !== null && v < 0 ? "#d62728" : "#1f77b4")) },
    hovertemplate: "%{y}: %{x:.2f}<extra></extra>",
  }], {
    font: { family: "system-ui, sans-serif", size: 13, color: "#1f2933" },
    margin: { l: 8, r: 16, t: 8, b: 40 },
    xaxis: { title: { text: "Exposure (loading × weight)" }, zeroline: true },
    yaxis: { automargin: true },
    hovermode: "closest",
    showlegend: false,
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
  }, CONFIG);
}
