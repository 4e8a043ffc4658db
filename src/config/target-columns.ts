import type { Column, Relation } from "../types.ts";
import type { Config } from "./schema.ts";
import type { PipelineConfig } from "./pipeline-schema.ts";
import { sinkFactory } from "../sinks/index.ts";
import { usageError } from "../errors.ts";

/** Per `to:` entry (as config path): the output columns its options name, by option. */
function namedColumns(p: PipelineConfig, config: Config): { at: string; option: string; names: string[] }[] {
  const list = Array.isArray(p.to) ? p.to : [p.to];
  return list.flatMap((t, j) => {
    if (typeof t === "string") return [];
    const factory = sinkFactory(config.sinks?.[t.sink]?.type ?? "");
    if (!factory?.targetColumns || !factory.targetSchema) return [];
    const { sink: _s, table: _t, key: _k, ...opts } = t;
    const parsed = factory.targetSchema.safeParse(opts);
    if (!parsed.success) return []; // the loader has named it already
    const at = Array.isArray(p.to) ? `to.${j}` : "to";
    return Object.entries(factory.targetColumns(parsed.data)).map(([option, names]) => ({ at, option, names }));
  });
}

/**
 * A `to:` option naming a column (a Redis key_template, zset member/score, ...) that is none of
 * the pipeline's output columns: a config error once those are known (check, and serve at the
 * first row), worded as the to.key check in compilePipeline. Without it every row failed at the
 * sink and went to the DLQ. The caller skips pipelines with a transform module (it may add columns).
 * `table`: a mirror's table, whose own columns are the output.
 */
export function checkTargetColumns(p: PipelineConfig, config: Config, cols: Column[], table?: string): void {
  for (const { at, option, names } of namedColumns(p, config)) {
    const missing = [...new Set(names)].filter((n) => !cols.some((c) => c.name === n));
    if (!missing.length) continue;
    const among = table ? `not a column of ${table}` : "not among its output columns";
    throw usageError("config_key", `pipeline '${p.name}': ${at}.${option} names ${missing.map((n) => `'${n}'`).join(", ")}, ${among} (${cols.map((c) => c.name).join(", ")})`);
  }
}

/**
 * The check for a mirror (its output is each table's own columns), or null when no target names
 * a column. `rel` is checked at check time (every table it reads) and at serve with each table's
 * first change; at serve only for tables the mirror names: a table created later under a
 * `schema.*` must not stop the engine (its rows go to the DLQ; `check` names it).
 */
export function mirrorColumnCheck(p: PipelineConfig, config: Config): ((rel: Relation) => void) | null {
  if (!namedColumns(p, config).length) return null;
  return (rel) => checkTargetColumns(p, config, rel.columns, rel.table);
}
