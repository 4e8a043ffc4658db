import type { Row } from "../../../types.ts";
import type { Emit } from "../operator.ts";
import { formatTimestamp } from "../../../expr/time.ts";
import { mergedOverflowReason, resultsInto } from "./sum-overflow.ts";
import type { SessionEv as Ev, SessionGroup as Group } from "./session-delta.ts";
import type { SessionWindows } from "./session-window.ts";

// Session windows' results: each pending key's sessions derived again from its events, emitted
// as keyed upserts (deletes for those gone), and dropped after retention. Moved out of
// session-window.ts, which applies rows, as pane-emit.ts is for pane windows.

/** Emits each pending key's sessions that changed (or, on close mode, closed), deletes the ones gone, and drops what is past retention. */
export function flushSessions(w: SessionWindows, emit: Emit): void {
  const plan = w.plan;
  if (!plan) return;
  const tz = w.s.timeKind === "timestamptz";
  for (const gk of [...w.pending]) {
    const g = w.groups.get(gk);
    if (!g) {
      w.pending.delete(gk);
      if (w.tracking) w.log.pendingChanged(gk);
      continue;
    }
    if (!w.changed.has(gk) && (w.nextClose.get(gk) ?? -Infinity) > w.watermarkUs) continue;
    const keyRow = (start: number, end: number): Row => {
      const r: Row = {};
      plan.keys.forEach((k, i) => (r[k.name] = keyOut(k.fn.type.kind, g.keys[i])));
      r.window_start = formatTimestamp(start, tz);
      r.window_end = formatTimestamp(end, tz);
      return r;
    };
    const current = sessionsOf(w, g);
    const live = new Set(current.map((x) => `${x.start}|${x.end}`));
    for (const key of [...g.emitted.keys()]) {
      if (!live.has(key)) {
        const [a, b] = key.split("|").map(Number);
        emit({ op: "delete", row: keyRow(a, b) });
        setEmitted(w, gk, g, key, null);
      }
    }
    let open = false;
    let firstOpenEnd = Infinity;
    for (const x of current) {
      const key = `${x.start}|${x.end}`;
      if (w.s.emit === "close" && x.end > w.watermarkUs) {
        open = true;
        if (x.end < firstOpenEnd) firstOpenEnd = x.end;
        continue;
      }
      const row = keyRow(x.start, x.end);
      const over = resultsInto(row, plan.aggs, x.evs);
      const sig = JSON.stringify(row, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
      if (g.emitted.get(key) !== sig) {
        setEmitted(w, gk, g, key, sig);
        for (const a of over) w.ctx.reject({ row: { ...row }, reason: mergedOverflowReason(a, `session ${row.window_start} – ${row.window_end}`) });
        emit({ op: "upsert", row });
      }
    }
    if (!open) {
      w.pending.delete(gk);
      w.nextClose.delete(gk);
      if (w.tracking) w.log.pendingChanged(gk);
    } else w.nextClose.set(gk, firstOpenEnd);
    purgeGroup(w, gk, g, current);
  }
  w.changed.clear();
  // closed, emitted sessions of quiet keys: drop them after retention (checked now and then)
  const eventWatermark = Math.min(w.watermarkUs, w.maxEventUs - w.s.latenessUs); // as purgeGroup's horizon
  if (eventWatermark - w.sweptAtUs >= Math.max(w.s.gapUs, 60_000_000)) {
    w.sweptAtUs = eventWatermark;
    for (const [gk, g] of [...w.groups]) if (!w.pending.has(gk)) purgeGroup(w, gk, g, sessionsOf(w, g));
  }
}

/** The sessions of a group's events: events closer than `gap` make one session [first, last + gap). */
function sessionsOf(w: SessionWindows, g: Group): { start: number; end: number; evs: Ev[] }[] {
  const evs = [...g.events.values()].sort((a, b) => a.t - b.t);
  const out: { start: number; end: number; evs: Ev[] }[] = [];
  for (const e of evs) {
    const cur = out[out.length - 1];
    if (cur && e.t < cur.end) {
      cur.evs.push(e);
      cur.end = Math.max(cur.end, e.t + w.s.gapUs);
    } else out.push({ start: e.t, end: e.t + w.s.gapUs, evs: [e] });
  }
  return out;
}

function purgeGroup(w: SessionWindows, gk: string, g: Group, current: { start: number; end: number; evs: Ev[] }[]): void {
  // from the events' own watermark, not the idle clock's (see purge in pane-emit.ts)
  const horizon = Math.min(w.watermarkUs, w.maxEventUs - w.s.latenessUs) - w.s.retentionUs;
  for (const x of current) {
    if (x.end > horizon) continue;
    for (const [id, e] of g.events) {
      if (e.t >= x.start && e.t < x.end) {
        g.events.delete(id);
        w.where.delete(id);
        if (w.tracking) w.log.removed(id);
      }
    }
    setEmitted(w, gk, g, `${x.start}|${x.end}`, null);
  }
  if (g.events.size === 0 && g.emitted.size === 0) {
    w.groups.delete(gk);
    if (w.tracking) w.log.group(gk);
  }
}

function setEmitted(w: SessionWindows, gk: string, g: Group, key: string, sig: string | null): void {
  if (sig === null) {
    if (!g.emitted.delete(key)) return;
    w.sessionCount--;
  } else {
    if (!g.emitted.has(key)) w.sessionCount++;
    g.emitted.set(key, sig);
  }
  if (w.tracking) w.log.emitted(gk, key);
}

function keyOut(kind: string, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "number" && (kind === "timestamptz" || kind === "timestamp")) return formatTimestamp(v, kind === "timestamptz");
  if (typeof v === "object" && v !== null && "u" in v) return String(v);
  return v;
}
