// The correlation heatmap of the portfolio's largest holdings (GET /correlations), in its
// own panel. Plotly keeps the plotted matrix on the chart element (el.data), as the other
// charts do. A failure here says so in the panel and leaves the rest of the page alone.
import { ApiError, get } from "./api.js";
import { fixed } from "./format.js";

const $ = (id) => document.getElementById(id);
const CONFIG = { responsive: true, displaylogo: false, displayModeBar: false };
// Blue for moving against each other, white for unrelated, red for moving together.
const SCALE = [[0, "#2166ac"], [0.5, "#f7f7f7"], [1, "#b2182b"]];
let latest = 0; // a newer selection wins over a slower, older answer

// Names as axis categories: a symbol held twice (stock and option) stays two rows.
function labels(holdings) {
  const seen = new Map();
  return holdings.map((h) => {
    const n = (seen.get(h.symbol) ?? 0) + 1;
    seen.set(h.symbol, n);
    return n === 1 ? h.symbol : `${h.symbol} (${n})`;
  });
}

function describe(found) {
  if (!found.holdings.length) return found.diversification_ratio_reason ?? "No holding to correlate.";
  const ratio = found.diversification_ratio === null
    ? `Diversification ratio: – (${found.diversification_ratio_reason})`
    : `Diversification ratio: ${fixed(found.diversification_ratio)} (1 = none)`;
  const more = found.smaller_holdings ? ` ${found.smaller_holdings} smaller holding(s) not shown.` : "";
  return `Largest ${found.holdings.length} holding(s), ${found.observations} trading days to ${found.as_of}. ${ratio}.${more}`;
}

function renderLeftOut(leftOut) {
  const list = $("correlation-left-out");
  list.replaceChildren(
    ...leftOut.map((x) => {
      const item = document.createElement("li");
      item.textContent = `${x.symbol}: ${x.reason}`;
      return item;
    }),
  );
  list.hidden = !leftOut.length;
}

function draw(el, found) {
  const names = labels(found.holdings);
  const z = found.matrix.map((row) => row.map(Number));
  return Plotly.react(el, [{
    type: "heatmap", name: "Correlation", x: names, y: names, z,
    zmin: -1, zmax: 1, colorscale: SCALE,
    texttemplate: names.length <= 12 ? "%{z:.2f}" : "", hovertemplate: "%{y} / %{x}: %{z:.2f}<extra></extra>",
    colorbar: { thickness: 12, tickvals: [-1, 0, 1] },
  }], {
    font: { family: "system-ui, sans-serif", size: 13, color: "#1f2933" },
    margin: { l: 8, r: 8, t: 8, b: 8 },
    xaxis: { automargin: true, side: "bottom", tickangle: -45 },
    yaxis: { automargin: true, autorange: "reversed" }, // the largest holding on top
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
  }, CONFIG);
}

// The panel for one portfolio and date (null: the latest); never rejects.
export async function showCorrelations(portfolioId, on) {
  const mine = ++latest;
  const note = $("correlation-note");
  const chart = $("correlation-chart");
  $("correlation-panel").hidden = false;
  try {
    const found = await get(`/api/v1/portfolios/${portfolioId}/correlations`, { date: on });
    if (mine !== latest) return;
    note.textContent = describe(found);
    renderLeftOut(found.left_out);
    chart.hidden = !found.holdings.length;
    if (found.holdings.length) await draw(chart, found);
    else purgeCorrelations();
  } catch (error) {
    if (mine !== latest) return;
    note.textContent = error instanceof ApiError
      ? `Correlations could not be loaded (${error.status}): ${error.message}`
      : `Correlations could not be loaded: ${error.message}`;
    renderLeftOut([]);
    chart.hidden = true;
  }
}

export function purgeCorrelations() {
  if (window.Plotly) Plotly.purge($("correlation-chart"));
}
