import type { PipelinePlan } from "./pipeline-plan.ts";

/**
 * What a pipeline's window state's layout depends on: the aggregates (by position), the group key
 * and the window. Accumulators are stored by position, so a checkpoint of another layout cannot be
 * read (an added aggregate failed at the first row with "undefined is not an object", a changed
 * one with "number is not iterable", at every restart). Checkpoints written before it have none.
 */
export function layoutTag(p: Pick<PipelinePlan, "aggregates" | "window" | "appendOnly">): { aggs?: string } {
  const a = p.aggregates;
  if (!a) return {};
  const w = p.window;
  const win = w ? `${w.kind} ${w.sizeUs}/${w.slideUs}/${w.gapUs}` : "group_by";
  return { aggs: `${a.aggs.map((x) => `${x.name}: ${x.kind}`).join(", ")}; key: ${a.keys.map((k) => k.name).join(", ")}; ${win}${p.appendOnly ? "; append_only" : ""}` };
}

/**
 * The checkpoint's layout (layoutTag) fits the config's: equal, or a MAX become MAX_BY (its
 * stored values have no `by` and are left out on load: examples/engagement.yaml's title).
 */
export function sameLayout(was: string, now: string): boolean {
  if (was === now) return true;
  const split = (t: string) => {
    const i = t.indexOf("; key: ");
    return { aggs: t.slice(0, i).split(", "), rest: t.slice(i) };
  };
  const a = split(was);
  const b = split(now);
  if (a.rest !== b.rest || a.aggs.length !== b.aggs.length) return false;
  return a.aggs.every((x, i) => x === b.aggs[i] || (x.endsWith(": max") && b.aggs[i] === `${x}_by`));
}
