// Decimals arrive as JSON strings; these turn them into numbers and display text.
export const num = (value) => (value === null || value === undefined ? null : Number(value));

export function fixed(value, digits = 2) {
  const n = num(value);
  return n === null ? "–" : n.toFixed(digits);
}

export function percent(value, digits = 1) {
  const n = num(value);
  return n === null ? "–" : `${(n * 100).toFixed(digits)}%`;
}

export function signedPercent(value, digits = 1) {
  const n = num(value);
  if (n === null) return "–";
  const text = `${(n * 100).toFixed(digits)}%`;
  return n > 0 ? `+${text}` : text;
}

// Position types as words (the API sends the stored codes).
const TYPE_LABELS = {
  LONG: "Long", SHORT: "Short", LC: "Long call", LP: "Long put", SC: "Short call", SP: "Short put",
};

export const typeLabel = (code) => TYPE_LABELS[code] ?? code;
export const POSITION_TYPES = Object.keys(TYPE_LABELS);
export const isOption = (code) => ["LC", "LP", "SC", "SP"].includes(code);

// A quantity as stored ("100.000000" -> "100", "2.500000" -> "2.5").
export function quantity(value) {
  const n = num(value);
  return n === null ? "–" : n.toLocaleString("en-US", { maximumFractionDigits: 6 });
}

// Today as YYYY-MM-DD, the server's (UTC) today: an entry "not after today" is checked there.
export const today = () => new Date().toISOString().slice(0, 10);

// A price as stored ("250.000000" -> "250.00", "12.345600" -> "12.3456").
export function price(value) {
  const n = num(value);
  return n === null ? "–" : n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 4 });
}
