import { describe, expect, test } from "bun:test";
import { build, del, ins, relation, txn, upd } from "./harness.ts";

const O = relation("public.orders", [["order_id", 20, "bigint", true], ["customer_id", 23, "integer"], ["amount", 1700, "numeric(10,2)"], ["created_at", 1184]]);
const C = relation("public.customers", [["id", 23, "integer", true], ["name", 25], ["segment", 25]]);

describe("joins: qualified names and prefixes", () => {
  test("content.title style references and a prefix for clashing names", async () => {
    const h = await build({
      from: "public.orders",
      join: [{ table: "public.customers", as: "c", on: "customer_id = c.id", prefix: "customer_", wait: "0s" }],
      select: ["order_id", "c.name AS who", "customers.segment AS seg", "customer_name || '!' AS shout"],
      to: { sink: "x", key: ["order_id"] },
    });
    h.run(txn("2024-05-01T10:00:00Z", [ins(C, { id: 7, name: "Ada", segment: "gold" }), ins(O, { order_id: 1n, customer_id: 7, amount: "1.00", created_at: "2024-05-01 10:00:00+00" })]));
    expect(h.sink.sorted()).toEqual([{ order_id: 1n, who: "Ada", seg: "gold", shout: "Ada!" }]);
  });
});

describe("windows: key expressions, commit time, key changes", () => {
  test("window.key as an expression; commit_time as the time", async () => {
    const h = await build({
      from: "public.orders",
      window: { type: "tumbling", size: "1h", key: ["customer_id % 2 AS parity"], emit: "change" },
      aggregate: { total: "SUM(amount)", n: "COUNT(*)" },
    });
    h.run(txn("2024-05-01T10:59:59Z", [ins(O, { order_id: 1n, customer_id: 1, amount: "1.10", created_at: "2000-01-01 00:00:00+00" }), ins(O, { order_id: 2n, customer_id: 3, amount: "2.20", created_at: "2000-01-01 00:00:00+00" })]));
    h.run(txn("2024-05-01T11:00:00Z", [ins(O, { order_id: 3n, customer_id: 2, amount: "0.01", created_at: "2000-01-01 00:00:00+00" })]));
    expect(h.sink.sorted().map((r) => [r.parity, r.window_start, r.total, r.n])).toEqual([
      [0, "2024-05-01 11:00:00+00", "0.01", 1n],
      [1, "2024-05-01 10:00:00+00", "3.30", 2n],
    ]);
  });

  test("a primary-key change retracts under the old key", async () => {
    const h = await build({ from: "public.orders", window: { type: "tumbling", size: "1m", time: "created_at", key: ["customer_id"], emit: "change" }, aggregate: { n: "COUNT(*)", total: "SUM(amount)" } });
    const at = "2024-05-01 10:00:10+00";
    h.run(txn(at.replace(" ", "T").replace("+00", "Z"), [ins(O, { order_id: 1n, customer_id: 1, amount: "5.00", created_at: at })]));
    h.run(txn(at.replace(" ", "T").replace("+00", "Z"), [upd(O, { order_id: 10n, customer_id: 1, amount: "6.00", created_at: at }, { order_id: 1n })]));
    expect(h.sink.sorted().map((r) => [r.n, r.total])).toEqual([[1n, "6.00"]]);
    h.run(txn(at.replace(" ", "T").replace("+00", "Z"), [del(O, { order_id: 10n })]));
    expect(h.sink.rows.size).toBe(0);
  });

  test("an insert of a key already counted replaces it (a replay after a resumed snapshot); equal rows of a keyless table are two rows", async () => {
    const at = "2024-05-01 10:00:10+00";
    const when = at.replace(" ", "T").replace("+00", "Z");
    const cfg = { from: "public.orders", window: { type: "tumbling", size: "1m", time: "created_at", emit: "change" }, aggregate: { n: "COUNT(*)", total: "SUM(amount)" } };
    const h = await build(cfg);
    h.run(txn(when, [ins(O, { order_id: 1n, customer_id: 1, amount: "5.00", created_at: at })]));
    // The stream sends the insert again, with the value the row had then; a later update follows.
    h.run(txn(when, [ins(O, { order_id: 1n, customer_id: 1, amount: "4.00", created_at: at })]));
    expect(h.sink.sorted().map((r) => [r.n, r.total])).toEqual([[1n, "4.00"]]);
    h.run(txn(when, [upd(O, { order_id: 1n, customer_id: 1, amount: "5.00", created_at: at })]));
    expect(h.sink.sorted().map((r) => [r.n, r.total])).toEqual([[1n, "5.00"]]);

    const L = relation("public.orders", [["order_id", 20, "bigint"], ["customer_id", 23, "integer"], ["amount", 1700, "numeric(10,2)"], ["created_at", 1184]]);
    const k = await build(cfg, { relations: new Map([[L.table, L]]) });
    const row = { order_id: 1n, customer_id: 1, amount: "5.00", created_at: at };
    k.run(txn(when, [ins(L, row), ins(L, { ...row })]));
    expect(k.sink.sorted().map((r) => [r.n, r.total])).toEqual([[2n, "10.00"]]);
  });

  test("truncate of the source empties every window", async () => {
    const h = await build({ from: "public.orders", window: { type: "tumbling", size: "1m", time: "created_at", emit: "change" }, aggregate: { n: "COUNT(*)" } });
    const at = "2024-05-01 10:00:10+00";
    h.run(txn(at.replace(" ", "T").replace("+00", "Z"), [ins(O, { order_id: 1n, customer_id: 1, amount: "5.00", created_at: at })]));
    expect(h.sink.rows.size).toBe(1);
    h.run(txn(at.replace(" ", "T").replace("+00", "Z"), [{ op: "truncate", table: O.table, relation: O }]));
    expect(h.sink.rows.size).toBe(0);
  });
});

describe("join state in incremental checkpoints", () => {
  test("full, then a delta of changed join rows, restores the join table", async () => {
    const cfg = { from: "public.orders", join: [{ table: "public.customers", on: "customer_id = customers.id", wait: "0s" }], select: ["order_id", "name"], to: { sink: "x", key: ["order_id"] } };
    const h = await build(cfg);
    const op = h.op as unknown as { snapshotDelta(): unknown };
    const at = "2024-05-01T10:00:00Z";
    h.run(txn(at, [ins(C, { id: 1, name: "Ada", segment: "a" }), ins(C, { id: 2, name: "Bob", segment: "b" }), ins(C, { id: 3, name: "Cy", segment: "c" })]));
    const chain = [JSON.parse(JSON.stringify(op.snapshotDelta()))];
    h.run(txn(at, [upd(C, { id: 2, name: "Bobby", segment: "b" }), del(C, { id: 3 })]));
    const delta = JSON.parse(JSON.stringify(op.snapshotDelta()));
    expect(delta.joins[0].delta.rows).toEqual([["2", { id: 2, name: "Bobby", segment: "b" }], ["3", null]]);
    chain.push(delta);
    const h2 = await build(cfg);
    for (const c of chain) h2.op.restore(c);
    h2.run(txn(at, [ins(O, { order_id: 1n, customer_id: 1, amount: "1.00", created_at: at }), ins(O, { order_id: 2n, customer_id: 2, amount: "1.00", created_at: at }), ins(O, { order_id: 3n, customer_id: 3, amount: "1.00", created_at: at })]));
    expect(h2.sink.sorted().map((r) => r.name)).toEqual(["Ada", "Bobby", null]);
  });
});

describe("state size metric", () => {
  test("onWatermark publishes cdc_engine_operator_state_entries", async () => {
    const { registry } = await import("../../src/metrics/metrics.ts");
    const h = await build({ from: "public.orders", window: { type: "tumbling", size: "1m", time: "created_at", key: ["customer_id"] }, aggregate: { n: "COUNT(*)" } });
    const at = "2024-05-01 10:00:10+00";
    h.run(txn("2024-05-01T10:00:10Z", [ins(O, { order_id: 1n, customer_id: 1, amount: "5.00", created_at: at }), ins(O, { order_id: 2n, customer_id: 2, amount: "5.00", created_at: at })]));
    h.op.onWatermark!(Date.parse("2024-05-01T10:00:11Z"), h.sink.emit);
    const text = await registry.metrics();
    expect(text).toContain('cdc_engine_operator_state_entries{pipeline="test",kind="window_rows"} 2');
    expect(text).toContain('cdc_engine_operator_state_entries{pipeline="test",kind="window_groups"} 2');
  });
});

describe("join column clashes", () => {
  test("all columns joined: the row keeps its own; a listed clashing column needs a prefix", async () => {
    const h = await build({ from: "public.orders", join: [{ table: "public.customers", on: "customer_id = customers.id", wait: "0s" }], to: { sink: "x", key: ["order_id"] } }, { relations: new Map([[O.table, O], [C.table, C]]) });
    h.run(txn("2024-05-01T10:00:00Z", [ins(C, { id: 7, name: "Ada", segment: "gold" }), ins(O, { order_id: 1n, customer_id: 7, amount: "1.00", created_at: "2024-05-01 10:00:00+00" })]));
    expect(h.sink.sorted()).toEqual([{ order_id: 1n, customer_id: 7, amount: "1.00", created_at: "2024-05-01 10:00:00+00", id: 7, name: "Ada", segment: "gold" }]);
    const O2 = relation("public.orders", [["id", 20, "bigint", true], ["customer_id", 23, "integer"]]);
    const err = await build({ from: "public.orders", join: [{ table: "public.customers", on: "customer_id = customers.id", columns: ["id", "name"] }] }, { relations: new Map([[O2.table, O2], [C.table, C]]) }).catch((e) => e);
    expect(String(err.message)).toContain("column 'id' clashes with a column of public.orders; set join.prefix");
  });
});

describe("weighted TOP_K in incremental checkpoints", () => {
  test("a weighted TOP_K next to other aggregates: the delta's row log is valid JSON and restores the same windows", async () => {
    const cfg = { from: "public.orders", window: { type: "tumbling", size: "1h", time: "created_at", emit: "change" }, aggregate: { n: "COUNT(*)", top: "TOP_K(customer_id, 2, amount)" } };
    const h = await build(cfg);
    const op = h.op as unknown as { snapshotDelta(): unknown };
    const at = "2024-05-01 10:00:10+00";
    const when = "2024-05-01T10:00:10Z";
    h.run(txn(when, [ins(O, { order_id: 1n, customer_id: 1, amount: "5.00", created_at: at })]));
    const chain = [JSON.parse(JSON.stringify(op.snapshotDelta()))];
    h.run(txn(when, [ins(O, { order_id: 2n, customer_id: 2, amount: "7.00", created_at: at }), ins(O, { order_id: 3n, customer_id: 3, amount: "1.00", created_at: at })]));
    chain.push(JSON.parse(JSON.stringify(op.snapshotDelta())));
    const h2 = await build(cfg);
    for (const c of chain) h2.op.restore(c);
    // The restored state retracts what each row added: its weight too.
    for (const x of [h, h2]) x.run(txn(when, [del(O, { order_id: 2n })]));
    expect(h2.sink.sorted().map((r) => [r.n, r.top])).toEqual(h.sink.sorted().map((r) => [r.n, r.top]));
    expect(h.sink.sorted()[0].n).toBe(2n);
  });
});
