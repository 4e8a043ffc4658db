/** The SQL functions transforms may call, by name: each compiles its arguments into a Compiled (the pieces: function-args.ts, text-, number- and time-functions.ts). */
import { type Compiled, type Scope, CompileError, castCompiled, commonType, coerce, lit } from "./compile.ts";
import { checkComparable, comparator } from "./compare.ts";
import { type Fn, arity, constText, num, strict, text, time } from "./function-args.ts";
import { caseMap, like } from "./text-functions.ts";
import { roundHalfEven, roundLike } from "./number-functions.ts";
import { DIFF_UNITS, extract, timeField } from "./time-functions.ts";
import { T } from "./types.ts";
import { EvalError, checkInt8, finiteTime, textOf, toDec, toInt } from "./values.ts";
import { truncate, TRUNC_UNITS, MICROS_PER_DAY } from "./time.ts";

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
