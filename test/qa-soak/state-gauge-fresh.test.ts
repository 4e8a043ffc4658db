/**
 * Soak finding: cdc_engine_operator_state_entries was published every 1,000 transactions under
 * steady load (idle ticks publish too, but a busy source has none): examples/orders.yaml at 300
 * rows/s in 30-row transactions showed a window_rows figure up to 100 s old, flat for three
 * samples and then a step. The gauges now follow within a few seconds at any rate.
 */
import { expect, test } from "bun:test";
import { operatorState } from "../../src/metrics/metrics.ts";
import { build, ins, relation, txn } from "../operators/harness.ts";

const O = relation("public.orders", [["order_id", 20, "bigint", true], ["customer_id", 23, "integer"], ["price", 1700, "numeric"], ["created_at", 1184, "timestamptz"]]);
const T0 = Date.UTC(2026, 11, 7, 0, 0, 0);
const ts = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "+00");

async function gauge(pipeline: string, kind: string): Promise<number | undefined> {
  return (await operatorState.get()).values.find((v) => v.labels.pipeline === pipeline && v.labels.kind === kind)?.value;
}

test("the operator state gauges are at most a few seconds old under a steady stream of transactions", async () => {
  const name = `gauge_${Math.random().toString(36).slice(2, 8)}`;
  const h = await build({ name, from: "public.orders", window: { type: "tumbling", size: "1m", time: "created_at", key: ["customer_id"] }, aggregate: { n: "COUNT(*)" } });
  let id = 0;
  const step = () => h.run(txn(T0 + id * 100, [ins(O, { order_id: BigInt(++id), customer_id: id % 5, price: "1.00", created_at: ts(T0 + id * 100) })]));
  const until = Date.now() + 6_000;
  // one transaction every 50 ms for 6 s: ~120, far below the 1,000 that published before
  while (Date.now() < until) {
    step();
    await Bun.sleep(50);
  }
  const rows = (h.op as unknown as { stats(): Record<string, number> }).stats().window_rows!;
  expect(rows).toBe(id);
  const shown = await gauge(name, "window_rows");
  expect(shown).toBeDefined();
  expect(shown!).toBeGreaterThan(id / 2);
}, 30_000);
