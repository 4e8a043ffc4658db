import { expect, test } from "bun:test";
import { Dec } from "../../src/expr/decimal.ts";
import { SumAcc } from "../../src/engine/operators/window/sum-acc.ts";

/**
 * SUM over numeric keeps same-scale values' unscaled integers in a double (SumAcc.di) and flushes
 * them into the exact decimal before the double could round. Checked against a plain Dec sum
 * over values that cross the flush point many times, mixed scales, retractions, merges and a
 * save/load round trip: every total must be the exact text Postgres would give.
 */
function exact(vals: [string, 1 | -1][]): string {
  let d: Dec | null = null;
  for (const [v, sign] of vals) {
    const x = sign === 1 ? Dec.parse(v) : Dec.parse(v).neg();
    d = d ? d.add(x) : x;
  }
  return d!.add(new Dec(0n, 0)).toString();
}

test("numeric sums equal an exact decimal sum across flushes, scales, retractions, merges and a restore", () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const vals: [string, 1 | -1][] = [];
  for (let i = 0; i < 20_000; i++) {
    const r = rnd();
    // mostly 2-decimal values near the 2^50 unscaled limit (to cross 4e15 often), some small,
    // some with 4 decimals, some far past the limit, a few retractions
    const v =
      r < 0.5 ? `${Math.floor(rnd() * 11_000_000_000_000)}.${String(Math.floor(rnd() * 100)).padStart(2, "0")}`
      : r < 0.8 ? (rnd() * 1000).toFixed(2)
      : r < 0.95 ? (rnd() * 10).toFixed(4)
      : `${"9".repeat(25)}.5`;
    vals.push([rnd() < 0.3 ? `-${v}` : v, rnd() < 0.1 ? -1 : 1]);
  }
  const one = new SumAcc();
  for (const [v, s] of vals) one.add(Dec.parse(v), s);
  expect((one.total("numeric") as Dec).toString()).toBe(exact(vals));

  // panes merged, as a sliding window combines them
  const parts = [new SumAcc(), new SumAcc(), new SumAcc()];
  vals.forEach(([v, s], i) => parts[i % 3].add(Dec.parse(v), s));
  const merged = new SumAcc();
  for (const p of parts) merged.merge(p);
  expect((merged.total("numeric") as Dec).toString()).toBe(exact(vals));

  // restored from a checkpoint, then more values
  const restored = SumAcc.load(one.save());
  restored.add(Dec.parse("0.01"), 1);
  expect((restored.total("numeric") as Dec).toString()).toBe(exact([...vals, ["0.01", 1]]));
});

test("the result scale is the largest scale of the rows summed now, as in Postgres, also after retractions, restores and merges", () => {
  const a = new SumAcc();
  a.add(Dec.parse("150.00"), 1);
  a.add(Dec.parse("15.5"), 1);
  expect((a.total("numeric") as Dec).toString()).toBe("165.50");
  a.add(Dec.parse("0.125"), 1);
  expect((a.total("numeric") as Dec).toString()).toBe("165.625");
  a.add(Dec.parse("150.00"), -1);
  a.add(Dec.parse("15.5"), -1);
  a.add(Dec.parse("0.125"), -1);
  expect(a.n).toBe(0);
  expect(a.total("numeric")).toBeNull();
  a.add(Dec.parse("1.10"), 1);
  a.add(Dec.parse("1.10"), -1);
  a.add(Dec.parse("2"), 1);
  // the scale is that of the rows summed now, as Postgres recomputing the SUM prints it
  expect((a.total("numeric") as Dec).toString()).toBe("2");
  a.add(Dec.parse("1.10"), 1);
  a.add(Dec.parse("0.125"), 1);
  expect((a.total("numeric") as Dec).toString()).toBe("3.225");
  a.add(Dec.parse("0.125"), -1);
  expect((a.total("numeric") as Dec).toString()).toBe("3.10");
  // kept across a checkpoint, and merged panes count scales together
  const b = SumAcc.load(a.save());
  expect((b.total("numeric") as Dec).toString()).toBe("3.10");
  const pane = new SumAcc();
  pane.add(Dec.parse("0.5"), 1);
  b.merge(pane);
  expect((b.total("numeric") as Dec).toString()).toBe("3.60");
  // a checkpoint from before scales were kept: the scale stays as summed, the value exact
  const old = SumAcc.load([0, "0", "1.125", 0, 2]);
  old.add(Dec.parse("0.125"), -1);
  expect((old.total("numeric") as Dec).toString()).toBe("1.000");
});
