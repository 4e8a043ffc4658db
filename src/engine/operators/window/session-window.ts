import type { Row } from "../../../types.ts";
import type { Emit, OperatorContext } from "../operator.ts";
import { aggregateFailure } from "./row-failure.ts";
import { formatTimestamp } from "../../../expr/time.ts";
import { EvalError, decodeValue, toDec, valueKey } from "../../../expr/values.ts";
import { overflowReason } from "./sum-overflow.ts";
import { SessionOverflow } from "./session-overflow.ts";
import type { RowChange, RowId, WindowPlan, WindowSettings } from "./types.ts";
import { IdleClock } from "./idle-clock.ts";
import { admitLate, admitLateChange, newEventTime } from "./late-rows.ts";
import { applySessionDelta, SessionLog, type SessionGroup as Group } from "./session-delta.ts";
import { encodeCell, stateToJson, unwrapState } from "./state-json.ts";
import { unchangedParts, unchangedReason } from "./unchanged-parts.ts";
import { flushSessions } from "./session-emit.ts";

const SEP = "\u0001";

/**
 * Session windows: per key, events closer than `gap` form one session [first, last + gap).
 * Sessions are derived from the key's events each time the key changes, so a retraction can
 * split a session and an update can merge two; sessions that disappear are emitted as deletes
 * (the output key holds window_start and window_end). Closed sessions beyond retention are dropped.
 * Checkpoints are incremental like pane windows': whole the first time, then what changed (SessionLog).
 */
export class SessionWindows {
  // The state is public for applySessionDelta (SessionState) and for flushSessions (session-emit.ts:
  // functions taking this instance, as pane windows' helpers do); nothing else touches it.
  groups = new Map<string, Group>();
  where = new Map<RowId, string>();
  pending = new Set<string>();
  /** groups changed since the last flush; the others are only revisited when a session may close */
  changed = new Set<string>();
  nextClose = new Map<string, number>();
  sweptAtUs = -Infinity;
  maxEventUs = -Infinity;
  watermarkUs = -Infinity;
  private readonly idle: IdleClock;
  plan: WindowPlan | null = null;
  /** emitted sessions over all groups, kept as they come and go (stats() is read per transaction) */
  sessionCount = 0;
  // incremental checkpoints: change tracking starts with the first snapshotDelta()
  tracking = false;
  private needFull = false;
  log = new SessionLog();

  constructor(
    readonly s: WindowSettings,
    readonly ctx: OperatorContext,
  ) {
    this.idle = new IdleClock(s.idleTimeoutMs, s.latenessUs);
  }

  setPlan(plan: WindowPlan): void {
    this.plan = plan;
    this.overflow = new SessionOverflow(plan.aggs, this.s.gapUs);
  }
  private overflow: SessionOverflow | null = null;
  hasPlan(): boolean {
    return this.plan !== null;
  }

  apply(c: RowChange): void {
    // Session events keep no per-part values to take unsent TOAST values from.
    if (c.unchanged?.length && c.after && unchangedParts(this.plan!, c.unchanged) !== null) return this.ctx.reject({ row: c.after, reason: unchangedReason(c), source: c.source });
    const prev = c.prevId ?? c.id;
    if (prev !== null && this.s.late === "dlq") {
      // refused whole before the old row is taken back (see admitLateChange)
      const gk = this.where.get(prev);
      const old = gk === undefined ? undefined : this.groups.get(gk)?.events.get(prev);
      const row = c.after ?? c.source.before ?? c.source.key ?? {};
      if (old && !admitLateChange({ atUs: old.t }, newEventTime(this.plan!, c), this.watermarkUs, this.ctx, row, c.source)) return;
    }
    if (prev !== null) {
      const gk = this.where.get(prev);
      const held = gk === undefined ? undefined : this.groups.get(gk);
      const old = held?.events.get(prev);
      const over = held && old ? this.overflow!.onRemove(held, old) : null;
      if (over) return this.ctx.reject({ row: c.after ?? c.source.before ?? c.source.key ?? {}, reason: overflowReason(over, "retract", "session"), source: c.source });
      if (gk !== undefined) {
        this.where.delete(prev);
        this.groups.get(gk)?.events.delete(prev);
        this.pending.add(gk);
        this.changed.add(gk);
        if (this.tracking) {
          this.log.removed(prev);
          this.log.pendingChanged(gk);
        }
      }
    }
    if (!c.after || c.id === null) return;
    const plan = this.plan!;
    const row: Row = c.after;
    let tv: unknown, kv: unknown[], vals: unknown[], ws: unknown[];
    // evaluated before any state changes: a row error sends the row to the DLQ, the pipeline goes on
    try {
      tv = plan.time ? plan.time.fn(row) : c.commitUs;
      kv = plan.keys.map((k) => k.fn.fn(row));
      vals = plan.aggs.map((a) => {
        const v = a.arg ? a.arg.fn(row) : null;
        return typeof v === "string" && (a.kind === "sum" || a.kind === "avg") ? toDec(v) : v;
      });
      ws = plan.aggs.map((a) => {
        const w = a.weight ? a.weight.fn(row) : null;
        return w === null || w === undefined ? null : toDec(w);
      });
    } catch (e) {
      if (!(e instanceof EvalError)) throw e;
      this.ctx.reject({ row, reason: aggregateFailure(plan, row, e), source: c.source });
      return;
    }
    if (tv === null || tv === undefined) {
      this.ctx.reject({ row, reason: "window time column is NULL", source: c.source });
      return;
    }
    const t = tv as number;
    if (!Number.isFinite(t)) {
      // an infinite event time would move the watermark to the end of time and close everything
      this.ctx.reject({ row, reason: `window time is ${formatTimestamp(t, true)}`, source: c.source });
      return;
    }
    if (t > this.maxEventUs) this.maxEventUs = t;
    this.idle.event();
    if (!admitLate(t, this.watermarkUs, this.s, this.ctx, row, c.source)) return;
    const gk = kv.map(valueKey).join(SEP);
    let g = this.groups.get(gk);
    if (!g) {
      this.groups.set(gk, (g = { keys: kv, events: new Map(), emitted: new Map() }));
      if (this.tracking) this.log.group(gk);
    }
    const ev = { t, vals, ws };
    const over = this.overflow!.onAdd(g, ev);
    if (over) return this.ctx.reject({ row, reason: overflowReason(over, "add", "session"), source: c.source });
    g.events.set(c.id, ev);
    this.where.set(c.id, gk);
    this.pending.add(gk);
    this.changed.add(gk);
    if (this.tracking) {
      this.log.added(c.id, gk, ev);
      this.log.pendingChanged(gk);
    }
  }

  endTxn(emit: Emit): void {
    if (this.maxEventUs - this.s.latenessUs > this.watermarkUs) this.watermarkUs = this.maxEventUs - this.s.latenessUs;
    flushSessions(this, emit);
  }

  onWallClock(nowMs: number, emit: Emit): void {
    const wm = this.idle.watermark(nowMs);
    if (wm !== null && wm > this.watermarkUs) {
      this.watermarkUs = wm;
      flushSessions(this, emit);
    }
  }

  truncate(emit: Emit): void {
    this.needFull = true;
    for (const g of this.groups.values()) g.events.clear();
    this.where.clear();
    for (const gk of this.groups.keys()) {
      this.pending.add(gk);
      this.changed.add(gk);
    }
    const saved = this.s.emit;
    (this.s as { emit: string }).emit = "change";
    flushSessions(this, emit);
    (this.s as { emit: string }).emit = saved;
  }

  snapshot(): unknown {
    return {
      v: 1,
      kind: "session",
      wm: Number.isFinite(this.watermarkUs) ? this.watermarkUs : null,
      max: Number.isFinite(this.maxEventUs) ? this.maxEventUs : null,
      pending: [...this.pending],
      groups: [...this.groups].map(([gk, g]) => [gk, g.keys.map(encodeCell), [...g.events].map(([id, e]) => [encodeCell(id), e.t, e.vals.map(encodeCell), e.ws.map(encodeCell)]), [...g.emitted]]),
    };
  }

  /** Entry counts, O(1): sessions emitted ("panes"), events, keys. */
  stats(): { panes: number; rows: number; groups: number } {
    return { panes: this.sessionCount, rows: this.where.size, groups: this.groups.size };
  }

  /** The next snapshotDelta() is a full one (the checkpoint store starts a new chain with it). */
  fullNext(): void {
    this.needFull = true;
  }

  /**
   * Incremental checkpoint: the whole state the first time (and after fullNext() or a TRUNCATE),
   * then only the events, sessions and pending keys changed since the previous call.
   */
  snapshotDelta(): { full: unknown } | { delta: unknown } {
    if (!this.tracking || this.needFull) {
      this.tracking = true;
      this.needFull = false;
      this.log.clear();
      return { full: { json: stateToJson(this.snapshot()) } };
    }
    const fin = (n: number) => (Number.isFinite(n) ? n : null);
    return { delta: { json: this.log.take(fin(this.watermarkUs), fin(this.maxEventUs), this) } };
  }

  applyDelta(delta: unknown): void {
    const { wm, max } = applySessionDelta(delta, this);
    this.watermarkUs = wm ?? -Infinity;
    this.maxEventUs = max ?? -Infinity;
    // as after restore(): every pending key's sessions are derived again at the next flush
    this.changed = new Set(this.pending);
    this.nextClose = new Map();
    this.countSessions();
  }

  private countSessions(): void {
    let n = 0;
    for (const g of this.groups.values()) n += g.emitted.size;
    this.sessionCount = n;
  }

  restore(state: unknown): void {
    const s = unwrapState(state) as { wm: number | null; max: number | null; pending: string[]; groups: [string, unknown[], [unknown, number, unknown[], unknown[]][], [string, string][]][] };
    this.watermarkUs = s.wm ?? -Infinity;
    this.maxEventUs = s.max ?? -Infinity;
    this.pending = new Set(s.pending);
    this.changed = new Set(s.pending);
    this.nextClose = new Map();
    this.groups = new Map();
    this.where = new Map();
    for (const [gk, keys, evs, emitted] of s.groups) {
      const g: Group = { keys: keys.map(decodeValue), events: new Map(), emitted: new Map(emitted) };
      for (const [encId, t, vals, ws] of evs) {
        const id = decodeValue(encId) as RowId;
        g.events.set(id, { t, vals: vals.map(decodeValue), ws: ws.map(decodeValue) });
        this.where.set(id, gk);
      }
      this.groups.set(gk, g);
    }
    this.countSessions();
  }
}

