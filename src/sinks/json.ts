/**
 * JSON text for rows without losing exactness: bigint is written as a bare JSON number
 * (the digits, not a float), Uint8Array as base64, a float JSON has no number for (NaN,
 * ±Infinity) as the string Postgres prints for it, like a numeric's NaN already is
 * (JSON.stringify made it null: a webhook, a Redis string or a MySQL JSON column got NULL for
 * NaN); everything else as JSON.stringify does.
 */
export function toJsonText(value: unknown): string {
  let hasBig = false;
  const text = JSON.stringify(value, (_k, v) => {
    if (typeof v === "bigint") {
      hasBig = true;
      return `\u0000big:${v.toString()}\u0000`;
    }
    if (typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
    if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
    return v;
  });
  return hasBig ? text.replace(/"\\u0000big:(-?\d+)\\u0000"/g, "$1") : text;
}
