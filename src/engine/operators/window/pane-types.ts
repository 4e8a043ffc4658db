import type { Acc } from "./aggregates.ts";

// The data of pane windows (pane-window.ts), shared with its checkpoint, emit and spill helpers.

export interface Pane {
  rows: number;
  accs: Acc[];
}
export interface Group {
  gk: string;
  /** key in the groups map: the raw number for one numeric key (no string per row), else gk */
  mk: unknown;
  keys: unknown[];
  /** pane start (µs) → pane */
  panes: Map<number, Pane>;
  /** window starts whose result the sink holds */
  emitted: Set<number>;
  /** pane whose windows this group was last marked dirty in, and the dirty epoch it was then */
  markPs: number;
  markEpoch: number;
  /** gk as JSON text, for the rows logged for checkpoints */
  gkJson?: string;
}
/** What one source row added, so an update or delete can take it back (the source sends no old row). */
export class Contribution {
  constructor(
    readonly g: Group,
    readonly ps: number,
    /** the aggregate arguments: the value itself when only one aggregate takes one (no array per row) */
    readonly v: unknown,
    readonly ws: unknown[],
  ) {}
}

/** The weights of a row when no aggregate takes one: shared, and compared by identity. */
export const NO_WEIGHTS: unknown[] = [];

export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export function lowerBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
