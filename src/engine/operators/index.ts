/**
 * Pipeline operators: what the engine calls.
 *
 * Wiring (for the engine): `compilePipeline()` returns ONE composite operator in `operators`
 * (PipelineOperator). Give it every committed Txn routed to the pipeline, including changes of
 * join tables (`tables` lists them all); it emits keyed output rows (upsert/delete/truncate)
 * for the pipeline's target. Inside, the stages chain by direct calls per row:
 *   lookup joins → WHERE → VALIDATE (→ ctx.reject) → SELECT → transform module → window/aggregate
 * Call `onWatermark(wallClockMs, emit)` on idle ticks (releases waiting join rows, closes
 * windows on an idle source). `snapshot()` is the full state, JSON-safe (bigints and decimals
 * as strings); `restore()` takes it back (call before the first process()).
 * Incremental checkpoints: `(op as PipelineOperator).snapshotDelta()` gives the full state the
 * first time, then only what changed since the previous call (touched window panes, the rows
 * that fed them, changed join rows); restore by calling `restore()` with the last full one and
 * every later delta, in order. Store a new full one now and then to bound the chain.
 * `outputColumns(relations)` compiles against the real column types and throws a usage error
 * (exit 2) for an unknown column; call it at start once relations are known.
 * `key`: output key columns; [] means "the source table's primary key" (no aggregation).
 * With `stateDir` and a state budget, cold state (old windows' row contributions, least recently
 * used join rows) moves to a SQLite file when the state is over the budget; `snapshotDelta()`
 * seals that file's epoch into the checkpoint (spill/spill-store.ts).
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Column, Relation } from "../../types.ts";
import type { PipelineConfig } from "../../config/pipeline-schema.ts";
import { fromTables, qualify } from "../../config/table-refs.ts";
import type { Operator, OperatorContext } from "./operator.ts";
import { usageError } from "../../errors.ts";
import { parseExpr, parseItem, ParseError } from "../../expr/parse.ts";
import { loadMaps } from "../../expr/maps.ts";
import { LookupJoin, type JoinSpec } from "./lookup-join.ts";
import type { ParsedStages } from "./transform-stage.ts";
import { parseAggregates } from "./aggregate-plan.ts";
import { PipelineOperator } from "./pipeline-operator.ts";
import type { PipelinePlan, TransformFn } from "./pipeline-plan.ts";
import type { WindowSettings } from "./window/types.ts";
import { T } from "../../expr/types.ts";

export interface CompiledPipeline {
  operators: Operator[];
  key: string[];
  /** The key is an aggregate's group (group_by, window.key): one of its values may be NULL, one group as in SQL. */
  groupKey?: boolean;
  outputColumns(relations: Map<string, Relation>): Column[];
  tables: string[];
}

/** A pipeline with nothing to compute: the engine copies changes as they are. */
export function isMirror(p: PipelineConfig): boolean {
  return !p.where && !p.select && !(p.join && p.join.length) && !p.window && !p.aggregate && !p.transform && !(p.validate && p.validate.length) && !p.group_by;
}


function bad(p: PipelineConfig, what: string, text: string, e: unknown): never {
  throw usageError("config_expression", `pipeline '${p.name}': ${what} '${text}': ${e instanceof Error ? e.message : String(e)}`);
}

export function parseStages(p: PipelineConfig): ParsedStages {
  const parse = (what: string, text: string) => {
    try {
      return parseExpr(text);
    } catch (e) {
      if (e instanceof ParseError) bad(p, what, text, e);
      throw e;
    }
  };
  const named = new Map<string, string>();
  return {
    where: p.where ? { text: p.where, ast: parse("where", p.where) } : null,
    validate: (p.validate ?? []).map((v) => ({ text: v.rule, ast: parse("validate", v.rule), message: v.message ?? `failed rule: ${v.rule}` })),
    select: p.select
      ? p.select.map((text) => {
          if (text.trim() === "*") return { star: true as const };
          let item;
          try {
            item = parseItem(text);
          } catch (e) {
            if (e instanceof ParseError) bad(p, "select", text, e);
            throw e;
          }
          const isCol = item.expr.type === "column_ref" && typeof item.expr.column !== "string";
          const col = isCol ? String(item.expr.column.expr.value) : null;
          const name = item.alias ?? col;
          if (!name) bad(p, "select", text, new Error("needs a name: add AS name"));
          // Two items with one name: the row held only the last (silently) before.
          if (named.has(name)) bad(p, "select", text, new Error(`the name '${name}' is also given to '${named.get(name)}': rename one with AS`));
          named.set(name, text);
          return { star: false as const, text, ast: item.expr, name, passthrough: isCol && !item.expr.table ? col : null };
        })
      : null,
  };
}

function joinSpec(p: PipelineConfig, j: NonNullable<PipelineConfig["join"]>[number]): JoinSpec {
  const table = qualify(j.table);
  const short = table.split(".").pop()!;
  const qualifiers = [table, short, ...(j.as ? [j.as] : [])];
  let ast;
  try {
    ast = parseExpr(j.on);
  } catch (e) {
    bad(p, "join.on", j.on, e);
  }
  if (ast.type !== "binary_expr" || ast.operator !== "=" || ast.left.type !== "column_ref" || ast.right.type !== "column_ref") {
    bad(p, "join.on", j.on, new Error("expected 'column = joined_table.column'"));
  }
  const sideIsJoined = (c: { table: string | null }) => c.table !== null && qualifiers.includes(c.table);
  const [mine, theirs] = sideIsJoined(ast.left) && !sideIsJoined(ast.right) ? [ast.right, ast.left] : [ast.left, ast.right];
  return {
    table,
    qualifiers,
    leftColumn: String(mine.column.expr.value),
    rightColumn: String(theirs.column.expr.value),
    columns: j.columns ?? null,
    prefix: j.prefix ?? "",
    waitUs: j.wait * 1000,
  };
}

function windowSettings(p: PipelineConfig): WindowSettings | null {
  const w = p.window;
  if (!w) return null;
  const ms = (n: number | undefined) => (n ?? 0) * 1000;
  const need = (v: number | undefined, k: string) => {
    if (v === undefined) throw usageError("config_window", `pipeline '${p.name}': window.${k} is required for a ${w.type} window`);
    if (!(v > 0)) throw usageError("config_window", `pipeline '${p.name}': window.${k} must be longer than 0 (got ${v}s)`);
    return v;
  };
  const size = w.type === "session" ? 0 : need(w.size, "size");
  const slide = w.type === "sliding" ? need(w.slide, "slide") : size;
  if (w.type === "sliding" && size % slide !== 0 && (size * 1000) % (slide * 1000) !== 0) {
    // panes are gcd(size, slide): any pair works, but a slide that divides size is the usual setup
  }
  const gap = w.type === "session" ? need(w.gap, "gap") : 0;
  return {
    kind: w.type,
    sizeUs: ms(size),
    slideUs: ms(slide),
    gapUs: ms(gap),
    latenessUs: ms(w.lateness),
    late: w.late,
    emit: w.emit,
    retentionUs: ms(w.retention),
    idleTimeoutMs: w.idle_timeout,
    timeKind: "timestamptz",
    appendOnly: p.append_only,
  };
}

async function loadTransform(p: PipelineConfig, configDir: string): Promise<TransformFn> {
  const path = resolve(configDir, p.transform!);
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(path).href);
  } catch (e) {
    throw usageError("config_transform", `pipeline '${p.name}': transform ${path}: cannot load: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
  }
  const fn = (mod.transform ?? mod.default) as unknown;
  if (typeof fn !== "function") throw usageError("config_transform", `pipeline '${p.name}': transform ${path} must export a function named transform (or a default export)`);
  // rows are transformed synchronously, in commit order: a Promise would be written as the row
  if (fn.constructor?.name === "AsyncFunction" || fn.constructor?.name === "AsyncGeneratorFunction") {
    throw usageError("config_transform", `pipeline '${p.name}': transform ${path}: the function must be synchronous (not async)`);
  }
  return fn as TransformFn;
}

export async function compilePipeline(
  p: PipelineConfig,
  ctx: OperatorContext & {
    maps: Record<string, string>;
    configDir: string;
    relations?: Map<string, Relation>;
    /** state.dir: cold state spills to state.dir/operator-state/<pipeline>.db (none: never spills) */
    stateDir?: string | null;
    /** the pipeline's state budget in bytes (see memory-budget.ts); default: its state_budget */
    stateBudget?: number | null;
    /** more checks of the output columns (the sinks' `to:` options naming columns), as for to.key */
    checkOutput?(cols: Column[]): void;
  },
): Promise<CompiledPipeline> {
  const from = fromTables(p);
  const wild = from.find((t) => t.endsWith(".*"));
  if (wild) throw usageError("config_expression", `pipeline '${p.name}': from: ${wild} works for mirror pipelines only; name the tables a transform reads`);
  const maps = loadMaps(ctx.maps, ctx.configDir);
  const joins = (p.join ?? []).map((j) => new LookupJoin(joinSpec(p, j), ctx));
  const stages = parseStages(p);
  const window = windowSettings(p);
  if (p.append_only && !p.aggregate) throw usageError("config_window", `pipeline '${p.name}': append_only applies to aggregates (window or group_by)`);
  if (p.append_only && window?.kind === "session") throw usageError("config_window", `pipeline '${p.name}': append_only is not supported with session windows`);
  if (window && !p.aggregate) throw usageError("config_window", `pipeline '${p.name}': a window needs aggregate:`);
  if (p.aggregate && p.group_by && window) throw usageError("config_window", `pipeline '${p.name}': use window.key for the group of a windowed aggregate, not group_by`);
  const keys = window ? (p.window!.key ?? []) : (p.group_by ?? []);
  const aggregates = p.aggregate ? parseAggregates(p.name, p.aggregate, keys, window ? p.window!.time : null) : null;
  if (p.group_by && !p.aggregate) throw usageError("config_window", `pipeline '${p.name}': group_by needs aggregate:`);
  const transform = p.transform ? await loadTransform(p, ctx.configDir) : null;
  const short = from.map((t) => t.split(".").pop()!);
  const plan: PipelinePlan = { name: p.name, tables: from, qualifiers: [...from, ...short], joins, stages, transform, aggregates, window, maps, stateBudget: ctx.stateBudget !== undefined ? ctx.stateBudget : (p.state_budget ?? null), stateDir: ctx.stateDir ?? null, appendOnly: p.append_only };
  const op = new PipelineOperator(plan, ctx);

  const findRel = (rels: Map<string, Relation>, t: string) => rels.get(t) ?? [...rels.values()].find((r) => r.table === t) ?? null;
  // Names and functions are checked against real columns when known, else leniently.
  const check = (rels: Map<string, Relation> | undefined) =>
    // A joined table's relation from its restored state when none of its changes came since the start.
    op.compileShape(rels ? findRel(rels, from[0]) : null, joins.map(() => 0), joins.map((j) => (rels ? findRel(rels, j.spec.table) : null) ?? j.relation));

  const target = (Array.isArray(p.to) ? p.to : [p.to]).find((t) => typeof t === "object" && t.key) as { key?: string[] } | undefined;
  const key = target?.key ?? (aggregates ? [...aggregates.keys.map((k) => k.name), ...(window ? ["window_start", "window_end"] : [])] : []);

  const compiled: CompiledPipeline = {
    operators: [op],
    key,
    groupKey: aggregates !== null,
    tables: [...from, ...joins.map((j) => j.spec.table).filter((t) => !from.includes(t))],
    outputColumns(relations) {
      const cols = shapeColumns(relations);
      // A to.key naming no output column: the sink could only fail on it, batch after batch.
      // (A transform module may add columns: its output is known only from its rows.)
      const missing = p.transform ? [] : (target?.key ?? []).filter((k) => !cols.some((c) => c.name === k));
      if (missing.length)
        throw usageError("config_key", `pipeline '${p.name}': to.key names ${missing.map((k) => `'${k}'`).join(", ")}, not among its output columns (${cols.map((c) => c.name).join(", ")})`);
      if (!p.transform) ctx.checkOutput?.(cols);
      return cols;
    },
  };
  // Check names and functions now; with the source's columns at hand (check), the output's shape and key too.
  if (ctx.relations && findRel(ctx.relations, from[0])) compiled.outputColumns(ctx.relations);
  else check(ctx.relations);
  return compiled;

  function shapeColumns(relations: Map<string, Relation>): Column[] {
    const shape = check(relations);
    const keySet = new Set(key);
    const col = (name: string, t: { oid: number; typeName: string }): Column => ({ name, typeOid: t.oid, typeName: t.typeName, typeMod: -1, isKey: keySet.has(name) });
    if (shape.plan) {
      const cols: Column[] = shape.plan.keys.map((k) => col(k.name, k.fn.type.kind === "unknown" ? T.text : k.fn.type));
      if (window) cols.push(col("window_start", T.timestamptz), col("window_end", T.timestamptz));
      for (const a of shape.plan.aggs) cols.push(col(a.name, a.type));
      return cols;
    }
    if (!shape.stage.columns) throw usageError("config_expression", `pipeline '${p.name}': columns of ${from[0]} are not known yet`);
    const rel = findRel(relations, from[0]);
    const srcKeys = new Set(rel?.columns.filter((c) => c.isKey).map((c) => c.name) ?? []);
    return shape.stage.columns.map((c) => {
      const orig = rel?.columns.find((x) => x.name === c.name && x.typeOid === c.type.oid);
      const out = col(c.name, c.type.kind === "unknown" ? { oid: c.type.oid, typeName: c.type.typeName } : c.type);
      if (orig) {
        out.typeMod = orig.typeMod;
        out.typeName = orig.typeName ?? out.typeName;
      }
      out.isKey = key.length ? keySet.has(c.name) : srcKeys.has(c.name);
      return out;
    });
  }
}
