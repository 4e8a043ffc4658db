import type { Column } from "../types.ts";
import { Dec } from "./decimal.ts";
import { formatDate, formatTimestamp, parseTimestamp } from "./time.ts";
import { EvalError } from "./eval-error.ts";

/**
 * Static types of expressions. Inside an expression values use an evaluation form
 * (numeric → Dec, timestamps/dates → epoch µs); rows use the engine's value form
 * (numeric → decimal string, timestamps → Postgres text). `fromRow`/`toRow` convert at the edges.
 */
export type Kind = "int" | "int8" | "numeric" | "float" | "bool" | "text" | "timestamptz" | "timestamp" | "date" | "json" | "jsonb" | "uuid" | "unknown";

export interface XType {
  kind: Kind;
  oid: number;
  typeName: string;
}

export const T = {
  int: { kind: "int", oid: 23, typeName: "integer" },
  int8: { kind: "int8", oid: 20, typeName: "bigint" },
  numeric: { kind: "numeric", oid: 1700, typeName: "numeric" },
  float: { kind: "float", oid: 701, typeName: "double precision" },
  bool: { kind: "bool", oid: 16, typeName: "boolean" },
  text: { kind: "text", oid: 25, typeName: "text" },
  timestamptz: { kind: "timestamptz", oid: 1184, typeName: "timestamp with time zone" },
  timestamp: { kind: "timestamp", oid: 1114, typeName: "timestamp without time zone" },
  date: { kind: "date", oid: 1082, typeName: "date" },
  json: { kind: "json", oid: 114, typeName: "json" },
  jsonb: { kind: "jsonb", oid: 3802, typeName: "jsonb" },
  uuid: { kind: "uuid", oid: 2950, typeName: "uuid" },
  unknown: { kind: "unknown", oid: 25, typeName: "text" },
} satisfies Record<Kind, XType>;

/** `real` (float4): kind float, told from double precision by its oid (values: see real.ts). */
export const REAL: XType = { kind: "float", oid: 700, typeName: "real" };

export function isReal(t: XType): boolean {
  return t.kind === "float" && t.oid === 700;
}

const BY_OID: Record<number, Kind> = {
  21: "int", 23: "int", 20: "int8", 1700: "numeric", 700: "float", 701: "float", 16: "bool",
  25: "text", 1043: "text", 1042: "text", 19: "text", 1184: "timestamptz", 1114: "timestamp",
  1082: "date", 114: "json", 3802: "jsonb", 2950: "uuid",
};

export function typeOfColumn(c: Pick<Column, "typeOid" | "typeName">): XType {
  const kind = BY_OID[c.typeOid] ?? "unknown";
  if (kind === "unknown") return { kind, oid: c.typeOid, typeName: c.typeName ?? "text" };
  return { ...T[kind], oid: c.typeOid, typeName: c.typeName ?? (c.typeOid === 700 ? "real" : T[kind].typeName) };
}

/** SQL type names (CAST targets) → types. */
export function typeFromName(name: string, length?: number, scale?: number): XType | null {
  const n = name.toLowerCase().replace(/\s+/g, " ");
  switch (n) {
    case "int": case "integer": case "int4": case "smallint": case "int2":
      return T.int;
    case "bigint": case "int8":
      return T.int8;
    case "numeric": case "decimal":
      return length !== undefined ? { ...T.numeric, typeName: `numeric(${length},${scale ?? 0})` } : T.numeric;
    case "real": case "float4":
      return REAL;
    case "float": // float(p) is a real for p <= 24, as in Postgres
      return length !== undefined && length <= 24 ? REAL : T.float;
    case "float8": case "double precision": case "double":
      return T.float;
    case "bool": case "boolean":
      return T.bool;
    case "text": case "string":
      return T.text;
    case "varchar": case "character varying": case "char": case "character": case "bpchar":
      return length !== undefined ? { ...T.text, oid: 1043, typeName: `character varying(${length})` } : T.text;
    case "timestamptz": case "timestamp with time zone":
      return T.timestamptz;
    case "timestamp": case "timestamp without time zone": case "datetime":
      return T.timestamp;
    case "date":
      return T.date;
    case "json":
      return T.json;
    case "jsonb":
      return T.jsonb;
    case "uuid":
      return T.uuid;
  }
  return null;
}

export function isNumericKind(k: Kind): boolean {
  return k === "int" || k === "int8" || k === "numeric" || k === "float";
}
export function isTimeKind(k: Kind): boolean {
  return k === "timestamptz" || k === "timestamp" || k === "date";
}

/** Row value → evaluation value for a column of kind k. */
export function fromRow(k: Kind, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (k) {
    case "numeric":
      if (v instanceof Dec) return v;
      try {
        return Dec.from(v);
      } catch {
        // NaN and ±Infinity are numeric values in Postgres, not in exact decimal arithmetic
        throw new EvalError(`numeric value '${String(v)}' is not supported in expressions (exact decimals have no NaN or Infinity)`);
      }
    case "int8":
      return typeof v === "bigint" ? v : BigInt(v as string);
    case "timestamptz": case "timestamp": case "date": {
      if (typeof v === "number") return v;
      if (v instanceof Date) return v.getTime() * 1000;
      const t = parseTimestamp(String(v));
      if (t === null) throw new EvalError(`invalid input for timestamp: '${String(v)}'`);
      return t;
    }
    default:
      return v;
  }
}

/** Evaluation value → row value (numeric as decimal text, time as Postgres text). */
export function toRow(k: Kind, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (k) {
    case "numeric":
      return v instanceof Dec ? v.toString() : String(v);
    case "timestamptz":
      return typeof v === "number" ? formatTimestamp(v, true) : v;
    case "timestamp":
      return typeof v === "number" ? formatTimestamp(v, false) : v;
    case "date":
      return typeof v === "number" ? formatDate(v) : v;
    case "json": case "jsonb":
      return typeof v === "string" ? v : JSON.stringify(v);
    default:
      return v;
  }
}
