import type { Row } from "../../../types.ts";
import type { Emit, OperatorContext } from "../operator.ts";
import { aggregateFailure } from "./row-failure.ts";
import { formatTimestamp } from "../../../expr/time.ts";
import { EvalError, decodeValue, toDec, valueKey } from "../../../expr/values.ts";
import { mergedOverflowReason, overflowReason, resultsInto } from "./sum-overflow.ts";
import { SessionOverflow } from "./session-overflow.ts";
import type { RowChange, RowId, WindowPlan, WindowSettings } from "./types.ts";
import { IdleClock } from "./idle-clock.ts";
import { admitLate, admitLateChange, newEventTime } from "./late-rows.ts";
import { applySessionDelta, SessionLog, type SessionEv as Ev, type SessionGroup as Group } from "./session-delta.ts";
import { encodeCell, stateToJson, unwrapState } from "./state-json.ts";
import { unchangedParts, unchangedReason } from "./unchanged-parts.ts";

const SEP = "\u0001";

/**
 * Session windows: per key, events closer than `gap` form one session [first, last + gap).
 * Sessions are derived from the key's events each time the key changes, so a retraction can
 * split a session and an update can merge two; sessions that disappear are emitted as deletes
 * (the output key holds window_start and window_end). Closed sessions beyond retention are dropped.
 * Checkpoints are incremental like pane windows': whole the first time, then what changed (SessionLog).
 */
export class SessionWindows {
  /** public for applySessionDelta (SessionState); nothing else touches them */
  groups = new Map<string, Group>();
  where = new Map<RowId, string>();
  pending = new Set<string>();
  /** groups changed since the last flush; the others are only revisited when a session may close */
  private changed = new Set<string>();
  private nextClose = new Map<string, number>();
  private sweptAtUs = -Infinity;
  private maxEventUs = -Infinity;
  private watermarkUs = -Infinity;
  private readonly idle: IdleClock;
  private plan: WindowPlan | null = null;
  /** emitted sessions over all groups, kept as they come and go (stats() is read per transaction) */
  private sessionCount = 0;
  // incremental checkpoints: change tracking starts with the first snapshotDelta()
  private tracking = false;
  private needFull = false;
  private log = new SessionLog();

  constructor(
    private readonly s: WindowSettings,
    private readonly ctx: OperatorContext,
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

  private setEmitted(gk: string, g: Group, key: string, sig: string | null): void {
    if (sig === null) {
      if (!g.emitted.delete(key)) return;
      this.sessionCount--;
    } else {
      if (!g.emitted.has(key)) this.sessionCount++;
      g.emitted.set(key, sig);
    }
    if (this.tracking) this.log.emitted(gk, key);
  }

  endTxn(emit: Emit): void {
    if (this.maxEventUs - this.s.latenessUs > this.watermarkUs) this.watermarkUs = this.maxEventUs - this.s.latenessUs;
    this.flush(emit);
  }

  onWallClock(nowMs: number, emit: Emit): void {
    const wm = this.idle.watermark(nowMs);
    if (wm !== null && wm > this.watermarkUs) {
      this.watermarkUs = wm;
      this.flush(emit);
    }
  }

  private sessions(g: Group): { start: number; end: number; evs: Ev[] }[] {
    const evs = [...g.events.values()].sort((a, b) => a.t - b.t);
    const out: { start: number; end: number; evs: Ev[] }[] = [];
    for (const e of evs) {
      const cur = out[out.length - 1];
      if (cur && e.t < cur.end) {
        cur.evs.push(e);
        cur.end = Math.max(cur.end, e.t + this.s.gapUs);
      } else out.push({ start: e.t, end: e.t + this.s.gapUs, evs: [e] });
    }
    return out;
  }

  private flush(emit: Emit): void {
    const plan = this.plan;
    if (!plan) return;
    const tz = this.s.timeKind === "timestamptz";
    for (const gk of [...this.pending]) {
      const g = this.groups.get(gk);
      if (!g) {
        this.pending.delete(gk);
        if (this.tracking) this.log.pendingChanged(gk);
        continue;
      }
      if (!this.changed.has(gk) && (this.nextClose.get(gk) ?? -Infinity) > this.watermarkUs) continue;
      const keyRow = (start: number, end: number): Row => {
        const r: Row = {};
        plan.keys.forEach((k, i) => (r[k.name] = keyOut(k.fn.type.kind, g.keys[i])));
        r.window_start = formatTimestamp(start, tz);
        r.window_end = formatTimestamp(end, tz);
        return r;
      };
      const current = this.sessions(g);
      const live = new Set(current.map((x) => `${x.start}|${x.end}`));
      for (const key of [...g.emitted.keys()]) {
        if (!live.has(key)) {
          const [a, b] = key.split("|").map(Number);
          emit({ op: "delete", row: keyRow(a, b) });
          this.setEmitted(gk, g, key, null);
        }
      }
      let open = false;
      let firstOpenEnd = Infinity;
      for (const x of current) {
        const key = `${x.start}|${x.end}`;
        if (this.s.emit === "close" && x.end > this.watermarkUs) {
          open = true;
          if (x.end < firstOpenEnd) firstOpenEnd = x.end;
          continue;
        }
        const row = keyRow(x.start, x.end);
        const over = resultsInto(row, plan.aggs, x.evs);
        const sig = JSON.stringify(row, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
        if (g.emitted.get(key) !== sig) {
          this.setEmitted(gk, g, key, sig);
          for (const a of over) this.ctx.reject({ row: { ...row }, reason: mergedOverflowReason(a, `session ${row.window_start} – ${row.window_end}`) });
          emit({ op: "upsert", row });
        }
      }
      if (!open) {
        this.pending.delete(gk);
        this.nextClose.delete(gk);
        if (this.tracking) this.log.pendingChanged(gk);
      } else this.nextClose.set(gk, firstOpenEnd);
      this.purgeGroup(gk, g, current);
    }
    this.changed.clear();
    // closed, emitted sessions of quiet keys: drop them after retention (checked now and then)
    const eventWatermark = Math.min(this.watermarkUs, this.maxEventUs - this.s.latenessUs); // as purgeGroup's horizon
    if (eventWatermark - this.sweptAtUs >= Math.max(this.s.gapUs, 60_000_000)) {
      this.sweptAtUs = eventWatermark;
      for (const [gk, g] of [...this.groups]) if (!this.pending.has(gk)) this.purgeGroup(gk, g, this.sessions(g));
    }
  }

  private purgeGroup(gk: string, g: Group, current: { start: number; end: number; evs: Ev[] }[]): void {
    // from the events' own watermark, not the idle clock's (see purge in pane-emit.ts)
    const horizon = Math.min(this.watermarkUs, this.maxEventUs - this.s.latenessUs) - this.s.retentionUs;
    for (const x of current) {
      if (x.end > horizon) continue;
      for (const [id, e] of g.events) {
        if (e.t >= x.start && e.t < x.end) {
          g.events.delete(id);
          this.where.delete(id);
          if (this.tracking) this.log.removed(id);
        }
      }
      this.setEmitted(gk, g, `${x.start}|${x.end}`, null);
    }
    if (g.events.size === 0 && g.emitted.size === 0) {
      this.groups.delete(gk);
      if (this.tracking) this.log.group(gk);
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
    this.flush(emit);
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

function keyOut(kind: string, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "number" && (kind === "timestamptz" || kind === "timestamp")) return formatTimestamp(v, kind === "timestamptz");
  if (typeof v === "object" && v !== null && "u" in v) return String(v);
  return v;
}

