/**
 * Scenario 4 (examples/warehouse.yaml, compiled binary): "validated and cleansed: trimmed,
 * normalized status". `generate --dirty` writes statuses such as '  pending\t'; the example's
 * LOWER(TRIM(status)) removes spaces only (SQL TRIM), so 'pending\t' stayed in fact_orders and
 * daily_order_summary held a second 'pending\t' row per day beside 'pending'. Now tabs and line
 * breaks are trimmed too: every status is one of the five, and the summary has one row per
 * (day, status), equal to SQL over the source with the same cleansing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { generate, type Serve, waitFor, warehouseOnOrders } from "./harness.ts";

let src: postgres.Sql;
let wh: postgres.Sql;
let serve: Serve;
let srcUrl = "";
const VALID = "customer_id is not null and product_id is not null and quantity > 0 and price >= 0";
const CLEAN = "lower(trim(both E' \\t\\r\\n' from status))";

beforeAll(async () => {
  ({ src, wh, srcUrl, serve } = await warehouseOnOrders("e2e_qa_wh", 5, true));
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await wh?.end();
});

test("dirty statuses (tabs, line breaks, case) are cleansed: one summary row per day and status", async () => {
  await src.unsafe(`insert into orders (order_id, customer_id, product_id, quantity, price, status, created_at) values
    (1000001, 1, 1, 1, 10.00, '  pending' || chr(9), '2024-05-01 10:00:00+00'),
    (1000002, 1, 1, 2, 10.00, 'PENDING ', '2024-05-01 11:00:00+00'),
    (1000003, 1, 1, 3, 10.00, 'Pending', '2024-05-01 12:00:00+00'),
    (1000004, 1, 1, 1, 7.50, chr(9) || 'Shipped' || chr(13) || chr(10), '2024-05-01 12:00:00+00'),
    (1000005, 1, 1, 1, 1.00, 'shipped', '2024-05-01 23:59:59.999999+00')`);
  const summary = () => wh.unsafe("select order_date::text d, status, order_count::int n, total_amount::text total from daily_order_summary order by 1, 2").then((r) => JSON.stringify(r)).catch(() => "");
  const want = JSON.stringify([
    { d: "2024-05-01", status: "pending", n: 3, total: "60.00" },
    { d: "2024-05-01", status: "shipped", n: 2, total: "8.50" },
  ]);
  await waitFor("summary of the five rows", async () => (await summary()) === want, 30_000, () => serve.logs).catch(async (e) => {
    console.log(await summary());
    throw e;
  });
  // an update to a dirty spelling of the same status leaves the groups as they are; to another status, moves it
  await src.unsafe(`update orders set status = 'SHIPPED' || chr(9) where order_id = 1000003`);
  await waitFor("order 3 moved to shipped", async () => (await summary()) === JSON.stringify([
    { d: "2024-05-01", status: "pending", n: 2, total: "30.00" },
    { d: "2024-05-01", status: "shipped", n: 3, total: "38.50" },
  ]), 30_000, () => serve.logs);

  // the generator's own dirty statuses
  await generate(srcUrl, ["--dataset", "orders", "--count", "300", "--seed", "9", "--dirty", "0.5", "--updates", "0.2", "--deletes", "0.05"]);
  const oracle = JSON.stringify(await src.unsafe(`select created_at::date::text d, ${CLEAN} status, count(*)::int n, sum(quantity * price)::text total
    from orders where ${VALID} group by 1, 2 order by 1, 2`));
  await waitFor("summary equals SQL", async () => (await summary()) === oracle, 60_000, () => serve.logs).catch(async (e) => {
    console.log(await summary(), oracle);
    throw e;
  });
  const statuses = (await wh.unsafe("select distinct status from fact_orders order by 1")).map((r) => r.status);
  expect(statuses.every((s) => ["cancelled", "delivered", "pending", "processing", "shipped"].includes(s as string))).toBe(true);
  expect((await src.unsafe(`select count(*)::int n from orders where status like '%' || chr(9)`))[0]!.n).toBeGreaterThan(0);
}, 90_000);
