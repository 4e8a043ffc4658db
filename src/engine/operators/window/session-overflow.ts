import { type AggSpec, accAdd, newAcc } from "./aggregates.ts";
import type { SessionEv as Ev, SessionGroup as Group } from "./session-delta.ts";
import { SumAcc } from "./sum-acc.ts";
import { isFloatSum, sumLimit, sumsInFloat4 } from "./sum-overflow.ts";

/**
 * Session windows' float SUM/AVG overflow check (sum-overflow.ts has the panes'): an event that
 * would take its session's sum past the range (also by bridging two sessions into one) is
 * refused, and so is taking back one whose absence would (a session losing its -MAX). Sessions
 * are derived from the group's events, so the check sums the sessions around the event exactly;
 * a bound on the group's |values| (kept per group in memory, not saved) skips it while no session
 * can come near the range.
 */
export class SessionOverflow {
  private readonly bound = new WeakMap<Group, number>();
  /** indexes of the float SUM/AVG aggregates */
  private readonly floats: number[];
  private readonly limit: number;

  constructor(
    private readonly aggs: AggSpec[],
    private readonly gapUs: number,
  ) {
    this.floats = aggs.flatMap((a, i) => (isFloatSum(a) ? [i] : []));
    this.limit = Math.min(...this.floats.map((i) => sumLimit(aggs[i])));
  }

  /** The aggregate that `ev` joining group `g` would put past the range, or null. */
  onAdd(g: Group, ev: Ev): AggSpec | null {
    if (this.floats.length === 0) return null;
    // a group never seen since a restore has no bound yet: the first check is exact
    const b = (this.bound.get(g) ?? (g.events.size ? Infinity : 0)) + this.magnitude(ev);
    this.bound.set(g, b);
    return b < this.limit ? null : this.check(g, ev, null);
  }

  /** The aggregate that taking `ev` out of group `g` would leave past the range, or null. */
  onRemove(g: Group, ev: Ev): AggSpec | null {
    if (this.floats.length === 0) return null;
    // the group's |values| bound every session's sum, with or without `ev`
    return (this.bound.get(g) ?? Infinity) < this.limit ? null : this.check(g, null, ev);
  }

  private magnitude(e: Ev): number {
    let m = 0;
    for (const i of this.floats) {
      const v = e.vals[i];
      if (typeof v === "number" && Number.isFinite(v)) m += Math.abs(v);
    }
    return m;
  }

  private check(g: Group, add: Ev | null, drop: Ev | null): AggSpec | null {
    const evs: Ev[] = [];
    let total = 0;
    for (const e of g.events.values()) if (e !== drop) evs.push(e);
    if (add) evs.push(add);
    for (const e of evs) total += this.magnitude(e);
    this.bound.set(g, total * (1 + 2 ** -30)); // the double sum of |v| rounds: a margin keeps it a bound
    evs.sort((a, b) => a.t - b.t);
    const t = (add ?? drop)!.t;
    // sessions as SessionWindows derives them: events closer than the gap (sorted, so the end is the last one's + gap)
    let cur: Ev[] = [];
    let end = -Infinity;
    const near = (s: Ev[]) => s.length > 0 && s[0].t <= t + this.gapUs && s[s.length - 1].t + this.gapUs >= t;
    for (const e of evs) {
      if (e.t >= end) {
        const over = near(cur) ? this.sessionOver(cur) : null;
        if (over) return over;
        cur = [];
      }
      cur.push(e);
      end = e.t + this.gapUs;
    }
    return near(cur) ? this.sessionOver(cur) : null;
  }

  private sessionOver(s: Ev[]): AggSpec | null {
    for (const i of this.floats) {
      const spec = this.aggs[i];
      const acc = newAcc(spec) as SumAcc;
      for (const e of s) accAdd(spec, acc, e.vals[i], 1);
      if (acc.floatOutOfRange(sumsInFloat4(spec))) return spec;
    }
    return null;
  }
}
