import { Dec } from "./decimal.ts";
import { type Kind, type XType, T, isReal, toRow } from "./types.ts";
import { realText, toReal } from "./real.ts";
import { parseTimestamp, truncate, MICROS_PER_DAY } from "./time.ts";

import { EvalError } from "./eval-error.ts";

export { EvalError };

export function toDec(v: unknown): Dec {
  try {
    return Dec.from(v);
  } catch {
    throw new EvalError(`invalid input for numeric: '${String(v)}'`);
  }
}

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** An int8 result, or a row error when it does not fit (as Postgres' "bigint out of range"). */
export function checkInt8(b: bigint): bigint {
  if (b > INT8_MAX || b < INT8_MIN) throw new EvalError("bigint out of range");
  return b;
}

export function toInt8(v: unknown): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") {
    if (Number.isInteger(v)) return checkInt8(BigInt(v));
    if (!Number.isFinite(v)) throw new EvalError(`bigint out of range: ${v}`);
    // float → integer rounds half to even, as Postgres (rint)
    const r = Math.round(v);
    return checkInt8(BigInt(r - v === 0.5 && r % 2 !== 0 ? r - 1 : r));
  }
  if (v instanceof Dec) return checkInt8(BigInt(v.round(0).toString()));
  if (typeof v === "boolean") return v ? 1n : 0n;
  const s = String(v).trim();
  if (!/^[+-]?\d+$/.test(s)) throw new EvalError(`invalid input for integer: '${s}'`);
  return checkInt8(BigInt(s));
}

export function toInt(v: unknown): number {
  const b = toInt8(v);
  if (b > 2147483647n || b < -2147483648n) throw new EvalError(`integer out of range: ${b}`);
  return Number(b);
}

export function toFloat(v: unknown): number {
  if (typeof v === "number") return v;
  if (v instanceof Dec) {
    // past the double range (or so small it reads as 0): an error, as Postgres' numeric → double
    // cast (was ±Infinity, or 0)
    const n = Number(v.toString());
    if (!Number.isFinite(n) || (n === 0 && !v.isZero())) throw new EvalError(`'${v.toString()}' is out of range for type double precision`);
    return n;
  }
  if (typeof v === "bigint") return Number(v);
  const s = String(v).trim();
  const inf = /^([+-]?)inf(inity)?$/i.exec(s); // Postgres spells them infinity, inf
  if (inf) return inf[1] === "-" ? -Infinity : Infinity;
  const n = s === "" ? NaN : Number(s);
  if (Number.isNaN(n) && s.toLowerCase() !== "nan") throw new EvalError(`invalid input for double precision: '${String(v)}'`);
  if ((!Number.isFinite(n) && !Number.isNaN(n)) || (n === 0 && /^[+-]?[0-9.]*[1-9]/.test(s))) throw new EvalError(`'${s}' is out of range for type double precision`);
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

/** A finite time value, for what has no answer at ±infinity (fields, differences). */
export function finiteTime(v: number): number {
  if (!Number.isFinite(v)) throw new EvalError(`timestamp out of range: ${v > 0 ? "infinity" : "-infinity"}`);
  return v;
}

/**
 * A double as Postgres prints it (float8out): the shortest digits that read back the same, in
 * exponent form below 1e-4 or from 1e15 on (1e+16, 1e-05, 1.2345678901234568e+17), and -0.
 * JS String() switches to exponents only at 1e21 and 1e-7.
 */
export function floatText(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const [mant, e] = v.toExponential().split("e");
  const exp = Number(e);
  if (exp < -4 || exp >= 15) return `${mant}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return String(v);
}

/** Text form of an evaluation value of kind k (what CAST(x AS text) gives). */
export function toText(k: Kind, v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" && k === "float") return floatText(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v instanceof Dec) return v.toString();
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && k !== "int" && k !== "float" && k !== "int8" && k !== "numeric" && k !== "unknown") return String(toRow(k, v));
  if (v instanceof Uint8Array) return "\\x" + Buffer.from(v).toString("hex");
  if (Array.isArray(v)) return JSON.stringify(v);
  return String(v);
}

/** Text form of a value of type t: a real printed as float4out prints it (1.234567e+06, not 1234567). */
export function textOf(t: XType, v: unknown): string {
  return typeof v === "number" && isReal(t) ? realText(v) : toText(t.kind, v);
}

/** A converter from kind `from` to type `to` (CAST). */
export function caster(from: Kind, to: XType): (v: unknown) => unknown {
  switch (to.kind) {
    case "int":
      return toInt;
    case "int8":
      return toInt8;
    case "float":
      return isReal(to) ? (v) => toReal(v, toFloat) : toFloat;
    case "bool":
      return toBool;
    case "numeric": {
      const ps = /numeric\((\d+),(\d+)\)/.exec(to.typeName);
      if (ps) {
        const s = Number(ps[2]);
        const limit = 10n ** BigInt(Number(ps[1])); // |unscaled| must stay below 10^precision
        return (v) => {
          const d = toDec(v).withScale(s);
          if ((d.u < 0n ? -d.u : d.u) >= limit) throw new EvalError(`numeric field overflow: ${d.toString()} does not fit ${to.typeName}`);
          return d;
        };
      }
      // float → numeric keeps 15 significant digits, as Postgres (DBL_DIG): 0.1 + 0.2 gives 0.3
      return from === "float" ? (v) => toDec(typeof v === "number" && Number.isFinite(v) ? Number(v.toPrecision(15)).toString() : String(v)) : toDec;
    }
    case "text": case "unknown": {
      const len = /\((\d+)\)/.exec(to.typeName)?.[1];
      if (len !== undefined) {
        const n = Number(len);
        // characters (code points), as Postgres counts them: never half of a surrogate pair
        return (v) => {
          const s = toText(from, v);
          return s.length <= n ? s : [...s].slice(0, n).join("");
        };
      }
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
  // JSON has no NaN/±Infinity (a float value, an infinite timestamp): kept as text, not as null;
  // nor does JSON.stringify keep a float's -0 (it writes 0)
  if (typeof v === "number" && (!Number.isFinite(v) || (v === 0 && 1 / v < 0))) return { f: Number.isFinite(v) ? "-0" : String(v) };
  return v;
}
export function decodeValue(v: unknown): unknown {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const o = v as { d?: string; b?: string; f?: string };
    if (o.d !== undefined) return Dec.parse(o.d);
    if (o.b !== undefined) return BigInt(o.b);
    if (o.f !== undefined) return Number(o.f);
  }
  return v;
}
