import type { Row } from "../../types.ts";
import type { LookupJoin } from "./lookup-join.ts";
import type { ParsedStages } from "./transform-stage.ts";
import type { WindowSettings } from "./window/types.ts";
import type { ParsedAggregates } from "./aggregate-plan.ts";

// What a pipeline runs, as index.ts builds it from the config: PipelineOperator runs it,
// pipeline-shape.ts compiles its expressions, state-layout.ts tags its checkpoints with it.

export type TransformFn = (row: Row, ctx: { op: "upsert" | "delete"; table: string; pipeline: string }) => Row | null | undefined;

export interface PipelinePlan {
  name: string;
  tables: string[];
  qualifiers: string[];
  joins: LookupJoin[];
  stages: ParsedStages;
  transform: TransformFn | null;
  aggregates: ParsedAggregates | null;
  window: WindowSettings | null;
  maps: Record<string, Map<string, string>>;
  /** state budget in bytes (state_budget, or its share of state.memory_budget), or null */
  stateBudget?: number | null;
  /** state.dir: over the budget, cold state moves to state.dir/operator-state/<pipeline>.db (none: never) */
  stateDir?: string | null;
  /** append_only: aggregates keep no per-row state; source updates/deletes go to the DLQ */
  appendOnly?: boolean;
}
