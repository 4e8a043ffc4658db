import { decodeValue } from "../../../expr/values.ts";
import { encodeCell, stateToJson, unwrapState } from "./state-json.ts";
import { loadAccDelta, saveAcc, saveAccDelta } from "./aggregates.ts";
import { Bag } from "./value-bag.ts";
import type { RowId } from "./types.ts";
import { type Group, NO_WEIGHTS } from "./pane-types.ts";
import { contribution, valsOf } from "./pane-contribs.ts";
import type { PaneWindows } from "./pane-window.ts";

// Pane windows' checkpoints: the whole state (snapshot/restore) and incremental deltas
// (snapshotDelta/applyDelta), from the change tracking PaneWindows keeps once deltas are used.
// The serialized form is what existing checkpoints hold: keep it as it is.

/** A group's changed panes for a delta; a multiset accumulator gives only its changed values. */
function saveGroupDelta(w: PaneWindows, g: Group, only: Set<number>): unknown[] {
  const aggs = w.plan?.aggs ?? [];
  const panes = [...only].map((ps) => {
    const p = g.panes.get(ps);
    return p ? [ps, p.rows, p.accs.map((a, j) => saveAccDelta(aggs[j], a))] : [ps];
  });
  return [g.gk, g.keys.map(encodeCell), panes, [...g.emitted]];
}

function loadGroup(w: PaneWindows, [gk, encKeys, panes, emitted]: [string, unknown[], [number, number, unknown[]][], number[]], into?: Group): Group {
  const aggs = w.plan.aggs;
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
      g.panes.set(ps, { rows: e[1] as number, accs: (e[2] as unknown[]).map((a, i) => loadAccDelta(aggs[i], a, prev?.accs[i], w.s.appendOnly === true)) });
    }
  }
  g.emitted = new Set(emitted);
  return g;
}

function clearDirtyTracking(w: PaneWindows): void {
  w.dirtyAdded.clear();
  w.dirtyDropped.clear();
  w.lastAddedSet = null;
}

/**
 * Incremental checkpoint: the first call (and the first after a TRUNCATE) gives the full
 * state; later calls give only the groups and rows changed since the previous call, plus
 * the small global parts (watermark, pending windows). restore(full) then applyDelta(d1),
 * applyDelta(d2)... rebuilds the state. Tracking costs a set insert per row, so it only
 * starts once this is used.
 */
export function snapshotDeltaOf(w: PaneWindows): { full: unknown } | { delta: unknown } {
  if (!w.tracking || w.needFull) {
    w.tracking = true;
    w.needFull = false;
    w.touchedGroups.clear();
    w.rowLog = [];
    w.removedGroups.clear();
    clearDirtyTracking(w);
    const full = stateToJson(snapshotOf(w));
    // the next delta gives each multiset's changes since this whole state
    for (const g of w.groups.values()) for (const p of g.panes.values()) for (const a of p.accs) if (a instanceof Bag) a.resetChanges();
    return { full: { json: full } };
  }
  const delta = {
    wm: fin(w.watermarkUs),
    max: fin(w.maxEventUs),
    purged: fin(w.purgedBelowUs),
    removed: [...w.removedGroups],
    groups: [...w.touchedGroups].filter(([g]) => w.groups.get(g.mk) === g).map(([g, panes]) => saveGroupDelta(w, g, panes)),
    // pending windows: [end, 1 if its set was dropped (emitted) first, group keys added]
    dirty: [...new Set([...w.dirtyDropped, ...w.dirtyAdded.keys()])].map((e) => [e, w.dirtyDropped.has(e) ? 1 : 0, [...(w.dirtyAdded.get(e) ?? [])].map((g) => g.gk)]),
  };
  // the rows as logged: spliced into the object's text (its last character is its closing brace)
  const head = stateToJson(delta);
  const json = `${head.slice(0, -1)},"rows":[${w.rowLog.join(",")}]}`;
  clearDirtyTracking(w);
  w.touchedGroups.clear();
  w.rowLog = [];
  w.removedGroups.clear();
  return { delta: { json } };
}

export function applyDeltaTo(w: PaneWindows, delta: unknown): void {
  const d = unwrapState(delta) as Record<string, any>;
  w.watermarkUs = unfin(d.wm);
  w.maxEventUs = unfin(d.max);
  w.purgedBelowUs = unfin(d.purged);
  const byGk = new Map<string, Group>();
  for (const g of w.groups.values()) byGk.set(g.gk, g);
  for (const gk of d.removed as string[]) {
    const g = byGk.get(gk);
    if (g) {
      w.groups.delete(g.mk);
      byGk.delete(gk);
    }
  }
  for (const enc of d.groups as [string, unknown[], [number, number, unknown[]][], number[]][]) {
    const existing = byGk.get(enc[0]);
    const g = loadGroup(w, enc, existing);
    if (!existing) {
      w.groups.set(g.mk, g);
      byGk.set(g.gk, g);
    }
  }
  for (const r of d.rows as [unknown, string?, number?, unknown[]?, unknown[]?][]) {
    const id = decodeValue(r[0]) as RowId;
    if (r.length === 1) w.contrib.delete(id);
    else w.contrib.set(id, contribution(w, byGk.get(r[1]!)!, r[2]!, r[3]!.map(decodeValue), r[4]!.length ? r[4]!.map(decodeValue) : NO_WEIGHTS));
  }
  for (const [e, dropped, gks] of d.dirty as [number, number, string[]][]) {
    if (dropped) w.dirty.delete(e);
    if (!gks.length) continue;
    let set = w.dirty.get(e);
    if (!set) w.dirty.set(e, (set = new Set()));
    for (const k of gks) {
      const g = byGk.get(k);
      if (g) set.add(g);
    }
  }
  w.dirtyEnds = [...w.dirty.keys()].sort((a, b) => a - b);
  w.lastDirtySet = null;
  w.dirtyEpoch++;
  countPanes(w);
}

export function snapshotOf(w: PaneWindows): unknown {
  const aggs = w.plan?.aggs ?? [];
  const ids = new Map<Group, number>();
  const groups = [...w.groups.values()].map((g, i) => {
    ids.set(g, i);
    return [g.gk, g.keys.map(encodeCell), [...g.panes].map(([ps, p]) => [ps, p.rows, p.accs.map((a, j) => saveAcc(aggs[j], a))]), [...g.emitted]];
  });
  return {
    v: 2,
    wm: fin(w.watermarkUs),
    max: fin(w.maxEventUs),
    purged: fin(w.purgedBelowUs),
    groups,
    contrib: [...w.contrib].map(([id, c]) => [encodeCell(id), ids.get(c.g)!, c.ps, valsOf(w, c).map(encodeCell), c.ws === NO_WEIGHTS ? [] : c.ws.map(encodeCell)]),
    dirty: w.dirtyEnds.map((e) => [e, [...w.dirty.get(e)!].map((g) => ids.get(g)!)]),
  };
}

export function restoreTo(w: PaneWindows, state: unknown): void {
  const s = unwrapState(state) as Record<string, any>;
  w.watermarkUs = unfin(s.wm);
  w.maxEventUs = unfin(s.max);
  w.purgedBelowUs = unfin(s.purged);
  const list: Group[] = (s.groups as [string, unknown[], [number, number, unknown[]][], number[]][]).map((enc) => loadGroup(w, enc));
  w.groups = new Map(list.map((g) => [g.mk, g]));
  w.contrib = new Map((s.contrib as [unknown, number, number, unknown[], unknown[]][]).map(([id, gi, ps, vals, ws]) => [decodeValue(id) as RowId, contribution(w, list[gi], ps, vals.map(decodeValue), ws.length ? ws.map(decodeValue) : NO_WEIGHTS)]));
  w.dirtyEnds = (s.dirty as [number, number[]][]).map(([e]) => e);
  w.dirty = new Map((s.dirty as [number, number[]][]).map(([e, gi]) => [e, new Set(gi.map((i) => list[i]))]));
  w.lastDirtySet = null;
  w.dirtyEpoch++;
  countPanes(w);
}

function countPanes(w: PaneWindows): void {
  let panes = 0;
  for (const g of w.groups.values()) panes += g.panes.size;
  w.paneCount = panes;
}

function fin(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}
function unfin(n: number | null): number {
  return n === null ? -Infinity : n;
}
