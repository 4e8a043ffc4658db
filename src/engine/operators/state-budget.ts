import type { Logger } from "pino";
import { createLogger } from "../../log.ts";
import { operatorState } from "../../metrics/metrics.ts";

/**
 * Approximate bytes per state entry in Bun (JavaScriptCore), measured roughly with the window
 * benchmark's heap: a row's contribution (map entry, record, its value), a pane (map entry,
 * accumulators), a group, a join row (decoded columns), a row waiting for its join match.
 */
const BYTES_PER: Record<string, number> = { window_rows: 160, window_panes: 250, window_groups: 300, join_rows: 400, join_waiting: 800 };

let log: Logger | null = null;

/**
 * A pipeline's operator-state memory against its `state_budget`: the estimate is published as
 * cdc_engine_operator_state_entries{kind="estimated_bytes"} (and the budget as kind="budget_bytes");
 * crossing the budget logs one warning (and one line when back under it). The state is not
 * evicted: lower window.retention, or narrow the join's columns, to shrink it.
 */
export class StateBudget {
  private over = false;

  constructor(
    private readonly pipeline: string,
    private readonly budget: number | null,
  ) {}

  /** Called with the state's entry counts (PipelineOperator.stats()); returns the estimate. */
  check(entries: Record<string, number>): number {
    let bytes = 0;
    for (const [kind, n] of Object.entries(entries)) bytes += (BYTES_PER[kind] ?? 0) * n;
    operatorState.set({ pipeline: this.pipeline, kind: "estimated_bytes" }, bytes);
    if (this.budget === null) return bytes;
    operatorState.set({ pipeline: this.pipeline, kind: "budget_bytes" }, this.budget);
    const over = bytes > this.budget;
    if (over !== this.over) {
      this.over = over;
      log ??= createLogger();
      const fields = { pipeline: this.pipeline, estimated_bytes: bytes, budget_bytes: this.budget, entries };
      if (over) log.warn(fields, "operator state is over its state_budget: lower window.retention or the join's columns, or raise the budget");
      else log.info(fields, "operator state is back under its state_budget");
    }
    return bytes;
  }
}
