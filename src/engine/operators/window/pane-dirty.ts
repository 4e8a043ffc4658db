import { type Group, lowerBound } from "./pane-types.ts";
import type { PaneWindows } from "./pane-window.ts";

// Which windows need (re-)emitting: pane windows' dirty sets, by window end (moved out of
// pane-window.ts to keep it one thing: applying rows).

/** Group `g` changed in pane `ps`: every window holding that pane is dirty. */
export function markDirty(w: PaneWindows, g: Group, ps: number): void {
  // already in the dirty set of every window holding this pane, and none of them emitted since
  if (g.markPs === ps && g.markEpoch === w.dirtyEpoch) return;
  g.markPs = ps;
  g.markEpoch = w.dirtyEpoch;
  if (w.s.kind === "none") return dirtyAt(w, 0, g);
  // windows containing pane ps start at aligned slide steps in (ps - size, ps]
  const slide = w.s.slideUs;
  const last = Math.floor(ps / slide) * slide;
  for (let ws = last; ws > ps - w.s.sizeUs; ws -= slide) dirtyAt(w, ws + w.s.sizeUs, g);
}

function trackDirty(w: PaneWindows, end: number, g: Group): void {
  if (end !== w.lastAddedEnd || !w.lastAddedSet) {
    let set = w.dirtyAdded.get(end);
    if (!set) w.dirtyAdded.set(end, (set = new Set()));
    w.lastAddedEnd = end;
    w.lastAddedSet = set;
  }
  w.lastAddedSet.add(g);
}

function dirtyAt(w: PaneWindows, end: number, g: Group): void {
  if (w.tracking) trackDirty(w, end, g);
  if (end === w.lastDirtyEnd && w.lastDirtySet) {
    w.lastDirtySet.add(g);
    return;
  }
  let set = w.dirty.get(end);
  if (!set) {
    set = new Set();
    w.dirty.set(end, set);
    const a = w.dirtyEnds;
    if (a.length === 0 || a[a.length - 1] < end) a.push(end);
    else a.splice(lowerBound(a, end), 0, end);
  }
  set.add(g);
  w.lastDirtyEnd = end;
  w.lastDirtySet = set;
}
