import type { Column, Row } from "../../types.ts";
import type { OutputRecord } from "../sink.ts";
import { toUtcDatetime, numericPrecision, typeModOf } from "../mysql/types.ts";
import type { TableField } from "./rest.ts";
import { toJsonText } from "../json.ts";
import type { BigqueryTarget } from "./config.ts";

/**
 * BigQuery column type for a Postgres column, from its type alone; values stay exact (INT64 and
 * NUMERIC travel as strings). Only a column of unknown type (oid 0) looks at values: the first
 * non-NULL one decides, and with none yet the answer is null (not decided: a NULL says nothing).
 */
export function bqType(c: Column, values: Iterable<unknown> = []): string | null {
  if (c.typeName?.endsWith("[]")) return "JSON"; // lossless: NULL elements, n dimensions, bounds
  switch (c.typeOid) {
    case 16: return "BOOL";
    case 20: case 21: case 23: case 26: return "INT64";
    case 700: case 701: return "FLOAT64";
    case 1700: {
      const ps = numericPrecision(typeModOf(c));
      // NUMERIC: 29 integer digits, 9 decimals; BIGNUMERIC: 38 and 38; wider: exact text.
      if (ps && ps.s <= 9 && ps.p - ps.s <= 29) return "NUMERIC";
      return !ps || (ps.s <= 38 && ps.p - ps.s <= 38) ? "BIGNUMERIC" : "STRING";
    }
    case 114: case 3802: return "JSON";
    case 1184: return "TIMESTAMP";
    case 1114: return "DATETIME";
    case 1082: return "DATE";
    case 1083: return "TIME";
    case 17: return "BYTES";
    case 0: {
      for (const v of values) {
        if (v === null || v === undefined) continue;
        if (typeof v === "bigint") return "INT64";
        // a JS number is a double: FLOAT64 holds every one (INT64 would refuse a later 2.5)
        if (typeof v === "number") return "FLOAT64";
        if (typeof v === "boolean") return "BOOL";
        if (v instanceof Uint8Array) return "BYTES";
        return typeof v === "object" ? "JSON" : "STRING";
      }
      return null;
    }
    default: return "STRING";
  }
}

export const META_FIELDS: TableField[] = [
  { name: "_cdc_op", type: "STRING", mode: "NULLABLE" },
  { name: "_cdc_lsn", type: "INT64", mode: "NULLABLE" },
  { name: "_cdc_commit_ts", type: "TIMESTAMP", mode: "NULLABLE" },
];

/** Fields for the columns whose type is decided (see bqType); `rows` only matter for unknown types. */
export function tableFields(columns: Column[], rows: Row[], target: BigqueryTarget, meta: boolean): TableField[] {
  const fields: TableField[] = [];
  for (const c of columns) {
    const type = bqType(c, rows.map((r) => r[c.name]));
    if (type) fields.push({ name: c.name, type, mode: "NULLABLE" });
  }
  if (target.half_hour_bucket) fields.push({ name: target.half_hour_bucket.column, type: "INT64", mode: "NULLABLE" });
  if (meta) fields.push(...META_FIELDS);
  return fields;
}

/** Epoch milliseconds of a Postgres timestamp text (UTC when it has no offset). */
export function epochMs(text: string): number {
  return Date.parse(toUtcDatetime(text).replace(" ", "T").slice(0, 23) + "Z");
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/**
 * The insertAll JSON for one record: INT64/NUMERIC as strings, TIMESTAMP in UTC with
 * microseconds, BYTES base64. The result holds no bigint, so plain JSON.stringify serialises it.
 */
export function bqRow(r: OutputRecord, types: Map<string, string>, target: BigqueryTarget, meta: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of r.table.columns) {
    const v = r.row[c.name] ?? null;
    const type = types.get(c.name);
    // A column of unknown type not in the table yet has had only NULLs: leave it out (NULL).
    if (type === undefined && v === null) continue;
    out[c.name] = bqValue(v, type ?? "STRING");
  }
  if (target.half_hour_bucket) {
    const src = r.row[target.half_hour_bucket.from];
    out[target.half_hour_bucket.column] = src === null || src === undefined ? null : String(Math.floor(epochMs(String(src)) / 1_800_000));
  }
  if (meta) {
    out._cdc_op = r.op;
    out._cdc_lsn = r.lsn.toString();
    const ms = Number(r.commitTime / 1000n);
    const d = new Date(ms);
    out._cdc_commit_ts = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(Number(r.commitTime % 1_000_000n), 6)}Z`;
  }
  return out;
}

/** A value as the table's column type takes it (the user's table may differ from ours). */
function bqValue(v: unknown, type: string): unknown {
  if (v === null) return null;
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (type === "TIMESTAMP" && typeof v === "string") return toUtcDatetime(v).replace(" ", "T") + "Z";
  if (typeof v === "object") return toJsonText(v); // arrays and objects: JSON text (bigint digits kept)
  if (type === "FLOAT64" && typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  // Numbers as text except into FLOAT64 (exact for INT64/NUMERIC, and a STRING column takes
  // any scalar's text); booleans stay booleans only for BOOL.
  if (typeof v === "number" && type !== "FLOAT64") return String(v);
  if (typeof v === "boolean" && type !== "BOOL") return String(v);
  return v;
}
