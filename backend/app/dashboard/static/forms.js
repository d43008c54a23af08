// Dialog forms: opened modal with focus on their first field, closed with focus back on
// the button that opened them; an API error is shown next to the field it names (the
// input marked aria-invalid), or for the whole form.
import { ApiError } from "./api.js";

export function openDialog(dialog, opener) {
  dialog.opener = opener;
  for (const form of dialog.querySelectorAll("form")) clearErrors(form);
  dialog.showModal();
  const first = dialog.querySelector("[autofocus]") ?? dialog.querySelector("input, select, button");
  first?.focus();
}

export function closeDialog(dialog) {
  dialog.close();
}

export function initDialogs() {
  for (const dialog of document.querySelectorAll("dialog")) {
    dialog.addEventListener("close", () => dialog.opener?.isConnected && dialog.opener.focus());
    for (const button of dialog.querySelectorAll("[data-close]")) {
      button.addEventListener("click", () => dialog.close());
    }
  }
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll("[data-error-for], .form-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

export function formError(form, text) {
  form.querySelector(".form-error").textContent = text;
}

// The field an API error names: `errors` of a 422 ("body.quantity"), or a detail that
// starts with the field's name (the 409 of a name in use: "name: you have ...").
function fieldProblems(error) {
  if (Array.isArray(error.body?.errors)) {
    return error.body.errors.map((e) => ({ field: e.location.replace(/^body\.?/, ""), message: e.message }));
  }
  const named = /^([a-z_]+): (.*)$/s.exec(error.message);
  return named ? [{ field: named[1], message: named[2] }] : [];
}

// Show `error` next to the fields of `form` it names; what no field of the form takes is
// said for the whole form. Focus goes to the first field in error.
export function showErrors(form, error) {
  clearErrors(form);
  if (!(error instanceof ApiError)) {
    formError(form, `Could not reach the server: ${error.message}`);
    return;
  }
  const unplaced = [];
  let first = null;
  for (const { field, message } of fieldProblems(error)) {
    const slot = form.querySelector(`[data-error-for="${field}"]`);
    const input = form.elements.namedItem(field);
    if (slot && input && !input.closest("[hidden]")) {
      slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
      input.setAttribute("aria-invalid", "true");
      first ??= input;
    } else {
      unplaced.push(field ? `${field}: ${message}` : message);
    }
  }
  if (unplaced.length || !first) formError(form, unplaced.length ? unplaced.join("; ") : error.message);
  (first ?? form.querySelector(".form-error")).focus?.();
}

// The form's filled-in values as a JSON body: empty fields left out (the API's defaults).
export function filledIn(form, names) {
  const body = {};
  for (const name of names) {
    const input = form.elements.namedItem(name);
    const value = input?.value?.trim();
    if (value && !input.closest("[hidden]")) body[name] = value;
  }
  return body;
}

// A submit button that cannot be pressed twice while its request runs.
export async function whileBusy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}
