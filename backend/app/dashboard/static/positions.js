// The positions table: sortable columns (from the keyboard too), each position's data
// status, and the buttons that close or delete one (book.js does the rest).
import { loadDataCommand } from "./commands.js";
import { fixed, percent, quantity, typeLabel } from "./format.js";

const STATUS_TEXT = { no_prices: "No prices", no_profile: "No profile" };
const LEFT_OUT_TEXT = { no_price: "Left out: no price", stale_price: "Left out: stale price" };
const dataText = (p) => LEFT_OUT_TEXT[p.excluded_reason] ?? STATUS_TEXT[p.data_status] ?? "";

const COLUMNS = [
  { key: "symbol", label: "Symbol", text: (p) => p.symbol, type: "text" },
  { key: "position_type", label: "Type", text: (p) => typeLabel(p.position_type), type: "text" },
  { key: "quantity", label: "Quantity", text: (p) => quantity(p.quantity), type: "number" },
  { key: "weight", label: "Weight", text: (p) => percent(p.weight), type: "number" },
  { key: "beta", label: "Beta", text: (p) => fixed(p.beta), type: "number" },
  { key: "r_squared", label: "R²", text: (p) => fixed(p.r_squared), type: "number" },
  { key: "realized_vol_21d", label: "21-day vol", text: (p) => percent(p.realized_vol_21d), type: "number" },
  { key: "vol_trend", label: "Trend", text: (p) => p.vol_trend ?? "–", type: "text" },
  { key: "price_date", label: "Price date", text: (p) => p.price_date ?? "–", type: "text" },
  { key: "data_status", label: "Data", text: dataText, type: "text" },
];

const table = () => document.getElementById("positions");
let shown = [];
let sort = { key: "weight", dir: "desc" };

function sortValue(position, column) {
  const value = position[column.key];
  if (column.type === "number") return value === null ? Number.NEGATIVE_INFINITY : Number(value);
  return value === null || value === undefined ? "" : column.text(position); // as shown
}

function header() {
  const { key, dir } = sort;
  const cells = COLUMNS.map((c) => {
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
  });
  const actions = document.createElement("th");
  actions.scope = "col";
  actions.textContent = "Actions";
  table().tHead.rows[0].replaceChildren(...cells, actions);
}

function actionButton(label, action, position) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = action === "delete" ? "small danger" : "small secondary";
  button.textContent = label;
  button.dataset.action = action;
  button.dataset.id = position.id;
  button.setAttribute("aria-label", `${label} ${position.symbol} (${typeLabel(position.position_type)}, ${quantity(position.quantity)})`);
  return button;
}

function body() {
  const column = COLUMNS.find((c) => c.key === sort.key);
  const sign = sort.dir === "asc" ? 1 : -1;
  const rows = [...shown].sort((a, b) => {
    const x = sortValue(a, column);
    const y = sortValue(b, column);
    return sign * (column.type === "number" ? x - y : x.localeCompare(y));
  });
  table().tBodies[0].replaceChildren(
    ...rows.map((p) => {
      const tr = document.createElement("tr");
      tr.dataset.id = p.id;
      for (const c of COLUMNS) {
        const td = document.createElement("td");
        if (c.type === "number") td.className = "num";
        if (c.key === "data_status" && (p.data_status || p.excluded_reason)) td.className = "status-missing";
        if (c.key === "data_status" && p.excluded_detail) td.title = p.excluded_detail;
        td.textContent = c.text(p);
        tr.append(td);
      }
      const actions = document.createElement("td");
      actions.className = "actions";
      actions.append(actionButton("Close", "close", p), actionButton("Delete", "delete", p));
      tr.append(actions);
      return tr;
    }),
  );
}

// The positions of a positions answer, and below them the command that loads the data
// (prices, profile) their series lack.
export function renderPositions(answer) {
  shown = answer.items;
  document.getElementById("positions-title").textContent = answer.as_of ? `Positions on ${answer.as_of}` : "Positions held today";
  header();
  body();
  const missing = [...new Set(shown.filter((p) => p.data_status).map((p) => p.underlying_symbol ?? p.symbol))].sort();
  const note = document.getElementById("data-note");
  note.hidden = !missing.length;
  if (missing.length) {
    const code = document.createElement("code");
    code.textContent = loadDataCommand(missing);
    note.replaceChildren(
      document.createTextNode(`No prices or profile yet for ${missing.join(", ")}: load them with `),
      code,
      document.createTextNode(", then calculate the figures again."),
    );
  }
}

export const positionById = (id) => shown.find((p) => p.id === id);

// Sorting from the column headings; the row buttons go to `onAction(action, position, button)`.
export function initPositions(onAction) {
  table().addEventListener("click", (event) => {
    const action = event.target.closest("button[data-action]");
    if (action) {
      onAction(action.dataset.action, positionById(action.dataset.id), action);
      return;
    }
    const button = event.target.closest("button[data-sort]");
    if (!button) return;
    const key = button.dataset.sort;
    const same = sort.key === key;
    const text = COLUMNS.find((c) => c.key === key).type === "text";
    sort = { key, dir: same && sort.dir === "desc" ? "asc" : same ? "desc" : text ? "asc" : "desc" };
    header();
    body();
    table().querySelector(`button[data-sort="${key}"]`).focus();
  });
}
