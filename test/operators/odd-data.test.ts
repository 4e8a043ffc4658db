import { describe, expect, test } from "bun:test";
import { build, del, ins, jsonSafe, relation, txn, upd } from "./harness.ts";

/**
 * Odd rows through windows and aggregates: a row whose expression fails goes to the DLQ with the
 * reason and the pipeline goes on (it used to throw out of process() and stop the engine, again
 * on every restart); infinite event times do not move the watermark; float NaN/±Infinity are
 * retracted and survive a checkpoint.
 */
const orders = relation("public.orders", [["id", 23, "integer", true], ["customer_id", 23], ["q", 23], ["price", 1700, "numeric(10,2)"], ["f", 701], ["ts", 1184]]);
const row = (id: number, customer_id: number, q: number, price: string, ts: string, f = 1) => ({ id, customer_id, q, price, f, ts });
const key = { sink: "out", table: "agg", key: ["customer_id", "window_start"] };

describe("row errors inside windows and aggregates go to the DLQ", () => {
  for (const window of [
    { type: "tumbling", size: "1m", time: "ts", key: ["customer_id"] },
    { type: "session", gap: "1m", time: "ts", key: ["customer_id"] },
  ]) {
    test(`${window.type}: division by zero and a NaN numeric, also after an update`, async () => {
      const h = await build({ from: "public.orders", window, aggregate: { s: "SUM(price * 10 / q)", n: "COUNT(*)" }, to: key });
      h.run(txn("2024-01-01T00:00:00Z", [
        ins(orders, row(1, 1, 2, "1.00", "2024-01-01 00:00:10+00")),
        ins(orders, row(2, 1, 0, "1.00", "2024-01-01 00:00:11+00")), // division by zero
        ins(orders, row(3, 1, 1, "NaN", "2024-01-01 00:00:12+00")), // numeric NaN
        ins(orders, row(4, 1, 1, "3.00", "2024-01-01 00:00:13+00")),
      ]));
      h.run(txn("2024-01-01T00:00:20Z", [upd(orders, row(1, 1, 0, "1.00", "2024-01-01 00:00:10+00"))])); // now failing: old contribution retracted
      h.closeAll();
      expect(h.ctx.rejected.map((r) => r.reason)).toEqual([
        "window/aggregate expression failed in aggregate s: division by zero",
        "window/aggregate expression failed in aggregate s: numeric value 'NaN' is not supported in expressions (exact decimals have no NaN or Infinity)",
        "window/aggregate expression failed in aggregate s: division by zero",
      ]);
      expect(h.sink.sorted().map((r) => [r.customer_id, r.window_start, r.s, r.n])).toEqual([[1, window.type === "tumbling" ? "2024-01-01 00:00:00+00" : "2024-01-01 00:00:13+00", "30.0000000000000000", 1n]]);
    });
  }

  test("GROUP BY without a window: a failing CAST in an aggregate", async () => {
    const h = await build({ from: "public.orders", select: ["customer_id", "q", "CAST(price AS int) AS p"], group_by: ["customer_id"], aggregate: { n: "COUNT(*)", t: "SUM(CAST(p AS numeric(3,0)) )" }, to: { sink: "out", table: "g", key: ["customer_id"] } });
    h.run(txn("2024-01-01T00:00:00Z", [ins(orders, row(1, 1, 1, "5.00", "2024-01-01 00:00:00+00")), ins(orders, row(2, 1, 1, "5000.00", "2024-01-01 00:00:00+00"))]));
    expect(h.ctx.rejected.map((r) => r.reason)).toEqual(["window/aggregate expression failed in aggregate t: numeric field overflow: 5000 does not fit numeric(3,0)"]);
    expect(h.sink.sorted()).toEqual([{ customer_id: 1, n: 1n, t: "5" }]);
  });
});

test("a failing select item is named in the DLQ reason (it said only 'select failed')", async () => {
  const h = await build({ from: "public.orders", select: ["id", "price / q AS per_unit", "CAST(price AS numeric(3,1)) AS p"], to: { sink: "out", table: "s", key: ["id"] } });
  h.run(txn("2024-01-01T00:00:00Z", [ins(orders, row(1, 1, 0, "5.00", "2024-01-01 00:00:00+00")), ins(orders, row(2, 1, 1, "500.00", "2024-01-01 00:00:00+00")), ins(orders, row(3, 1, 2, "5.00", "2024-01-01 00:00:00+00"))]));
  expect(h.ctx.rejected.map((r) => r.reason)).toEqual(["select 'price / q AS per_unit' failed: division by zero", "select 'CAST(price AS numeric(3,1)) AS p' failed: numeric field overflow: 500.0 does not fit numeric(3,1)"]);
  expect(h.sink.sorted().map((r) => [r.id, r.per_unit, r.p])).toEqual([[3, "2.5000000000000000", "5.0"]]);
});

describe("infinite event times", () => {
  for (const window of [
    { type: "tumbling", size: "1m", time: "ts", key: ["customer_id"], lateness: "0s", late: "dlq" },
    { type: "session", gap: "1m", time: "ts", key: ["customer_id"], lateness: "0s", late: "dlq" },
  ]) {
    test(`${window.type}: 'infinity' goes to the DLQ and does not close every window`, async () => {
      const h = await build({ from: "public.orders", window, aggregate: { n: "COUNT(*)" }, to: key });
      h.run(txn("2024-01-01T00:00:00Z", [ins(orders, row(1, 1, 1, "1.00", "2024-01-01 00:00:10+00"))]));
      h.run(txn("2024-01-01T00:00:01Z", [ins(orders, row(2, 1, 1, "1.00", "infinity")), ins(orders, row(3, 2, 1, "1.00", "-infinity"))]));
      // not late: the watermark stayed at 00:00:10
      h.run(txn("2024-01-01T00:00:02Z", [ins(orders, row(4, 1, 1, "1.00", "2024-01-01 00:00:20+00"))]));
      h.closeAll();
      expect(h.ctx.rejected.map((r) => r.reason)).toEqual(["window time is infinity", "window time is -infinity"]);
      expect(h.sink.sorted().map((r) => [r.customer_id, r.n])).toEqual([[1, 2n]]);
    });
  }
});

test("float NaN and ±Infinity in SUM are retracted, and survive a checkpoint", async () => {
  const h = await build({ from: "public.orders", group_by: ["customer_id"], aggregate: { s: "SUM(f)", mx: "MAX(f)" }, to: { sink: "out", table: "g", key: ["customer_id"] } });
  h.run(txn("2024-01-01T00:00:00Z", [ins(orders, row(1, 1, 1, "1", "2024-01-01 00:00:00+00", 1.5)), ins(orders, row(2, 1, 1, "1", "2024-01-01 00:00:00+00", Infinity)), ins(orders, row(3, 1, 1, "1", "2024-01-01 00:00:00+00", NaN))]));
  expect(h.sink.sorted()[0].s).toBeNaN();
  const state = jsonSafe(h.op.snapshot());
  const h2 = await build({ from: "public.orders", group_by: ["customer_id"], aggregate: { s: "SUM(f)", mx: "MAX(f)" }, to: { sink: "out", table: "g", key: ["customer_id"] } });
  h2.op.restore(state);
  h2.run(txn("2024-01-01T00:00:01Z", [del(orders, { id: 3 })]));
  expect(h2.sink.sorted()).toEqual([{ customer_id: 1, s: Infinity, mx: Infinity }]);
  h2.run(txn("2024-01-01T00:00:02Z", [del(orders, { id: 2 })]));
  expect(h2.sink.sorted()).toEqual([{ customer_id: 1, s: 1.5, mx: 1.5 }]);
});
