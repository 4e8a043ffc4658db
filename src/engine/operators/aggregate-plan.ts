import type { Ast } from "../../expr/parse.ts";
import { parseExpr, parseItem, ParseError } from "../../expr/parse.ts";
import { compile, CompileError, type Compiled, recordingScope, type Scope } from "../../expr/compile.ts";
import { T } from "../../expr/types.ts";
import { usageError } from "../../errors.ts";
import { type AggKind, type AggSpec, aggType } from "./window/aggregates.ts";
import type { WindowPlan } from "./window/types.ts";

export interface ParsedAggregate {
  name: string;
  text: string;
  kind: AggKind;
  arg: Ast | null;
  k?: number;
  weight?: Ast | null;
}

export interface ParsedAggregates {
  aggs: ParsedAggregate[];
  /** Group key items (window.key or group_by): output name and expression. */
  keys: { name: string; text: string; ast: Ast }[];
  /** Event-time expression, or null for the commit time. */
  time: { text: string; ast: Ast } | null;
}

function fail(pipeline: string, what: string, text: string, msg: string): never {
  throw usageError("config_expression", `pipeline '${pipeline}': ${what} '${text}': ${msg}`);
}

/** Parse `aggregate:` entries (SUM(x), COUNT(*), COUNT(DISTINCT x), AVG, MIN, MAX, TOP_K(x, k[, weight])). */
export function parseAggregates(pipeline: string, aggregate: Record<string, string>, keys: string[], time: string | null): ParsedAggregates {
  const aggs: ParsedAggregate[] = [];
  for (const [name, text] of Object.entries(aggregate)) {
    let ast: Ast;
    try {
      ast = parseExpr(text);
    } catch (e) {
      fail(pipeline, `aggregate ${name}`, text, e instanceof ParseError ? e.message : String(e));
    }
    if (ast.type === "aggr_func") {
      const fname = String(ast.name).toUpperCase();
      const star = ast.args?.expr?.type === "star";
      const distinct = Boolean(ast.args?.distinct);
      let kind: AggKind;
      if (fname === "COUNT") kind = star ? "count_star" : distinct ? "count_distinct" : "count";
      else if (distinct) fail(pipeline, `aggregate ${name}`, text, "DISTINCT is supported with COUNT only");
      else if (fname === "SUM") kind = "sum";
      else if (fname === "AVG") kind = "avg";
      else if (fname === "MIN") kind = "min";
      else if (fname === "MAX") kind = "max";
      else fail(pipeline, `aggregate ${name}`, text, `unknown aggregate ${fname}() (SUM, COUNT, AVG, MIN, MAX, COUNT(DISTINCT), TOP_K, MAX_BY)`);
      aggs.push({ name, text, kind, arg: star ? null : ast.args.expr });
    } else if (ast.type === "function" && String(ast.name?.name?.at(-1)?.value).toUpperCase() === "TOP_K") {
      const args: Ast[] = ast.args?.value ?? [];
      const k = Number(args[1]?.value);
      if (args.length < 2 || args.length > 3 || !Number.isInteger(k) || k < 1) fail(pipeline, `aggregate ${name}`, text, "TOP_K(value, k[, weight]) needs a whole number k ≥ 1");
      aggs.push({ name, text, kind: "top_k", arg: args[0], k, weight: args[2] ?? null });
    } else if (ast.type === "function" && ["MAX_BY", "ARG_MAX"].includes(String(ast.name?.name?.at(-1)?.value).toUpperCase())) {
      const args: Ast[] = ast.args?.value ?? [];
      if (args.length !== 2) fail(pipeline, `aggregate ${name}`, text, "MAX_BY(value, by) takes two arguments: the value of the row with the greatest `by`");
      aggs.push({ name, text, kind: "max_by", arg: args[0], weight: args[1] });
    } else if (ast.type === "function") {
      fail(pipeline, `aggregate ${name}`, text, `unknown aggregate ${String(ast.name?.name?.at(-1)?.value).toUpperCase()}() (SUM, COUNT, AVG, MIN, MAX, COUNT(DISTINCT), TOP_K, MAX_BY)`);
    } else fail(pipeline, `aggregate ${name}`, text, "expected an aggregate function such as SUM(x) or COUNT(*)");
  }
  const keyItems = keys.map((text) => {
    try {
      const item = parseItem(text);
      const name = item.alias ?? (item.expr.type === "column_ref" ? String(item.expr.column?.expr?.value ?? item.expr.column) : null);
      if (!name) fail(pipeline, "key", text, "an expression key needs a name: add AS name");
      return { name, text, ast: item.expr };
    } catch (e) {
      if (e instanceof ParseError) fail(pipeline, "key", text, e.message);
      throw e;
    }
  });
  // An output column is either a key or an aggregate: the sink's table cannot hold one name twice.
  const keyNames = new Set(keyItems.map((k) => k.name));
  for (const a of aggs) if (keyNames.has(a.name)) fail(pipeline, `aggregate ${a.name}`, a.text, `'${a.name}' is also a group key: name the aggregate otherwise`);
  for (const reserved of time !== null ? ["window_start", "window_end"] : []) {
    if (keyNames.has(reserved) || aggs.some((a) => a.name === reserved)) fail(pipeline, reserved, reserved, "is the window's own output column: name yours otherwise");
  }
  let t: ParsedAggregates["time"] = null;
  if (time !== null && time !== "commit_time") {
    try {
      t = { text: time, ast: parseExpr(time) };
    } catch (e) {
      fail(pipeline, "window.time", time, e instanceof ParseError ? e.message : String(e));
    }
  }
  return { aggs, keys: keyItems, time: t };
}

const NUMERIC_KINDS = new Set(["int", "int8", "numeric", "float", "unknown"]);
const ORDER_KINDS = new Set(["int", "int8", "numeric", "float", "timestamptz", "timestamp", "date", "unknown"]);

export function compileAggregates(pipeline: string, p: ParsedAggregates, scope: Scope): WindowPlan {
  const c = (what: string, text: string, ast: Ast, reads?: Set<string>): Compiled => {
    try {
      return compile(ast, reads ? recordingScope(scope, reads) : scope);
    } catch (e) {
      if (e instanceof CompileError) fail(pipeline, what, text, e.message);
      throw e;
    }
  };
  const reads: NonNullable<WindowPlan["reads"]> = { time: new Set(), keys: [], args: [], weights: [] };
  const aggs: AggSpec[] = p.aggs.map((a) => {
    const argReads = new Set<string>();
    const weightReads = new Set<string>();
    reads.args.push(argReads);
    reads.weights.push(weightReads);
    const arg = a.arg ? c(`aggregate ${a.name}`, a.text, a.arg, argReads) : null;
    // As Postgres (no sum(text)): known not to be a number, every row went to the DLQ ("invalid input for numeric").
    if ((a.kind === "sum" || a.kind === "avg") && arg && !NUMERIC_KINDS.has(arg.type.kind)) {
      fail(pipeline, `aggregate ${a.name}`, a.text, `${a.kind === "sum" ? "SUM" : "AVG"}() needs a number, not ${arg.type.typeName} (cast it, e.g. ::numeric, if it holds numbers)`);
    }
    const weight = a.weight ? c(`aggregate ${a.name}`, a.text, a.weight, weightReads) : null;
    // `by` is kept as an exact number (a timestamp as its microseconds), as TOP_K's weight is
    if (a.kind === "max_by" && weight && !ORDER_KINDS.has(weight.type.kind)) fail(pipeline, `aggregate ${a.name}`, a.text, `MAX_BY(value, by): by must be a number, date or timestamp, not ${weight.type.typeName}`);
    const float4 = (a.kind === "sum" || a.kind === "avg") && arg?.type.kind === "float" && arg.type.oid === 700;
    return { name: a.name, kind: a.kind, arg, k: a.k, weight, type: aggType(a.kind, arg?.type ?? null), ...(float4 ? { float4 } : {}) };
  });
  let time: Compiled | null = null;
  if (p.time) {
    time = c("window.time", p.time.text, p.time.ast, reads.time);
    const k = time.type.kind;
    if (k === "unknown" || k === "text") time = { type: T.timestamptz, fn: toMicrosFn(time.fn) };
    else if (k !== "timestamptz" && k !== "timestamp" && k !== "date") fail(pipeline, "window.time", p.time.text, `needs a timestamp column, not ${time.type.typeName}`);
  }
  const keys = p.keys.map((k) => {
    const r = new Set<string>();
    reads.keys.push(r);
    return { name: k.name, fn: c("key", k.text, k.ast, r) };
  });
  return { time, keys, aggs, reads };
}

import { toMicros } from "../../expr/values.ts";
function toMicrosFn(f: (r: Record<string, unknown>) => unknown) {
  return (r: Record<string, unknown>) => {
    const v = f(r);
    return v === null || v === undefined ? null : toMicros(v);
  };
}
