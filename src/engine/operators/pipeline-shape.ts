import type { Relation } from "../../types.ts";
import { makeScope, relationColumns, type ScopeColumn, type ScopeTable } from "../../expr/scope.ts";
import { compileRowStage, type RowStage, StageCompileError } from "./transform-stage.ts";
import type { WindowPlan } from "./window/types.ts";
import { compileAggregates } from "./aggregate-plan.ts";
import { usageError } from "../../errors.ts";
import type { PipelinePlan } from "./pipeline-plan.ts";

// A pipeline's expressions compiled per column shape (moved out of pipeline-operator.ts, which
// compiles a shape once, when it is first seen, and runs rows through it).

export interface Shape {
  rel: Relation;
  versions: number[];
  stage: RowStage;
  plan: WindowPlan | null;
}

/**
 * The stages (and window plan) for a source relation and the joined tables' relations: the
 * scope of the row's own columns and each join's (prefixed, checked against join.on), then
 * where/select/validate and the aggregates compiled against it.
 */
export function compileShape(p: PipelinePlan, rel: Relation | null, versions: number[], joinRelations?: (Relation | null)[]): Shape {
  const own: ScopeTable = { qualifiers: [...p.qualifiers], columns: relationColumns(rel) };
  const tables: ScopeTable[] = [own];
  const input: ScopeColumn[] | null = own.columns ? [...own.columns.values()] : null;
  let inputCols = input;
  p.joins.forEach((j, i) => {
    const jr = joinRelations ? joinRelations[i] : j.relation;
    const all = relationColumns(jr, (c) => j.spec.prefix + c);
    // join.on naming a column either side lacks matched no row, ever, and said nothing.
    if (jr && !jr.columns.some((c) => c.name === j.spec.rightColumn)) throw usageError("config_expression", `pipeline '${p.name}': join ${j.spec.table}: on: unknown column '${j.spec.rightColumn}' in ${j.spec.table}`);
    if (own.columns && !own.columns.has(j.spec.leftColumn)) throw usageError("config_expression", `pipeline '${p.name}': join ${j.spec.table}: on: unknown column '${j.spec.leftColumn}' in ${p.tables[0]}`);
    let cols = all;
    if (all && j.spec.columns) {
      cols = new Map();
      for (const c of j.spec.columns) {
        const hit = all.get(c);
        if (!hit) throw usageError("config_expression", `pipeline '${p.name}': join ${j.spec.table}: unknown column '${c}'`);
        cols.set(c, hit);
      }
    } else if (!all && j.spec.columns) cols = new Map(j.spec.columns.map((c) => [c, { name: j.spec.prefix + c, type: { kind: "unknown", oid: 25, typeName: "text" } }]));
    if (cols && own.columns) {
      for (const [c, col] of [...cols]) {
        if (!own.columns.has(col.name)) continue;
        if (j.spec.columns) throw usageError("config_expression", `pipeline '${p.name}': join ${j.spec.table}: column '${c}' clashes with a column of ${p.tables[0]}; set join.prefix`);
        cols.delete(c); // all columns joined: the row's own column wins
      }
    }
    tables.push({ qualifiers: j.spec.qualifiers, columns: cols });
    // unqualified names find joined columns under their row names
    if (cols) for (const c of cols.values()) own.columns?.set(c.name, c);
    if (inputCols && cols) inputCols = [...inputCols, ...cols.values()];
    else inputCols = null;
  });
  const scope = makeScope(tables, p.maps);
  let stage: RowStage;
  try {
    stage = compileRowStage(p.stages, scope, inputCols);
  } catch (e) {
    if (e instanceof StageCompileError) throw usageError("config_expression", `pipeline '${p.name}': '${e.expr}': ${e.message}`);
    throw e;
  }
  let plan: WindowPlan | null = null;
  if (p.aggregates) {
    const outScope = makeScope([{ qualifiers: [], columns: stage.columns ? new Map(stage.columns.map((c) => [c.name, c])) : null }], p.maps);
    plan = compileAggregates(p.name, p.aggregates, outScope);
  }
  return { rel: rel!, versions, stage, plan };
}
