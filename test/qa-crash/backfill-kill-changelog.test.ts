/**
 * Pipelines added to a running deployment into change-log sinks (a webhook, a Redis stream), the
 * engine killed (-9) while it backfills them. Each start reads the backfill again whole, in a new
 * snapshot; its rows were named by that snapshot's LSN, so a row read again unchanged went out
 * under a new Idempotency-Key and as a new stream entry (QA: 24,698 of 30,762 rows twice at the
 * receiver after 4 kills). Now a backfill keeps one name across its reads (backfill.json).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import Redis from "ioredis";
import postgres from "postgres";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { requireRedis } from "../helpers/index.ts";
import { ConfigServe, sourceAndWarehouse, waitFor } from "../e2e/harness.ts";

const N = 20_000;
let src: postgres.Sql;
let wh: postgres.Sql;
let redis: Redis;
let rx: HttpReceiver;
let serve: ConfigServe;
const prefix = `qa_bf_${Math.random().toString(36).slice(2, 8)}:`;

beforeAll(async () => {
  const db = await sourceAndWarehouse("qa_backfill_log");
  ({ src, wh } = db);
  await src.unsafe(`create table t (id int primary key, v text); insert into t select g, 'v' || g from generate_series(1, ${N}) g`);
  redis = new Redis(await requireRedis());
  rx = new HttpReceiver({});
  serve = new ConfigServe(
    "backfill-log",
    `
source: { url: "\${SOURCE_URL}", slot: "\${CDC_SLOT}", publication: "\${CDC_PUBLICATION}", snapshot_chunk_size: 500 }
state: { dir: "\${CDC_STATE_DIR}", checkpoint_interval: 1s }
api: { listen: "\${CDC_LISTEN}" }
sinks:
  pg: { type: postgres, url: "\${WAREHOUSE_URL}" }
  rd: { type: redis, url: "${await requireRedis()}", key_prefix: "${prefix}" }
  hook: { type: http, url: "${rx.url}", payload: envelope, batch_size: 100 }
pipelines:
  - { name: mirror, from: public.t, to: pg }
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

const records = () => [...rx.byKey.values()].flatMap((b) => [JSON.parse(b)].flat() as { op: string; after: { id: number } }[]);

test("kill -9 three times mid-backfill of a webhook and a Redis stream pipeline: each row once at both", async () => {
  const count = async () => (await wh.unsafe(`select count(*)::int n from t`).catch(() => [{ n: 0 }]))[0].n;
  await waitFor("the mirror's snapshot and a checkpoint", async () => (await count()) === N && ((await serve.status()) as { checkpoint: unknown }).checkpoint, 60_000, () => serve.logs);
  expect(await serve.stop()).toBe(0);
  writeFileSync(serve.config, readFileSync(serve.config, "utf8") + `  - { name: hook, from: public.t, to: hook }\n  - { name: stream, from: public.t, to: { sink: rd, type: stream, key_template: "ev" } }\n`);
  let kills = 0;
  for (let i = 0; i < 3; i++) {
    await serve.start();
    // mid-backfill: some of its rows are out (a few requests, some stream entries), not all
    await waitFor("part of the backfill out", async () => records().length >= 1000 * (i + 1) || (await redis.xlen(`${prefix}ev`)) >= 1000 * (i + 1), 30_000, () => serve.logs);
    serve.kill();
    kills++;
    await Bun.sleep(300);
  }
  await serve.start();
  await waitFor("every row at the receiver and in the stream", async () => new Set(records().map((r) => r.after.id)).size >= N && (await redis.xlen(`${prefix}ev`)) >= N, 60_000, () => serve.logs);
  await Bun.sleep(1500);
  const recs = records();
  console.log(`[qa-crash backfill] ${kills} kills: ${recs.length} records at the receiver, ${await redis.xlen(`${prefix}ev`)} stream entries for ${N} rows`);
  expect(recs.length).toBe(N); // before: rows read again went out again under new keys
  expect(new Set(recs.map((r) => r.after.id)).size).toBe(N);
  expect(await redis.xlen(`${prefix}ev`)).toBe(N);
}, 85_000);
