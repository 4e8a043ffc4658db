import type { Column } from "../../types.ts";

type SqliteValue = string | number | bigint | Uint8Array | null;

/**
 * Values as SQLite stores them: integers (int8 as bigint) stay INTEGER, numeric stays its
 * exact decimal text (SQLite's REAL would round it), booleans are 0/1, bytea a BLOB, arrays
 * JSON text; timestamps keep Postgres' text with microseconds. A float NaN/±Infinity is the text
 * 'NaN', 'Infinity', '-Infinity', alone and inside an array (as the mysql sink's JSON has it).
 */
export function toSqliteValue(v: unknown): SqliteValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "string" || typeof v === "bigint") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v instanceof Uint8Array) return v;
  // NaN and ±Infinity inside an array as the text Postgres prints, like the scalar path (JSON.stringify made them null).
  return JSON.stringify(v, (_k, x) =>
    typeof x === "bigint" ? x.toString() : typeof x === "number" && !Number.isFinite(x) ? String(x) : x instanceof Uint8Array ? "\\x" + Buffer.from(x).toString("hex") : x,
  );
}

/** Column affinity from the Postgres type. */
export function sqliteType(c: Column): string {
  switch (c.typeOid) {
    case 16:
    case 20:
    case 21:
    case 23:
    case 26:
      return "integer";
    case 700:
    case 701:
      return "real";
    case 17:
      return "blob";
    default:
      return "text"; // numeric included: exact decimal text, never a float
  }
}

/** A value as an SQL literal (a column's DEFAULT, which takes no parameter). */
export function sqliteLiteral(v: SqliteValue): string {
  if (v === null) return "null";
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (v instanceof Uint8Array) return `x'${Buffer.from(v).toString("hex")}'`;
  return `'${v.replaceAll("'", "''")}'`;
}
