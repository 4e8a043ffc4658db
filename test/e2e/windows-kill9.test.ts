/**
 * Kill -9 during windowed processing: the compiled binary runs a tumbling (1 min) and a sliding
 * (3 min / 1 min) window per customer into Postgres while a workload inserts, updates (moving rows
 * between windows and between customers) and deletes orders; the engine is SIGKILLed several
 * times and restarted. At the end both sink tables equal SQL GROUP BY over the source.
 * The source table has the default replica identity: updates and deletes carry no old row, so
 * retractions come from the operator state restored from the checkpoint.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { ConfigServe, sourceAndWarehouse, waitFor } from "./harness.ts";

const CONFIG = `
source: { url: "\${SOURCE_URL}", slot: "\${CDC_SLOT}", publication: "\${CDC_PUBLICATION}" }
state: { dir: "\${CDC_STATE_DIR}", checkpoint_interval: 1s }
api: { listen: "\${CDC_LISTEN}" }
sinks:
  pg: { type: postgres, url: "\${WAREHOUSE_URL}" }
pipelines:
  - name: per_minute
    from: public.orders
    window: { type: tumbling, size: 1m, time: created_at, key: [customer_id], lateness: 5s, idle_timeout: 2s }
    aggregate: { gross_sales: SUM(quantity * price), order_count: COUNT(*) }
    to: { sink: pg, table: per_minute, key: [customer_id, window_start] }
  - name: per_3min
    from: public.orders
    window: { type: sliding, size: 3m, slide: 1m, time: created_at, key: [customer_id], lateness: 5s, idle_timeout: 2s }
    aggregate: { gross_sales: SUM(quantity * price), order_count: COUNT(*) }
    to: { sink: pg, table: per_3min, key: [customer_id, window_start] }
`;

let src: postgres.Sql;
let wh: postgres.Sql;
let serve: ConfigServe;

beforeAll(async () => {
  const db = await sourceAndWarehouse("e2e_win_kill", { TimeZone: "UTC" });
  ({ src, wh } = db);
  await src.unsafe(`create table orders (order_id bigserial primary key, customer_id int, product_id int, quantity int, price numeric(10,2), status text, created_at timestamptz default now())`);
  serve = new ConfigServe("windows-kill9", CONFIG, db.env);
  await serve.start();
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await wh?.end();
});

// created_at 4..30 minutes back: every window has ended once the idle watermark (now − 2 s − 5 s) passes
const AT = `now() - interval '4 minutes' - random() * interval '26 minutes'`;

/** One source transaction of the workload: inserts, updates that move rows, deletes. */
async function step(i: number): Promise<void> {
  await src.begin(async (sql) => {
    await sql.unsafe(`insert into orders (customer_id, product_id, quantity, price, status, created_at)
                      select 1 + (random() * 9)::int, 1, 1 + (random() * 4)::int, round((random() * 100)::numeric, 2), 'new', ${AT} from generate_series(1, 5)`);
    if (i % 2 === 0) await sql.unsafe(`update orders set created_at = ${AT} where order_id = (select order_id from orders order by random() limit 1)`); // another window
    if (i % 3 === 0) await sql.unsafe(`update orders set customer_id = 1 + (random() * 9)::int, quantity = quantity + 1 where order_id = (select order_id from orders order by random() limit 1)`); // another key
    if (i % 4 === 0) await sql.unsafe(`delete from orders where order_id = (select order_id from orders order by random() limit 1)`);
  });
}

const oracleMinute = () =>
  src.unsafe(`select customer_id, to_char(date_trunc('minute', created_at), 'YYYY-MM-DD HH24:MI') ws, sum(quantity * price)::text gross, count(*)::int n
              from orders group by 1, 2 order by 1, 2`);
const oracle3min = () =>
  src.unsafe(`select customer_id, to_char(ws, 'YYYY-MM-DD HH24:MI') ws, sum(quantity * price)::text gross, count(*)::int n
              from orders, generate_series(date_trunc('minute', created_at) - interval '2 minutes', date_trunc('minute', created_at), interval '1 minute') ws
              group by 1, 2 order by 1, 2`);
const sink = (table: string) =>
  wh.unsafe(`select customer_id, to_char(window_start, 'YYYY-MM-DD HH24:MI') ws, gross_sales::numeric::text gross, order_count::int n from ${table} order by 1, 2`).catch(() => []);

test("SIGKILL three times during windowed processing with updates and deletes: both sinks equal SQL GROUP BY", async () => {
  let kills = 0;
  let i = 0;
  const t0 = Date.now();
  const killAt = [4_000, 9_000, 14_000];
  while (Date.now() - t0 < 20_000) {
    await step(i++);
    if (kills < killAt.length && Date.now() - t0 >= killAt[kills]!) {
      const status = (await serve.status()) as { checkpoint: { lsn: string } | null; pipelines: { lsn: string | null }[] };
      expect(status.checkpoint).not.toBeNull(); // killed with state checkpointed and more processed after it
      const p = serve.proc;
      serve.kill();
      await p?.exited;
      kills++;
      await step(i++); // a change while the engine is down
      await serve.start();
    }
    await Bun.sleep(20);
  }
  expect(kills).toBe(3);
  const steps = i;
  const [{ n }] = await src.unsafe(`select count(*)::int n from orders`);
  const wantMinute = await oracleMinute();
  const want3 = await oracle3min();
  expect(wantMinute.length).toBeGreaterThan(100);
  let last = "";
  const same = (name: string, got: postgres.RowList<postgres.Row[]> | never[], want: postgres.RowList<postgres.Row[]>) => {
    const a = JSON.stringify(got);
    const b = JSON.stringify([...want]);
    if (a !== b) last = `${name}: sink ${got.length} rows, SQL ${want.length}; first difference at ${[...want].findIndex((w, k) => JSON.stringify(w) !== JSON.stringify(got[k]))}`;
    return a === b;
  };
  await waitFor("both window tables = SQL GROUP BY", async () => same("per_minute", await sink("per_minute"), wantMinute) && same("per_3min", await sink("per_3min"), want3), 90_000, () => serve.logs + "\n" + last);
  expect([...(await sink("per_minute"))]).toEqual([...wantMinute]);
  expect([...(await sink("per_3min"))]).toEqual([...want3]);
  console.log(`[e2e windows kill -9] ${steps} source transactions (${n} orders left), ${kills} SIGKILLs; per_minute ${wantMinute.length} rows and per_3min ${want3.length} rows equal SQL`);
}, 240_000);
