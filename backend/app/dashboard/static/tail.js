// The "Tail risk" panel: today's one-day VaR and expected shortfall, drawdowns, Sharpe and
// Sortino, and the drawdown curve over the history. Decimals arrive as strings (format.js).
import { fixed, num, percent } from "./format.js";

const CONFIG = { responsive: true, displaylogo: false, displayModeBar: false };

function figure(label, value, key, title) {
  const div = document.createElement("div");
  const dt = document.createElement("dt");
  const dd = document.createElement("dd");
  dt.textContent = label;
  if (title) dt.title = title;
  dd.textContent = value;
  dd.dataset.metric = key;
  div.append(dt, dd);
  return div;
}

export function renderTailFigures(el, risk) {
  const loss = "one-day loss, share of equity";
  el.replaceChildren(
    figure("VaR 95% (1 day)", percent(risk.var_95_1d, 2), "var-95", loss),
    figure("VaR 99% (1 day)", percent(risk.var_99_1d, 2), "var-99", loss),
    figure("Expected shortfall 97.5%", percent(risk.expected_shortfall_975_1d, 2), "es-975", loss),
    figure("Max drawdown 252d", percent(risk.max_drawdown_252d), "max-drawdown", "today's book on the past year"),
    figure("Current drawdown", percent(risk.current_drawdown), "current-drawdown", "below the past year's peak"),
    figure("Realized max drawdown 252d", percent(risk.realized_max_drawdown_252d), "realized-drawdown", "the book as held each day"),
    figure("Sharpe 252d", fixed(risk.sharpe_252d), "sharpe", "annualised"),
    figure("Sortino 252d", fixed(risk.sortino_252d), "sortino", "annualised"),
  );
}

// Why the figures are blank, or which model made them.
export function tailNote(risk) {
  if (risk.var_99_1d === null && risk.max_drawdown_252d === null) {
    return "Not enough history yet: VaR and ES need 273 daily returns, drawdowns and ratios 252.";
  }
  return risk.var_method ? `Model: ${risk.var_method} (filtered historical simulation, GPD tail).` : "";
}

// Drawdowns drawn below zero: a fall from the peak reads as a fall.
export function drawDrawdown(el, points, asOf) {
  const series = (key, name, color, dash) => ({
    type: "scatter", mode: points.length < 2 ? "markers" : "lines", name,
    x: points.map((p) => p.calculation_date),
    y: points.map((p) => (num(p[key]) === null ? null : -num(p[key]))),
    line: { color, width: 2, dash }, marker: { color, size: 9 },
    connectgaps: false, hovertemplate: "%{y:.1%}",
  });
  return Plotly.react(el, [
    series("current_drawdown", "Current drawdown", "#d62728", "solid"),
    series("max_drawdown_252d", "Max drawdown 252d", "#7f7f7f", "dash"),
    series("realized_max_drawdown_252d", "Realized max drawdown 252d (as held)", "#9467bd", "dot"),
  ], {
    font: { family: "system-ui, sans-serif", size: 13, color: "#1f2933" },
    margin: { l: 56, r: 16, t: 8, b: 40 },
    legend: { orientation: "h", y: -0.18 },
    hovermode: "x unified",
    xaxis: { type: "date", hoverformat: "%Y-%m-%d" },
    yaxis: { title: { text: "Drawdown" }, tickformat: ".0%", rangemode: "tozero", zeroline: true },
    shapes: [{
      type: "line", xref: "x", yref: "paper", x0: asOf, x1: asOf, y0: 0, y1: 1,
      line: { color: "#7b8794", width: 1, dash: "dot" },
    }],
    paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
  }, CONFIG);
}

// The two betas part when the book changed or drifted over the window (docs/engine.md).
export const BETA_GAP = 0.05;

export function betaNote(risk) {
  const weighted = num(risk.market_beta_weighted);
  const direct = num(risk.market_beta_direct);
  if (weighted === null || direct === null || Math.abs(direct - weighted) <= BETA_GAP) return null;
  return `The betas part: direct ${direct.toFixed(2)} (the book as held each day) vs weighted ${weighted.toFixed(2)} (today's book). The book changed, or its weights drifted, over the beta window.`;
}
