import { describe, expect, test } from "bun:test";
import { FloatSum } from "../../src/engine/operators/window/float-sum.ts";
import { SumAcc } from "../../src/engine/operators/window/sum-acc.ts";
import { build, del, ins, jsonSafe, relation, txn, upd } from "./harness.ts";

/**
 * SUM/AVG of double precision and real. Postgres adds the rows' doubles one by one in scan order
 * and never takes one back; a window here takes rows back on update and delete, and merges panes.
 * The sum is kept exactly (FloatSum) and rounded once to the nearest double: the same for any
 * order, pane split, retraction or restore. It equals Postgres' float sum whenever that is exact
 * or has at most two rows (one addition is correctly rounded); with more rows Postgres' own answer
 * depends on the scan order (README "Windows and aggregates"). Before, fractional values were summed
 * as a plain double and subtracted on retraction: a group left with one row of 0.2 said
 * 0.20000000000000004. Expected values are PostgreSQL 15.20's, e.g.
 * `select sum(x), avg(x) from (values (0.1::float8),(0.2::float8)) t(x)`.
 */
const T = relation("public.m", [["id", 23, "integer", true], ["g", 23], ["f", 701], ["r", 700], ["ts", 1184]]);
const RELS = new Map([[T.table, T]]);
const row = (id: number, f: number, r = f, g = 1, ts = "2024-01-01 00:00:10+00") => ({ id, g, f, r, ts });
const groupBy = (aggregate: Record<string, string>) => build({ from: "public.m", group_by: ["g"], aggregate, to: { sink: "out", table: "o", key: ["g"] } }, { relations: RELS });

describe("float8 SUM/AVG", () => {
  test("two rows: Postgres' float sum (0.30000000000000004, not an exact 0.3)", async () => {
    const h = await groupBy({ s: "SUM(f)", a: "AVG(f)" });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, 0.1)), ins(T, row(2, 0.2))]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: 0.30000000000000004, a: 0.15000000000000002 }]);
  });

  test("a retraction leaves the sum of the rows left (it drifted: 0.20000000000000004)", async () => {
    const h = await groupBy({ s: "SUM(f)", a: "AVG(f)" });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, 0.1)), ins(T, row(2, 0.2))]));
    h.run(txn("2024-01-01T00:00:01Z", [del(T, { id: 1 })]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: 0.2, a: 0.2 }]);
    h.run(txn("2024-01-01T00:00:02Z", [upd(T, row(2, 0.7)), ins(T, row(3, 0.1))]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: 0.7999999999999999, a: 0.39999999999999997 }]); // 0.7 + 0.1 in Postgres
  });

  test("three rows and more: the exactly rounded sum, whatever the order (Postgres: 0.6000000000000001 for 0.1, 0.2, 0.3 in that order, 0.6 for 0.3, 0.2, 0.1)", async () => {
    for (const order of [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]) {
      const h = await groupBy({ s: "SUM(f)", a: "AVG(f)" });
      h.run(txn("2024-01-01T00:00:00Z", order.map((f, i) => ins(T, row(i + 1, f)))));
      expect(h.sink.sorted()).toEqual([{ g: 1, s: 0.6, a: 0.19999999999999998 }]);
    }
    // Postgres gives 2 (1e16 + 1.5 rounds to 10000000000000002); the rows sum to 1.5
    const h = await groupBy({ s: "SUM(f)" });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, 1e16)), ins(T, row(2, 1.5)), ins(T, row(3, -1e16))]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: 1.5 }]);
  });

  test("a sliding window's panes merge into the same sum as one group of the same rows", async () => {
    const w = await build({ from: "public.m", window: { type: "sliding", size: "2m", slide: "1m", time: "ts" }, aggregate: { s: "SUM(f)" }, to: { sink: "out", table: "w", key: ["window_start"] } }, { relations: RELS });
    const vals = [0.1, 0.7, 0.2, 1e-17, 0.3, 3.3];
    w.run(txn("2024-01-01T00:00:00Z", vals.map((f, i) => ins(T, row(i + 1, f, f, 1, `2024-01-01 00:0${i % 2}:${10 + i}+00`)))));
    w.closeAll();
    const g = await groupBy({ s: "SUM(f)" });
    g.run(txn("2024-01-01T00:00:00Z", vals.map((f, i) => ins(T, row(i + 1, f)))));
    const both = w.sink.sorted().find((r) => r.window_start === "2024-01-01 00:00:00+00");
    expect(both?.s).toBe(g.sink.sorted()[0].s);
    expect(both?.s).toBe(4.6);
  });

  test("the same after a checkpoint restore, and from a checkpoint written before (a plain double sum)", async () => {
    const h = await groupBy({ s: "SUM(f)" });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, 0.1)), ins(T, row(2, 0.2)), ins(T, row(3, 0.3))]));
    const state = jsonSafe(h.op.snapshot());
    const h2 = await groupBy({ s: "SUM(f)" });
    h2.op.restore(state);
    h2.run(txn("2024-01-01T00:00:01Z", [del(T, { id: 3 })]));
    expect(h2.sink.sorted()).toEqual([{ g: 1, s: 0.30000000000000004 }]);
    // [i, b, d, f, n]: f was the plain double sum of the non-integer values
    expect(SumAcc.load([1, "0", null, 0.30000000000000004, 3]).total("float")).toBe(1.3); // 1 + 0.30000000000000004, exactly the double 1.3
  });
});

describe("real (float4) SUM/AVG", () => {
  test("SUM(real) is a real summed in float4 (0.3), AVG(real) a double over the float4 values (0.15000000223517418)", async () => {
    const h = await groupBy({ s: "SUM(r)", a: "AVG(r)" });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, 0.1)), ins(T, row(2, 0.2))]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: 0.3, a: 0.15000000223517418 }]);
    h.run(txn("2024-01-01T00:00:01Z", [ins(T, row(3, 0.7))]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: 1, a: 0.3333333308498065 }]);
    h.run(txn("2024-01-01T00:00:02Z", [del(T, { id: 1 }), del(T, { id: 3 })]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: 0.2, a: 0.20000000298023224 }]);
  });
  test("the output column types: sum(real) real, sum(double) double precision, avg(real) double precision", async () => {
    const h = await groupBy({ sr: "SUM(r)", sf: "SUM(f)", ar: "AVG(r)" });
    expect(h.compiled.outputColumns(RELS).map((c) => [c.name, c.typeName])).toEqual([["g", "integer"], ["sr", "real"], ["sf", "double precision"], ["ar", "double precision"]]);
  });
});

describe("FloatSum", () => {
  test("rounds the exact sum to nearest, ties to even; subnormals, overflow, retraction to zero", () => {
    const sum = (xs: [number, 1 | -1][]) => {
      const f = new FloatSum();
      for (const [x, s] of xs) f.add(x, s);
      return f.round();
    };
    expect(sum([[0.1, 1], [0.2, 1]])).toBe(0.1 + 0.2); // one addition is correctly rounded: the same
    expect(sum([[1, 1], [2 ** -53, 1]])).toBe(1); // a tie goes to the even neighbour
    expect(sum([[1, 1], [2 ** -53, 1], [2 ** -80, 1]])).toBe(1 + 2 ** -52); // just past the tie
    expect(sum([[5e-324, 1], [5e-324, 1]])).toBe(1e-323);
    expect(sum([[Number.MAX_VALUE, 1], [Number.MAX_VALUE, 1]])).toBe(Infinity);
    expect(sum([[Number.MAX_VALUE, 1], [Number.MAX_VALUE, 1], [Number.MAX_VALUE, -1]])).toBe(Number.MAX_VALUE);
    expect(sum([[0.1, 1], [0.7, 1], [0.1, -1], [0.7, -1]])).toBe(0);
    const f = new FloatSum();
    f.add(0.5, 1);
    expect(f.round(3n)).toBe(3.5);
    expect(FloatSum.load(f.save()).round()).toBe(0.5);
  });
});
