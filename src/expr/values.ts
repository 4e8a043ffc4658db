import { Dec } from "./decimal.ts";
import { type Kind, type XType, T, toRow } from "./types.ts";
import { parseTimestamp, truncate, MICROS_PER_DAY } from "./time.ts";

/** A row-level evaluation failure (bad cast, division by zero): the row goes to the DLQ. */
export class EvalError extends Error {}

export function toDec(v: unknown): Dec {
  try {
    return Dec.from(v);
  } catch {
    throw new EvalError(`invalid input for numeric: '${String(v)}'`);
  }
}

export function toInt8(v: unknown): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") {
    if (Number.isInteger(v)) return BigInt(v);
    return BigInt(Math.round(v));
  }
  if (v instanceof Dec) return BigInt(v.round(0).toString());
  if (typeof v === "boolean") return v ? 1n : 0n;
  const s = String(v).trim();
  if (!/^[+-]?\d+$/.test(s)) throw new EvalError(`invalid input for integer: '${s}'`);
  return BigInt(s);
}

export function toInt(v: unknown): number {
  const b = toInt8(v);
  if (b > 2147483647n || b < -2147483648n) throw new EvalError(`integer out of range: ${b}`);
  return Number(b);
}

export function toFloat(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint" || v instanceof Dec) return Number(v.toString());
  const n = Number(String(v).trim());
  if (Number.isNaN(n) && String(v).trim().toLowerCase() !== "nan") throw new EvalError(`invalid input for double precision: '${String(v)}'`);
  return n;
}

export function toBool(v: unknown): boolean {
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "bigint") return v !== 0n;
  const s = String(v).trim().toLowerCase();
  if (["t", "true", "y", "yes", "on", "1"].includes(s)) return true;
  if (["f", "false", "n", "no", "off", "0"].includes(s)) return false;
  throw new EvalError(`invalid input for boolean: '${String(v)}'`);
}

export function toMicros(v: unknown): number {
  if (typeof v === "number") return v;
  if (v instanceof Date) return v.getTime() * 1000;
  const m = parseTimestamp(String(v));
  if (m === null) throw new EvalError(`invalid input for timestamp: '${String(v)}'`);
  return m;
}

/** Text form of an evaluation value of kind k (what CAST(x AS text) gives). */
export function toText(k: Kind, v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v instanceof Dec) return v.toString();
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && k !== "int" && k !== "float" && k !== "int8" && k !== "numeric" && k !== "unknown") return String(toRow(k, v));
  if (v instanceof Uint8Array) return "\\x" + Buffer.from(v).toString("hex");
  if (Array.isArray(v)) return JSON.stringify(v);
  return String(v);
}

/** A converter from kind `from` to type `to` (CAST). */
export function caster(from: Kind, to: XType): (v: unknown) => unknown {
  switch (to.kind) {
    case "int":
      return toInt;
    case "int8":
      return toInt8;
    case "float":
      return toFloat;
    case "bool":
      return toBool;
    case "numeric": {
      const scale = /numeric\(\d+,(\d+)\)/.exec(to.typeName)?.[1];
      if (scale !== undefined) {
        const s = Number(scale);
        return (v) => toDec(v).withScale(s);
      }
      return from === "float" ? (v) => toDec(String(v)) : toDec;
    }
    case "text": case "unknown": {
      const len = /\((\d+)\)/.exec(to.typeName)?.[1];
      if (len !== undefined) return (v) => toText(from, v).slice(0, Number(len));
      return (v) => toText(from, v);
    }
    case "timestamptz": case "timestamp":
      return toMicros;
    case "date":
      return (v) => truncate(toMicros(v), "day");
    case "json": case "jsonb":
      return (v) => {
        const s = toText(from, v);
        try {
          JSON.parse(s);
        } catch {
          throw new EvalError(`invalid input for json: '${s.slice(0, 40)}'`);
        }
        return s;
      };
    case "uuid":
      return (v) => {
        const s = toText(from, v).toLowerCase();
        if (!/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/.test(s)) throw new EvalError(`invalid input for uuid: '${s}'`);
        return s;
      };
  }
}

/** Total order within one kind (for MIN/MAX, comparisons, sorting). */
export function compareValues(k: Kind, a: unknown, b: unknown): number {
  switch (k) {
    case "numeric":
      return toDec(a).cmp(toDec(b));
    case "int8":
      return a! < b! ? -1 : a! > b! ? 1 : 0;
    case "bool":
      return Number(a) - Number(b);
    default:
      if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
      if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
      return toDec(a).cmp(toDec(b));
  }
}

/** Equality key of a value (1.50 = 1.5), for DISTINCT, join keys and group keys. */
export function valueKey(v: unknown): string {
  if (v === null || v === undefined) return "\u0000null";
  if (v instanceof Dec) return v.key();
  if (typeof v === "bigint" || typeof v === "number") return String(v);
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "t" : "f";
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

export const DAY = MICROS_PER_DAY;
export { T };

/** JSON-safe form of an evaluation value for checkpoints: decimals and bigints as strings. */
export function encodeValue(v: unknown): unknown {
  if (v instanceof Dec) return { d: v.toString() };
  if (typeof v === "bigint") return { b: v.toString() };
  if (v === undefined) return null;
  return v;
}
export function decodeValue(v: unknown): unknown {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const o = v as { d?: string; b?: string };
    if (o.d !== undefined) return Dec.parse(o.d);
    if (o.b !== undefined) return BigInt(o.b);
  }
  return v;
}
