import type { Row } from "../../../types.ts";
import type { Emit } from "../operator.ts";
import { formatTimestamp } from "../../../expr/time.ts";
import { cellText } from "./state-json.ts";
import { type Acc, type AggSpec, accResultPanes } from "./aggregates.ts";
import { EvalError } from "../../../expr/values.ts";
import { mergedOverflowReason } from "./sum-overflow.ts";
import type { Group } from "./pane-types.ts";
import type { PaneWindows } from "./pane-window.ts";

// Pane windows' output: the windows that are due emitted (upsert, or delete once empty), then
// the state past retention dropped. Per transaction and per window, never per row.

export function flush(w: PaneWindows, emit: Emit): void {
  const limit = w.s.kind === "none" || w.s.emit === "change" ? Infinity : w.watermarkUs;
  const ends = w.dirtyEnds;
  let n = 0;
  while (n < ends.length && ends[n] <= limit) {
    const end = ends[n++];
    const set = w.dirty.get(end)!;
    w.dirty.delete(end);
    if (w.tracking) {
      w.dirtyDropped.add(end);
      w.dirtyAdded.delete(end);
      if (end === w.lastAddedEnd) w.lastAddedSet = null;
    }
    if (end === w.lastDirtyEnd) w.lastDirtySet = null;
    for (const g of set) emitWindow(w, g, end, emit);
  }
  if (n > 0) {
    ends.splice(0, n);
    w.dirtyEpoch++;
  }
  purge(w);
}

function emitWindow(w: PaneWindows, g: Group, end: number, emit: Emit): void {
  const start = end - w.s.sizeUs;
  let rows = 0;
  // per aggregate, the accumulators of the window's non-empty panes
  let parts: Acc[][] | null = null;
  const aggs = w.plan.aggs;
  if (w.perWindow === 1 || w.s.kind === "none") {
    const p = g.panes.get(w.s.kind === "none" ? 0 : start);
    if (p) {
      rows = p.rows;
      parts = p.accs.map((a) => [a]);
    }
  } else {
    for (let ps = start; ps < end; ps += w.paneUs) {
      const p = g.panes.get(ps);
      if (!p || p.rows === 0) continue;
      if (!parts) parts = aggs.map(() => []);
      rows += p.rows;
      for (let i = 0; i < aggs.length; i++) parts[i].push(p.accs[i]);
    }
  }
  const keyRow = windowKey(w, g, start);
  if (rows === 0 || !parts) {
    if (g.emitted.delete(start)) {
      if (w.tracking) w.touchPane(g, null);
      emit({ op: "delete", row: keyRow });
    }
    return;
  }
  let over: AggSpec[] | null = null;
  for (let i = 0; i < aggs.length; i++) {
    try {
      keyRow[aggs[i].name] = accResultPanes(aggs[i], parts[i], rows);
    } catch (e) {
      // a float sum past the range once the window's panes merge (rows are checked per pane): NULL, and the DLQ says why
      if (!(e instanceof EvalError)) throw e;
      keyRow[aggs[i].name] = null;
      (over ??= []).push(aggs[i]);
    }
  }
  for (const a of over ?? []) w.rejectWindow({ ...keyRow }, mergedOverflowReason(a, w.s.kind === "none" ? "the group" : `window ${keyRow.window_start} – ${keyRow.window_end}`));
  if (w.tracking && !g.emitted.has(start)) w.touchPane(g, null);
  g.emitted.add(start);
  emit({ op: "upsert", row: keyRow });
}

/**
 * Drop panes (and the rows that fed them) whose windows ended before watermark − retention.
 * Measured from the events' own watermark (newest event − lateness), not from where an idle
 * source let the wall clock move it: windows still close on a quiet source, but a backfill of
 * old event times that paused more than idle_timeout kept its state, and the rest of that
 * history is taken as late rows instead of going to the DLQ as "dropped after retention".
 */
function purge(w: PaneWindows): void {
  if (w.s.kind === "none") return;
  const horizon = Math.min(w.watermarkUs, w.maxEventUs - w.s.latenessUs) - w.s.retentionUs - w.s.sizeUs;
  if (!(horizon > w.purgedBelowUs)) return;
  const before = w.purgedBelowUs;
  w.purgedBelowUs = Math.floor(horizon / w.paneUs) * w.paneUs;
  if (w.purgedBelowUs <= before) return;
  // sweep at most once per window size of watermark progress: O(state) each time
  if (w.sweptAtUs !== -Infinity && w.purgedBelowUs - w.sweptAtUs < w.s.sizeUs) return;
  w.sweptAtUs = w.purgedBelowUs;
  const cut = w.purgedBelowUs;
  const track = w.tracking;
  for (const g of w.groups.values()) {
    for (const ps of g.panes.keys()) if (ps + w.paneUs <= cut) {
      g.panes.delete(ps);
      w.paneCount--;
      if (track) w.touchPane(g, ps);
    }
    for (const ws of g.emitted) if (ws + w.s.sizeUs <= cut) {
      g.emitted.delete(ws);
      if (track) w.touchPane(g, null);
    }
  }
  for (const [id, c] of w.contrib) if (c.ps + w.paneUs <= cut) {
    w.contrib.delete(id);
    if (track) w.rowLog.push(`[${cellText(id)}]`);
  }
  // on disk: versioned by checkpoint epoch there, so nothing to log for the checkpoint here
  w.cold?.purgeContribs(cut - w.paneUs);
  const live = new Set<Group>();
  for (const set of w.dirty.values()) for (const g of set) live.add(g);
  for (const [mk, g] of w.groups) if (g.panes.size === 0 && g.emitted.size === 0 && !live.has(g)) {
    w.groups.delete(mk);
    if (track) {
      w.removedGroups.add(g.gk);
      w.touchedGroups.delete(g);
    }
  }
}

/** A window's result row with its key columns only (group keys, window_start/window_end). */
function windowKey(w: PaneWindows, g: Group, start: number): Row {
  const row: Row = {};
  const keys = w.plan.keys;
  for (let i = 0; i < keys.length; i++) row[keys[i].name] = toOut(keys[i].fn.type.kind, g.keys[i]);
  if (w.s.kind !== "none") {
    row.window_start = formatTimestamp(start, w.s.timeKind === "timestamptz");
    row.window_end = formatTimestamp(start + w.s.sizeUs, w.s.timeKind === "timestamptz");
  }
  return row;
}

/**
 * TRUNCATE (of the source, or the one --resnapshot hands over): the pipeline starts over. A delete
 * for every result the sink holds (`emitted`): taking rows back one by one missed groups whose rows
 * were on disk (or never kept: append_only), and their results stayed. Every group goes, so the
 * next checkpoint (full) holds none; rows on disk die in the spill file's open epoch, which that
 * checkpoint seals. The event-time clock (watermark, retention) is kept: time does not go back.
 */
export function truncateAll(w: PaneWindows, emit: Emit): void {
  for (const g of w.groups.values()) {
    for (const start of [...g.emitted].sort((a, b) => a - b)) emit({ op: "delete", row: windowKey(w, g, start) });
  }
  w.groups.clear();
  w.contrib.clear();
  w.cold?.dropAllContribs();
  w.coldPlan = null;
  w.paneCount = 0;
  w.dirty.clear();
  w.dirtyEnds = [];
  w.lastDirtySet = null;
  w.lastDirtyEnd = NaN;
  w.dirtyEpoch++;
  w.needFull = true;
}

function toOut(kind: string, v: unknown): unknown {
  // keys keep the row form they had (numeric text, timestamps as text)
  if (v === null || v === undefined) return null;
  if (typeof v === "number" && (kind === "timestamptz" || kind === "timestamp")) return formatTimestamp(v, kind === "timestamptz");
  if (typeof v === "number" && kind === "date") return formatTimestamp(v, false).slice(0, 10);
  if (typeof v === "object" && v !== null && "u" in v) return String(v);
  return v;
}
