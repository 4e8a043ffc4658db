import type { Row } from "../../../types.ts";
import type { Emit, OperatorContext } from "../operator.ts";
import type { RowChange, RowId, WindowPlan, WindowSettings } from "./types.ts";
import { IdleClock } from "./idle-clock.ts";
import { admitLateChange, newEventTime } from "./late-rows.ts";
import type { ColdPlan } from "./cold-contribs.ts";
import type { SpillStore } from "../spill/spill-store.ts";
import { type Contribution, type Group, gcd } from "./pane-types.ts";
import { evictContribs } from "./pane-contribs.ts";
import { FloatSumGuard, RetractOverflow } from "./sum-overflow.ts";
import { flush, truncateAll } from "./pane-emit.ts";
import { applyDeltaTo, restoreTo, snapshotDeltaOf, snapshotOf } from "./pane-state.ts";
import { unchangedParts, unchangedReason } from "./unchanged-parts.ts";
import { addRow, retractRow } from "./pane-rows.ts";

/**
 * Tumbling and sliding (hop) windows by panes, and plain GROUP BY aggregates (kind "none").
 * A pane is gcd(size, slide) long; each row lands in exactly one pane per group, and a window
 * is the merge of size/pane consecutive panes, so sliding costs no re-scan of rows.
 * Dirty windows are indexed by their end; on close mode they are emitted once the watermark
 * passes the end, on change mode after every transaction. Results are keyed upserts; a window
 * whose last row was retracted is emitted as a delete.
 */
export class PaneWindows {
  // The state is public for the helpers in pane-rows.ts, pane-emit.ts, pane-contribs.ts and pane-state.ts
  // (functions taking this instance, no object between on the per-row path); nothing else touches it.
  readonly paneUs: number;
  readonly perWindow: number;
  groups = new Map<unknown, Group>();
  contrib = new Map<RowId, Contribution>();
  /** window end → group keys whose window ending there needs (re-)emitting */
  dirty = new Map<number, Set<Group>>();
  lastDirtyEnd = NaN;
  /** bumped whenever dirty sets are dropped (emitted, restored): a group's dirty mark is stale then */
  dirtyEpoch = 0;
  lastDirtySet: Set<Group> | null = null;
  dirtyEnds: number[] = [];
  maxEventUs = -Infinity;
  watermarkUs = -Infinity;
  purgedBelowUs = -Infinity;
  sweptAtUs = -Infinity;
  readonly idle: IdleClock;
  plan!: WindowPlan;
  // incremental checkpoints: change tracking starts with the first snapshotDelta()
  tracking = false;
  needFull = false;
  /** group → pane starts changed since the last delta */
  touchedGroups = new Map<Group, Set<number>>();
  /**
   * Since the last delta, in order: each row's contribution as delta JSON text when it is added
   * (`[id, group, pane, values, weights]`), `[id]` when it is taken back or purged. Encoded as
   * rows arrive rather than all at once in the checkpoint, which the engine waits for (scenario 2:
   * ~33k rows per pipeline per 10-s checkpoint, ~0.3 s of encoding); restore replays it in order.
   */
  rowLog: string[] = [];
  /** since the last delta: groups added to each pending window's set, and windows emitted (set dropped) */
  dirtyAdded = new Map<number, Set<Group>>();
  dirtyDropped = new Set<number>();
  lastAddedEnd = NaN;
  lastAddedSet: Set<Group> | null = null;
  removedGroups = new Set<string>();
  /** contributions moved to disk when over the state budget (null: never spills) */
  cold: SpillStore | null = null;
  /** panes over all groups, kept as they come and go: the budget check reads it per transaction */
  paneCount = 0;
  coldPlan: ColdPlan | null = null;

  constructor(
    readonly s: WindowSettings,
    readonly ctx: OperatorContext,
  ) {
    this.idle = new IdleClock(s.idleTimeoutMs, s.latenessUs);
    if (s.kind === "none") {
      this.paneUs = 1;
      this.perWindow = 1;
    } else {
      this.paneUs = gcd(s.sizeUs, s.slideUs);
      this.perWindow = s.sizeUs / this.paneUs;
    }
  }

  setPlan(plan: WindowPlan): void {
    this.plan = plan;
    this.weighted = plan.aggs.some((a) => a.weight);
    const withArg = plan.aggs.map((a, i) => (a.arg ? i : -1)).filter((i) => i >= 0);
    this.single = withArg.length === 1 ? withArg[0] : -1;
    this.floatSums = FloatSumGuard.of(plan.aggs);
  }
  /** the float SUM/AVG aggregates a row is checked against overflowing (null: none) */
  floatSums: FloatSumGuard | null = null;
  /** index of the only aggregate with an argument, or -1 */
  single = -1;
  weighted = false;
  hasPlan(): boolean {
    return this.plan !== undefined;
  }
  setCold(store: SpillStore | null): void {
    this.cold = store;
  }

  /** A window result the sink cannot be given as computed (pane-emit.ts: a float sum past the range once panes merge). */
  rejectWindow(row: Row, reason: string): void {
    this.ctx.reject({ row, reason });
  }

  get watermark(): number {
    return this.watermarkUs;
  }

  apply(c: RowChange): void {
    const op = c.source.op;
    if (this.s.appendOnly && (op === "update" || op === "delete")) {
      // Nothing to take the old row back with: the change is kept in the DLQ instead of counted twice.
      this.ctx.reject({ row: c.after ?? c.source.before ?? c.source.key ?? {}, reason: `append_only pipeline: a source ${op} cannot be applied (no per-row state to retract it)`, source: c.source });
      return;
    }
    // An insert has nothing to take back (a re-inserted key was deleted first), unless it is a
    // replay of a row already counted: after a crash mid-snapshot the resumed read has the rows
    // fresh and the stream sends their inserts since the slot's start again (they counted twice).
    // Only contributions in memory are checked: a lookup on disk per insert would cost too much.
    const insert = op === "insert" || op === "read";
    const prev = insert ? (c.keyed && c.id !== null && this.contrib.has(c.id) ? c.id : null) : (c.prevId ?? c.id);
    if (prev !== null && this.s.late === "dlq" && this.s.kind !== "none" && !this.admitChange(prev, c)) return;
    const keep = c.unchanged?.length && c.after ? unchangedParts(this.plan, c.unchanged) : null;
    if (keep === "conflict") return this.ctx.reject({ row: c.after!, reason: unchangedReason(c), source: c.source });
    let old: Contribution | undefined;
    try {
      old = prev !== null ? retractRow(this, prev) : undefined;
      // A key change onto a key that is held already: after a resumed snapshot the fresh read counted
      // the row under its new key, and the slot replays the update that moved it there (QA: counted twice).
      if (!insert && c.keyed && c.id !== null && c.id !== prev && c.after && this.contrib.has(c.id)) retractRow(this, c.id);
    } catch (e) {
      if (!(e instanceof RetractOverflow)) throw e;
      return this.ctx.reject({ row: c.after ?? c.source.before ?? c.source.key ?? {}, reason: e.message, source: c.source });
    }
    if (keep && !old) return this.ctx.reject({ row: c.after!, reason: `${unchangedReason(c)} (the row's previous contribution is not held)`, source: c.source });
    if (c.after && c.id !== null) addRow(this, c.id, c.after, c.commitUs, c, keep ? { parts: keep, old: old! } : undefined);
  }

  /** `late: dlq`: the change's old and new row against the watermark, before anything is taken back. */
  private admitChange(prev: RowId, c: RowChange): boolean {
    const old = this.contrib.get(prev);
    if (!old) return true;
    const row = c.after ?? c.source.before ?? c.source.key ?? {};
    return admitLateChange({ paneEndUs: old.ps + this.paneUs }, newEventTime(this.plan, c), this.watermarkUs, this.ctx, row, c.source);
  }

  /** After a transaction: advance the watermark from event time, emit what is due. */
  endTxn(emit: Emit): void {
    if (this.s.kind !== "none" && this.maxEventUs - this.s.latenessUs > this.watermarkUs) this.watermarkUs = this.maxEventUs - this.s.latenessUs;
    flush(this, emit);
  }

  /** Idle source: the wall clock moves the watermark once no event arrived for idle_timeout. */
  onWallClock(nowMs: number, emit: Emit): void {
    if (this.s.kind === "none") return;
    const wm = this.idle.watermark(nowMs);
    if (wm !== null && wm > this.watermarkUs) {
      this.watermarkUs = wm;
      flush(this, emit);
    }
  }

  /** Source TRUNCATE, or the one --resnapshot hands over: every window empties, in memory and on disk (pane-emit.ts). */
  truncate(emit: Emit): void {
    truncateAll(this, emit);
  }

  /** Entry counts in memory, O(1) (rows on disk: the spill store counts them). */
  stats(): { panes: number; rows: number; groups: number } {
    return { panes: this.paneCount, rows: this.contrib.size, groups: this.groups.size };
  }

  /** The group changed since the last delta: pane `ps` of it, or (null) its emitted windows. */
  touchPane(g: Group, ps: number | null): void {
    let set = this.touchedGroups.get(g);
    if (!set) this.touchedGroups.set(g, (set = new Set()));
    if (ps !== null) set.add(ps);
  }

  /** Over the state budget: move up to `n` of the `want` coldest contributions to disk (pane-contribs.ts). */
  evictRows(n: number, want: number): number {
    return evictContribs(this, n, want);
  }

  /** The next snapshotDelta() is a full one (the checkpoint store starts a new chain with it). */
  fullNext(): void {
    this.needFull = true;
  }

  // checkpoints: pane-state.ts
  snapshotDelta(): { full: unknown } | { delta: unknown } {
    return snapshotDeltaOf(this);
  }
  applyDelta(delta: unknown): void {
    applyDeltaTo(this, delta);
  }
  snapshot(): unknown {
    return snapshotOf(this);
  }
  restore(state: unknown): void {
    restoreTo(this, state);
  }
}
