/**
 * Scenario 4, examples/warehouse.yaml, compiled binary: an order failing validation goes to the DLQ
 * "with the reason". A NULL price failed the rule `price >= 0` and was dead-lettered as "negative
 * price"; a NULL quantity as "quantity is not positive". Each now names what is wrong with the row,
 * and fact_orders and daily_order_summary still hold exactly the valid orders.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import postgres from "postgres";
import { type Serve, waitFor, warehouseOnOrders } from "../e2e/harness.ts";

let src: postgres.Sql;
let wh: postgres.Sql;
let serve: Serve;

beforeAll(async () => {
  ({ src, wh, serve } = await warehouseOnOrders("qa_wh", 3, true));
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await wh?.end();
  if (serve) rmSync(serve.dir, { recursive: true, force: true });
});

test("NULL price and NULL quantity go to the DLQ with their own reasons", async () => {
  await src.unsafe(`insert into orders (order_id, customer_id, product_id, quantity, price, status, created_at) values
    (1, 1, 1, 2, 10.00, 'pending', '2024-05-01 10:00:00+00'),
    (2, 1, 1, 2, NULL, 'pending', '2024-05-01 10:00:00+00'),
    (3, 1, 1, NULL, 3.00, 'pending', '2024-05-01 10:00:00+00'),
    (4, 1, 1, 1, -1.00, 'pending', '2024-05-01 10:00:00+00'),
    (5, 1, 1, 0, 3.00, 'pending', '2024-05-01 10:00:00+00')`);
  await waitFor("fact_orders holds order 1 only", async () => JSON.stringify(await wh.unsafe("select order_id::int id from fact_orders order by 1").catch(() => [])) === JSON.stringify([{ id: 1 }]), 30_000, () => serve.logs);
  await waitFor("summary counts order 1 only", async () => JSON.stringify(await wh.unsafe("select order_count::int n, total_amount::text t from daily_order_summary").catch(() => [])) === JSON.stringify([{ n: 1, t: "20.00" }]), 30_000, () => serve.logs);
  const dl = await serve.run(["dlq", "list", "--json", "--pipeline", "fact_orders"]);
  expect(dl.code).toBe(0);
  const reasons = dl.stdout.trim().split("\n").map((l) => JSON.parse(l) as { error: string; row: { order_id: number } }).map((d) => [d.row.order_id, d.error]);
  expect(reasons).toEqual([
    [2, "price is NULL"],
    [3, "quantity is NULL"],
    [4, "negative price"],
    [5, "quantity is not positive"],
  ]);
}, 60_000);
