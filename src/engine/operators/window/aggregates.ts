import { Dec } from "../../../expr/decimal.ts";
import type { Compiled } from "../../../expr/compile.ts";
import { type XType, REAL, T, toRow } from "../../../expr/types.ts";
import { realValue } from "../../../expr/real.ts";
import { compareValues, toDec } from "../../../expr/values.ts";
import { SumAcc } from "./sum-acc.ts";
import { Bag, PairBag } from "./value-bag.ts";

/**
 * Retractable aggregate accumulators. Every accumulator supports add and remove (an update
 * retracts the old row's contribution), merging (sliding windows combine panes) and an exact
 * JSON-safe state (bigint and decimals as strings). MIN/MAX/COUNT DISTINCT/TOP_K keep the
 * multiset of values (value-bag.ts), since removing the current extreme needs the next one.
 */
export type AggKind = "sum" | "count" | "count_star" | "avg" | "min" | "max" | "count_distinct" | "top_k" | "max_by";

export interface AggSpec {
  name: string;
  kind: AggKind;
  /** Argument (null for COUNT(*)). */
  arg: Compiled | null;
  /** TOP_K(value, k[, weight]); MAX_BY(value, by): `weight` is `by` */
  k?: number;
  weight?: Compiled | null;
  type: XType;
  /**
   * SUM/AVG of a real (float4) column: its values are taken as the float4 they stand for
   * (Math.fround: a real arrives as the double of its shortest text, 0.1 for 0.100000001490116…),
   * as Postgres widens them for AVG; SUM's result is a real again.
   */
  float4?: boolean;
}

export type Acc = SumAcc | Bag | null;

export function newAcc(spec: AggSpec, appendOnly = false): Acc {
  switch (spec.kind) {
    case "count_star":
      return null;
    case "sum": case "avg": case "count":
      return new SumAcc();
    case "min": case "max":
      return new Bag(spec.kind === "min" ? -1 : 1, spec.arg?.type.kind ?? "int", appendOnly);
    case "max_by":
      return new PairBag(spec.arg?.type.kind ?? "int", appendOnly);
    default:
      return new Bag();
  }
}

/** Add (sign 1) or retract (sign -1) one row's value. `v` is the evaluated argument. */
export function accAdd(spec: AggSpec, acc: Acc, v: unknown, sign: 1 | -1, w?: unknown): void {
  if (acc === null) return;
  if (v === null || v === undefined) return;
  if (spec.kind === "count") (acc as SumAcc).add(1, sign);
  else if (acc instanceof SumAcc) acc.add(spec.float4 && typeof v === "number" ? Math.fround(v) : v, sign);
  else if (spec.kind === "max_by") {
    if (w !== null && w !== undefined) acc.add([toDec(w), v], sign); // a row without its `by` is left out, as MAX leaves NULLs out
  }
  else acc.add(v, sign, spec.kind === "top_k" && spec.weight ? (w === null || w === undefined ? null : toDec(w)) : null);
}

export function accMerge(into: Acc, from: Acc): void {
  if (into instanceof SumAcc && from instanceof SumAcc) into.merge(from);
  else if (into instanceof Bag && from instanceof Bag) into.merge(from);
}

/**
 * Final value over several panes without building a merged accumulator where that is cheaper:
 * MIN/MAX take the extreme of each pane's multiset, COUNT DISTINCT unions keys only.
 */
export function accResultPanes(spec: AggSpec, accs: Acc[], rows: number): unknown {
  if (accs.length === 1) return accResult(spec, accs[0], rows);
  const argKind = spec.arg?.type.kind ?? "int";
  switch (spec.kind) {
    case "min": case "max": {
      let best: unknown = null;
      const sign = spec.kind === "min" ? -1 : 1;
      for (const a of accs) {
        const v = (a as Bag).extremeValue();
        if (v !== null && (best === null || compareValues(argKind, v, best) * sign > 0)) best = v;
      }
      return toRow(argKind, best);
    }
    case "max_by": {
      let best: [Dec, unknown] | null = null;
      for (const a of accs) {
        const v = (a as PairBag).extremeValue() as [Dec, unknown] | null;
        if (v !== null && (best === null || (a as PairBag).cmp(v, best) > 0)) best = v;
      }
      return best === null ? null : toRow(argKind, best[1]);
    }
    case "count_distinct": {
      const keys = new Map<string, number>();
      for (const a of accs) for (const [k, [, n]] of (a as Bag).m) keys.set(k, (keys.get(k) ?? 0) + n);
      let c = 0n;
      for (const n of keys.values()) if (n > 0) c++;
      return c;
    }
    case "count_star":
      return BigInt(rows);
  }
  const merged = newAcc(spec);
  for (const a of accs) accMerge(merged, a);
  return accResult(spec, merged, rows);
}

/** Final value in row form, given the accumulator (combined over panes) and the row count. */
export function accResult(spec: AggSpec, acc: Acc, rows: number): unknown {
  const argKind = spec.arg?.type.kind ?? "int";
  switch (spec.kind) {
    case "count_star":
      return BigInt(rows);
    case "count":
      return BigInt((acc as SumAcc).n);
    case "sum": {
      const s = acc as SumAcc;
      if (argKind === "float") {
        // a float4 sum as the engine carries a real: the double of its shortest text (0.3, not 0.30000001192092896)
        const t = s.floatTotal(spec.float4 === true, true);
        return spec.float4 && t !== null ? realValue(t) : t;
      }
      return toRow(spec.type.kind, s.total(argKind === "int" ? "int" : "numeric"));
    }
    case "avg": {
      const s = acc as SumAcc;
      if (s.n === 0) return null;
      if (argKind === "float") return s.floatTotal(false, false)! / s.n;
      return (toDec(s.total("numeric")).div(new Dec(BigInt(s.n), 0))).toString();
    }
    case "min": case "max":
      return toRow(argKind, (acc as Bag).extremeValue());
    case "max_by": {
      const v = (acc as PairBag).extremeValue() as [Dec, unknown] | null;
      return v === null ? null : toRow(argKind, v[1]);
    }
    case "count_distinct": {
      let n = 0n;
      for (const [, c] of (acc as Bag).m.values()) if (c > 0) n++;
      return n;
    }
    case "top_k": {
      const bag = acc as Bag;
      const items = [...bag.m.values()].filter(([, n]) => n > 0).map(([v, n, w]) => ({ value: toRow(argKind, v), score: spec.weight ? (w ?? new Dec(0n, 0)) : new Dec(BigInt(n), 0) }));
      items.sort((a, b) => b.score.cmp(a.score) || (String(a.value) < String(b.value) ? -1 : String(a.value) > String(b.value) ? 1 : 0));
      return JSON.stringify(items.slice(0, spec.k ?? 10).map((x) => ({ value: typeof x.value === "bigint" ? x.value.toString() : x.value, score: x.score.toNumber() })));
    }
  }
}

/** Result type of an aggregate over an argument type, as Postgres types it. */
export function aggType(kind: AggKind, arg: XType | null): XType {
  switch (kind) {
    case "count_star": case "count": case "count_distinct":
      return T.int8;
    case "sum":
      // sum(real) is a real in Postgres, sum(double precision) a double
      return arg?.kind === "int" ? T.int8 : arg?.kind === "float" ? (arg.oid === 700 ? REAL : T.float) : T.numeric;
    case "avg":
      return arg?.kind === "float" ? T.float : T.numeric;
    case "min": case "max": case "max_by":
      return arg ?? T.text;
    case "top_k":
      return T.jsonb;
  }
}

export function saveAcc(spec: AggSpec, acc: Acc): unknown {
  if (acc === null) return null;
  if (acc instanceof SumAcc) return acc.save();
  return acc.save();
}

/**
 * For an incremental checkpoint: a multiset (MIN/MAX/COUNT DISTINCT/TOP_K) as only what changed
 * since its previous saveAccDelta(); the small SUM/COUNT/AVG state whole.
 */
export function saveAccDelta(spec: AggSpec, acc: Acc): unknown {
  if (acc instanceof Bag) return acc.saveDelta();
  return saveAcc(spec, acc);
}

/** Load a saveAccDelta() result: whole, or a change applied to `prev` (the same pane's accumulator). */
export function loadAccDelta(spec: AggSpec, s: unknown, prev: Acc | undefined, appendOnly = false): Acc {
  if (s === null || Array.isArray(s)) return loadAcc(spec, s, appendOnly);
  if (!(prev instanceof Bag)) throw new Error(`checkpoint chain: a change to the ${spec.name} accumulator of a pane that is not there`);
  prev.applyDelta(s as { d: unknown[]; r: string[] });
  return prev;
}

export function loadAcc(spec: AggSpec, s: unknown, appendOnly = false): Acc {
  if (s === null) return null;
  if (spec.kind === "sum" || spec.kind === "avg" || spec.kind === "count") return SumAcc.load(s as unknown[]);
  if (spec.kind === "min" || spec.kind === "max") return Bag.load(s as unknown[], spec.kind === "min" ? -1 : 1, spec.arg?.type.kind ?? "int", appendOnly);
  if (spec.kind === "max_by") return new PairBag(spec.arg?.type.kind ?? "int", appendOnly).fill(s as unknown[]);
  return Bag.load(s as unknown[]);
}
