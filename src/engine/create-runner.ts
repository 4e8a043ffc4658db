import type { PipelineConfig } from "../config/pipeline-schema.ts";
import type { Config } from "../config/schema.ts";
import type { RejectedRow } from "./operators/operator.ts";
import type { Relation } from "../types.ts";
import { compilePipeline, isMirror } from "./operators/index.ts";
import { lateRows, joinMisses } from "../metrics/metrics.ts";
import { mirrorRunner, qualify, targetsOf, type PipelineRunner } from "./pipeline-runner.ts";
import { fromTables } from "../config/table-refs.ts";
import { operatorRunner } from "./operator-runner.ts";
import { stateBudgetOf } from "./operators/memory-budget.ts";
import { isUsageError, usageError } from "../errors.ts";
import { checkTargetColumns, mirrorColumnCheck } from "../config/target-columns.ts";

/** The runner for a pipeline: mirrors map changes directly; the rest compile an operator chain. */
export async function createRunner(
  p: PipelineConfig,
  config: Config,
  /** relations: the source tables' columns when known (check): names, types and to.key are checked against them now */
  ctx: { reject(r: RejectedRow): void; configDir: string; relations?: Map<string, Relation> },
): Promise<PipelineRunner> {
  const targets = targetsOf(p);
  // The first target names the mirror's table and key (the runtime renames for the others; the
  // config requires one key for all): with several targets, a first `table:` was ignored.
  if (isMirror(p)) return checkedMirror(p, config, mirrorRunner(p, targets[0]), ctx.relations);
  const compiled = await compilePipeline(p, {
    pipeline: p.name,
    reject: ctx.reject,
    count: (metric, n = 1) => {
      if (metric === "late_rows") lateRows.inc({ pipeline: p.name, policy: p.window?.late ?? "update" }, n);
      else if (metric === "join_misses") joinMisses.inc({ pipeline: p.name }, n);
      // rejected_rows are counted by the dead-letter store
    },
    maps: config.maps,
    configDir: ctx.configDir,
    relations: ctx.relations,
    // over its budget, a pipeline's cold operator state spills to state.dir/operator-state/
    stateDir: config.state?.dir ?? null,
    stateBudget: stateBudgetOf(p, config.pipelines ?? [p], config.state?.memory_budget),
    checkOutput: (cols) => checkTargetColumns(p, config, cols),
  }).catch((e) => {
    throw located(e, config, p);
  });
  // Expressions are typed against the real columns when the first change of a table arrives
  // (serve): a mistake found then is located the same way.
  const runner = operatorRunner(p, compiled, targets[0]);
  const { process, onWatermark, knowRelations } = runner;
  if (knowRelations)
    runner.knowRelations = (rels) => {
      try {
        knowRelations(rels);
      } catch (e) {
        throw located(e, config, p);
      }
    };
  runner.process = (txn) =>
    process(txn).catch((e) => {
      throw located(e, config, p);
    });
  if (onWatermark)
    runner.onWatermark = (nowMs, lsn) => {
      try {
        return onWatermark(nowMs, lsn);
      } catch (e) {
        throw located(e, config, p);
      }
    };
  return runner;
}

/**
 * A mirror whose targets name columns (Redis key templates...): each table's columns are checked
 * now when known (check), else with the table's first change (serve); see mirrorColumnCheck.
 */
function checkedMirror(p: PipelineConfig, config: Config, runner: PipelineRunner, relations?: Map<string, Relation>): PipelineRunner {
  const check = mirrorColumnCheck(p, config);
  if (!check) return runner;
  const guarded = (rel: Relation) => {
    try {
      check(rel);
    } catch (e) {
      throw located(e, config, p);
    }
  };
  if (relations) {
    for (const rel of relations.values()) if (runner.reads(rel.table)) guarded(rel);
    return runner;
  }
  const named = new Set(fromTables(p).filter((t) => !t.endsWith(".*")));
  const seen = new Set<string>();
  const once = (rel: Relation) => {
    if (seen.has(rel.table) || !named.has(rel.table)) return;
    seen.add(rel.table);
    guarded(rel);
  };
  const { process, knowRelations } = runner;
  // The source hands the tables' columns over before it makes its slot: checked then, a mistake
  // exits 2 without leaving a slot behind that holds WAL.
  runner.knowRelations = (rels) => {
    knowRelations?.(rels);
    for (const rel of rels) once(rel);
  };
  runner.process = async (txn) => {
    for (const c of txn.changes) once(c.relation);
    return process(txn);
  };
  return runner;
}

/** A pipeline's compile error names the file and the pipeline's place in it, as the loader's errors do. */
function located(e: unknown, config: Config, p: PipelineConfig): unknown {
  const i = config.pipelines?.indexOf(p) ?? -1;
  if (!isUsageError(e) || !config.file || i < 0) return e;
  const rest = e.message.startsWith(`pipeline '${p.name}': `) ? e.message.slice(`pipeline '${p.name}': `.length) : e.message;
  return usageError(e.code, `${config.file}: pipelines.${i} (${p.name}): ${rest}`);
}
