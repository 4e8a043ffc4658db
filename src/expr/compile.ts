import type { Row } from "../types.ts";
import { Dec } from "./decimal.ts";
import { type Ast, stringValue } from "./parse.ts";
import { type Kind, type XType, REAL, T, isNumericKind, isReal, isTimeKind, typeFromName } from "./types.ts";
import { EvalError, caster, toFloat } from "./values.ts";
import { compileFunction } from "./functions.ts";
import { compileJsonAccess } from "./json.ts";
import { fromReal } from "./real.ts";
import { compileArith } from "./arith.ts";
import { CMP, checkComparable, compileCompare, compileIn, compileIs, compileLogic, compileNot } from "./compare.ts";

/** A compiled expression: its static type and a closure over one row (evaluation form). */
export interface Compiled {
  type: XType;
  fn: (row: Row) => unknown;
  /** Set when the expression is a literal (folded at compile time). */
  literal?: { value: unknown };
  /** A character(n) column's value with its padding, which CONCAT prints (scope.ts). */
  padded?: (row: Row) => unknown;
}

export interface ColumnRef {
  type: XType;
  get: (row: Row) => unknown;
  /** The name the value has in the row (for readsOf: which row columns an expression reads). */
  name?: string;
  /** A character(n) column's value with its padding (`get` trims it). */
  padded?: (row: Row) => unknown;
}

export interface Scope {
  /** A column by name (and optional table qualifier), or null when unknown. */
  column(name: string, table: string | null): ColumnRef | null;
  maps: Record<string, Map<string, string>>;
}

/** A config mistake found while compiling (unknown column/function, bad types): exit 2. */
export class CompileError extends Error {}

/** `scope`, noting in `reads` the row name of every column an expression compiled with it resolves. */
export function recordingScope(scope: Scope, reads: Set<string>): Scope {
  return {
    maps: scope.maps,
    column(name, table) {
      const ref = scope.column(name, table);
      if (ref) reads.add(ref.name ?? name);
      return ref;
    },
  };
}

export const NULL_TYPE: XType = { kind: "unknown", oid: 25, typeName: "text" };

export function lit(type: XType, value: unknown): Compiled {
  return { type, fn: () => value, literal: { value } };
}

/**
 * Compile one expression. A row's value can still trip a library or the runtime (a RangeError
 * from BigInt or decimal.js, a date past what a JS Date holds) where no check of ours names it;
 * such a failure is this row's, not the engine's: it becomes an EvalError, so the row goes to the
 * dead-letter queue with the expression named and the pipeline goes on (before, it stopped the
 * engine with exit 1). One try per evaluated expression, not per node.
 */
export function compile(node: Ast, scope: Scope): Compiled {
  const c = compileNode(node, scope);
  if (c.literal) return c;
  const f = c.fn;
  return { ...c, fn: (row) => {
    try {
      return f(row);
    } catch (e) {
      if (e instanceof EvalError) throw e;
      throw new EvalError(e instanceof Error ? e.message : String(e));
    }
  } };
}

function compileNode(node: Ast, scope: Scope): Compiled {
  switch (node.type) {
    case "column_ref": {
      if (node.column === "*") throw new CompileError("'*' is only allowed as a select item of its own");
      // a[1] came back as the whole array (or the whole text for s[1]): the grammar puts the
      // subscript beside the column, where nothing read it
      if (Array.isArray(node.array_index) && node.array_index.length) throw new CompileError("array subscripts (a[1]) are not supported");
      const name = node.column?.expr?.value ?? node.column;
      const ref = scope.column(String(name), node.table ?? null);
      if (!ref) throw new CompileError(`unknown column '${node.table ? node.table + "." : ""}${name}'`);
      return { type: ref.type, fn: ref.get, ...(ref.padded ? { padded: ref.padded } : {}) };
    }
    case "number": case "bigint": {
      const s = String(node.value);
      if (/^[+-]?\d+$/.test(s)) {
        const b = BigInt(s);
        // beyond int8 a literal is numeric, as in Postgres (9223372036854775808 is not an error)
        if (b > 9223372036854775807n || b < -9223372036854775808n) return lit(T.numeric, new Dec(b, 0));
        return b >= -2147483648n && b <= 2147483647n ? lit(T.int, Number(b)) : lit(T.int8, b);
      }
      return lit(T.numeric, Dec.parse(s));
    }
    case "single_quote_string": case "string": case "natural_string":
      return lit(T.unknown, stringValue(node));
    case "bool":
      return lit(T.bool, Boolean(node.value));
    case "null":
      return lit(NULL_TYPE, null);
    case "date": case "timestamp": case "datetime":
      return castCompiled(lit(T.unknown, String(node.value)), node.type === "date" ? T.date : T.timestamp);
    case "binary_expr":
      return compileBinary(node, scope);
    case "unary_expr":
      return compileUnary(node, scope);
    case "case":
      return compileCase(node, scope);
    case "cast": {
      // x::text::int comes as one node with both targets, applied left to right
      let out = compileNode(node.expr, scope);
      for (const t of (node.target ?? []) as Ast[]) {
        const to = castTarget(t);
        if (!to) throw new CompileError(`unsupported CAST target type '${t?.dataType}'`);
        out = castCompiled(out, to);
      }
      return out;
    }
    case "extract":
      return compileFunction("EXTRACT", [lit(T.unknown, String(node.args.field).toLowerCase()), compileNode(node.args.source, scope)], scope);
    case "function": {
      const parts = node.name?.name ?? [];
      const fname = String(parts[parts.length - 1]?.value ?? "").toUpperCase();
      if (fname === "NOT") return compileNot(compileNode(node.args.value[0], scope));
      const raw: Ast[] = node.args?.value ?? [];
      return compileFunction(fname, raw.map((a) => (a.type === "origin" ? lit(T.unknown, { keyword: String(a.value).toLowerCase() }) : compileNode(a, scope))), scope);
    }
    case "aggr_func":
      throw new CompileError(`aggregate ${node.name}() belongs under 'aggregate:' (with a window or group_by)`);
    case "interval":
      throw new CompileError("INTERVAL values are not supported; use DATE_DIFF or window sizes");
  }
  if (node.type === undefined && (node.ast || node.type === "select" || node.columns)) throw new CompileError("subqueries are not supported");
  throw new CompileError(`unsupported expression (${node.type ?? (node.ast ? "subquery" : "?")})`);
}

/**
 * A CAST target as the grammar gives it. It splits `int8` into INT with length 8 (read as an
 * int4: CAST(big AS int8) failed with 'integer out of range') and `timestamp with time zone` into
 * TIMESTAMP with a suffix (read as a timestamp without zone); both are put back together here.
 */
function castTarget(t: Ast): XType | null {
  // x::int[] was read as x::int: the grammar marks the array beside the type
  if (t?.array) throw new CompileError(`casts to arrays (${String(t.dataType).toLowerCase()}[]) are not supported`);
  let name = String(t?.dataType ?? "");
  let length: number | undefined = t?.length ?? undefined;
  if (length !== undefined && !t.parentheses && /^(int|float)$/i.test(name)) {
    name += String(length);
    length = undefined;
  }
  const suffix = Array.isArray(t?.suffix) ? t.suffix.map((x: unknown) => String(x).toLowerCase()).join(" ") : "";
  if (/^(time|timestamp)$/i.test(name) && suffix === "with time zone") name += "tz";
  else if (/^(time|timestamp)$/i.test(name) && suffix === "without time zone") length = undefined;
  return typeFromName(name, name.toLowerCase() === "timestamptz" || name.toLowerCase() === "timestamp" ? undefined : length, t?.scale ?? undefined);
}

export function castCompiled(c: Compiled, to: XType): Compiled {
  if (c.type.kind === to.kind && to.typeName === c.type.typeName) return c;
  const toKind = caster(c.type.kind, to);
  // a real is read as its float4 (or float4out's text), not as the double it is carried as
  const conv = isReal(c.type) ? (v: unknown) => toKind(fromReal(to.kind, v)) : toKind;
  const f = c.fn;
  if (c.literal) {
    if (c.literal.value === null) return lit(to, null);
    try {
      return lit(to, conv(c.literal.value));
    } catch (e) {
      throw new CompileError(e instanceof Error ? e.message : String(e));
    }
  }
  return { type: to, fn: (r) => {
    const v = f(r);
    return v === null || v === undefined ? null : conv(v);
  } };
}

/** Bring a string literal to the other side's type, as Postgres does with unknown literals. */
export function unify(a: Compiled, b: Compiled): [Compiled, Compiled] {
  if (a.type.kind === "unknown" && a.literal && b.type.kind !== "unknown") return [literalAs(a, b.type), b];
  if (b.type.kind === "unknown" && b.literal && a.type.kind !== "unknown") return [a, literalAs(b, a.type)];
  return [a, b];
}

/** A literal taking a character(n) column's type loses its trailing spaces, as the column's value does (scope.ts): ch = 'ab ' holds. */
function literalAs(l: Compiled, to: XType): Compiled {
  const c = castCompiled(l, to);
  return to.oid === 1042 && typeof c.literal?.value === "string" ? lit(to, c.literal.value.replace(/ +$/, "")) : c;
}

const RANK: Record<string, number> = { int: 0, int8: 1, numeric: 2, float: 3 };

/** The kind two numeric operands are computed in (an untyped value is treated as numeric). */
export function numericKind(a: Kind, b: Kind): Kind {
  const ra = RANK[a] ?? 2;
  const rb = RANK[b] ?? 2;
  return (["int", "int8", "numeric", "float"] as Kind[])[Math.max(ra, rb)];
}

function compileBinary(node: Ast, scope: Scope): Compiled {
  const op = String(node.operator).toUpperCase();
  if (op === "AND" || op === "OR") return compileLogic(op, compileNode(node.left, scope), compileNode(node.right, scope));
  if (op === "IN" || op === "NOT IN") return compileIn(op === "NOT IN", compileNode(node.left, scope), (node.right.value as Ast[]).map((x) => compileNode(x, scope)));
  if (op === "BETWEEN" || op === "NOT BETWEEN") {
    const x = compileNode(node.left, scope);
    const [lo, hi] = node.right.value as Ast[];
    const both = compileLogic("AND", compileCompare(">=", x, compileNode(lo, scope)), compileCompare("<=", x, compileNode(hi, scope)));
    return op === "BETWEEN" ? both : compileNot(both);
  }
  if (op === "IS" || op === "IS NOT") return compileIs(op === "IS NOT", compileNode(node.left, scope), node.right);
  if (op === "->" || op === "->>" || op === "#>" || op === "#>>") return compileJsonAccess(op, compileNode(node.left, scope), compileNode(node.right, scope));
  const left = compileNode(node.left, scope);
  const right = compileNode(node.right, scope);
  if (op in CMP) return compileCompare(op, left, right);
  if (op === "LIKE" || op === "NOT LIKE" || op === "ILIKE" || op === "NOT ILIKE") return compileFunction(op.replace(" ", "_"), [left, right], scope);
  if (op === "||") return compileFunction("CONCAT_OP", [left, right], scope);
  if (op === "+" || op === "-" || op === "*" || op === "/" || op === "%") return compileArith(op, left, right);
  throw new CompileError(`unsupported operator ${op}`);
}

function compileUnary(node: Ast, scope: Scope): Compiled {
  const op = String(node.operator).toUpperCase();
  const a = compileNode(node.expr, scope);
  if (op === "NOT") return compileNot(a);
  if (op === "+") return a;
  // Postgres has unary minus for numbers (and intervals) only: -'5'::text, -true, -d are errors
  if (op === "-" && !isNumericKind(a.type.kind) && a.type.kind !== "unknown") throw new CompileError(`operator does not exist: - ${a.type.typeName}`);
  if (op === "-") {
    if (a.literal) {
      const v = a.literal.value;
      // -9223372036854775808 is a bigint in Postgres, though 9223372036854775808 is numeric
      if (v instanceof Dec && a.type.kind === "numeric" && v.s === 0 && v.u === 9223372036854775808n) return lit(T.int8, -v.u);
      // -0 is 0 for an integer, and -0 for a double (as Postgres: -(0.0::float8) is -0)
      return lit(a.type, v === null ? null : v instanceof Dec ? v.neg() : typeof v === "bigint" ? -v : a.type.kind === "float" ? -(v as number) : 0 - (v as number));
    }
    if (a.type.kind === "float") {
      // 0 - x gave 0 for x = 0, where Postgres' -x is -0
      const f = a.fn;
      return { type: a.type, fn: (row) => { const x = f(row); return x === null || x === undefined ? null : -toFloat(x); } };
    }
    return compileArith("-", lit(a.type.kind === "unknown" ? T.numeric : a.type, a.type.kind === "int8" ? 0n : a.type.kind === "int" ? 0 : new Dec(0n, 0)), a);
  }
  throw new CompileError(`unsupported operator ${op}`);
}

function compileCase(node: Ast, scope: Scope): Compiled {
  const subject = node.expr ? compileNode(node.expr, scope) : null;
  const whens: { cond: Compiled; result: Compiled }[] = [];
  let otherwise: Compiled | null = null;
  for (const arm of node.args as Ast[]) {
    if (arm.type === "when") {
      const c = compileNode(arm.cond, scope);
      whens.push({ cond: subject ? compileCompare("=", subject, c) : c, result: compileNode(arm.result, scope) });
    } else otherwise = compileNode(arm.result, scope);
  }
  const results = [...whens.map((w) => w.result), ...(otherwise ? [otherwise] : [])];
  const type = commonType(results);
  const conds = whens.map((w) => w.cond.fn);
  const outs = whens.map((w) => coerce(w.result, type).fn);
  const other = otherwise ? coerce(otherwise, type).fn : () => null;
  return { type, fn: (row) => {
    for (let i = 0; i < conds.length; i++) if (conds[i](row) === true) return outs[i](row);
    return other(row);
  } };
}

/** The result type of CASE/COALESCE branches: numeric promotion, else the first typed branch. */
export function commonType(items: Compiled[]): XType {
  const typed = items.filter((c) => !(c.literal && c.literal.value === null) && c.type.kind !== "unknown");
  for (const c of typed) checkComparable(typed[0].type, c.type, "types");
  if (typed.length === 0) return items.some((c) => c.literal?.value !== null) ? T.text : NULL_TYPE;
  if (typed.every((c) => isNumericKind(c.type.kind))) {
    let k: Kind = typed[0].type.kind;
    for (const c of typed) k = numericKind(k, c.type.kind);
    if (typed.every((c) => c.type.kind === k && c.type.typeName === typed[0].type.typeName)) return typed[0].type;
    // a real meets integers and numerics as a real, a double as a double (Postgres: COALESCE(r, 1.5) is real)
    if (k === "float" && typed.every((c) => c.type.kind !== "float" || isReal(c.type))) return REAL;
    return T[k as "int"];
  }
  // date < timestamp < timestamptz, as Postgres resolves them: COALESCE(d, ts) and GREATEST(d, ts)
  // took the date's type and cut the timestamp's time off
  if (typed.every((c) => isTimeKind(c.type.kind)) && typed.some((c) => c.type.kind !== typed[0].type.kind)) {
    return typed.some((c) => c.type.kind === "timestamptz") ? T.timestamptz : T.timestamp;
  }
  return typed[0].type;
}

export function coerce(c: Compiled, to: XType): Compiled {
  if (c.type.kind === to.kind && isReal(c.type) === isReal(to)) return c;
  if (c.literal && c.literal.value === null) return lit(to, null);
  return castCompiled(c, to.kind === "text" || to.kind === "unknown" ? T.text : to);
}
