/**
 * cdc_engine_late_rows_total{pipeline,policy} and cdc_engine_join_misses_total{pipeline} are
 * incremented by the operators (through the runner the engine builds), read back from the registry.
 */
import { expect, test } from "bun:test";
import { createRunner } from "../../src/engine/create-runner.ts";
import { pipelineSchema } from "../../src/config/pipeline-schema.ts";
import type { Config } from "../../src/config/schema.ts";
import { registry } from "../../src/metrics/metrics.ts";
import type { RejectedRow } from "../../src/engine/operators/operator.ts";
import { del, ins, relation, txn, upd } from "./harness.ts";

const O = relation("public.orders", [["order_id", 20, "bigint", true], ["customer_id", 23, "integer"], ["amount", 1700, "numeric(10,2)"], ["created_at", 1184]]);
const C = relation("public.customers", [["id", 23, "integer", true], ["name", 25]]);

async function counter(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
  return v ? Number(v.value) : 0;
}

async function runner(cfg: Record<string, unknown>) {
  const name = `counters_${Math.random().toString(36).slice(2, 8)}`;
  const rejected: RejectedRow[] = [];
  const r = await createRunner(pipelineSchema.parse({ name, to: "out", ...cfg }), { maps: {} } as unknown as Config, { reject: (x) => rejected.push(x), configDir: process.cwd() });
  return { name, r, rejected };
}

const order = (id: number, customer: number, at: string) => ins(O, { order_id: BigInt(id), customer_id: customer, amount: "1.00", created_at: at });

test("late rows are counted per pipeline and policy, in pane and session windows; DLQ policy rejects them", async () => {
  for (const [type, late] of [["tumbling", "update"], ["tumbling", "dlq"], ["session", "update"], ["session", "dlq"]] as const) {
    const window = type === "session" ? { type, gap: "1m", time: "created_at", key: ["customer_id"], lateness: "10s", late } : { type, size: "1m", time: "created_at", key: ["customer_id"], lateness: "10s", late };
    const { name, r, rejected } = await runner({ from: "public.orders", window, aggregate: { n: "COUNT(*)" } });
    await r.process(txn("2024-05-01T10:05:00Z", [order(1, 1, "2024-05-01 10:05:00+00")])); // watermark 10:04:50
    await r.process(txn("2024-05-01T10:05:01Z", [order(2, 1, "2024-05-01 10:04:55+00")])); // not late (within lateness)
    await r.process(txn("2024-05-01T10:05:02Z", [order(3, 1, "2024-05-01 10:01:00+00"), order(4, 2, "2024-05-01 10:04:00+00")])); // two late
    expect([type, late, await counter("cdc_engine_late_rows_total", { pipeline: name, policy: late })]).toEqual([type, late, 2]);
    expect(rejected.map((x) => x.row.order_id)).toEqual(late === "dlq" ? [3n, 4n] : []);
    if (late === "dlq") expect(rejected[0]!.reason).toBe("late row: event time 2024-05-01 10:01:00+00 is behind the watermark 2024-05-01 10:04:50+00");
  }
});

test("late: dlq refuses a late update or delete whole, before its old row is taken back, in pane and session windows", async () => {
  for (const type of ["tumbling", "session"] as const) {
    const window = type === "session" ? { type, gap: "1m", time: "created_at", key: ["customer_id"], lateness: "10s", late: "dlq" } : { type, size: "1m", time: "created_at", key: ["customer_id"], lateness: "10s", late: "dlq" };
    const { name, r, rejected } = await runner({ from: "public.orders", window, aggregate: { n: "COUNT(*)" } });
    await r.process(txn("2024-05-01T10:05:00Z", [order(1, 1, "2024-05-01 10:05:00+00"), order(2, 1, "2024-05-01 10:04:55+00")])); // watermark 10:04:50
    // order 2 moved to 10:01 (behind the watermark): refused, it stays counted at 10:04:55
    await r.process(txn("2024-05-01T10:05:01Z", [upd(O, { order_id: 2n, customer_id: 1, amount: "1.00", created_at: "2024-05-01 10:01:00+00" })]));
    const out = await r.process(txn("2024-05-01T10:09:00Z", [order(5, 2, "2024-05-01 10:09:00+00")])); // watermark 10:08:50 closes customer 1's windows
    // order 1 (10:05:00) is now behind the watermark: its delete is refused, the closed window keeps it
    await r.process(txn("2024-05-01T10:09:01Z", [del(O, { order_id: 1n })]));
    const rows = out.map((x) => [x.op, String(x.row.window_start), x.row.n]);
    expect([type, rows]).toEqual([type, type === "session" ? [["upsert", "2024-05-01 10:04:55+00", 2n]] : [["upsert", "2024-05-01 10:04:00+00", 1n], ["upsert", "2024-05-01 10:05:00+00", 1n]]]);
    expect(rejected.map((x) => [x.source?.op, x.row.order_id])).toEqual([["update", 2n], ["delete", 1n]]);
    expect(rejected[0]!.reason).toBe("late row: event time 2024-05-01 10:01:00+00 is behind the watermark 2024-05-01 10:04:50+00; the old row stays counted");
    expect(rejected[1]!.reason).toBe(
      type === "session"
        ? "late delete: the old row's event time 2024-05-01 10:05:00+00 is behind the watermark 2024-05-01 10:08:50+00; its windows stay as they were"
        : "late delete: the old row's event time is before 2024-05-01 10:06:00+00, behind the watermark 2024-05-01 10:08:50+00; its windows stay as they were",
    );
    expect(await counter("cdc_engine_late_rows_total", { pipeline: name, policy: "dlq" })).toBe(2);
  }
});

test("a row whose join match never came is counted as a join miss once, after its wait", async () => {
  const { name, r } = await runner({ from: "public.orders", join: [{ table: "public.customers", on: "customer_id = customers.id", wait: "0s" }], select: ["order_id", "name"], to: { sink: "x", key: ["order_id"] } });
  await r.process(txn("2024-05-01T10:00:00Z", [ins(C, { id: 1, name: "Ada" })]));
  const out = await r.process(txn("2024-05-01T10:00:01Z", [order(1, 1, "2024-05-01 10:00:00+00"), order(2, 9, "2024-05-01 10:00:00+00"), order(3, 8, "2024-05-01 10:00:00+00")]));
  expect(out.map((x) => [x.row.order_id, x.row.name])).toEqual([[1n, "Ada"], [2n, null], [3n, null]]);
  expect(await counter("cdc_engine_join_misses_total", { pipeline: name })).toBe(2);

  // with a wait: counted when the wait runs out, not when the row arrives; a match in time is no miss
  const w = await runner({ from: "public.orders", join: [{ table: "public.customers", on: "customer_id = customers.id", wait: "5s" }], select: ["order_id", "name"], to: { sink: "x", key: ["order_id"] } });
  await w.r.process(txn("2024-05-01T10:00:00Z", [order(1, 1, "2024-05-01 10:00:00+00"), order(2, 2, "2024-05-01 10:00:00+00")]));
  expect(await counter("cdc_engine_join_misses_total", { pipeline: w.name })).toBe(0);
  const matched = await w.r.process(txn("2024-05-01T10:00:02Z", [ins(C, { id: 1, name: "Ada" })]));
  expect(matched.map((x) => [x.row.order_id, x.row.name])).toEqual([[1n, "Ada"]]);
  const released = await w.r.process(txn("2024-05-01T10:00:06Z", []));
  expect(released.map((x) => [x.row.order_id, x.row.name])).toEqual([[2n, null]]);
  expect(await counter("cdc_engine_join_misses_total", { pipeline: w.name })).toBe(1);
});

test("state_budget: the state's estimated bytes and the budget are published; crossing it is reported once", async () => {
  const { name, r } = await runner({ from: "public.orders", window: { type: "tumbling", size: "1m", time: "created_at", key: ["customer_id"] }, aggregate: { n: "COUNT(*)" }, state_budget: "10kb" });
  await r.process(txn("2024-05-01T10:00:00Z", Array.from({ length: 20 }, (_, i) => order(i + 1, i % 4, "2024-05-01 10:00:00+00"))));
  r.onWatermark(Date.now(), 1n);
  const under = await counter("cdc_engine_operator_state_entries", { pipeline: name, kind: "estimated_bytes" });
  expect(under).toBe(20 * 160 + 4 * 250 + 4 * 300); // 20 rows, 4 panes, 4 groups
  expect(await counter("cdc_engine_operator_state_entries", { pipeline: name, kind: "budget_bytes" })).toBe(10_000);
  await r.process(txn("2024-05-01T10:00:01Z", Array.from({ length: 100 }, (_, i) => order(i + 100, i % 4, "2024-05-01 10:00:01+00"))));
  r.onWatermark(Date.now(), 2n);
  expect(await counter("cdc_engine_operator_state_entries", { pipeline: name, kind: "estimated_bytes" })).toBe(120 * 160 + 4 * 250 + 4 * 300);
});
