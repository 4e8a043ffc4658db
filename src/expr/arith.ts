/**
 * Arithmetic operators (+ - * / %) as Postgres types them: integers checked for overflow, int8 as
 * bigint, numeric as exact decimals, doubles and reals (float-arith.ts), and date ± days.
 */
import type { Row } from "../types.ts";
import { Dec } from "./decimal.ts";
import { type Kind, type XType, REAL, T, isReal, isTimeKind } from "./types.ts";
import { EvalError, checkInt8, toDec, toFloat, toInt8 } from "./values.ts";
import { type Compiled, CompileError, numericKind, unify } from "./compile.ts";
import { floatOp } from "./float-arith.ts";
import { MAX_MICROS } from "./time.ts";

/** Kinds Postgres has no arithmetic for (`label + 1` is "operator does not exist: text + integer"). */
const NO_ARITH = new Set<Kind>(["text", "bool", "uuid", "json", "jsonb"]);

export function compileArith(op: string, l: Compiled, r: Compiled): Compiled {
  const [a, b] = unify(l, r);
  const ka = a.type.kind, kb = b.type.kind;
  // Was computed on the text as a decimal: every row whose text is not a number went to the DLQ.
  if (NO_ARITH.has(ka) || NO_ARITH.has(kb)) throw new CompileError(`operator does not exist: ${a.type.typeName} ${op} ${b.type.typeName} (cast the text: label::numeric ${op} 1)`);
  if (isTimeKind(ka) || isTimeKind(kb)) return compileTimeArith(op, a, b);
  const k = numericKind(ka, kb);
  const fa = a.fn, fb = b.fn;
  let f: (x: unknown, y: unknown) => unknown;
  let type: XType = T[k as "int"];
  if (k === "int") {
    f = intOp(op);
  } else if (k === "int8") {
    f = int8Op(op);
  } else if (k === "float") {
    // Postgres has no % for doubles (nor for a double and a numeric): it computed JS's remainder
    if (op === "%") throw new CompileError(`operator does not exist: ${a.type.typeName} % ${b.type.typeName} (cast both to numeric or integer)`);
    // real op real stays a real (float4pl); a real meeting any other number widens to double
    const real = isReal(a.type) && isReal(b.type);
    if (real) type = REAL;
    f = floatOp(op, real, toFloat, [isReal(a.type), isReal(b.type)]);
  } else {
    f = decOp(op);
    type = T.numeric;
  }
  return { type, fn: (row) => {
    const x = fa(row);
    if (x === null || x === undefined) return null;
    const y = fb(row);
    if (y === null || y === undefined) return null;
    return f(x, y);
  } };
}

/**
 * int4 arithmetic on JS numbers. `+ 0` turns a -0 (`0 * -1`, `-1 / 5` truncated, `-4 % 2`) into
 * 0: an integer has no -0 in Postgres, and a number that is -0 is printed as -0 (a float's).
 */
function intOp(op: string): (x: unknown, y: unknown) => unknown {
  const check = (n: number) => {
    if (n > 2147483647 || n < -2147483648) throw new EvalError("integer out of range");
    return n + 0;
  };
  switch (op) {
    case "+": return (x, y) => check((x as number) + (y as number));
    case "-": return (x, y) => check((x as number) - (y as number));
    case "*": return (x, y) => check((x as number) * (y as number));
    case "/": return (x, y) => { if (y === 0) throw new EvalError("division by zero"); return check(Math.trunc((x as number) / (y as number))); };
    default: return (x, y) => { if (y === 0) throw new EvalError("division by zero"); return ((x as number) % (y as number)) + 0; };
  }
}
function int8Op(op: string): (x: unknown, y: unknown) => unknown {
  switch (op) {
    // bigint never overflows in JS: a result beyond int8 is an error, as in Postgres
    case "+": return (x, y) => checkInt8(toInt8(x) + toInt8(y));
    case "-": return (x, y) => checkInt8(toInt8(x) - toInt8(y));
    case "*": return (x, y) => checkInt8(toInt8(x) * toInt8(y));
    case "/": return (x, y) => { const d = toInt8(y); if (d === 0n) throw new EvalError("division by zero"); return checkInt8(toInt8(x) / d); };
    default: return (x, y) => { const d = toInt8(y); if (d === 0n) throw new EvalError("division by zero"); return toInt8(x) % d; };
  }
}
function decOp(op: string): (x: unknown, y: unknown) => unknown {
  const wrap = (g: (a: Dec, b: Dec) => Dec) => (x: unknown, y: unknown) => {
    try {
      return g(toDec(x), toDec(y));
    } catch (e) {
      if (e instanceof RangeError) throw new EvalError(e.message);
      throw e;
    }
  };
  switch (op) {
    case "+": return wrap((a, b) => a.add(b));
    case "-": return wrap((a, b) => a.sub(b));
    case "*": return wrap((a, b) => a.mul(b));
    case "/": return wrap((a, b) => a.div(b));
    default: return wrap((a, b) => a.mod(b));
  }
}

const DAY_US = 86_400_000_000;
function compileTimeArith(op: string, a: Compiled, b: Compiled): Compiled {
  const ka = a.type.kind, kb = b.type.kind;
  const fa = a.fn, fb = b.fn;
  const guard = (g: (x: number, y: number) => number) => (row: Row) => {
    const x = fa(row);
    if (x === null || x === undefined) return null;
    const y = fb(row);
    if (y === null || y === undefined) return null;
    const out = g(Number(x as number), Number(y as number));
    if (!Number.isFinite(out) && (Number.isFinite(x as number) && Number.isFinite(y as number) || Number.isNaN(out) || op === "-" && ka === "date" && kb === "date")) throw new EvalError("date out of range");
    // past what a JS Date holds (year 275760) a date would be written as "0NaN-NaN-NaN"
    if (Number.isFinite(out) && Math.abs(out) > MAX_MICROS) throw new EvalError("date out of range");
    return out;
  };
  // date - date → days; date ± integer → date (as Postgres).
  if (op === "-" && ka === "date" && kb === "date") return { type: T.int, fn: guard((x, y) => Math.round((x - y) / DAY_US)) };
  if (ka === "date" && (kb === "int" || kb === "int8") && (op === "+" || op === "-")) return { type: T.date, fn: guard((x, y) => (op === "+" ? x + y * DAY_US : x - y * DAY_US)) };
  if (kb === "date" && (ka === "int" || ka === "int8") && op === "+") return { type: T.date, fn: guard((x, y) => y + x * DAY_US) };
  throw new CompileError(`operator ${op} is not supported between ${a.type.typeName} and ${b.type.typeName} (use DATE_DIFF('day', a, b) for timestamps)`);
}
