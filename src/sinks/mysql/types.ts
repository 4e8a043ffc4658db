import type { Column } from "../../types.ts";
import { toJsonText } from "../json.ts";

export type Dialect = "mysql" | "starrocks";

/** A value the target cannot hold: the record goes to the DLQ with this reason. */
export class ValueError extends Error {}

const OID = {
  bool: 16, bytea: 17, int8: 20, int2: 21, int4: 23, text: 25, oid: 26, json: 114, float4: 700, float8: 701,
  bpchar: 1042, varchar: 1043, date: 1082, time: 1083, timestamp: 1114, timestamptz: 1184, interval: 1186,
  timetz: 1266, numeric: 1700, uuid: 2950, jsonb: 3802,
} as const;

function isArrayType(c: Column): boolean {
  return (c.typeName?.endsWith("[]") ?? false) || ARRAY_OIDS.has(c.typeOid);
}
// The array types of the scalar types above (pg_type.typarray).
const ARRAY_OIDS = new Set([1000, 1001, 1005, 1007, 1009, 1014, 1015, 1016, 1021, 1022, 1028, 1115, 1182, 1183, 1185, 1187, 1231, 1270, 2951, 199, 3807]);

/**
 * The type modifier, from the column or, when the source did not send one, from its type
 * name ("numeric(20,6)", "character varying(5)").
 */
export function typeModOf(c: Column): number {
  if (c.typeMod >= 4 || !c.typeName) return c.typeMod;
  const m = /\((\d+)(?:\s*,\s*(\d+))?\)/.exec(c.typeName);
  if (!m) return c.typeMod;
  return c.typeOid === OID.numeric ? ((Number(m[1]) << 16) | Number(m[2] ?? 0)) + 4 : Number(m[1]) + 4;
}

/**
 * numeric(p,s) from the type modifier; null when unconstrained. The scale is 11 bits, signed
 * (PostgreSQL 15 allows numeric(5,-2) and numeric(3,5)): read unsigned, -2 was 2046.
 */
export function numericPrecision(typeMod: number): { p: number; s: number } | null {
  if (typeMod < 4) return null;
  const m = typeMod - 4;
  return { p: (m >> 16) & 0xffff, s: ((m & 0x7ff) ^ 1024) - 1024 };
}

/** DECIMAL(M,D) holding every value of numeric(p,s): numeric(5,-2) is DECIMAL(7,0), numeric(3,5) DECIMAL(5,5). */
export function decimalFor(ps: { p: number; s: number }, maxPrecision: number, maxScale: number): string | null {
  const scale = Math.max(ps.s, 0);
  const digits = Math.max(ps.p - ps.s, 0) + scale;
  return digits <= maxPrecision && scale <= maxScale ? `DECIMAL(${digits},${scale})` : null;
}

/**
 * Target column type for a Postgres column, chosen to hold every value exactly.
 * `isKey`: key columns must be indexable (no TEXT/BLOB in a MySQL primary key).
 */
export function columnType(c: Column, dialect: Dialect, isKey: boolean, sample?: unknown, keyBytes = 1020): string {
  const sr = dialect === "starrocks";
  const longText = isKey ? `VARCHAR(${Math.floor(keyBytes / 4)})` : sr ? "STRING" : "LONGTEXT";
  if (isArrayType(c)) return "JSON";
  switch (c.typeOid) {
    case OID.bool: return "BOOLEAN";
    case OID.int2: return "SMALLINT";
    case OID.int4: return "INT";
    case OID.int8: return "BIGINT";
    case OID.oid: return sr ? "BIGINT" : "INT UNSIGNED";
    case OID.float4: return "FLOAT";
    case OID.float8: return "DOUBLE";
    case OID.numeric: {
      const ps = numericPrecision(typeModOf(c));
      // wider than the target's DECIMAL: keep the text exactly
      if (ps) return decimalFor(ps, sr ? 38 : 65, sr ? 38 : 30) ?? longText;
      // Unconstrained numeric: the widest exact decimal the target has.
      return sr ? "DECIMAL(38,9)" : "DECIMAL(65,30)";
    }
    case OID.varchar: {
      const mod = typeModOf(c);
      return mod >= 4 && mod - 4 <= 16383 ? `VARCHAR(${mod - 4})` : longText;
    }
    case OID.bpchar: {
      const mod = typeModOf(c);
      return mod >= 4 && mod - 4 <= 255 ? `CHAR(${mod - 4})` : longText;
    }
    case OID.text: return longText;
    case OID.uuid: return sr ? "VARCHAR(36)" : "CHAR(36)";
    case OID.json:
    case OID.jsonb: return "JSON";
    case OID.date: return "DATE";
    case OID.timestamp:
    case OID.timestamptz: return sr ? "DATETIME" : "DATETIME(6)";
    case OID.time: return sr ? "VARCHAR(20)" : "TIME(6)";
    case OID.timetz: return "VARCHAR(32)";
    case OID.interval: return "VARCHAR(80)"; // the longest interval text is 67 characters
    case OID.bytea: return sr ? "VARBINARY" : isKey ? `VARBINARY(${keyBytes})` : "LONGBLOB";
    case 0: return inferType(sample, dialect, isKey, keyBytes);
    default: return longText;
  }
}

/** InnoDB's limit on an index key, in bytes (utf8mb4: 4 bytes a character). */
const INDEX_KEY_BYTES = 3072;

/**
 * Bytes each variable-length key column of `key` may take (a text key is VARCHAR(bytes / 4), a
 * bytea key VARBINARY(bytes)): 1020 (VARCHAR(255)) while the whole key fits InnoDB's 3072 bytes,
 * else an equal share of what the fixed-size key columns leave. Four text key columns were
 * 4 × VARCHAR(255) × 4 bytes and the table was refused ("Specified key was too long"): every row
 * went to the DLQ. Now only a key value longer than its share does (strict mode: "Data too long").
 */
export function keyBytesFor(columns: Column[], key: string[], dialect: Dialect): number {
  if (dialect !== "mysql") return 1020;
  let fixed = 0;
  let variable = 0;
  for (const name of key) {
    const c = columns.find((x) => x.name === name);
    if (!c) continue;
    const t = columnType(c, dialect, true);
    if (t === "VARCHAR(255)" || t === "VARBINARY(1020)") variable++;
    else fixed += fixedKeyBytes(t);
  }
  if (variable === 0 || fixed + variable * 1020 <= INDEX_KEY_BYTES) return 1020;
  return Math.max(4, Math.floor((INDEX_KEY_BYTES - fixed) / variable / 4) * 4);
}

/** An index key's bytes for a column of this type (generous where unsure). */
function fixedKeyBytes(type: string): number {
  const n = /^(?:VAR)?CHAR\((\d+)\)$/.exec(type);
  if (n) return 4 * Number(n[1]) + 2;
  const d = /^DECIMAL\((\d+)/.exec(type);
  if (d) return Math.ceil(Number(d[1]) / 2) + 1;
  return { BOOLEAN: 1, SMALLINT: 2, INT: 4, "INT UNSIGNED": 4, FLOAT: 4, DATE: 3, "TIME(6)": 6 }[type] ?? 8;
}

/** Computed columns without a Postgres type: infer from the first value seen. */
function inferType(v: unknown, dialect: Dialect, isKey: boolean, keyBytes: number): string {
  if (typeof v === "bigint") return "BIGINT";
  if (typeof v === "boolean") return "BOOLEAN";
  if (typeof v === "number") return Number.isInteger(v) ? "BIGINT" : "DOUBLE";
  if (v instanceof Uint8Array) return dialect === "starrocks" ? "VARBINARY" : isKey ? `VARBINARY(${keyBytes})` : "LONGBLOB";
  if (v !== null && typeof v === "object") return "JSON";
  return isKey ? `VARCHAR(${Math.floor(keyBytes / 4)})` : dialect === "starrocks" ? "STRING" : "LONGTEXT";
}

const TS_RE = /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?( BC)?$/;

/**
 * Postgres ISO timestamp text → "YYYY-MM-DD HH:MM:SS.ffffff" in UTC (DATETIME(6) text).
 * A value with an offset (timestamptz) is shifted to UTC; one without is kept as it is.
 */
export function toUtcDatetime(text: string): string {
  const m = TS_RE.exec(text);
  if (!m || m[12]) throw new ValueError(`timestamp '${text}' is outside the target's DATETIME range`);
  const frac = (m[7] ?? ".").slice(1).padEnd(6, "0");
  if (!m[8]) return `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]}.${frac}`;
  const sign = m[8] === "-" ? -1 : 1;
  const offsetS = sign * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0));
  const year = Number(m[1]);
  if (offsetS === 0) {
    // Already UTC (the usual case: Postgres sends timestamptz in the session's zone, UTC here).
    if (year < 1000 || year > 9999) throw new ValueError(`timestamp '${text}' is outside the target's DATETIME range (years 1000-9999)`);
    return `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]}.${frac}`;
  }
  if (year < 1000 || year > 9999) throw new ValueError(`timestamp '${text}' is outside the target's DATETIME range (years 1000-9999)`);
  const d = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) - offsetS * 1000);
  const y = d.getUTCFullYear();
  if (y < 1000 || y > 9999) throw new ValueError(`timestamp '${text}' is outside the target's DATETIME range (years 1000-9999)`);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${y}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${frac}`;
}

const FLT_MAX = 3.4028234663852886e38;

/** A row value as a mysql2 query parameter, keeping it exact (bigint and decimals as text). */
export function toParam(v: unknown, c: Column | undefined): string | number | boolean | Buffer | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new ValueError(`value ${v} cannot be stored in ${c?.name ?? "column"} (no NaN/Infinity in MySQL)`);
    // A real arrives as the double of its shortest text: 3.4028235e38 for FLT_MAX, which the
    // server reads as a double above FLT_MAX and refuses for FLOAT. The float's own double is the
    // same float, and in range (only there: elsewhere the short text is kept, for a DOUBLE target).
    return c?.typeOid === OID.float4 && Math.abs(v) > FLT_MAX ? Math.fround(v) : v;
  }
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v) || typeof v === "object") return toJsonText(v);
  const s = String(v);
  if (c && (c.typeOid === OID.timestamp || c.typeOid === OID.timestamptz)) {
    if (s === "infinity" || s === "-infinity") throw new ValueError(`timestamp '${s}' cannot be stored in DATETIME (${c.name})`);
    return toUtcDatetime(s);
  }
  if (c && c.typeOid === OID.numeric && (s === "NaN" || s.endsWith("Infinity"))) throw new ValueError(`numeric '${s}' cannot be stored in DECIMAL (${c.name})`);
  if (c && c.typeOid === OID.date && (s.endsWith(" BC") || s.endsWith("infinity"))) throw new ValueError(`date '${s}' is outside the target's DATE range (${c.name})`);
  return s;
}

/** DECIMAL(M,D) of a target column type ("decimal(65,30)", "DECIMAL(10,2) unsigned", StarRocks "decimal128(38,9)"); null for other types. */
export function decimalOf(columnType: string): { p: number; s: number } | null {
  let d = decimalTypes.get(columnType);
  if (d === undefined) {
    const m = /^\s*decimal\w*\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)/i.exec(columnType);
    d = m ? { p: Number(m[1]), s: Number(m[2] ?? 0) } : null;
    decimalTypes.set(columnType, d);
  }
  return d;
}
const decimalTypes = new Map<string, { p: number; s: number } | null>();

/**
 * Why a decimal text does not fit DECIMAL(p,s) exactly, or null when it does (or is not plain
 * decimal text: the server judges that). MariaDB/MySQL round extra fractional digits with only a
 * Note even in strict mode (and StarRocks may clip), so this is checked before writing; padding
 * zeros do not count. The text is never read as a float.
 */
export function decimalMisfit(text: string, d: { p: number; s: number }, column: string): string | null {
  const m = /^[+-]?(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m) return null;
  const int = m[1].replace(/^0+/, "");
  const frac = (m[2] ?? "").replace(/0+$/, "");
  const shown = text.length > 80 ? `${text.slice(0, 40)}…${text.slice(-30)} (${text.length} characters)` : text;
  const type = `DECIMAL(${d.p},${d.s})`;
  if (frac.length > d.s) return `column ${column}: ${shown} has ${frac.length} fractional digits; ${type} keeps ${d.s}`;
  if (int.length > d.p - d.s) return `column ${column}: ${shown} has ${int.length} integer digits; ${type} holds ${d.p - d.s}`;
  return null;
}
