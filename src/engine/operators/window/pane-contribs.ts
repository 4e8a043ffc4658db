import { decodeValue } from "../../../expr/values.ts";
import { cellText, stateFromJson } from "./state-json.ts";
import type { RowId } from "./types.ts";
import { groupFromRef, groupRef, planColdest, takeColdest } from "./cold-contribs.ts";
import { Contribution, type Group, NO_WEIGHTS } from "./pane-types.ts";
import type { PaneWindows } from "./pane-window.ts";

// Pane windows' contributions (what each source row added) as text and back: in the row log of
// incremental checkpoints, and in the spill file when moved to disk over the state budget.

/**
 * Over the state budget: of the `want` coldest contributions (oldest panes first), move up to
 * `n` to the spill file now (the rest at the next calls). The checkpoint's row log records them
 * as gone from memory; the file, versioned by checkpoint epoch, holds them (see SpillStore).
 */
export function evictContribs(w: PaneWindows, n: number, want: number): number {
  const cold = w.cold;
  if (!cold || n <= 0 || w.contrib.size === 0) return 0;
  if (!w.coldPlan || w.coldPlan.left <= 0) w.coldPlan = planColdest(w.contrib, want);
  const ids = takeColdest(w.contrib, w.coldPlan, n);
  if (!ids.length) return 0;
  const rows: [unknown, number, string, string][] = new Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    const c = w.contrib.get(id)!;
    rows[i] = [id, c.ps, groupRef(c.g.mk), `[[${valsText(w, c)}],[${wsText(c)}]]`];
    w.contrib.delete(id);
    if (w.tracking) w.rowLog.push(`[${cellText(id)}]`);
  }
  cold.putContribs(rows);
  return ids.length;
}

/** A contribution read back from disk (and removed there), or undefined when its group is gone. */
export function takeCold(w: PaneWindows, id: RowId): Contribution | undefined {
  const r = w.cold!.takeContrib(id);
  if (!r) return undefined;
  const g = w.groups.get(groupFromRef(r.g));
  if (!g) return undefined; // its panes were dropped after retention
  const [vals, ws] = stateFromJson(r.data) as [unknown[], unknown[]];
  return contribution(w, g, r.ps, vals.map(decodeValue), ws.length ? ws.map(decodeValue) : NO_WEIGHTS);
}

/** A contribution as a delta row, JSON text: [id, group key, pane, values, weights]. */
export function rowText(w: PaneWindows, id: RowId, c: Contribution): string {
  return `[${cellText(id)},${(c.g.gkJson ??= JSON.stringify(c.g.gk))},${c.ps},[${valsText(w, c)}],[${wsText(c)}]]`;
}

/** Weights by aggregate index; only the weighted aggregates' slots are set, the others are holes (written as null: map() would keep the hole and give `[,x]`). */
function wsText(c: Contribution): string {
  if (c.ws === NO_WEIGHTS) return "";
  let s = "";
  for (let i = 0; i < c.ws.length; i++) s += (i ? "," : "") + cellText(c.ws[i]);
  return s;
}

function valsText(w: PaneWindows, c: Contribution): string {
  let vals: string;
  if (w.single < 0) {
    const v = c.v as unknown[];
    vals = v.length ? cellText(v[0]) : "";
    for (let i = 1; i < v.length; i++) vals += "," + cellText(v[i]);
  } else {
    vals = "";
    for (let i = 0; i < w.plan.aggs.length; i++) vals += (i ? "," : "") + (i === w.single ? cellText(c.v) : "null");
  }
  return vals;
}

export function valsOf(w: PaneWindows, c: Contribution): unknown[] {
  if (w.single < 0) return c.v as unknown[];
  return w.plan.aggs.map((_a, i) => (i === w.single ? c.v : null));
}
export function contribution(w: PaneWindows, g: Group, ps: number, vals: unknown[], ws: unknown[]): Contribution {
  return new Contribution(g, ps, w.single >= 0 ? vals[w.single] : vals, ws);
}
