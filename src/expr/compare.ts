/**
 * Comparisons and logic as Postgres types them: which kinds meet (a text and a number do not), a
 * comparator per pair of operand types, =/<>/</…, AND/OR/NOT with three-valued logic, IS, IN.
 */
import type { Ast } from "./parse.ts";
import { type Kind, type XType, T, isNumericKind, isReal, isTimeKind } from "./types.ts";
import { compareValues, toDec, toFloat, toInt8, toText } from "./values.ts";
import { type Compiled, CompileError, numericKind, unify } from "./compile.ts";

/**
 * Kinds that only meet their own kind. Untyped values (a quoted literal, a column whose type is
 * not known yet) are left out: a literal takes the other side's type (`n = '5'`), as in Postgres.
 */
function category(k: Kind): string | null {
  if (isNumericKind(k)) return "number";
  // text, varchar, char and name (kind text): Postgres has no text = integer operator and does
  // not cast either side implicitly; `label = 5` compared as decimals and sent every row whose
  // label is not a number to the DLQ
  if (k === "text") return "text";
  if (isTimeKind(k)) return "time";
  if (k === "bool" || k === "uuid") return k;
  if (k === "json" || k === "jsonb") return "json";
  return null;
}

/**
 * Two types Postgres has no operator or common type for (a timestamp and a number, a boolean and
 * a number, a uuid and a number, a text and anything but a text): a config error, as it is in
 * Postgres. They were compared as decimals: `ts > 5` compared the epoch microseconds with 5 and
 * was true for every row.
 */
export function checkComparable(a: XType, b: XType, what: string): void {
  const x = category(a.kind), y = category(b.kind);
  if (x && y && x !== y) throw new CompileError(`${what} ${a.typeName} and ${b.typeName} cannot be compared or matched (cast one side)`);
}

/** A comparator for two values of the compiled operand types (after unify). */
export function comparator(a: XType, b: XType): (x: unknown, y: unknown) => number {
  checkComparable(a, b, "types");
  if (isNumericKind(a.kind) && isNumericKind(b.kind)) {
    const k = numericKind(a.kind, b.kind);
    // a real against a real compares the float4s; against anything else it widens to its float4 (0.1::real = 0.1 is false)
    if (k === "float" && isReal(a) !== isReal(b)) {
      const p = isReal(a) ? (x: unknown) => Math.fround(toFloat(x)) : toFloat;
      const q = isReal(b) ? (y: unknown) => Math.fround(toFloat(y)) : toFloat;
      return (x, y) => { const u = p(x), w = q(y); return u < w ? -1 : u > w ? 1 : 0; };
    }
    if (k === "int" || k === "float") return (x, y) => (toFloat(x) < toFloat(y) ? -1 : toFloat(x) > toFloat(y) ? 1 : 0);
    if (k === "int8") return (x, y) => { const p = toInt8(x), q = toInt8(y); return p < q ? -1 : p > q ? 1 : 0; };
    return (x, y) => toDec(x).cmp(toDec(y));
  }
  if (isTimeKind(a.kind) && isTimeKind(b.kind)) return (x, y) => ((x as number) < (y as number) ? -1 : (x as number) > (y as number) ? 1 : 0);
  if (a.kind === "bool" && b.kind === "bool") return (x, y) => Number(x) - Number(y);
  if (a.kind === b.kind) return (x, y) => compareValues(a.kind, x, y);
  if (isNumericKind(a.kind) || isNumericKind(b.kind)) return (x, y) => toDec(x).cmp(toDec(y));
  return (x, y) => { const p = toText(a.kind, x), q = toText(b.kind, y); return p < q ? -1 : p > q ? 1 : 0; };
}

export const CMP: Record<string, (c: number) => boolean> = {
  "=": (c) => c === 0, "<>": (c) => c !== 0, "!=": (c) => c !== 0,
  "<": (c) => c < 0, "<=": (c) => c <= 0, ">": (c) => c > 0, ">=": (c) => c >= 0,
};

export function compileCompare(op: string, l: Compiled, r: Compiled): Compiled {
  const [a, b] = unify(l, r);
  const cmp = comparator(a.type, b.type);
  const test = CMP[op];
  const fa = a.fn, fb = b.fn;
  return { type: T.bool, fn: (row) => {
    const x = fa(row);
    if (x === null || x === undefined) return null;
    const y = fb(row);
    if (y === null || y === undefined) return null;
    return test(cmp(x, y));
  } };
}

export function compileLogic(op: "AND" | "OR", a: Compiled, b: Compiled): Compiled {
  const fa = a.fn, fb = b.fn;
  // SQL three-valued logic: FALSE AND NULL = FALSE, TRUE OR NULL = TRUE, otherwise NULL wins.
  if (op === "AND") return { type: T.bool, fn: (row) => {
    const x = fa(row);
    if (x === false) return false;
    const y = fb(row);
    if (y === false) return false;
    return x === null || x === undefined || y === null || y === undefined ? null : true;
  } };
  return { type: T.bool, fn: (row) => {
    const x = fa(row);
    if (x === true) return true;
    const y = fb(row);
    if (y === true) return true;
    return x === null || x === undefined || y === null || y === undefined ? null : false;
  } };
}

export function compileNot(a: Compiled): Compiled {
  const f = a.fn;
  return { type: T.bool, fn: (row) => { const x = f(row); return x === null || x === undefined ? null : !x; } };
}

export function compileIs(negate: boolean, a: Compiled, right: Ast): Compiled {
  const f = a.fn;
  let test: (v: unknown) => boolean;
  if (right.type === "null") test = (v) => v === null || v === undefined;
  else if (right.type === "bool") test = (v) => v === right.value;
  else throw new CompileError("IS must be followed by NULL, TRUE or FALSE");
  return { type: T.bool, fn: (row) => test(f(row)) !== negate };
}

export function compileIn(negate: boolean, x: Compiled, list: Compiled[]): Compiled {
  const pairs = list.map((item) => unify(x, item));
  const cmps = pairs.map(([a, b]) => comparator(a.type, b.type));
  const fx = pairs.length ? pairs[0][0].fn : x.fn;
  const fns = pairs.map(([, b]) => b.fn);
  // x IN (...) is TRUE on a match, NULL when x or an unmatched item is NULL, else FALSE.
  return { type: T.bool, fn: (row) => {
    const v = fx(row);
    if (v === null || v === undefined) return null;
    let sawNull = false;
    for (let i = 0; i < fns.length; i++) {
      const w = fns[i](row);
      if (w === null || w === undefined) sawNull = true;
      else if (cmps[i](v, w) === 0) return !negate;
    }
    return sawNull ? null : negate;
  } };
}
