import type { Logger } from "pino";
import { createLogger } from "../../log.ts";
import { operatorState } from "../../metrics/metrics.ts";

/**
 * Approximate bytes per state entry in Bun (JavaScriptCore), measured roughly with the window
 * benchmark's heap: a row's contribution (map entry, record, its value), a pane (map entry,
 * accumulators), a group, a join row (decoded columns), a row waiting for its join match.
 * Entries moved to the spill file (`*_spilled`) cost no heap.
 */
export const BYTES_PER: Record<string, number> = { window_rows: 160, window_panes: 250, window_groups: 300, join_rows: 400, join_waiting: 800 };

/** After crossing the budget, state is moved out until it is this fraction of it: one move per quarter of growth. */
export const TARGET = 0.75;

let log: Logger | null = null;
const logger = () => (log ??= createLogger());

/**
 * A pipeline's operator-state memory against its budget (`state_budget`, or its share of
 * `state.memory_budget`). The estimate is O(1) from entry counts, so it is checked after every
 * transaction (StateKeeper moves state to the spill file). Published as
 * cdc_engine_operator_state_entries{kind="estimated_bytes"} (and kind="budget_bytes").
 * Without a spill file (no state.dir) crossing the budget only logs a warning, as before.
 */
export class StateBudget {
  private over = false;
  private spillLogged = false;
  private stuckLogged = false;

  constructor(
    private readonly pipeline: string,
    readonly budget: number | null,
  ) {}

  estimate(entries: Record<string, number>): number {
    let bytes = 0;
    for (const kind in entries) bytes += (BYTES_PER[kind] ?? 0) * entries[kind];
    return bytes;
  }

  /** Publish the counts and the estimate; without spilling, log crossing the budget (once each way). */
  check(entries: Record<string, number>, spills = false): number {
    const bytes = this.estimate(entries);
    for (const [kind, n] of Object.entries(entries)) operatorState.set({ pipeline: this.pipeline, kind }, n);
    operatorState.set({ pipeline: this.pipeline, kind: "estimated_bytes" }, bytes);
    if (this.budget === null) return bytes;
    operatorState.set({ pipeline: this.pipeline, kind: "budget_bytes" }, this.budget);
    if (spills) return bytes;
    const over = bytes > this.budget;
    if (over !== this.over) {
      this.over = over;
      const fields = { pipeline: this.pipeline, estimated_bytes: bytes, budget_bytes: this.budget, entries };
      if (over) logger().warn(fields, "operator state is over its state_budget and there is no state.dir to spill to: lower window.retention or the join's columns, or raise the budget");
      else logger().info(fields, "operator state is back under its state_budget");
    }
    return bytes;
  }

  /** The first move to disk: one line. */
  spilling(file: string, bytes: number, entries: Record<string, number>): void {
    if (this.spillLogged) return;
    this.spillLogged = true;
    logger().info({ pipeline: this.pipeline, file, estimated_bytes: bytes, budget_bytes: this.budget, entries }, "operator state is over its budget: moving cold state (oldest windows' rows, least recently used join rows) to disk");
  }

  /** What cannot be moved (panes, groups, waiting rows) is over the budget by itself: one line. */
  stuck(bytes: number, entries: Record<string, number>): void {
    if (this.stuckLogged) return;
    this.stuckLogged = true;
    logger().warn({ pipeline: this.pipeline, estimated_bytes: bytes, budget_bytes: this.budget, entries }, "operator state that stays in memory (window panes and groups, rows waiting for a join match) is over the budget by itself: raise it, or lower window.retention or the number of keys");
  }
}
