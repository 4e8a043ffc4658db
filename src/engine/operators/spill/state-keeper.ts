import { join } from "node:path";
import { CdcError } from "../../../errors.ts";
import type { LookupJoin } from "../lookup-join.ts";
import { PaneWindows } from "../window/pane-window.ts";
import type { SessionWindows } from "../window/session-window.ts";
import { BYTES_PER, StateBudget, TARGET } from "../state-budget.ts";
import { SpillStore, type SpillInfo } from "./spill-store.ts";

/** Rows moved per transaction at most (a few tens of ms): a large move is spread, never one long stall. */
const CHUNK = 20_000;

/** The state gauges are published at least this often under steady load (and on idle ticks). */
const PUBLISH_EVERY_MS = 5_000;

/**
 * A pipeline's state against its budget: counts, the spill file, what to move out and when.
 * Window row contributions (pane windows) and join rows can move to disk; panes, groups, session
 * events and rows waiting for a join match stay in memory.
 */
export class StateKeeper {
  readonly budget: StateBudget;
  /** null without a state.dir (operators outside the engine): the budget then only warns */
  readonly spill: SpillStore | null;
  private txnsSincePublish = 0;
  private publishedAt = 0;
  /** over the budget: moving state out, a chunk per transaction, until at TARGET of it */
  private draining = false;

  constructor(
    private readonly pipeline: string,
    budget: number | null,
    stateDir: string | null | undefined,
    private readonly windows: PaneWindows | SessionWindows | null,
    private readonly joins: LookupJoin[],
  ) {
    this.budget = new StateBudget(pipeline, budget);
    // the file is only created once something is spilled (or a checkpoint says it holds state)
    this.spill = stateDir && (windows || joins.length) ? new SpillStore(join(stateDir, "operator-state", `${pipeline}.db`), pipeline) : null;
    if (windows instanceof PaneWindows) windows.setCold(this.spill);
    joins.forEach((j, i) => j.setCold(this.spill, i));
  }

  /** After each transaction: keep within the budget; publish the counts now and then under steady load. */
  afterTxn(): void {
    if (this.budget.budget !== null) this.keepInBudget();
    // the engine publishes on idle ticks (onWatermark); a busy source gives none. By count alone the
    // gauges were 100 s old at 10 transactions/s (soak: orders at 300 rows/s in 30-row transactions)
    // and older at lower steady rates: so also by time (one clock read per transaction)
    if (++this.txnsSincePublish >= 1000 || Date.now() - this.publishedAt >= PUBLISH_EVERY_MS) this.publish();
  }

  /** Idle tick. */
  onIdle(): void {
    if (this.budget.budget !== null) this.keepInBudget();
    this.publish();
  }

  /** Entry counts of the state in memory, O(1). */
  private memoryEntries(): Record<string, number> {
    const out: Record<string, number> = {};
    const w = this.windows?.stats();
    if (w) {
      out.window_rows = w.rows;
      out.window_panes = w.panes;
      out.window_groups = w.groups;
    }
    if (this.joins.length) {
      let rows = 0;
      let waiting = 0;
      for (const j of this.joins) {
        rows += j.size;
        waiting += j.waiting;
      }
      out.join_rows = rows;
      out.join_waiting = waiting;
    }
    return out;
  }

  /**
   * Past the budget: move the coldest window rows and join rows to the spill file, in proportion
   * to their share of the estimate, a chunk per transaction, until at 3/4 of the budget.
   */
  private keepInBudget(): void {
    const spill = this.spill;
    if (!spill) return; // nowhere to move it: publish() warns
    spill.compact();
    const entries = this.memoryEntries();
    const bytes = this.budget.estimate(entries);
    const budget = this.budget.budget!;
    if (!this.draining) {
      if (bytes <= budget) return;
      this.draining = true;
    }
    const excess = bytes - budget * TARGET;
    if (excess <= 0) {
      this.draining = false;
      return;
    }
    const panes = this.windows instanceof PaneWindows ? this.windows : null;
    const wr = panes ? (entries.window_rows ?? 0) * BYTES_PER.window_rows : 0;
    const jr = (entries.join_rows ?? 0) * BYTES_PER.join_rows;
    if (wr + jr > 0) {
      this.budget.spilling(spill.path, bytes, entries);
      const part = Math.min(1, excess / (wr + jr));
      if (panes && wr > 0) {
        const want = Math.ceil(part * entries.window_rows);
        panes.evictRows(Math.min(want, CHUNK), want);
      }
      for (const j of this.joins) j.evictRows(Math.min(Math.ceil(part * j.size), CHUNK));
    }
    if (excess > wr + jr) this.budget.stuck(bytes, entries);
  }

  /** Sizes of the state (cdc_engine_operator_state_entries): in memory, and moved to disk. */
  stats(): Record<string, number> {
    const out = this.memoryEntries();
    if (this.spill) {
      if (this.windows instanceof PaneWindows) out.window_rows_spilled = this.spill.contribs;
      if (this.joins.length) out.join_rows_spilled = this.spill.joinRows;
      out.spilled_bytes = this.spill.bytesOnDisk();
    }
    return out;
  }

  publish(): void {
    this.txnsSincePublish = 0;
    this.publishedAt = Date.now();
    this.budget.check(this.stats(), this.spill !== null);
  }

  /** Part of a checkpoint cut: the spill file's epoch (null when nothing was ever spilled). */
  seal(): SpillInfo | null {
    return this.spill?.seal() ?? null;
  }

  /** A checkpoint link's spill part (the last link's wins). */
  restoreFrom(info: SpillInfo | null | undefined): void {
    if (info && !this.spill) throw new CdcError("state_spill_mismatch", `pipeline '${this.pipeline}': the checkpoint has operator state spilled to disk, but no state.dir is given`, { component: "state" });
    this.spill?.restoreFrom(info ?? null);
  }

  close(): void {
    this.spill?.close();
  }
}
