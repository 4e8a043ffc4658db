import { EvalError } from "../../../expr/values.ts";
import { type Acc, type AggSpec, accAdd, accResult, newAcc } from "./aggregates.ts";
import { SumAcc } from "./sum-acc.ts";

/**
 * Postgres stops a query whose float SUM or AVG overflows from finite rows ("value out of range:
 * overflow"); here the row that would take a group's or window's sum past the range is refused
 * instead (DLQ), and the sum stays as it was. These helpers test it before any state changes.
 */

/** A float SUM/AVG: its finite sum is checked against the double range (SUM of real: float4's). */
export function isFloatSum(spec: AggSpec): boolean {
  return (spec.kind === "sum" || spec.kind === "avg") && spec.arg?.type.kind === "float";
}

/** sum(real) sums in float4 and overflows at its range (avg(real) sums in double, as Postgres). */
export function sumsInFloat4(spec: AggSpec): boolean {
  return spec.kind === "sum" && spec.float4 === true;
}

/** Below this, |sum| + |v| cannot overflow: half the range (a float4 value is within 2^-24 of the double it came from). */
export function sumLimit(spec: AggSpec): number {
  return sumsInFloat4(spec) ? 2 ** 127 : 2 ** 1023;
}

/** Adding (1) or taking back (-1) `v` would put the sum out of range: tried on `acc`, then undone (the sum is exact, so undoing is too). */
function wouldOverflow(spec: AggSpec, acc: Acc, v: unknown, sign: 1 | -1): boolean {
  if (typeof v !== "number" || !(acc instanceof SumAcc) || !isFloatSum(spec)) return false;
  const x = spec.float4 ? Math.fround(v) : v;
  if (!Number.isFinite(x)) return false; // NaN and ±Infinity rows are kept apart: Postgres' Infinity + 1 is Infinity
  if (acc.fb + Math.abs(x) < sumLimit(spec)) return false;
  acc.add(x, sign);
  const out = acc.floatOutOfRange(sumsInFloat4(spec));
  acc.add(x, sign === 1 ? -1 : 1);
  return out;
}

/**
 * A plan's float SUM/AVG aggregates, checked per row (pane windows). The common case costs a
 * comparison per aggregate: the accumulator's bound on |sum| plus |v| below half the range.
 */
export class FloatSumGuard {
  private readonly idx: number[];
  private readonly limit: number[];
  constructor(private readonly aggs: AggSpec[]) {
    this.idx = aggs.flatMap((a, i) => (isFloatSum(a) ? [i] : []));
    this.limit = this.idx.map((i) => sumLimit(aggs[i]));
  }
  /** null for a plan without float sums: nothing to check */
  static of(aggs: AggSpec[]): FloatSumGuard | null {
    return aggs.some(isFloatSum) ? new FloatSumGuard(aggs) : null;
  }
  /** The first aggregate whose float sum in `accs` one row's values (`vals`, or `one` at index `single`) would put out of range; null when none. */
  overflowing(accs: Acc[], vals: unknown[] | null, single: number, one: unknown, sign: 1 | -1): AggSpec | null {
    const idx = this.idx;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k];
      const v = vals ? vals[i] : i === single ? one : null;
      if (typeof v !== "number") continue;
      if ((accs[i] as SumAcc).fb + (v < 0 ? -v : v) < this.limit[k]) continue; // NaN and ±Infinity go on to wouldOverflow, which leaves them out
      if (wouldOverflow(this.aggs[i], accs[i], v, sign)) return this.aggs[i];
    }
    return null;
  }
}

function range(spec: AggSpec): string {
  return sumsInFloat4(spec) ? "real" : "double precision";
}

/** The DLQ reason for a row refused by overflowingAgg: its addition (`add`) or the taking back of its previous version. */
export function overflowReason(spec: AggSpec, what: "add" | "retract", where: "group" | "window" | "session"): string {
  const fn = spec.kind === "sum" ? "SUM" : "AVG";
  if (what === "add") return `aggregate ${spec.name}: value out of range: overflow (the ${where}'s ${fn} would leave the ${range(spec)} range with this row; the row is left out)`;
  return `aggregate ${spec.name}: value out of range: overflow (taking back the row's previous version would leave the ${where}'s ${fn} out of the ${range(spec)} range; the change is refused, the previous version stays counted)`;
}

/** A window's float sum out of range once its panes (or a session's rows) are merged: Postgres errors for that window. */
export function mergedOverflowReason(spec: AggSpec, where: string): string {
  const fn = spec.kind === "sum" ? "SUM" : "AVG";
  return `aggregate ${spec.name}: value out of range: overflow (the ${fn} of ${where} is past the ${range(spec)} range: written as NULL)`;
}

/** Thrown by a retraction that overflowingAgg refused, carrying the reason. */
export class RetractOverflow extends EvalError {}

/**
 * A session's aggregates into `row`. A float SUM/AVG past the range (rows are checked one by one
 * in panes, but a session is summed whole here): NULL, and the aggregate is returned for the DLQ.
 */
export function resultsInto(row: Record<string, unknown>, aggs: AggSpec[], evs: { vals: unknown[]; ws: unknown[] }[]): AggSpec[] {
  const over: AggSpec[] = [];
  aggs.forEach((a, i) => {
    const acc = newAcc(a);
    for (const e of evs) accAdd(a, acc, e.vals[i], 1, e.ws[i]);
    try {
      row[a.name] = accResult(a, acc, evs.length);
    } catch (e) {
      if (!(e instanceof EvalError)) throw e;
      row[a.name] = null;
      over.push(a);
    }
  });
  return over;
}
