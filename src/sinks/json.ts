/**
 * JSON text for rows without losing exactness: bigint is written as a bare JSON number
 * (the digits, not a float), Uint8Array as base64, a float JSON has no number for (NaN,
 * ±Infinity) as the string Postgres prints for it, like a numeric's NaN already is
 * (JSON.stringify made it null: a webhook, a Redis string or a MySQL JSON column got NULL for
 * NaN), a float -0 as the number -0, as Postgres prints it (`to_json('-0'::float8)` is -0;
 * JSON.stringify wrote 0). A number that is -0 is always a float's: integer expressions give 0
 * (src/expr/compile.ts) and numeric values are decimal text. Everything else as JSON.stringify does.
 */
export function toJsonText(value: unknown): string {
  let hasBig = false;
  const text = JSON.stringify(value, (_k, v) => {
    if (typeof v === "bigint") {
      hasBig = true;
      return `\u0000big:${v.toString()}\u0000`;
    }
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
      if (v === 0 && 1 / v < 0) {
        hasBig = true; // written bare, as a bigint's digits are
        return "\u0000big:-0\u0000";
      }
      return v;
    }
    if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
    return v;
  });
  return hasBig ? text.replace(/"\\u0000big:(-?\d+)\\u0000"/g, "$1") : text;
}
