import { toDec } from "../../../expr/values.ts";
import type { WindowPlan } from "./types.ts";

type Eval = (r: Record<string, unknown>) => unknown;

/**
 * The DLQ reason for a row whose time, key or aggregate expression failed, naming which one: found
 * by evaluating them again one by one, only on the error path (the hot loop keeps no bookkeeping).
 * Text into SUM/AVG and a TOP_K weight are converted as the windows do.
 */
export function aggregateFailure(plan: WindowPlan, row: Record<string, unknown>, error: Error): string {
  const dec = (f: Eval | undefined, always: boolean): Eval | undefined =>
    f &&
    ((r) => {
      const v = f(r);
      return (always && v !== null && v !== undefined) || typeof v === "string" ? toDec(v) : v;
    });
  const parts: [string, Eval | undefined][] = [
    ["window.time", plan.time?.fn],
    ...plan.keys.map((k): [string, Eval] => [`key ${k.name}`, k.fn.fn]),
    ...plan.aggs.flatMap((a): [string, Eval | undefined][] => [
      [`aggregate ${a.name}`, a.kind === "sum" || a.kind === "avg" ? dec(a.arg?.fn, false) : a.arg?.fn],
      [`aggregate ${a.name}`, dec(a.weight?.fn, true)],
    ]),
  ];
  for (const [what, fn] of parts) {
    try {
      fn?.(row);
    } catch {
      return `window/aggregate expression failed in ${what}: ${error.message}`;
    }
  }
  return `window/aggregate expression failed: ${error.message}`;
}
