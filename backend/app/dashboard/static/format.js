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
