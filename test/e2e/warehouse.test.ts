/**
 * Scenario 4: examples/warehouse.yaml with the compiled binary, while the generator's simulate
 * mode issues status changes and deletes. At the end daily_order_summary equals SQL over the
 * source, fact_orders holds exactly the valid orders (cleansed), and every invalid order is in
 * the DLQ with its reason.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { generate, type Serve, waitFor, warehouseOnOrders } from "./harness.ts";

let src: postgres.Sql;
let wh: postgres.Sql;
let serve: Serve;
let srcUrl = "";

const VALID = "customer_id is not null and product_id is not null and quantity > 0 and price >= 0";

beforeAll(async () => {
  ({ src, wh, srcUrl, serve } = await warehouseOnOrders("e2e_wh", 5, false));
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await wh?.end();
});

const summaryOracle = () =>
  src.unsafe(`select to_char(created_at::date, 'YYYY-MM-DD') as d, lower(trim(both E' \\t\\r\\n' from status)) as status, count(*)::int as n,
                     sum(quantity * price)::text as total, round(avg(quantity * price), 6)::text as avg
              from orders where ${VALID} group by 1, 2 order by 1, 2`);
const summary = () =>
  wh.unsafe(`select to_char(order_date, 'YYYY-MM-DD') as d, status, order_count::int as n, total_amount::numeric::text as total,
                    round(avg_amount::numeric, 6)::text as avg
             from daily_order_summary order by 1, 2`);
const factOracle = () =>
  src.unsafe(`select order_id::text, customer_id, lower(trim(both E' \\t\\r\\n' from status)) as status, (quantity * price)::text as amount
              from orders where ${VALID} order by order_id`);
const facts = () => wh.unsafe(`select order_id::text, customer_id, status, amount::numeric::text as amount from fact_orders order by order_id`);

test("daily_order_summary and fact_orders equal SQL under updates/deletes; invalid rows in the DLQ", async () => {
  const t0 = performance.now();
  const runs = [
    ["--count", "800", "--seed", "21", "--updates", "0.3", "--deletes", "0.05", "--invalid", "0.05", "--dirty", "0.1"],
    ["--count", "400", "--seed", "22", "--updates", "0.4", "--deletes", "0.1", "--invalid", "0.05", "--dirty", "0.1", "--rate", "400/s"],
  ];
  for (const r of runs) await generate(srcUrl, ["--dataset", "orders", ...r]);
  const genDone = performance.now();
  const want = await summaryOracle();
  const changes = (await src.unsafe("select count(*)::int n, count(*) filter (where not (" + VALID + ") or customer_id is null or price is null)::int bad from orders"))[0]!;
  expect(want.length).toBeGreaterThan(2);
  expect(changes.bad).toBeGreaterThan(0);
  await waitFor("daily_order_summary = SQL", async () => JSON.stringify(await summary().catch(() => [])) === JSON.stringify([...want]), 90_000, () => serve.logs);
  const caughtUp = performance.now();
  expect([...(await summary())]).toEqual([...want]);
  await waitFor("fact_orders = SQL", async () => JSON.stringify(await facts().catch(() => [])) === JSON.stringify([...(await factOracle())]), 30_000, () => serve.logs).catch(async (e) => {
    const [a, b] = [await facts(), await factOracle()];
    const ka = new Map(a.map((r) => [r.order_id, JSON.stringify(r)]));
    const kb = new Map(b.map((r) => [r.order_id, JSON.stringify(r)]));
    const miss = b.filter((r) => !ka.has(r.order_id)); const st: Record<string, number> = {}; for (const r of miss) st[r.status as string] = (st[r.status as string] ?? 0) + 1; const stAll: Record<string, number> = {}; for (const r of b) stAll[r.status as string] = (stAll[r.status as string] ?? 0) + 1; console.log("missing by status", st, "all", stAll);
    console.log("fact diffs", [...kb].filter(([k, v]) => ka.get(k) !== v).slice(0, 5), [...ka].filter(([k, v]) => kb.get(k) !== v).slice(0, 5), a.length, b.length);
    throw e;
  });
  // dirty statuses were cleansed
  expect((await wh.unsafe("select count(*)::int n from fact_orders where status <> lower(trim(both E' \\t\\r\\n' from status))"))[0]!.n).toBe(0);

  // every invalid order still in the source was sent to the DLQ with its reason
  const dl = await serve.run(["dlq", "list", "--pipeline", "fact_orders", "--json", "--limit", "100000"]);
  expect(dl.code).toBe(0);
  const text = dl.stdout;
  const bad = await src.unsafe(`select order_id::text, customer_id, price::text from orders where not coalesce(${VALID}, false)`);
  expect(bad.length).toBeGreaterThan(0);
  for (const b of bad) {
    expect(text).toContain(b.order_id as string);
  }
  expect(text).toContain(bad.some((b) => b.customer_id === null) ? "customer_id is NULL" : "negative price");
  const n = (await src.unsafe("select count(*)::int n from orders"))[0]!.n;
  console.log(`[e2e warehouse] ${n} orders left after updates/deletes, ${bad.length} invalid; generate ${((genDone - t0) / 1000).toFixed(1)} s, summary equal ${((caughtUp - genDone) / 1000).toFixed(1)} s after the generator ended`);
}, 180_000);
