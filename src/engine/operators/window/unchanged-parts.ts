import type { RowChange, WindowPlan } from "./types.ts";
/** The plan's keys, aggregate arguments and weights that read only unchanged (unsent TOAST) columns. */
export interface UnchangedParts {
  keys: Set<number>;
  args: Set<number>;
  weights: Set<number>;
}

/**
 * An update left `unchanged` output columns out of its row (TOASTed values the source did not
 * send): the parts of the plan computed from them alone take the previous contribution's value;
 * a part that reads them with other columns, or the event time reading one, cannot be computed.
 * Null when no part reads them.
 */
export function unchangedParts(plan: WindowPlan, unchanged: readonly string[]): UnchangedParts | "conflict" | null {
  const r = plan.reads;
  const u = new Set(unchanged);
  const touch = (reads: Set<string>): 0 | 1 | 2 => {
    let n = 0;
    for (const x of reads) if (u.has(x)) n++;
    return n === 0 ? 0 : n === reads.size ? 1 : 2;
  };
  if (!r) return "conflict";
  if (touch(r.time) !== 0) return "conflict";
  const parts: UnchangedParts = { keys: new Set(), args: new Set(), weights: new Set() };
  for (const [list, into] of [[r.keys, parts.keys], [r.args, parts.args], [r.weights, parts.weights]] as const) {
    for (let i = 0; i < list.length; i++) {
      const t = touch(list[i]);
      if (t === 2) return "conflict";
      if (t === 1) into.add(i);
    }
  }
  return parts.keys.size || parts.args.size || parts.weights.size ? parts : null;
}

export function unchangedReason(c: RowChange): string {
  return `the window reads ${c.unchanged!.join(", ")}, unchanged by this update and not sent by the source (TOASTed values under REPLICA IDENTITY DEFAULT): set REPLICA IDENTITY FULL on ${c.source.table}`;
}
