/** MIN/MAX keep their extreme as rows arrive; retracting it (or a restore) falls back to a scan. */
import { expect, test } from "bun:test";
import { accAdd, accResult, accResultPanes, loadAcc, newAcc, saveAcc, type AggSpec } from "../../src/engine/operators/window/aggregates.ts";
import { T } from "../../src/expr/types.ts";

const spec = (kind: "min" | "max"): AggSpec => ({ name: kind, kind, arg: { fn: () => null, type: T.int8 } as unknown as AggSpec["arg"], type: T.int8 });

test("MAX and MIN under adds, retractions of the extreme, out-of-order retractions, panes and restore", () => {
  for (const kind of ["max", "min"] as const) {
    const s = spec(kind);
    const a = newAcc(s);
    const pick = (x: bigint, y: bigint) => (kind === "max" ? (x > y ? x : y) : x < y ? x : y);
    const live = new Map<bigint, number>();
    const want = () => {
      let b: bigint | null = null;
      for (const [v, n] of live) if (n > 0) b = b === null ? v : pick(v, b);
      return b;
    };
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 50);
    for (let i = 0; i < 3000; i++) {
      const v = BigInt(rnd());
      // mostly adds; retract live values (often the extreme), sometimes before their add
      const retract = i % 3 === 2 && live.size > 0;
      const x = retract ? (i % 6 === 5 ? want() ?? v : [...live.keys()][rnd() % live.size]!) : v;
      accAdd(s, a, x, retract ? -1 : 1);
      live.set(x, (live.get(x) ?? 0) + (retract ? -1 : 1));
      if (live.get(x) === 0) live.delete(x);
      expect(accResult(s, a, 1)).toBe(want());
    }
    const b = newAcc(s);
    accAdd(s, b, kind === "max" ? 1000n : -1000n, 1);
    expect(accResultPanes(s, [a, b], 2)).toBe(kind === "max" ? 1000n : -1000n);
    accAdd(s, b, kind === "max" ? 1000n : -1000n, -1);
    expect(accResultPanes(s, [a, b], 2)).toBe(want());
    const restored = loadAcc(s, saveAcc(s, a));
    expect(accResult(s, restored, 1)).toBe(want());
    accAdd(s, restored, want()!, -1);
    expect(accResult(s, restored, 1)).not.toBe(null);
  }
});
