/**
 * What every SQL function's compiler shares: the argument checks and casts (as Postgres types
 * them) and the strict (NULL in, NULL out) wrapper.
 */
import type { Row } from "../types.ts";
import { type Compiled, type Scope, CompileError, castCompiled } from "./compile.ts";
import { type XType, T, isNumericKind, isTimeKind } from "./types.ts";

export type Fn = (args: Compiled[], scope: Scope) => Compiled;

/** Null in → null out, for functions that are strict in every argument. */
export function strict(type: XType, args: Compiled[], f: (...v: any[]) => unknown): Compiled {
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

export function arity(name: string, args: Compiled[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    throw new CompileError(`${name}() takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? "" : "s"}, got ${args.length}`);
  }
}

export function text(c: Compiled): Compiled {
  return c.type.kind === "text" || c.type.kind === "unknown" || c.type.kind === "uuid" || c.type.kind === "json" || c.type.kind === "jsonb" ? c : castCompiled(c, T.text);
}
/** A number argument: a quoted literal is read as numeric; a text, boolean, date… column is refused, as Postgres has no round(text). */
export function num(c: Compiled, name: string, more: Compiled[] = []): Compiled {
  if (isNumericKind(c.type.kind)) return c;
  if (c.type.kind !== "unknown") throw new CompileError(`function ${name.toLowerCase()}(${[c, ...more].map(pgTypeName).join(", ")}) does not exist (cast it: ${name}(x::numeric))`);
  return castCompiled(c, T.numeric);
}
export function time(c: Compiled, name: string): Compiled {
  if (isTimeKind(c.type.kind)) return c;
  if (c.type.kind === "unknown" || c.type.kind === "text") return castCompiled(c, T.timestamptz);
  throw new CompileError(`${name}() needs a date or timestamp, not ${c.type.typeName}`);
}
export function constText(c: Compiled, name: string): string {
  if (!c.literal || typeof c.literal.value !== "string") throw new CompileError(`${name}(): the first argument must be a quoted unit such as 'day'`);
  return c.literal.value.toLowerCase();
}

/**
 * How Postgres names an operand's type in "operator/function does not exist": a quoted literal is
 * "unknown", and a type without its modifiers (character varying, not character varying(10)).
 */
export function pgTypeName(c: Compiled): string {
  return c.type.kind === "unknown" && c.literal ? "unknown" : c.type.typeName.replace(/\(.*\)$/, "");
}
