/**
 * Odd rows through examples/warehouse.yaml and examples/orders.yaml with the compiled binary:
 * - an order whose numeric price is NaN used to stop the engine (a RangeError out of the
 *   operators, again on every restart); it goes to the DLQ and the pipelines go on;
 * - an order updated to a negative price stayed in fact_orders (stale) while daily_order_summary
 *   dropped it; now it leaves both, and comes back to both once fixed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { generate, Serve, waitFor } from "./harness.ts";

let src: postgres.Sql;
let wh: postgres.Sql;
const serves: Serve[] = [];

beforeAll(async () => {
  const pg = await sharedPg("system");
  const srcUrl = pg.url(await createDatabase(pg, "e2e_odd_src"));
  const whUrl = pg.url(await createDatabase(pg, "e2e_odd_dst"));
  src = postgres(srcUrl, { max: 1, onnotice: () => {}, connection: { TimeZone: "UTC" } });
  wh = postgres(whUrl, { max: 1, onnotice: () => {}, connection: { TimeZone: "UTC" } });
  await generate(srcUrl, ["--dataset", "orders", "--init", "--count", "1", "--seed", "3"]);
  await src.unsafe("delete from orders");
  // one at a time: both examples create cdc_engine_offsets in the same warehouse database
  for (const example of ["warehouse", "orders"]) {
    const s = new Serve(example, { SOURCE_URL: srcUrl, WAREHOUSE_URL: whUrl });
    await s.start();
    serves.push(s);
  }
});

afterAll(async () => {
  for (const s of serves) await s.stop();
  await src?.end();
  await wh?.end();
});

test("a NaN price goes to the DLQ and the engine goes on; an order updated to invalid leaves fact_orders and the summary", async () => {
  const ins = (id: number, price: string) => src.unsafe(`insert into orders (order_id, customer_id, product_id, quantity, price, status, created_at) values (${id}, 1, 1, 2, '${price}', 'pending', '2024-05-01 10:00:00+00')`);
  await ins(1, "10.00");
  await ins(2, "NaN");
  await ins(3, "5.00");
  const facts = () => wh.unsafe("select order_id::int as id, amount::text from fact_orders order by 1");
  const summary = () => wh.unsafe("select order_count::int as n, total_amount::text as total from daily_order_summary");
  const orderAgg = () => wh.unsafe("select order_count::int as n, gross_sales::text as gross from order_agg").catch(() => []);
  await waitFor("fact_orders has 1 and 3", async () => JSON.stringify(await facts().catch(() => [])) === JSON.stringify([{ id: 1, amount: "20.00" }, { id: 3, amount: "10.00" }]), 30_000, () => serves.map((s) => s.logs).join("\n"));
  await waitFor("summary counts 1 and 3", async () => JSON.stringify(await summary().catch(() => [])) === JSON.stringify([{ n: 2, total: "30.00" }]), 30_000);
  // the windowed pipeline too: its window (long closed) holds 1 and 3 once the idle watermark passes it
  await waitFor("order_agg holds 1 and 3", async () => JSON.stringify(await orderAgg()) === JSON.stringify([{ n: 2, gross: "30.00" }]), 30_000, () => serves[1].logs);
  for (const s of serves) expect(s.proc?.exitCode ?? null).toBeNull();

  await src.unsafe("update orders set price = -1 where order_id = 1");
  await waitFor("order 1 left fact_orders", async () => JSON.stringify(await facts()) === JSON.stringify([{ id: 3, amount: "10.00" }]), 30_000);
  await waitFor("and the summary", async () => JSON.stringify(await summary()) === JSON.stringify([{ n: 1, total: "10.00" }]), 30_000);
  await src.unsafe("update orders set price = 4 where order_id = 1");
  await waitFor("order 1 is back", async () => JSON.stringify(await facts()) === JSON.stringify([{ id: 1, amount: "8.00" }, { id: 3, amount: "10.00" }]), 30_000);
  await waitFor("summary again", async () => JSON.stringify(await summary()) === JSON.stringify([{ n: 2, total: "18.00" }]), 30_000);

  const dl = await serves[0].run(["dlq", "list", "--json"]);
  expect(dl.code).toBe(0);
  expect(dl.stdout).toContain("numeric value 'NaN' is not supported in expressions (exact decimals have no NaN or Infinity)");
  expect(dl.stdout).toContain("negative price");
}, 120_000);
