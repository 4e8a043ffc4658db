/**
 * Scenario 3: examples/orders.yaml with the compiled binary. order_agg must equal
 * SQL GROUP BY customer_id, date_trunc('minute', created_at) over the source for closed windows
 * (all windows here: the generator's seeded clock is in the past, so the idle watermark closes them),
 * including windows that received late rows from a second generator run.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { generate, Serve, waitFor } from "./harness.ts";

let src: postgres.Sql;
let wh: postgres.Sql;
let serve: Serve;
let srcUrl = "";

beforeAll(async () => {
  const pg = await sharedPg("system");
  srcUrl = pg.url(await createDatabase(pg, "e2e_orders_src"));
  const whUrl = pg.url(await createDatabase(pg, "e2e_orders_wh"));
  src = postgres(srcUrl, { max: 1, onnotice: () => {} });
  wh = postgres(whUrl, { max: 1, onnotice: () => {} });
  await generate(srcUrl, ["--dataset", "orders", "--init", "--count", "1", "--seed", "3"]);
  serve = new Serve("orders", { SOURCE_URL: srcUrl, WAREHOUSE_URL: whUrl });
  await serve.start();
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await wh?.end();
});

const oracle = () =>
  src.unsafe(`select customer_id, to_char(date_trunc('minute', created_at) at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as ws,
                     sum(quantity * price)::text as gross, count(*)::int as n
              from orders group by 1, 2 order by 1, 2`);
const agg = () =>
  wh.unsafe(`select customer_id, to_char(window_start at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as ws,
                    extract(epoch from window_end - window_start)::int as secs, gross_sales::numeric::text as gross, order_count::int as n
             from order_agg order by 1, 2`);

test("order_agg equals SQL GROUP BY customer_id, minute, late rows included", async () => {
  const t0 = performance.now();
  await generate(srcUrl, ["--dataset", "orders", "--count", "600", "--seed", "11"]);
  // A second run with another seed restarts the virtual clock: its rows are behind the watermark (late: update).
  await generate(srcUrl, ["--dataset", "orders", "--count", "200", "--seed", "12", "--late", "0.3", "--late-by", "2m"]);
  const genDone = performance.now();
  const want = await oracle();
  expect(want.length).toBeGreaterThan(50);
  const got = await waitFor(
    "order_agg = SQL",
    async () => {
      const rows = await agg().catch(() => []);
      return rows.length === want.length && JSON.stringify(rows.map(({ secs: _s, ...r }) => r)) === JSON.stringify([...want]) ? rows : null;
    },
    90_000,
    () => serve.logs,
  );
  expect(got.every((r) => r.secs === 60)).toBe(true);
  expect(got.map(({ secs: _s, ...r }) => r)).toEqual([...want]);
  const total = (await src.unsafe("select count(*)::int n from orders"))[0]!.n as number;
  console.log(`[e2e orders] ${total} orders, ${want.length} windows; generate ${((genDone - t0) / 1000).toFixed(1)} s, last window written ${((performance.now() - genDone) / 1000).toFixed(1)} s after the generator ended (includes idle_timeout 5s + lateness 5s)`);
  const status = await serve.status();
  expect(status).toBeTruthy();
}, 180_000);
