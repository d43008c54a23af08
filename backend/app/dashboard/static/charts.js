// Plotly charts of the risk history and the sector comparison. Plotly is the global the
// vendored plotly.min.js defines; each chart's plotted data stays on its element (el.data).
import { num } from "./format.js";

const CONFIG = { responsive: true, displaylogo: false, displayModeBar: false };
const FONT = { family: "system-ui, sans-serif", size: 13, color: "#1f2933" };

function layout(extra) {
  return {
    font: FONT,
    margin: { l: 56, r: 16, t: 8, b: 40 },
    legend: { orientation: "h", y: -0.18 },
    hovermode: "x unified",
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
    ...extra,
  };
}

function asOfLine(asOf) {
  return {
    type: "line", xref: "x", yref: "paper", x0: asOf, x1: asOf, y0: 0, y1: 1,
    line: { color: "#7b8794", width: 1, dash: "dot" },
  };
}

function line(points, key, name, color, extra = {}) {
  return {
    // One date is no line: it is drawn as a marker.
    type: "scatter", mode: points.length < 2 ? "markers" : "lines", name,
    x: points.map((p) => p.calculation_date),
    y: points.map((p) => num(p[key])),
    line: { color, width: 2 },
    marker: { color: extra.line?.color ?? color, size: 9 },
    connectgaps: false,
    ...extra,
  };
}

const DAY = 86_400_000;
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

// The time axis: dates, never times of day. Left to itself Plotly spreads a few days (or
// one: a zero-width range) over hours, with ticks such as "23:59:59.999"; under ten days
// the axis shows at least a week around them, a tick a day.
function timeAxis(points, extra = {}) {
  const axis = { type: "date", hoverformat: "%Y-%m-%d", ...extra };
  if (!points.length) return axis;
  const first = Date.parse(points[0].calculation_date);
  const last = Date.parse(points[points.length - 1].calculation_date);
  if (last - first < 10 * DAY) {
    const pad = Math.max(DAY, Math.ceil((7 * DAY - (last - first)) / 2 / DAY) * DAY);
    axis.range = [isoDay(first - pad), isoDay(last + pad)];
    axis.dtick = DAY;
    axis.tickformat = "%b %-d";
  }
  return axis;
}

export function drawBeta(el, points, asOf) {
  return Plotly.react(el, [
    // Wide and pale under a thin dashed line: both stay visible where they coincide.
    line(points, "market_beta_weighted", "Weighted beta", "#1f77b4", { line: { color: "#8ab6e0", width: 5 } }),
    line(points, "market_beta_direct", "Direct beta", "#d62728", { line: { color: "#b42318", width: 2, dash: "dash" } }),
  ], layout({
    xaxis: timeAxis(points), yaxis: { title: { text: "Beta" }, zeroline: true }, shapes: [asOfLine(asOf)],
  }), CONFIG);
}

// Percent ticks with as many decimals as small values need (a book that is a sliver of
// its equity has volatilities of a fraction of a percent: not a column of "0%").
function percentTicks(points, keys) {
  const top = Math.max(0, ...points.flatMap((p) => keys.map((k) => Math.abs(num(p[k]) ?? 0))));
  return top >= 0.1 || top === 0 ? ".0%" : top >= 0.01 ? ".1%" : ".2%";
}

export function drawVolatility(el, points, asOf) {
  const pct = { hovertemplate: "%{y:.1%}" };
  const keys = ["realized_volatility_21d", "realized_volatility_63d", "expected_volatility_21d"];
  return Plotly.react(el, [
    line(points, "realized_volatility_21d", "Realized 21-day", "#1f77b4", pct),
    line(points, "realized_volatility_63d", "Realized 63-day", "#2ca02c", pct),
    line(points, "expected_volatility_21d", "Expected 21-day (HAR)", "#ff7f0e", { ...pct, line: { color: "#ff7f0e", width: 2, dash: "dash" } }),
  ], layout({
    xaxis: timeAxis(points),
    yaxis: { title: { text: "Annualised volatility" }, tickformat: percentTicks(points, keys), rangemode: "tozero" },
    shapes: [asOfLine(asOf)],
  }), CONFIG);
}

// Two stacked panels on one date axis: shares of gross (top) and HHI on its 0-10,000
// scale with the effective number of positions (1 / HHI as a fraction) beside it.
export function drawConcentration(el, points, asOf) {
  const pct = { hovertemplate: "%{y:.1%}" };
  return Plotly.react(el, [
    line(points, "top_3_concentration", "Top 3", "#9467bd", pct),
    line(points, "top_10_concentration", "Top 10", "#8c564b", pct),
    line(points, "hhi", "HHI", "#17becf", { yaxis: "y2", hovertemplate: "%{y:,.0f}" }),
    line(points, "effective_num_positions", "Effective positions", "#7f7f7f", {
      yaxis: "y3", hovertemplate: "%{y:.1f}", line: { color: "#7f7f7f", width: 2, dash: "dot" },
    }),
  ], layout({
    yaxis: { domain: [0.55, 1], title: { text: "Share of gross" }, tickformat: ".0%", rangemode: "tozero" },
    yaxis2: { domain: [0, 0.45], title: { text: "HHI" }, rangemode: "tozero" },
    yaxis3: { overlaying: "y2", side: "right", title: { text: "Effective N" }, rangemode: "tozero", showgrid: false, tickformat: ".0f" },
    xaxis: timeAxis(points, { anchor: "y2" }),
    margin: { l: 56, r: 56, t: 8, b: 40 },
    shapes: [asOfLine(asOf)],
  }), CONFIG);
}

// Horizontal bars: sector names stay readable on a narrow screen.
export function drawSectors(el, sectors) {
  const rows = [...sectors].reverse(); // plotly draws the first category at the bottom
  const names = rows.map((s) => s.sector);
  const active = rows.map((s) => num(s.active_weight));
  const bar = (name, values, marker, hovertemplate) => ({
    type: "bar", orientation: "h", name, y: names, x: values, marker, hovertemplate,
  });
  return Plotly.react(el, [
    bar("Portfolio", rows.map((s) => num(s.portfolio_weight)), { color: "#1f77b4" }, "%{x:.1%}"),
    bar("Benchmark", rows.map((s) => num(s.benchmark_weight)), { color: "#aab7c4" }, "%{x:.1%}"),
    bar("Active (over/under)", active, { color: active.map((a) => (a !== null && a < 0 ? "#d62728" : "#2ca02c")) }, "%{x:+.1%}"),
  ], layout({
    barmode: "group",
    xaxis: { title: { text: "Weight" }, tickformat: ".0%", zeroline: true },
    yaxis: { automargin: true },
    hovermode: "closest",
    margin: { l: 8, r: 16, t: 8, b: 40 },
    legend: { orientation: "h", y: -0.22 },
  }), CONFIG);
}

export function purge(el) {
  if (window.Plotly) Plotly.purge(el);
}
