import type { Row } from "../../../types.ts";
import type { Emit, OperatorContext } from "../operator.ts";
import { formatTimestamp } from "../../../expr/time.ts";
import { EvalError, decodeValue, toDec, valueKey } from "../../../expr/values.ts";
import { cellText, encodeCell, stateFromJson, stateToJson, unwrapState } from "./state-json.ts";
import { type Acc, Bag, accAdd, accResultPanes, loadAccDelta, newAcc, saveAcc, saveAccDelta } from "./aggregates.ts";
import type { RowChange, RowId, WindowPlan, WindowSettings } from "./types.ts";
import { IdleClock } from "./idle-clock.ts";
import { admitLate } from "./late-rows.ts";
import { type ColdPlan, groupFromRef, groupRef, planColdest, takeColdest } from "./cold-contribs.ts";
import type { SpillStore } from "../spill/spill-store.ts";

interface Pane {
  rows: number;
  accs: Acc[];
}
interface Group {
  gk: string;
  /** key in the groups map: the raw number for one numeric key (no string per row), else gk */
  mk: unknown;
  keys: unknown[];
  /** pane start (µs) → pane */
  panes: Map<number, Pane>;
  /** window starts whose result the sink holds */
  emitted: Set<number>;
  /** pane whose windows this group was last marked dirty in, and the dirty epoch it was then */
  markPs: number;
  markEpoch: number;
  /** gk as JSON text, for the rows logged for checkpoints */
  gkJson?: string;
}
/** What one source row added, so an update or delete can take it back (the source sends no old row). */
class Contribution {
  constructor(
    readonly g: Group,
    readonly ps: number,
    /** the aggregate arguments: the value itself when only one aggregate takes one (no array per row) */
    readonly v: unknown,
    readonly ws: unknown[],
  ) {}
}

const SEP = "\u0001";
const NO_WEIGHTS: unknown[] = [];

/**
 * Tumbling and sliding (hop) windows by panes, and plain GROUP BY aggregates (kind "none").
 * A pane is gcd(size, slide) long; each row lands in exactly one pane per group, and a window
 * is the merge of size/pane consecutive panes, so sliding costs no re-scan of rows.
 * Dirty windows are indexed by their end; on close mode they are emitted once the watermark
 * passes the end, on change mode after every transaction. Results are keyed upserts; a window
 * whose last row was retracted is emitted as a delete.
 */
export class PaneWindows {
  private readonly paneUs: number;
  private readonly perWindow: number;
  private groups = new Map<unknown, Group>();
  private contrib = new Map<RowId, Contribution>();
  /** window end → group keys whose window ending there needs (re-)emitting */
  private dirty = new Map<number, Set<Group>>();
  private lastDirtyEnd = NaN;
  /** bumped whenever dirty sets are dropped (emitted, restored): a group's dirty mark is stale then */
  private dirtyEpoch = 0;
  private lastDirtySet: Set<Group> | null = null;
  private dirtyEnds: number[] = [];
  private maxEventUs = -Infinity;
  private watermarkUs = -Infinity;
  private purgedBelowUs = -Infinity;
  private sweptAtUs = -Infinity;
  private readonly idle: IdleClock;
  private plan!: WindowPlan;
  // incremental checkpoints: change tracking starts with the first snapshotDelta()
  private tracking = false;
  private needFull = false;
  /** group → pane starts changed since the last delta */
  private touchedGroups = new Map<Group, Set<number>>();
  /**
   * Since the last delta, in order: each row's contribution as delta JSON text when it is added
   * (`[id, group, pane, values, weights]`), `[id]` when it is taken back or purged. Encoded as
   * rows arrive rather than all at once in the checkpoint, which the engine waits for (scenario 2:
   * ~33k rows per pipeline per 10-s checkpoint, ~0.3 s of encoding); restore replays it in order.
   */
  private rowLog: string[] = [];
  /** since the last delta: groups added to each pending window's set, and windows emitted (set dropped) */
  private dirtyAdded = new Map<number, Set<Group>>();
  private dirtyDropped = new Set<number>();
  private lastAddedEnd = NaN;
  private lastAddedSet: Set<Group> | null = null;
  private removedGroups = new Set<string>();
  /** contributions moved to disk when over the state budget (null: never spills) */
  private cold: SpillStore | null = null;
  /** panes over all groups, kept as they come and go: the budget check reads it per transaction */
  private paneCount = 0;
  private coldPlan: ColdPlan | null = null;

  constructor(
    private readonly s: WindowSettings,
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
  }
  /** index of the only aggregate with an argument, or -1 */
  private single = -1;
  private weighted = false;
  hasPlan(): boolean {
    return this.plan !== undefined;
  }
  setCold(store: SpillStore | null): void {
    this.cold = store;
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
    if (prev !== null) this.retract(prev);
    if (c.after && c.id !== null) this.add(c.id, c.after, c.commitUs, c);
  }

  private retract(id: RowId): void {
    let old = this.contrib.get(id);
    if (old) this.contrib.delete(id);
    else if (this.cold !== null && this.cold.contribs > 0) {
      // not in memory: moved to disk (or never kept); only an update or delete gets here
      old = this.takeCold(id);
      if (!old) return;
    } else return;
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
    this.markDirty(old.g, old.ps);
  }

  private add(id: RowId, row: Row, commitUs: number, c: RowChange): void {
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
      if (keys.length === 1) kv = keys[0].fn.fn(row);
      else kvs = keys.map((k) => k.fn.fn(row));
      for (let i = 0; i < aggs.length; i++) {
        const a = aggs[i];
        let v = a.arg ? a.arg.fn(row) : null;
        // text into SUM/AVG, a TOP_K weight: converted here, so adding them below cannot fail
        if (typeof v === "string" && (a.kind === "sum" || a.kind === "avg")) v = toDec(v);
        if (vals) vals[i] = v;
        else if (i === single) one = v;
        if (a.weight) {
          const w = a.weight.fn(row);
          ws[i] = w === null || w === undefined ? null : toDec(w);
        }
      }
    } catch (e) {
      if (!(e instanceof EvalError)) throw e;
      this.ctx.reject({ row, reason: `window/aggregate expression failed: ${e.message}`, source: c.source });
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
        this.rowLog.push(this.rowText(id, added));
        this.touchPane(g, ps);
      }
    }
    this.markDirty(g, ps);
  }

  private markDirty(gk: Group, ps: number): void {
    // already in the dirty set of every window holding this pane, and none of them emitted since
    if (gk.markPs === ps && gk.markEpoch === this.dirtyEpoch) return;
    gk.markPs = ps;
    gk.markEpoch = this.dirtyEpoch;
    if (this.s.kind === "none") return this.dirtyAt(0, gk);
    // windows containing pane ps start at aligned slide steps in (ps - size, ps]
    const slide = this.s.slideUs;
    const last = Math.floor(ps / slide) * slide;
    for (let ws = last; ws > ps - this.s.sizeUs; ws -= slide) this.dirtyAt(ws + this.s.sizeUs, gk);
  }

  private trackDirty(end: number, g: Group): void {
    if (end !== this.lastAddedEnd || !this.lastAddedSet) {
      let set = this.dirtyAdded.get(end);
      if (!set) this.dirtyAdded.set(end, (set = new Set()));
      this.lastAddedEnd = end;
      this.lastAddedSet = set;
    }
    this.lastAddedSet.add(g);
  }

  private dirtyAt(end: number, gk: Group): void {
    if (this.tracking) this.trackDirty(end, gk);
    if (end === this.lastDirtyEnd && this.lastDirtySet) {
      this.lastDirtySet.add(gk);
      return;
    }
    let set = this.dirty.get(end);
    if (!set) {
      set = new Set();
      this.dirty.set(end, set);
      const a = this.dirtyEnds;
      if (a.length === 0 || a[a.length - 1] < end) a.push(end);
      else a.splice(lowerBound(a, end), 0, end);
    }
    set.add(gk);
    this.lastDirtyEnd = end;
    this.lastDirtySet = set;
  }

  /** After a transaction: advance the watermark from event time, emit what is due. */
  endTxn(emit: Emit): void {
    if (this.s.kind !== "none" && this.maxEventUs - this.s.latenessUs > this.watermarkUs) this.watermarkUs = this.maxEventUs - this.s.latenessUs;
    this.flush(emit);
  }

  /** Idle source: the wall clock moves the watermark once no event arrived for idle_timeout. */
  onWallClock(nowMs: number, emit: Emit): void {
    if (this.s.kind === "none") return;
    const wm = this.idle.watermark(nowMs);
    if (wm !== null && wm > this.watermarkUs) {
      this.watermarkUs = wm;
      this.flush(emit);
    }
  }

  private flush(emit: Emit): void {
    const limit = this.s.kind === "none" || this.s.emit === "change" ? Infinity : this.watermarkUs;
    const ends = this.dirtyEnds;
    let n = 0;
    while (n < ends.length && ends[n] <= limit) {
      const end = ends[n++];
      const set = this.dirty.get(end)!;
      this.dirty.delete(end);
      if (this.tracking) {
        this.dirtyDropped.add(end);
        this.dirtyAdded.delete(end);
        if (end === this.lastAddedEnd) this.lastAddedSet = null;
      }
      if (end === this.lastDirtyEnd) this.lastDirtySet = null;
      for (const g of set) this.emitWindow(g, end, emit);
    }
    if (n > 0) {
      ends.splice(0, n);
      this.dirtyEpoch++;
    }
    this.purge();
  }

  private emitWindow(g: Group, end: number, emit: Emit): void {
    const start = end - this.s.sizeUs;
    let rows = 0;
    // per aggregate, the accumulators of the window's non-empty panes
    let parts: Acc[][] | null = null;
    const aggs = this.plan.aggs;
    if (this.perWindow === 1 || this.s.kind === "none") {
      const p = g.panes.get(this.s.kind === "none" ? 0 : start);
      if (p) {
        rows = p.rows;
        parts = p.accs.map((a) => [a]);
      }
    } else {
      for (let ps = start; ps < end; ps += this.paneUs) {
        const p = g.panes.get(ps);
        if (!p || p.rows === 0) continue;
        if (!parts) parts = aggs.map(() => []);
        rows += p.rows;
        for (let i = 0; i < aggs.length; i++) parts[i].push(p.accs[i]);
      }
    }
    const keyRow: Row = {};
    const kv = g.keys;
    const keys = this.plan.keys;
    for (let i = 0; i < keys.length; i++) keyRow[keys[i].name] = toOut(keys[i].fn.type.kind, kv[i]);
    if (this.s.kind !== "none") {
      keyRow.window_start = formatTimestamp(start, this.s.timeKind === "timestamptz");
      keyRow.window_end = formatTimestamp(end, this.s.timeKind === "timestamptz");
    }
    if (rows === 0 || !parts) {
      if (g.emitted.delete(start)) {
        if (this.tracking) this.touchPane(g, null);
        emit({ op: "delete", row: keyRow });
      }
      return;
    }
    for (let i = 0; i < aggs.length; i++) keyRow[aggs[i].name] = accResultPanes(aggs[i], parts[i], rows);
    if (this.tracking && !g.emitted.has(start)) this.touchPane(g, null);
    g.emitted.add(start);
    emit({ op: "upsert", row: keyRow });
  }

  /** Drop panes (and the rows that fed them) whose windows ended before watermark − retention. */
  private purge(): void {
    if (this.s.kind === "none") return;
    const horizon = this.watermarkUs - this.s.retentionUs - this.s.sizeUs;
    if (!(horizon > this.purgedBelowUs)) return;
    const before = this.purgedBelowUs;
    this.purgedBelowUs = Math.floor(horizon / this.paneUs) * this.paneUs;
    if (this.purgedBelowUs <= before) return;
    // sweep at most once per window size of watermark progress: O(state) each time
    if (this.sweptAtUs !== -Infinity && this.purgedBelowUs - this.sweptAtUs < this.s.sizeUs) return;
    this.sweptAtUs = this.purgedBelowUs;
    const cut = this.purgedBelowUs;
    const track = this.tracking;
    for (const g of this.groups.values()) {
      for (const ps of g.panes.keys()) if (ps + this.paneUs <= cut) {
        g.panes.delete(ps);
        this.paneCount--;
        if (track) this.touchPane(g, ps);
      }
      for (const ws of g.emitted) if (ws + this.s.sizeUs <= cut) {
        g.emitted.delete(ws);
        if (track) this.touchPane(g, null);
      }
    }
    for (const [id, c] of this.contrib) if (c.ps + this.paneUs <= cut) {
      this.contrib.delete(id);
      if (track) this.rowLog.push(`[${cellText(id)}]`);
    }
    // on disk: versioned by checkpoint epoch there, so nothing to log for the checkpoint here
    this.cold?.purgeContribs(cut - this.paneUs);
    const live = new Set<Group>();
    for (const set of this.dirty.values()) for (const g of set) live.add(g);
    for (const [mk, g] of this.groups) if (g.panes.size === 0 && g.emitted.size === 0 && !live.has(g)) {
      this.groups.delete(mk);
      if (track) {
        this.removedGroups.add(g.gk);
        this.touchedGroups.delete(g);
      }
    }
  }

  /** Source TRUNCATE: every window empties (deletes for what was emitted). */
  truncate(emit: Emit): void {
    this.needFull = true;
    for (const id of [...this.contrib.keys()]) this.retract(id);
    this.cold?.dropAllContribs(); // their panes are cleared below
    for (const g of this.groups.values()) g.panes.clear();
    this.paneCount = 0;
    this.flushAll(emit);
  }

  private flushAll(emit: Emit): void {
    this.dirtyEpoch++;
    for (const end of this.dirtyEnds) for (const g of this.dirty.get(end)!) this.emitWindow(g, end, emit);
    this.dirty.clear();
    this.lastDirtySet = null;
    this.dirtyEnds = [];
  }

  /** Entry counts in memory, O(1) (rows on disk: the spill store counts them). */
  stats(): { panes: number; rows: number; groups: number } {
    return { panes: this.paneCount, rows: this.contrib.size, groups: this.groups.size };
  }

  private countPanes(): void {
    let panes = 0;
    for (const g of this.groups.values()) panes += g.panes.size;
    this.paneCount = panes;
  }

  /**
   * Over the state budget: of the `want` coldest contributions (oldest panes first), move up to
   * `n` to the spill file now (the rest at the next calls). The checkpoint's row log records them
   * as gone from memory; the file, versioned by checkpoint epoch, holds them (see SpillStore).
   */
  evictRows(n: number, want: number): number {
    const cold = this.cold;
    if (!cold || n <= 0 || this.contrib.size === 0) return 0;
    if (!this.coldPlan || this.coldPlan.left <= 0) this.coldPlan = planColdest(this.contrib, want);
    const ids = takeColdest(this.contrib, this.coldPlan, n);
    if (!ids.length) return 0;
    const rows: [unknown, number, string, string][] = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const c = this.contrib.get(id)!;
      rows[i] = [id, c.ps, groupRef(c.g.mk), `[[${this.valsText(c)}],[${this.wsText(c)}]]`];
      this.contrib.delete(id);
      if (this.tracking) this.rowLog.push(`[${cellText(id)}]`);
    }
    cold.putContribs(rows);
    return ids.length;
  }

  /** A contribution read back from disk (and removed there), or undefined when its group is gone. */
  private takeCold(id: RowId): Contribution | undefined {
    const r = this.cold!.takeContrib(id);
    if (!r) return undefined;
    const g = this.groups.get(groupFromRef(r.g));
    if (!g) return undefined; // its panes were dropped after retention
    const [vals, ws] = stateFromJson(r.data) as [unknown[], unknown[]];
    return this.contribution(g, r.ps, vals.map(decodeValue), ws.length ? ws.map(decodeValue) : NO_WEIGHTS);
  }

  /** A contribution as a delta row, JSON text: [id, group key, pane, values, weights]. */
  private rowText(id: RowId, c: Contribution): string {
    return `[${cellText(id)},${(c.g.gkJson ??= JSON.stringify(c.g.gk))},${c.ps},[${this.valsText(c)}],[${this.wsText(c)}]]`;
  }

  private wsText(c: Contribution): string {
    return c.ws === NO_WEIGHTS ? "" : c.ws.map(cellText).join(",");
  }

  private valsText(c: Contribution): string {
    let vals: string;
    if (this.single < 0) {
      const v = c.v as unknown[];
      vals = v.length ? cellText(v[0]) : "";
      for (let i = 1; i < v.length; i++) vals += "," + cellText(v[i]);
    } else {
      vals = "";
      for (let i = 0; i < this.plan.aggs.length; i++) vals += (i ? "," : "") + (i === this.single ? cellText(c.v) : "null");
    }
    return vals;
  }

  private valsOf(c: Contribution): unknown[] {
    if (this.single < 0) return c.v as unknown[];
    return this.plan.aggs.map((_a, i) => (i === this.single ? c.v : null));
  }
  private contribution(g: Group, ps: number, vals: unknown[], ws: unknown[]): Contribution {
    return new Contribution(g, ps, this.single >= 0 ? vals[this.single] : vals, ws);
  }

  private touchPane(g: Group, ps: number | null): void {
    let set = this.touchedGroups.get(g);
    if (!set) this.touchedGroups.set(g, (set = new Set()));
    if (ps !== null) set.add(ps);
  }

  /** A group's changed panes for a delta; a multiset accumulator gives only its changed values. */
  private saveGroupDelta(g: Group, only: Set<number>): unknown[] {
    const aggs = this.plan?.aggs ?? [];
    const panes = [...only].map((ps) => {
      const p = g.panes.get(ps);
      return p ? [ps, p.rows, p.accs.map((a, j) => saveAccDelta(aggs[j], a))] : [ps];
    });
    return [g.gk, g.keys.map(encodeCell), panes, [...g.emitted]];
  }

  private loadGroup([gk, encKeys, panes, emitted]: [string, unknown[], [number, number, unknown[]][], number[]], into?: Group): Group {
    const aggs = this.plan.aggs;
    const keys = encKeys.map(decodeValue);
    const g: Group = into ?? { gk, mk: keys.length === 1 && typeof keys[0] === "number" ? keys[0] : gk, keys, panes: new Map(), emitted: new Set(), markPs: NaN, markEpoch: -1 };
    if (!into) g.panes = new Map();
    // a delta lists changed panes only: [ps] alone means the pane is gone; a multiset accumulator
    // may be a change to the pane's current one (see saveAccDelta)
    for (const e of panes as unknown[][]) {
      const ps = e[0] as number;
      if (e.length === 1) g.panes.delete(ps);
      else {
        const prev = g.panes.get(ps);
        g.panes.set(ps, { rows: e[1] as number, accs: (e[2] as unknown[]).map((a, i) => loadAccDelta(aggs[i], a, prev?.accs[i], this.s.appendOnly === true)) });
      }
    }
    g.emitted = new Set(emitted);
    return g;
  }

  private clearDirtyTracking(): void {
    this.dirtyAdded.clear();
    this.dirtyDropped.clear();
    this.lastAddedSet = null;
  }

  /** The next snapshotDelta() is a full one (the checkpoint store starts a new chain with it). */
  fullNext(): void {
    this.needFull = true;
  }

  /**
   * Incremental checkpoint: the first call (and the first after a TRUNCATE) gives the full
   * state; later calls give only the groups and rows changed since the previous call, plus
   * the small global parts (watermark, pending windows). restore(full) then applyDelta(d1),
   * applyDelta(d2)... rebuilds the state. Tracking costs a set insert per row, so it only
   * starts once this is used.
   */
  snapshotDelta(): { full: unknown } | { delta: unknown } {
    if (!this.tracking || this.needFull) {
      this.tracking = true;
      this.needFull = false;
      this.touchedGroups.clear();
      this.rowLog = [];
      this.removedGroups.clear();
      this.clearDirtyTracking();
      const full = stateToJson(this.snapshot());
      // the next delta gives each multiset's changes since this whole state
      for (const g of this.groups.values()) for (const p of g.panes.values()) for (const a of p.accs) if (a instanceof Bag) a.resetChanges();
      return { full: { json: full } };
    }
    const delta = {
      wm: fin(this.watermarkUs),
      max: fin(this.maxEventUs),
      purged: fin(this.purgedBelowUs),
      removed: [...this.removedGroups],
      groups: [...this.touchedGroups].filter(([g]) => this.groups.get(g.mk) === g).map(([g, panes]) => this.saveGroupDelta(g, panes)),
      // pending windows: [end, 1 if its set was dropped (emitted) first, group keys added]
      dirty: [...new Set([...this.dirtyDropped, ...this.dirtyAdded.keys()])].map((e) => [e, this.dirtyDropped.has(e) ? 1 : 0, [...(this.dirtyAdded.get(e) ?? [])].map((g) => g.gk)]),
    };
    // the rows as logged: spliced into the object's text (its last character is its closing brace)
    const head = stateToJson(delta);
    const json = `${head.slice(0, -1)},"rows":[${this.rowLog.join(",")}]}`;
    this.clearDirtyTracking();
    this.touchedGroups.clear();
    this.rowLog = [];
    this.removedGroups.clear();
    return { delta: { json } };
  }

  applyDelta(delta: unknown): void {
    const d = unwrapState(delta) as Record<string, any>;
    this.watermarkUs = unfin(d.wm);
    this.maxEventUs = unfin(d.max);
    this.purgedBelowUs = unfin(d.purged);
    const byGk = new Map<string, Group>();
    for (const g of this.groups.values()) byGk.set(g.gk, g);
    for (const gk of d.removed as string[]) {
      const g = byGk.get(gk);
      if (g) {
        this.groups.delete(g.mk);
        byGk.delete(gk);
      }
    }
    for (const enc of d.groups as [string, unknown[], [number, number, unknown[]][], number[]][]) {
      const existing = byGk.get(enc[0]);
      const g = this.loadGroup(enc, existing);
      if (!existing) {
        this.groups.set(g.mk, g);
        byGk.set(g.gk, g);
      }
    }
    for (const r of d.rows as [unknown, string?, number?, unknown[]?, unknown[]?][]) {
      const id = decodeValue(r[0]) as RowId;
      if (r.length === 1) this.contrib.delete(id);
      else this.contrib.set(id, this.contribution(byGk.get(r[1]!)!, r[2]!, r[3]!.map(decodeValue), r[4]!.length ? r[4]!.map(decodeValue) : NO_WEIGHTS));
    }
    for (const [e, dropped, gks] of d.dirty as [number, number, string[]][]) {
      if (dropped) this.dirty.delete(e);
      if (!gks.length) continue;
      let set = this.dirty.get(e);
      if (!set) this.dirty.set(e, (set = new Set()));
      for (const k of gks) {
        const g = byGk.get(k);
        if (g) set.add(g);
      }
    }
    this.dirtyEnds = [...this.dirty.keys()].sort((a, b) => a - b);
    this.lastDirtySet = null;
    this.dirtyEpoch++;
    this.countPanes();
  }

  snapshot(): unknown {
    const aggs = this.plan?.aggs ?? [];
    const ids = new Map<Group, number>();
    const groups = [...this.groups.values()].map((g, i) => {
      ids.set(g, i);
      return [g.gk, g.keys.map(encodeCell), [...g.panes].map(([ps, p]) => [ps, p.rows, p.accs.map((a, j) => saveAcc(aggs[j], a))]), [...g.emitted]];
    });
    return {
      v: 2,
      wm: fin(this.watermarkUs),
      max: fin(this.maxEventUs),
      purged: fin(this.purgedBelowUs),
      groups,
      contrib: [...this.contrib].map(([id, c]) => [encodeCell(id), ids.get(c.g)!, c.ps, this.valsOf(c).map(encodeCell), c.ws === NO_WEIGHTS ? [] : c.ws.map(encodeCell)]),
      dirty: this.dirtyEnds.map((e) => [e, [...this.dirty.get(e)!].map((g) => ids.get(g)!)]),
    };
  }

  restore(state: unknown): void {
    const s = unwrapState(state) as Record<string, any>;
    const aggs = this.plan.aggs;
    this.watermarkUs = unfin(s.wm);
    this.maxEventUs = unfin(s.max);
    this.purgedBelowUs = unfin(s.purged);
    const list: Group[] = (s.groups as [string, unknown[], [number, number, unknown[]][], number[]][]).map((enc) => this.loadGroup(enc));
    this.groups = new Map(list.map((g) => [g.mk, g]));
    this.contrib = new Map((s.contrib as [unknown, number, number, unknown[], unknown[]][]).map(([id, gi, ps, vals, ws]) => [decodeValue(id) as RowId, this.contribution(list[gi], ps, vals.map(decodeValue), ws.length ? ws.map(decodeValue) : NO_WEIGHTS)]));
    this.dirtyEnds = (s.dirty as [number, number[]][]).map(([e]) => e);
    this.dirty = new Map((s.dirty as [number, number[]][]).map(([e, gi]) => [e, new Set(gi.map((i) => list[i]))]));
    this.lastDirtySet = null;
    this.dirtyEpoch++;
    this.countPanes();
  }
}

function toOut(kind: string, v: unknown): unknown {
  // keys keep the row form they had (numeric text, timestamps as text)
  if (v === null || v === undefined) return null;
  if (typeof v === "number" && (kind === "timestamptz" || kind === "timestamp")) return formatTimestamp(v, kind === "timestamptz");
  if (typeof v === "number" && kind === "date") return formatTimestamp(v, false).slice(0, 10);
  if (typeof v === "object" && v !== null && "u" in v) return String(v);
  return v;
}

function fin(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}
function unfin(n: number | null): number {
  return n === null ? -Infinity : n;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function lowerBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
