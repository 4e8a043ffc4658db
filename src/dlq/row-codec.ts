import type { Column, Row } from "../types.ts";
import { toJsonText } from "../sinks/json.ts";
import { arrayDelimiter, boundsPrefix, withBounds, withDelimiter } from "../array-bounds.ts";

/**
 * Exact JSON for rows kept outside memory (the DLQ, join state): bigint is written as its digits
 * and read back as bigint; bytea is written as base64 and read back as bytes when the column
 * type says so (also inside bytea[]). Floats JSON cannot hold (NaN, ±Infinity, -0) are written
 * as the strings Postgres prints for them and read back as numbers for float columns: JSON.stringify
 * made them null (and -0 a 0), so a dead letter replayed a NaN as NULL. Everything else
 * round-trips through JSON as the source decoded it.
 */
const INT8_OID = 20;
const BYTEA_OID = 17;
const BYTEA_ARRAY_OID = 1001;
const FLOAT_OIDS = new Set([700, 701]);
const FLOAT_ARRAY_OIDS = new Set([1021, 1022]);
const SPECIAL_FLOATS: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, "-Infinity": Number.NEGATIVE_INFINITY, "-0": -0 };

export function encodeRow(row: Row): string {
  return toJsonText(tagArrays(row, hasSpecialFloat(row) ? replaceSpecialFloats(row) : row));
}

/**
 * An array's lower bounds (`'[0:1]={1,2}'`) and a delimiter other than ',' (box[]) ride on the
 * array as symbols (array-bounds.ts), which JSON drops: a replayed dead letter or a row handed over
 * from a recreated slot came back as `{1,2}` (a[0] moved to a[1]), and a box[] was refused as a
 * malformed literal. Such a column is written as `{"<ARRAY_TAG>": {bounds, delim, items}}`.
 */
const ARRAY_TAG = "\u0000cdc-engine:array";

interface ArrayTag {
  bounds?: string;
  delim?: string;
  items: unknown[];
}

function tagArrays(orig: Row, plain: Row): Row {
  let out: Row | null = null;
  for (const [k, v] of Object.entries(orig)) {
    if (!Array.isArray(v)) continue;
    const bounds = boundsPrefix(v).slice(0, -1);
    const delim = arrayDelimiter(v);
    if (!bounds && delim === ",") continue;
    out ??= { ...plain };
    const tag: ArrayTag = { ...(bounds ? { bounds } : {}), ...(delim !== "," ? { delim } : {}), items: plain[k] as unknown[] };
    out[k] = { [ARRAY_TAG]: tag };
  }
  return out ?? plain;
}

function untagArrays(row: Row): Map<string, ArrayTag> {
  const tags = new Map<string, ArrayTag>();
  for (const [k, v] of Object.entries(row)) {
    const tag = v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, ArrayTag>)[ARRAY_TAG] : undefined;
    if (!tag || !Array.isArray(tag.items)) continue;
    tags.set(k, tag);
    row[k] = tag.items;
  }
  return tags;
}

export function decodeRow(text: string, columns: Column[] = []): Row {
  const types = new Map(columns.map((c) => [c.name, c.typeOid]));
  // The reviver's third argument gives the literal's source text, so large integers keep every digit.
  const row = JSON.parse(text, function (this: unknown, key: string, value: unknown, ctx?: { source?: string }) {
    if (typeof value === "number" && ctx?.source && /^-?\d+$/.test(ctx.source)) {
      if (types.get(key) === INT8_OID || !Number.isSafeInteger(value)) return BigInt(ctx.source);
    }
    return value;
  } as (this: unknown, key: string, value: unknown) => unknown) as Row;
  const tags = untagArrays(row);
  for (const [name, oid] of types) {
    const v = row[name];
    if (v === null || v === undefined) continue;
    if (oid === BYTEA_OID || oid === BYTEA_ARRAY_OID) row[name] = mapLeaves(v, (x) => (typeof x === "string" ? new Uint8Array(Buffer.from(x, "base64")) : x));
    else if (FLOAT_OIDS.has(oid) || FLOAT_ARRAY_OIDS.has(oid)) row[name] = mapLeaves(v, (x) => (typeof x === "string" && x in SPECIAL_FLOATS ? SPECIAL_FLOATS[x] : x));
  }
  for (const [name, tag] of tags) {
    const arr = row[name] as unknown[];
    if (tag.bounds) withBounds(arr, tag.bounds);
    if (tag.delim) withDelimiter(arr, tag.delim);
  }
  return row;
}

function isSpecial(v: unknown): v is number {
  return typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0));
}

function hasSpecialFloat(v: unknown): boolean {
  if (isSpecial(v)) return true;
  if (Array.isArray(v)) return v.some(hasSpecialFloat);
  if (v !== null && typeof v === "object" && !(v instanceof Uint8Array)) return Object.values(v).some(hasSpecialFloat);
  return false;
}

function specialText(v: number): string {
  return Number.isNaN(v) ? "NaN" : v === Number.POSITIVE_INFINITY ? "Infinity" : v === Number.NEGATIVE_INFINITY ? "-Infinity" : "-0";
}

/** A copy with every NaN/±Infinity/-0 (also inside arrays) as its text; only rows that have one pay for it. */
function replaceSpecialFloats(row: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[k] = mapLeaves(v, (x) => (isSpecial(x) ? specialText(x) : x));
  return out;
}

function mapLeaves(v: unknown, f: (x: unknown) => unknown): unknown {
  return Array.isArray(v) ? v.map((x) => mapLeaves(x, f)) : f(v);
}
