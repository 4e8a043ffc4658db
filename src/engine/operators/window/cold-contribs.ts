import type { RowId } from "./types.ts";

/** Where the coldest contributions end: all of panes before `cut`, and `fromCut` rows of pane `cut`. */
export interface ColdPlan {
  cut: number;
  fromCut: number;
  /** rows still to move under this plan */
  left: number;
}

/**
 * Which contributions to move to disk: the coldest first, i.e. those of the oldest panes (a row of
 * an old window is the least likely to be updated or deleted, and an insert never looks one up).
 * Within the pane where the count is reached (a GROUP BY without a window has one pane), the
 * oldest rows first: the map keeps insertion order. O(rows in memory), once per quarter of the
 * budget of growth; the rows then move in chunks (takeColdest), a few per transaction.
 */
export function planColdest(contrib: Map<RowId, { ps: number }>, n: number): ColdPlan {
  const perPane = new Map<number, number>();
  for (const c of contrib.values()) perPane.set(c.ps, (perPane.get(c.ps) ?? 0) + 1);
  const panes = [...perPane.keys()].sort((a, b) => a - b);
  let sum = 0;
  for (const ps of panes) {
    const k = perPane.get(ps)!;
    if (sum + k >= n) return { cut: ps, fromCut: n - sum, left: n };
    sum += k;
  }
  return { cut: Infinity, fromCut: 0, left: sum };
}

/** Up to `n` ids under the plan, oldest entries first (the coldest are mostly at the front). */
export function takeColdest(contrib: Map<RowId, { ps: number }>, plan: ColdPlan, n: number): RowId[] {
  const out: RowId[] = [];
  const want = Math.min(n, plan.left);
  for (const [id, c] of contrib) {
    if (out.length >= want) break;
    if (c.ps < plan.cut) out.push(id);
    else if (c.ps === plan.cut && plan.fromCut > 0) {
      out.push(id);
      plan.fromCut--;
    }
  }
  // fewer than asked: nothing colder is left in memory (rows retracted or moved meanwhile)
  plan.left = out.length < want ? 0 : plan.left - out.length;
  return out;
}

/** A group's map key as text for the spill file (a number stays a number when read back). */
export function groupRef(mk: unknown): string {
  return typeof mk === "number" ? `#${mk}` : `$${String(mk)}`;
}

export function groupFromRef(ref: string): unknown {
  return ref.charCodeAt(0) === 35 /* # */ ? Number(ref.slice(1)) : ref.slice(1);
}
