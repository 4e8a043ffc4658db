import type { Row } from "../../../types.ts";
import type { Emit, OperatorContext } from "../operator.ts";
import { aggregateFailure } from "./row-failure.ts";
import { formatTimestamp } from "../../../expr/time.ts";
import { EvalError, toDec, valueKey } from "../../../expr/values.ts";
import { cellText } from "./state-json.ts";
import { accAdd, newAcc } from "./aggregates.ts";
import type { RowChange, RowId, WindowPlan, WindowSettings } from "./types.ts";
import { IdleClock } from "./idle-clock.ts";
import { admitLate, admitLateChange, newEventTime } from "./late-rows.ts";
import type { ColdPlan } from "./cold-contribs.ts";
import type { SpillStore } from "../spill/spill-store.ts";
import { Contribution, type Group, NO_WEIGHTS, gcd } from "./pane-types.ts";
import { evictContribs, rowText, takeCold } from "./pane-contribs.ts";
import { markDirty } from "./pane-dirty.ts";
import { FloatSumGuard, RetractOverflow, overflowReason } from "./sum-overflow.ts";
import { flush, truncateAll } from "./pane-emit.ts";
import { applyDeltaTo, restoreTo, snapshotDeltaOf, snapshotOf } from "./pane-state.ts";
import { type UnchangedParts, unchangedParts, unchangedReason } from "./unchanged-parts.ts";

const SEP = "\u0001";

/**
 * Tumbling and sliding (hop) windows by panes, and plain GROUP BY aggregates (kind "none").
 * A pane is gcd(size, slide) long; each row lands in exactly one pane per group, and a window
 * is the merge of size/pane consecutive panes, so sliding costs no re-scan of rows.
 * Dirty windows are indexed by their end; on close mode they are emitted once the watermark
 * passes the end, on change mode after every transaction. Results are keyed upserts; a window
 * whose last row was retracted is emitted as a delete.
 */
export class PaneWindows {
  // The state is public for the helpers in pane-emit.ts, pane-contribs.ts and pane-state.ts
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
  private readonly idle: IdleClock;
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
    private readonly ctx: OperatorContext,
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
  private floatSums: FloatSumGuard | null = null;
  /** index of the only aggregate with an argument, or -1 */
  single = -1;
  private weighted = false;
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
      old = prev !== null ? this.retract(prev) : undefined;
      // A key change onto a key that is held already: after a resumed snapshot the fresh read counted
      // the row under its new key, and the slot replays the update that moved it there (QA: counted twice).
      if (!insert && c.keyed && c.id !== null && c.id !== prev && c.after && this.contrib.has(c.id)) this.retract(c.id);
    } catch (e) {
      if (!(e instanceof RetractOverflow)) throw e;
      return this.ctx.reject({ row: c.after ?? c.source.before ?? c.source.key ?? {}, reason: e.message, source: c.source });
    }
    if (keep && !old) return this.ctx.reject({ row: c.after!, reason: `${unchangedReason(c)} (the row's previous contribution is not held)`, source: c.source });
    if (c.after && c.id !== null) this.add(c.id, c.after, c.commitUs, c, keep ? { parts: keep, old: old! } : undefined);
  }

  /** `late: dlq`: the change's old and new row against the watermark, before anything is taken back. */
  private admitChange(prev: RowId, c: RowChange): boolean {
    const old = this.contrib.get(prev);
    if (!old) return true;
    const row = c.after ?? c.source.before ?? c.source.key ?? {};
    return admitLateChange({ paneEndUs: old.ps + this.paneUs }, newEventTime(this.plan, c), this.watermarkUs, this.ctx, row, c.source);
  }

  /** Takes a row's contribution back; a RetractOverflow (nothing changed) when that would overflow a float sum. */
  private retract(id: RowId): Contribution | undefined {
    let old = this.contrib.get(id);
    const warm = old !== undefined;
    if (!old && this.cold !== null && this.cold.contribs > 0) {
      // not in memory: moved to disk (or never kept); only an update or delete gets here
      old = takeCold(this, id);
    }
    if (!old) return undefined;
    const held = this.floatSums ? old.g.panes.get(old.ps) : undefined;
    const over = held ? this.floatSums!.overflowing(held.accs, this.single >= 0 ? null : (old.v as unknown[]), this.single, old.v, -1) : null;
    if (over) {
      if (!warm) {
        // read back from disk (and removed there): it stays, now in memory
        this.contrib.set(id, old);
        if (this.tracking) this.rowLog.push(rowText(this, id, old));
      }
      throw new RetractOverflow(overflowReason(over, "retract", this.s.kind === "none" ? "group" : "window"));
    }
    if (warm) this.contrib.delete(id);
    if (this.tracking) {
      this.rowLog.push(`[${cellText(id)}]`);
      this.touchPane(old.g, old.ps);
    }
    const pane = old.g.panes.get(old.ps);
    if (!pane) return; // purged: its windows are final at the sink
    pane.rows--;
    const aggs = this.plan.aggs;
    const vals = this.single >= 0 ? null : (old.v as unknown[]);
    for (let i = 0; i < aggs.length; i++) accAdd(aggs[i], pane.accs[i], vals ? vals[i] : i === this.single ? old.v : null, -1, old.ws[i] ?? null);
    if (pane.rows === 0) {
      old.g.panes.delete(old.ps);
      this.paneCount--;
    }
    markDirty(this, old.g, old.ps);
    return old;
  }

  private add(id: RowId, row: Row, commitUs: number, c: RowChange, prev?: { parts: UnchangedParts; old: Contribution }): void {
    const plan = this.plan;
    const keys = plan.keys;
    const aggs = plan.aggs;
    const single = this.single;
    const vals = single >= 0 ? null : new Array(aggs.length);
    const ws = this.weighted ? new Array(aggs.length) : NO_WEIGHTS;
    let one: unknown = null;
    let tv: unknown = 0;
    let kv: unknown = null;
    let kvs: unknown[] | null = null;
    // Everything is evaluated before any state changes: a row error (division by zero, a bad
    // cast, a NaN numeric) sends the row to the DLQ and the pipeline goes on.
    try {
      if (this.s.kind !== "none") tv = plan.time ? plan.time.fn(row) : commitUs;
      if (keys.length === 1) kv = prev?.parts.keys.has(0) ? prev.old.g.keys[0] : keys[0].fn.fn(row);
      else kvs = keys.map((k, i) => (prev?.parts.keys.has(i) ? prev.old.g.keys[i] : k.fn.fn(row)));
      for (let i = 0; i < aggs.length; i++) {
        const a = aggs[i];
        let v = prev?.parts.args.has(i) ? (single >= 0 ? prev.old.v : (prev.old.v as unknown[])[i]) : a.arg ? a.arg.fn(row) : null;
        // text into SUM/AVG, a TOP_K weight: converted here, so adding them below cannot fail
        if (typeof v === "string" && (a.kind === "sum" || a.kind === "avg")) v = toDec(v);
        if (vals) vals[i] = v;
        else if (i === single) one = v;
        if (a.weight && prev?.parts.weights.has(i)) ws[i] = prev.old.ws[i] ?? null;
        else if (a.weight) {
          const w = a.weight.fn(row);
          ws[i] = w === null || w === undefined ? null : toDec(w);
        }
      }
    } catch (e) {
      if (!(e instanceof EvalError)) throw e;
      this.ctx.reject({ row, reason: aggregateFailure(plan, row, e), source: c.source });
      return;
    }
    let t = 0;
    if (this.s.kind !== "none") {
      if (tv === null || tv === undefined) {
        this.ctx.reject({ row, reason: "window time column is NULL", source: c.source });
        return;
      }
      t = tv as number;
      if (!Number.isFinite(t)) {
        // an infinite event time would move the watermark to the end of time and close everything
        this.ctx.reject({ row, reason: `window time is ${formatTimestamp(t, true)}`, source: c.source });
        return;
      }
      if (t > this.maxEventUs) this.maxEventUs = t;
      this.idle.event();
      if (t < this.watermarkUs && !admitLate(t, this.watermarkUs, this.s, this.ctx, row, c.source)) return;
    }
    const ps = this.s.kind === "none" ? 0 : Math.floor(t / this.paneUs) * this.paneUs;
    if (ps + this.paneUs <= this.purgedBelowUs) {
      this.ctx.reject({ row, reason: `late row: its window's state was dropped after retention (event time ${formatTimestamp(t, true)})`, source: c.source });
      return;
    }
    let g: Group | undefined;
    if (kvs === null) {
      const v = kv;
      const mk = typeof v === "number" ? v : valueKey(v);
      g = this.groups.get(mk);
      if (!g) this.groups.set(mk, (g = { gk: valueKey(v), mk, keys: [v], panes: new Map(), emitted: new Set(), markPs: NaN, markEpoch: -1 }));
    } else {
      const gk = kvs.map(valueKey).join(SEP);
      g = this.groups.get(gk);
      if (!g) this.groups.set(gk, (g = { gk, mk: gk, keys: kvs, panes: new Map(), emitted: new Set(), markPs: NaN, markEpoch: -1 }));
    }
    let pane = g.panes.get(ps);
    // a pane that exists may overflow a float sum; a new one holds this row alone, which cannot
    const over = pane && this.floatSums ? this.floatSums.overflowing(pane.accs, vals, single, one, 1) : null;
    if (over) {
      this.ctx.reject({ row, reason: overflowReason(over, "add", this.s.kind === "none" ? "group" : "window"), source: c.source });
      return;
    }
    if (!pane) {
      pane = { rows: 0, accs: plan.aggs.map((a) => newAcc(a, this.s.appendOnly === true)) };
      g.panes.set(ps, pane);
      this.paneCount++;
    }
    pane.rows++;
    for (let i = 0; i < aggs.length; i++) {
      const a = aggs[i];
      const v = vals ? vals[i] : i === single ? one : null;
      if (a.weight) accAdd(a, pane.accs[i], v, 1, ws[i]);
      else accAdd(a, pane.accs[i], v, 1);
    }
    if (this.s.appendOnly) {
      if (this.tracking) this.touchPane(g, ps);
    } else {
      const added = new Contribution(g, ps, vals ?? one, ws);
      this.contrib.set(id, added);
      if (this.tracking) {
        this.rowLog.push(rowText(this, id, added));
        this.touchPane(g, ps);
      }
    }
    markDirty(this, g, ps);
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
