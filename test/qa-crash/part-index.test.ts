/**
 * A transaction larger than source.memory_budget reaches the engine in parts; each record keeps a
 * (commit LSN, index) identity across the parts (Redis stream entry IDs, HTTP Idempotency-Key and
 * envelope source.index, BigQuery insertId). With a second pipeline reading another table, a
 * mirror numbered a part's changes before dropping that table's, and the next part started
 * counting after the kept ones only: 162 records shared their index with others. The Redis stream
 * refused them as already there (764 entries lost in the QA run) and a receiver de-duplicating by
 * lsn + index lost them too. Run with kill -9 too: the indexes are the same after a restart.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import Redis from "ioredis";
import postgres from "postgres";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { requireRedis } from "../helpers/index.ts";
import { ConfigServe, sourceAndWarehouse, waitFor } from "../e2e/harness.ts";

const N = 6000;
let src: postgres.Sql;
let wh: postgres.Sql;
let redis: Redis;
let rx: HttpReceiver;
let serve: ConfigServe;
const prefix = `qa_part_${Math.random().toString(36).slice(2, 8)}:`;

beforeAll(async () => {
  const db = await sourceAndWarehouse("qa_part_index");
  ({ src, wh } = db);
  await src.unsafe(`create table other (id int primary key, v text); create table ev (id int primary key, v text)`);
  redis = new Redis(await requireRedis());
  rx = new HttpReceiver({});
  serve = new ConfigServe(
    "part-index",
    `
source: { url: "\${SOURCE_URL}", slot: "\${CDC_SLOT}", publication: "\${CDC_PUBLICATION}", memory_budget: 1MiB }
state: { dir: "\${CDC_STATE_DIR}", checkpoint_interval: 1s }
api: { listen: "\${CDC_LISTEN}" }
sinks:
  pg: { type: postgres, url: "\${WAREHOUSE_URL}" }
  rd: { type: redis, url: "${await requireRedis()}", key_prefix: "${prefix}" }
  hook: { type: http, url: "${rx.url}", payload: envelope, batch_size: 50 }
pipelines:
  - { name: both, from: [public.other, public.ev], to: pg }
  - { name: hook, from: public.ev, to: hook }
  - { name: stream, from: public.ev, to: { sink: rd, type: stream, key_template: "ev" } }
`,
    db.env,
  );
  await serve.start();
});

afterAll(async () => {
  await serve?.stop();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis?.disconnect();
  rx?.stop();
  await src?.end();
  await wh?.end();
});

const records = () => [...rx.byKey.values()].flatMap((b) => [JSON.parse(b)].flat() as { source: { lsn: number; index: number }; after: { id: number } }[]);

test("one transaction in parts, the other pipeline's table first: every record of ev once, by (lsn, index) and in the stream", async () => {
  await waitFor("a checkpoint", async () => ((await serve.status()) as { checkpoint: unknown }).checkpoint, 30_000, () => serve.logs);
  // Rows of `other` first: the parts that hold the start of ev's rows hold some of them too.
  await src.begin(async (t) => {
    await t.unsafe(`insert into other select g, repeat('x', 50) from generate_series(1, ${N}) g`);
    await t.unsafe(`insert into ev select g, 'e' from generate_series(1, ${N}) g`);
  });
  await Bun.sleep(300);
  serve.kill(); // maybe mid-way: the same indexes come again
  await Bun.sleep(200);
  await serve.start();
  const sinkCount = async () => (await wh.unsafe(`select count(*)::int n from ev`).catch(() => [{ n: 0 }]))[0].n;
  await waitFor("ev at the receiver and in the postgres sink", async () => new Set(records().map((r) => r.after.id)).size >= N && (await sinkCount()) === N, 60_000, () => serve.logs);
  await Bun.sleep(1500); // the stream pipeline's last batch
  const recs = records();
  const ids = new Set(recs.map((r) => `${r.source.lsn}:${r.source.index}`));
  expect(new Set(recs.map((r) => r.after.id)).size).toBe(N);
  expect(ids.size).toBe(N); // before: 162 identities held two records each
  expect(await redis.xlen(`${prefix}ev`)).toBe(N); // before: entries refused as "not greater than the top"
  expect(await sinkCount()).toBe(N);
}, 80_000);
