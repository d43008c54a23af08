// The owner's book: new portfolio, CSV import (a dry run previewed before anything is
// written), add, close and delete a position, delete a portfolio, each through the API
// in a dialog. `app` gives the selected portfolio, `refresh(id)` to show the book again
// and `notify(text)` for what was done.
import { ApiError, request } from "./api.js";
import { closeDialog, filledIn, openDialog, showErrors, whileBusy } from "./forms.js";
import { isOption, price, quantity, today, typeLabel } from "./format.js";

const $ = (id) => document.getElementById(id);
let app;

function failed(form, error) {
  if (error instanceof ApiError && error.status === 401) return app.handleError(error);
  showErrors(form, error);
}

// ---- portfolios --------------------------------------------------------------------

function newPortfolio(opener) {
  const form = $("portfolio-form");
  form.reset();
  form.elements.currency.value = "USD";
  openDialog($("portfolio-dialog"), opener);
}

async function createPortfolio(event) {
  event.preventDefault();
  const form = event.target;
  const body = filledIn(form, ["name", "currency", "equity_balance"]);
  await whileBusy(form.querySelector("[type=submit]"), async () => {
    try {
      const created = await request("POST", "/api/v1/portfolios", { json: body });
      closeDialog($("portfolio-dialog"));
      await app.refresh(created.id);
      app.notify(`Created portfolio ${created.name} (${created.currency}). Add positions or import a CSV.`);
    } catch (error) {
      failed(form, error);
    }
  });
}

function confirm(text, action, opener) {
  $("confirm-text").textContent = text;
  $("confirm-form").onsubmit = async (event) => {
    event.preventDefault();
    await whileBusy($("confirm-yes"), async () => {
      try {
        await action();
        closeDialog($("confirm-dialog"));
      } catch (error) {
        failed($("confirm-form"), error);
      }
    });
  };
  openDialog($("confirm-dialog"), opener);
}

function deletePortfolio(opener) {
  const portfolio = app.portfolio();
  confirm(
    `Delete the portfolio ${portfolio.name}? It disappears from every list and page; its stored figures stay in the database.`,
    async () => {
      await request("DELETE", `/api/v1/portfolios/${portfolio.id}`);
      await app.refresh(null);
      app.notify(`Deleted portfolio ${portfolio.name}.`);
    },
    opener,
  );
}

// ---- positions ---------------------------------------------------------------------

function showOptionFields() {
  const option = isOption($("position-form").elements.position_type.value);
  $("option-fields").hidden = !option;
}

function addPosition(opener) {
  const form = $("position-form");
  form.reset();
  form.elements.entry_date.value = today();
  form.elements.entry_date.max = today();
  showOptionFields();
  $("position-dialog-title").textContent = `Add a position to ${app.portfolio().name}`;
  openDialog($("position-dialog"), opener);
}

const POSITION_FIELDS = [
  "symbol", "position_type", "quantity", "entry_date", "entry_price",
  "underlying_symbol", "strike_price", "expiration_date",
];

async function savePosition(event) {
  event.preventDefault();
  const form = event.target;
  const portfolio = app.portfolio();
  const body = filledIn(form, POSITION_FIELDS);
  await whileBusy(form.querySelector("[type=submit]"), async () => {
    try {
      const added = await request("POST", `/api/v1/portfolios/${portfolio.id}/positions`, { json: body });
      closeDialog($("position-dialog"));
      await app.refresh(portfolio.id);
      app.notify(
        `Added ${added.symbol} (${typeLabel(added.position_type)}, ${quantity(added.quantity)} from ${added.entry_date} at ${price(added.entry_price)}).`,
      );
    } catch (error) {
      failed(form, error);
    }
  });
}

function closePosition(position, opener) {
  const form = $("close-form");
  form.reset();
  form.dataset.id = position.id;
  form.elements.exit_date.value = today();
  $("close-dialog-title").textContent = `Close ${position.symbol} (${typeLabel(position.position_type)}, ${quantity(position.quantity)})`;
  openDialog($("close-dialog"), opener);
}

async function saveClose(event) {
  event.preventDefault();
  const form = event.target;
  const body = filledIn(form, ["exit_date", "exit_price"]);
  await whileBusy(form.querySelector("[type=submit]"), async () => {
    try {
      const closed = await request("PATCH", `/api/v1/positions/${form.dataset.id}`, { json: body });
      closeDialog($("close-dialog"));
      await app.refresh(closed.portfolio_id);
      app.notify(`Closed ${closed.symbol} on ${closed.exit_date}${closed.exit_price ? ` at ${price(closed.exit_price)}` : ""}.`);
    } catch (error) {
      failed(form, error);
    }
  });
}

function deletePosition(position, opener) {
  const portfolio = app.portfolio();
  confirm(
    `Delete ${position.symbol} (${typeLabel(position.position_type)}, ${quantity(position.quantity)})? Only for an entry made by mistake: to record a sale, close it instead.`,
    async () => {
      await request("DELETE", `/api/v1/positions/${position.id}`);
      await app.refresh(portfolio.id);
      app.notify(`Deleted ${position.symbol} from ${portfolio.name}.`);
    },
    opener,
  );
}

// ---- CSV import --------------------------------------------------------------------

let previewed = null; // the {csv, params} a dry run accepted: what "Import" writes

function importCsv(opener) {
  const form = $("import-form");
  form.reset();
  form.elements.as_of.value = today();
  clearPreview();
  $("import-dialog-title").textContent = `Import positions into ${app.portfolio().name}`;
  openDialog($("import-dialog"), opener);
}

function clearPreview() {
  previewed = null;
  $("import-preview").replaceChildren();
  $("import-confirm").disabled = true;
}

function importParams(form, dryRun) {
  return { mode: form.elements.mode.value, as_of: form.elements.as_of.value, dry_run: dryRun };
}

function cell(row, text, className = "") {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
}

function headings(table, labels, numeric) {
  const head = table.createTHead().insertRow();
  for (const label of labels) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = label;
    if (numeric.includes(label)) th.className = "num";
    head.append(th);
  }
}

// One group of a dry run's answer (added, closed, unchanged) as a captioned table.
function group(title, lines, id) {
  const section = document.createElement("section");
  section.className = "preview-group";
  section.id = id;
  const heading = document.createElement("h3");
  heading.textContent = `${title}: ${lines.length}`;
  section.append(heading);
  if (!lines.length) return section;
  const table = document.createElement("table");
  headings(table, ["Line", "Symbol", "Type", "Quantity", "Entry date", "Data"], ["Line", "Quantity"]);
  const body = table.createTBody();
  for (const line of lines) {
    const row = body.insertRow();
    cell(row, line.line ?? "–", "num");
    cell(row, line.symbol);
    cell(row, typeLabel(line.position_type));
    cell(row, quantity(line.quantity), "num");
    cell(row, line.entry_date);
    cell(row, { no_prices: "No prices", no_profile: "No profile" }[line.data_status] ?? "");
  }
  section.append(table);
  return section;
}

// Every rejected row, by line and field: what to fix in the file.
function rejectedTable(rejected) {
  const section = document.createElement("section");
  section.className = "preview-group rejected";
  section.id = "import-rejected";
  const heading = document.createElement("h3");
  heading.textContent = `Rejected: ${rejected.length}`;
  section.append(heading);
  if (!rejected.length) return section;
  const table = document.createElement("table");
  headings(table, ["Line", "Field", "Problem"], ["Line"]);
  const body = table.createTBody();
  for (const r of rejected) {
    const row = body.insertRow();
    cell(row, r.line ?? "file", "num");
    cell(row, r.field ?? "–");
    cell(row, r.message);
  }
  section.append(table);
  return section;
}

function showPreview(result) {
  const summary = document.createElement("p");
  summary.id = "import-summary";
  summary.setAttribute("role", "status");
  const changes = result.added.length + result.closed.length;
  summary.textContent = changes
    ? `Nothing is written yet. On ${result.as_of} (${result.mode}) this import would add ${result.added.length}, close ${result.closed.length} and leave ${result.unchanged.length} unchanged.`
    : `Nothing to write: the file adds and closes nothing (${result.unchanged.length} unchanged).`;
  const parts = [summary, group("Added", result.added, "import-added")];
  if (result.mode === "replace") {
    parts.push(group("Closed", result.closed, "import-closed"), group("Unchanged", result.unchanged, "import-unchanged"));
  }
  parts.push(rejectedTable(result.rejected ?? []));
  if (result.data_hint) {
    const hint = document.createElement("p");
    hint.className = "muted";
    hint.textContent = result.data_hint;
    parts.push(hint);
  }
  $("import-preview").replaceChildren(...parts);
  $("import-confirm").disabled = changes === 0;
  $("import-confirm").textContent = `Import: add ${result.added.length}, close ${result.closed.length}`;
}

function showRejected(error) {
  const summary = document.createElement("p");
  summary.id = "import-summary";
  summary.className = "error";
  summary.setAttribute("role", "alert");
  summary.textContent = `${error.message}. Fix these lines and preview again:`;
  $("import-preview").replaceChildren(summary, rejectedTable(error.body.rejected));
  $("import-confirm").disabled = true;
}

function sendImport(csv, params) {
  return request("POST", `/api/v1/portfolios/${app.portfolio().id}/positions/import`, { params, csv });
}

async function preview(event) {
  event.preventDefault();
  const form = event.target;
  clearPreview();
  const file = form.elements.file.files[0];
  if (!file) {
    showErrors(form, new ApiError(422, "file: choose a CSV file", null));
    return;
  }
  await whileBusy($("import-preview-button"), async () => {
    const csv = await file.text();
    const params = importParams(form, true);
    previewed = { csv, params };
    try {
      const result = await sendImport(csv, params);
      showPreview(result);
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && Array.isArray(error.body?.rejected)) {
        showRejected(error);
        previewed = null;
      } else {
        previewed = null;
        failed(form, error);
      }
    }
  });
}

async function confirmImport() {
  const form = $("import-form");
  if (!previewed) return;
  const { csv } = previewed;
  const params = { ...previewed.params, dry_run: false };
  await whileBusy($("import-confirm"), async () => {
    try {
      const result = await sendImport(csv, params);
      const portfolio = app.portfolio();
      closeDialog($("import-dialog"));
      await app.refresh(portfolio.id);
      app.notify(
        `Imported into ${portfolio.name} on ${result.as_of}: ${result.added.length} added, ${result.closed.length} closed, ${result.unchanged.length} unchanged.`,
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && Array.isArray(error.body?.rejected)) {
        showRejected(error);
      } else {
        failed(form, error);
      }
    } finally {
      if ($("import-dialog").open) $("import-confirm").disabled = true;
    }
  });
}

// ---- wiring ------------------------------------------------------------------------

export function initBook(appApi) {
  app = appApi;
  $("new-portfolio").addEventListener("click", (e) => newPortfolio(e.currentTarget));
  $("delete-portfolio").addEventListener("click", (e) => deletePortfolio(e.currentTarget));
  $("add-position").addEventListener("click", (e) => addPosition(e.currentTarget));
  $("import-csv").addEventListener("click", (e) => importCsv(e.currentTarget));
  $("portfolio-form").addEventListener("submit", createPortfolio);
  $("position-form").addEventListener("submit", savePosition);
  $("position-form").elements.position_type.addEventListener("change", showOptionFields);
  $("close-form").addEventListener("submit", saveClose);
  $("import-form").addEventListener("submit", preview);
  $("import-form").addEventListener("change", (event) => {
    if (event.target.name !== undefined && ["file", "mode", "as_of"].includes(event.target.name)) clearPreview();
  });
  $("import-confirm").addEventListener("click", confirmImport);
}

export function rowAction(action, position, button) {
  if (action === "close") closePosition(position, button);
  else if (action === "delete") deletePosition(position, button);
}
