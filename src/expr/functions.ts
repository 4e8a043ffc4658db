import type { Row } from "../types.ts";
import { Dec } from "./decimal.ts";
import { type Compiled, type Scope, CompileError, castCompiled, commonType, coerce, lit } from "./compile.ts";
import { checkComparable, comparator } from "./compare.ts";
import { type XType, T, isNumericKind, isTimeKind } from "./types.ts";
import { EvalError, checkInt8, finiteTime, textOf, toDec, toInt } from "./values.ts";
import { field, truncate, TRUNC_UNITS, MICROS_PER_DAY } from "./time.ts";

type Fn = (args: Compiled[], scope: Scope) => Compiled;

/** Null in → null out, for functions that are strict in every argument. */
function strict(type: XType, args: Compiled[], f: (...v: any[]) => unknown): Compiled {
  const fns = args.map((a) => a.fn);
  if (fns.length === 1) {
    const g = fns[0];
    return { type, fn: (row) => { const v = g(row); return v === null || v === undefined ? null : f(v); } };
  }
  return { type, fn: (row: Row) => {
    const vals = new Array(fns.length);
    for (let i = 0; i < fns.length; i++) {
      const v = fns[i](row);
      if (v === null || v === undefined) return null;
      vals[i] = v;
    }
    return f(...vals);
  } };
}

function arity(name: string, args: Compiled[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    throw new CompileError(`${name}() takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? "" : "s"}, got ${args.length}`);
  }
}

function text(c: Compiled): Compiled {
  return c.type.kind === "text" || c.type.kind === "unknown" || c.type.kind === "uuid" || c.type.kind === "json" || c.type.kind === "jsonb" ? c : castCompiled(c, T.text);
}
/** A number argument: a quoted literal is read as numeric; a text, boolean, date… column is refused, as Postgres has no round(text). */
function num(c: Compiled, name: string, more: Compiled[] = []): Compiled {
  if (isNumericKind(c.type.kind)) return c;
  if (c.type.kind !== "unknown") throw new CompileError(`function ${name.toLowerCase()}(${[c, ...more].map(pgTypeName).join(", ")}) does not exist (cast it: ${name}(x::numeric))`);
  return castCompiled(c, T.numeric);
}
function time(c: Compiled, name: string): Compiled {
  if (isTimeKind(c.type.kind)) return c;
  if (c.type.kind === "unknown" || c.type.kind === "text") return castCompiled(c, T.timestamptz);
  throw new CompileError(`${name}() needs a date or timestamp, not ${c.type.typeName}`);
}
function constText(c: Compiled, name: string): string {
  if (!c.literal || typeof c.literal.value !== "string") throw new CompileError(`${name}(): the first argument must be a quoted unit such as 'day'`);
  return c.literal.value.toLowerCase();
}

function likeRegex(pattern: string, insensitive: boolean): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "\\" && i + 1 < pattern.length) re += pattern[++i].replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    else if (ch === "%") re += "[\\s\\S]*";
    else if (ch === "_") re += "[\\s\\S]";
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  // "u": `_` is one character (code point), as in Postgres, not half of a surrogate pair
  return new RegExp(`^${re}$`, insensitive ? "iu" : "u");
}

/**
 * How Postgres names an operand's type in "operator/function does not exist": a quoted literal is
 * "unknown", and a type without its modifiers (character varying, not character varying(10)).
 */
function pgTypeName(c: Compiled): string {
  return c.type.kind === "unknown" && c.literal ? "unknown" : c.type.typeName.replace(/\(.*\)$/, "");
}

/**
 * Postgres has LIKE for text (varchar, char, name) only and casts nothing to text implicitly:
 * `label LIKE 5` and `5 LIKE '5'` are "operator does not exist: text ~~ integer". They compiled
 * and matched the number's text. A column of a type not known here is left to the row.
 */
function likeOperands(op: string, args: Compiled[]): void {
  if (args.every((a) => a.type.kind === "text" || a.type.kind === "unknown")) return;
  throw new CompileError(`operator does not exist: ${pgTypeName(args[0])} ${op} ${pgTypeName(args[1])} (LIKE matches text: cast the other side, e.g. n::text LIKE '5%')`);
}

function like(negate: boolean, insensitive: boolean): Fn {
  const op = `${negate ? "!" : ""}~~${insensitive ? "*" : ""}`;
  return (args) => {
    likeOperands(op, args);
    const [s, p] = [text(args[0]), text(args[1])];
    if (p.literal) {
      if (p.literal.value === null) return lit(T.bool, null);
      const re = likeRegex(String(p.literal.value), insensitive);
      return strict(T.bool, [s], (v) => re.test(String(v)) !== negate);
    }
    return strict(T.bool, [s, p], (v, q) => likeRegex(String(q), insensitive).test(String(v)) !== negate);
  };
}

/**
 * UPPER/LOWER one character at a time, as Postgres does (towupper): a character whose full
 * case mapping is several characters ('ß' → 'SS', 'İ' → 'i̇') stays as it is, so the
 * length never changes.
 */
function caseMap(s: string, upper: boolean): string {
  const m = upper ? s.toUpperCase() : s.toLowerCase();
  // Σ too: JS lowercases a word-final one to 'ς' by context, Postgres always to 'σ'
  if (m.length === s.length && !/[\u0130\u0149\u01f0\u0390\u03a3\u03b0\u0587\u1e96-\u1e9a\u1f50-\u1ffc\ufb00-\ufb17\u00df]/.test(s)) return m;
  let out = "";
  for (const ch of s) {
    const c = upper ? ch.toUpperCase() : ch.toLowerCase();
    out += [...c].length === 1 ? c : ch;
  }
  return out;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Postgres has round(numeric, integer) and round(double precision), no round(double precision,
 * integer): ROUND(f, 2) rounded the double's binary value (1.005 gave 1 where the numeric gives
 * 1.01). The digits are an integer (smallint or int; a quoted literal): round(numeric, bigint) and
 * round(numeric, numeric) do not exist either.
 */
function roundArgs(x: Compiled, digits: Compiled): void {
  const xt = pgTypeName(x), dt = pgTypeName(digits);
  if (x.type.kind === "float") throw new CompileError(`function round(${xt}, ${dt}) does not exist (cast to numeric to round to digits: ROUND(x::numeric, 2))`);
  if (digits.type.kind !== "int" && digits.type.kind !== "unknown") throw new CompileError(`function round(${xt}, ${dt}) does not exist (the number of digits is an integer)`);
}

function roundLike(name: string, g: (d: Dec, digits: number) => Dec, floatG: (x: number) => number): Fn {
  return (args) => {
    arity(name, args, 1, name === "ROUND" ? 2 : 1);
    const x = num(args[0], name, args.slice(1));
    if (args[1]) roundArgs(x, args[1]);
    const digits = args[1] ? castCompiled(args[1], T.int) : lit(T.int, 0);
    if (x.type.kind === "float") return strict(T.float, [x], (v) => floatG(v));
    if (x.type.kind === "int" || x.type.kind === "int8") return name === "ROUND" && args[1] ? strict(T.numeric, [x, digits], (v, d) => g(toDec(v), d)) : x;
    return strict(T.numeric, [x, digits], (v, d) => g(toDec(v), d));
  };
}

/**
 * A field of ±infinity: Postgres answers ±Infinity for the unbounded ones (year, epoch, …), which
 * an exact integer cannot hold (a row error), and NULL for the others (month, dow, hour, …).
 */
function infiniteField(v: number, f: string): null {
  if (f === "year" || f === "decade" || f === "century" || f === "millennium" || f === "epoch") finiteTime(v);
  return null;
}

function timeField(f: string): Fn {
  return (args) => {
    arity(f.toUpperCase(), args, 1);
    return strict(T.int, [time(args[0], f)], (v) => (Number.isFinite(v) ? field(v, f) : infiniteField(v, f)));
  };
}

function extract(unitArg: Compiled, src: Compiled, name: string): Compiled {
  const unit = constText(unitArg, name).replace(/s$/, (m) => (unitArg.literal!.value === "seconds" || unitArg.literal!.value === "years" ? "" : m));
  const t = time(src, name);
  switch (unit) {
    case "epoch":
      // a date's epoch has no fraction in Postgres; a timestamp's has six digits
      return strict(T.numeric, [t], (v: number) => (t.type.kind === "date" ? new Dec(BigInt(finiteTime(v) / 1_000_000), 0) : new Dec(BigInt(finiteTime(v)), 6)));
    case "second":
      return strict(T.numeric, [t], (v: number) => (Number.isFinite(v) ? new Dec(BigInt(((v % 60_000_000) + 60_000_000) % 60_000_000), 6) : null));
    case "millisecond": case "milliseconds":
      return strict(T.numeric, [t], (v: number) => (Number.isFinite(v) ? new Dec(BigInt(((v % 60_000_000) + 60_000_000) % 60_000_000), 3) : null));
    case "microsecond": case "microseconds":
      return strict(T.numeric, [t], (v: number) => (Number.isFinite(v) ? new Dec(BigInt(((v % 60_000_000) + 60_000_000) % 60_000_000), 0) : null));
  }
  try {
    field(0, unit);
  } catch {
    throw new CompileError(`${name}(): unknown field '${unit}'`);
  }
  return strict(T.numeric, [t], (v: number) => (Number.isFinite(v) ? new Dec(BigInt(field(v, unit)), 0) : infiniteField(v, unit)));
}

const DIFF_UNITS: Record<string, number> = { day: MICROS_PER_DAY, days: MICROS_PER_DAY, hour: 3_600_000_000, hours: 3_600_000_000, minute: 60_000_000, minutes: 60_000_000, second: 1_000_000, seconds: 1_000_000, week: 7 * MICROS_PER_DAY, weeks: 7 * MICROS_PER_DAY };

const FUNCTIONS: Record<string, Fn> = {
  UPPER: (a) => (arity("UPPER", a, 1), strict(T.text, [text(a[0])], (s: string) => caseMap(s, true))),
  LOWER: (a) => (arity("LOWER", a, 1), strict(T.text, [text(a[0])], (s: string) => caseMap(s, false))),
  LENGTH: (a) => (arity("LENGTH", a, 1), strict(T.int, [text(a[0])], (s: string) => [...s].length)),
  CHAR_LENGTH: (a, s) => FUNCTIONS.LENGTH(a, s),
  TRIM: (a) => {
    // TRIM(s) | TRIM([BOTH|LEADING|TRAILING] [chars] FROM s) (keywords arrive as {keyword} literals)
    let mode = "both";
    let chars: Compiled | null = null;
    const rest: Compiled[] = [];
    let sawFrom = false;
    for (const x of a) {
      const kw = (x.literal?.value as { keyword?: string } | null)?.keyword;
      if (kw === "both" || kw === "leading" || kw === "trailing") mode = kw;
      else if (kw === "from") {
        sawFrom = true;
        if (rest.length) chars = rest.pop()!;
      } else rest.push(x);
    }
    if (!sawFrom && rest.length === 2) chars = rest.pop()!; // TRIM(s, chars) form
    if (rest.length !== 1) throw new CompileError("TRIM() takes one string");
    const trimRe = (set: string) => {
      const cls = `[${set.replace(/[\]\\^-]/g, "\\$&")}]+`;
      return new RegExp(mode === "both" ? `^${cls}|${cls}$` : mode === "leading" ? `^${cls}` : `${cls}$`, "gu");
    };
    if (!chars || chars.literal) {
      if (chars?.literal?.value === null) return lit(T.text, null);
      const re = trimRe(chars ? String(chars.literal!.value) : " ");
      return strict(T.text, [text(rest[0])], (s: string) => s.replace(re, ""));
    }
    // the characters from a column: they were ignored (spaces trimmed instead). Its pattern is
    // made again only when the set changes (mostly one value for every row), not per row.
    let lastSet = "";
    let lastRe: RegExp | null = null;
    return strict(T.text, [text(rest[0]), text(chars)], (s: string, set: string) => {
      if (set === "") return s;
      if (set !== lastSet || !lastRe) (lastSet = set), (lastRe = trimRe(set));
      return s.replace(lastRe, "");
    });
  },
  LTRIM: (a) => (arity("LTRIM", a, 1), strict(T.text, [text(a[0])], (s: string) => s.replace(/^ +/, ""))),
  RTRIM: (a) => (arity("RTRIM", a, 1), strict(T.text, [text(a[0])], (s: string) => s.replace(/ +$/, ""))),
  SUBSTRING: (a) => {
    const parts = a.filter((x) => !(x.literal?.value as { keyword?: string } | null)?.keyword);
    arity("SUBSTRING", parts, 2, 3);
    const args = [text(parts[0]), castCompiled(parts[1], T.int), ...(parts[2] ? [castCompiled(parts[2], T.int)] : [])];
    return strict(T.text, args, (s: string, start: number, len?: number) => {
      const cps = [...s];
      // SQL positions are 1-based; a start below 1 eats into the length (as Postgres).
      let from = start - 1;
      let to = len === undefined ? cps.length : from + len;
      if (len !== undefined && len < 0) throw new EvalError("negative substring length not allowed");
      from = Math.max(0, from);
      to = Math.max(from, to);
      return cps.slice(from, to).join("");
    });
  },
  SUBSTR: (a, s) => FUNCTIONS.SUBSTRING(a, s),
  REPLACE: (a) => (arity("REPLACE", a, 3), strict(T.text, a.map(text), (s: string, f: string, r: string) => (f === "" ? s : s.split(f).join(r)))),
  CONCAT: (a) => {
    const fns = a.map((x) => ({ f: x.padded ?? x.fn, k: x.type.kind, t: x.type }));
    return { type: T.text, fn: (row) => {
      let out = "";
      for (const { f, k, t } of fns) {
        const v = f(row);
        // CONCAT prints with each type's output function: a boolean is t/f here, true/false in ||
        if (v !== null && v !== undefined) out += k === "bool" ? (v ? "t" : "f") : textOf(t, v);
      }
      return out;
    } };
  },
  CONCAT_OP: (a) => strict(T.text, a, (x: unknown, y: unknown) => textOf(a[0].type, x) + textOf(a[1].type, y)),
  COALESCE: (a) => {
    if (a.length === 0) throw new CompileError("COALESCE() needs arguments");
    const type = commonType(a);
    const fns = a.map((x) => coerce(x, type).fn);
    return { type, fn: (row) => {
      for (const f of fns) {
        const v = f(row);
        if (v !== null && v !== undefined) return v;
      }
      return null;
    } };
  },
  NULLIF: (a) => {
    arity("NULLIF", a, 2);
    const type = commonType([a[0]]);
    const x = a[0];
    checkComparable(x.type, a[1].type, "NULLIF:");
    const y = coerce(a[1], x.type.kind === "unknown" ? a[1].type : x.type);
    const cmp = comparator(x.type, y.type);
    return { type: type.kind === "unknown" ? x.type : type, fn: (row) => {
      const v = x.fn(row);
      if (v === null || v === undefined) return null;
      const w = y.fn(row);
      return w !== null && w !== undefined && cmp(v, w) === 0 ? null : v;
    } };
  },
  GREATEST: (a) => extreme(a, 1),
  LEAST: (a) => extreme(a, -1),
  // a double rounds half to even without digits, as Postgres' round(float8) (rint): 2.5 → 2
  ROUND: roundLike("ROUND", (d, n) => d.round(n), (x) => roundHalfEven(x)),
  FLOOR: roundLike("FLOOR", (d) => d.floor(), (x) => Math.floor(x)),
  CEIL: roundLike("CEIL", (d) => d.ceil(), (x) => Math.ceil(x)),
  CEILING: (a, s) => FUNCTIONS.CEIL(a, s),
  ABS: (a) => {
    arity("ABS", a, 1);
    const x = num(a[0], "ABS");
    const k = x.type.kind;
    return strict(x.type, [x], (v) => {
      if (k === "numeric") return toDec(v).abs();
      if (typeof v === "bigint") return checkInt8(v < 0n ? -v : v);
      if (k === "int" && v === -2147483648) throw new EvalError("integer out of range");
      return Math.abs(v);
    });
  },
  EXTRACT: (a) => extract(a[0], a[1], "EXTRACT"),
  DATE_PART: (a) => (arity("DATE_PART", a, 2), extract(a[0], a[1], "DATE_PART")),
  DATE_TRUNC: (a) => {
    arity("DATE_TRUNC", a, 2);
    const unit = constText(a[0], "DATE_TRUNC");
    if (!TRUNC_UNITS.includes(unit)) throw new CompileError(`DATE_TRUNC(): unknown unit '${unit}'`);
    const t = time(a[1], "DATE_TRUNC");
    return strict(t.type.kind === "date" ? T.timestamptz : t.type, [t], (v: number) => truncate(v, unit));
  },
  YEAR: timeField("year"),
  QUARTER: timeField("quarter"),
  MONTH: timeField("month"),
  DAY: timeField("day"),
  HOUR: timeField("hour"),
  MINUTE: timeField("minute"),
  DATE: (a) => (arity("DATE", a, 1), castCompiled(time(a[0], "DATE"), T.date)),
  // DATE_DIFF('day', start, end): whole units elapsed from start to end (truncated toward zero).
  DATE_DIFF: (a) => {
    arity("DATE_DIFF", a, 3);
    const unit = constText(a[0], "DATE_DIFF");
    const step = DIFF_UNITS[unit];
    if (!step) throw new CompileError(`DATE_DIFF(): unknown unit '${unit}' (day, hour, minute, second, week)`);
    return strict(T.int8, [time(a[1], "DATE_DIFF"), time(a[2], "DATE_DIFF")], (s: number, e: number) => BigInt(Math.trunc((finiteTime(e) - finiteTime(s)) / step)));
  },
  // DATEDIFF(end, start): calendar days between the two dates (as MySQL).
  DATEDIFF: (a) => {
    arity("DATEDIFF", a, 2);
    return strict(T.int, [time(a[0], "DATEDIFF"), time(a[1], "DATEDIFF")], (e: number, s: number) => Math.round((truncate(finiteTime(e), "day") - truncate(finiteTime(s), "day")) / MICROS_PER_DAY));
  },
  LIKE: like(false, false),
  NOT_LIKE: like(true, false),
  ILIKE: like(false, true),
  NOT_ILIKE: like(true, true),
  MAP: (a, scope) => {
    arity("MAP", a, 2, 3);
    const name = a[0].literal?.value;
    if (typeof name !== "string") throw new CompileError("MAP(): the first argument must be a quoted map name");
    const map = scope.maps[name];
    if (!map) throw new CompileError(`MAP(): unknown map '${name}' (define it under maps:)`);
    const key = text(a[1]).fn;
    const kt = a[1].type;
    const dflt = a[2] ? text(a[2]).fn : () => null;
    return { type: T.text, fn: (row) => {
      const v = key(row);
      const hit = v === null || v === undefined ? undefined : map.get(textOf(kt, v));
      return hit === undefined ? dflt(row) : hit;
    } };
  },
};

function extreme(a: Compiled[], sign: number): Compiled {
  if (a.length === 0) throw new CompileError("GREATEST/LEAST need arguments");
  const type = commonType(a);
  const fns = a.map((x) => coerce(x, type).fn);
  const cmp = comparator(type, type);
  return { type, fn: (row) => {
    let best: unknown = null;
    for (const f of fns) {
      const v = f(row);
      if (v !== null && v !== undefined && (best === null || cmp(v, best) * sign > 0)) best = v;
    }
    return best;
  } };
}

export const FUNCTION_NAMES = Object.keys(FUNCTIONS);

/** Clock and random functions: refused by name (CURRENT_DATE said only "unknown function"). */
const NONDETERMINISTIC = new Set(["NOW", "CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "LOCALTIME", "LOCALTIMESTAMP", "CLOCK_TIMESTAMP", "STATEMENT_TIMESTAMP", "TRANSACTION_TIMESTAMP", "TIMEOFDAY", "RANDOM", "GEN_RANDOM_UUID", "UUID_GENERATE_V4"]);

export function compileFunction(name: string, args: Compiled[], scope: Scope): Compiled {
  const f = FUNCTIONS[name];
  if (!f) {
    if (NONDETERMINISTIC.has(name)) throw new CompileError(`${name}() is not allowed: transforms must be deterministic (replays give the same result)`);
    throw new CompileError(`unknown function ${name}()`);
  }
  return f(args, scope);
}

export { toInt };
