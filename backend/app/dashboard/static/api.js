// The JSON API with the bearer token kept in sessionStorage (gone when the tab closes).
const TOKEN_KEY = "risk-dashboard-token";

export class ApiError extends Error {
  constructor(status, detail, body = null) {
    super(detail);
    this.status = status;
    this.body = body; // the whole JSON answer: `errors` (by field) or `rejected` (by line)
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status text says it
  }
  const detail = body && typeof body.detail === "string" ? body.detail : response.statusText;
  return new ApiError(response.status, detail, body);
}

export async function signIn(email, password) {
  const response = await fetch("/api/v1/auth/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) throw await failure(response);
  const body = await response.json();
  token.set(body.access_token);
}

function url(path, params) {
  const query = new URLSearchParams(
    Object.entries(params).filter(([, value]) => value !== null && value !== undefined && value !== ""),
  );
  return query.size ? `${path}?${query}` : path;
}

// One call of the API: `json` or `csv` is the body; null for a 204.
export async function request(method, path, { params = {}, json, csv } = {}) {
  const headers = { Authorization: `Bearer ${token.get()}`, Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (csv !== undefined) {
    headers["Content-Type"] = "text/csv";
    body = csv;
  }
  const response = await fetch(url(path, params), { method, headers, body });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

export const get = (path, params = {}) => request("GET", path, { params });

// Open to everyone (benchmark weights): no token needed, none sent.
export async function getPublic(path, params = {}) {
  const response = await fetch(url(path, params), { headers: { Accept: "application/json" } });
  if (!response.ok) throw await failure(response);
  return response.json();
}
