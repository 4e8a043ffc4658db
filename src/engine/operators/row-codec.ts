import type { Row } from "../../types.ts";
import { arrayDelimiter, boundsPrefix, withBounds, withDelimiter } from "../../array-bounds.ts";

/**
 * Rows in checkpoints (join state): bigint and bytes kept exact inside plain JSON, and what JSON
 * drops kept too: a float's NaN, ±Infinity and -0 (JSON.stringify wrote NaN as null, so a looked-up
 * row read back after a restart joined NULL), and an array's lower bounds and box[]'s ';'
 * delimiter (array-bounds.ts: symbols on the array, so '[0:1]={1,2}' came back as {1,2}).
 */
export function encodeRow(row: Row | null | undefined): unknown {
  if (!row) return null;
  const out: Record<string, unknown> = {};
  for (const k in row) out[k] = encodeCell(row[k]);
  return out;
}

export function decodeRow(o: unknown): Row | null {
  if (!o) return null;
  const out: Row = {};
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) out[k] = decodeCell(v);
  return out;
}

function encodeCell(v: unknown): unknown {
  switch (typeof v) {
    case "bigint":
      return { $b: v.toString() };
    case "number":
      return Number.isFinite(v) && !(v === 0 && 1 / v < 0) ? v : { $f: v === 0 ? "-0" : String(v) };
    case "object": {
      if (v instanceof Uint8Array) return { $x: Buffer.from(v).toString("hex") };
      if (!Array.isArray(v)) return v;
      const items = v.map(encodeCell);
      const bounds = boundsPrefix(v).slice(0, -1);
      const delim = arrayDelimiter(v);
      return bounds || delim !== "," ? { $a: items, ...(bounds ? { bounds } : {}), ...(delim !== "," ? { delim } : {}) } : items;
    }
    default:
      return v;
  }
}

function decodeCell(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeCell);
  if (!v || typeof v !== "object") return v;
  const o = v as { $b?: string; $x?: string; $f?: string; $a?: unknown[]; bounds?: string; delim?: string };
  if (o.$b !== undefined) return BigInt(o.$b);
  if (o.$x !== undefined) return new Uint8Array(Buffer.from(o.$x, "hex"));
  if (o.$f !== undefined) return Number(o.$f); // "NaN", "Infinity", "-Infinity", "-0", as expr/values.ts decodeValue reads them
  if (o.$a !== undefined) {
    const arr = o.$a.map(decodeCell);
    if (o.bounds) withBounds(arr, o.bounds);
    if (o.delim) withDelimiter(arr, o.delim);
    return arr;
  }
  return v;
}
