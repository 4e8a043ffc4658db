/**
 * Sink throughput on this machine: `bun test/sinks/bench-sinks.ts [rows]` (default 50,000).
 * Real MariaDB and Redis (as in the tests); the http and bigquery sinks against the local
 * receiver/REST server. Rows are engagement-shaped (8 columns), 5,000 per batch.
 */
import mysql from "mysql2/promise";
import Redis from "ioredis";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { RedisSink } from "../../src/sinks/redis/index.ts";
import { redisSinkConfig } from "../../src/sinks/redis/config.ts";
import { HttpSink } from "../../src/sinks/http/index.ts";
import { httpSinkConfig } from "../../src/sinks/http/config.ts";
import { BigquerySink } from "../../src/sinks/bigquery/index.ts";
import { bigquerySinkConfig } from "../../src/sinks/bigquery/config.ts";
import type { Sink } from "../../src/sinks/sink.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { BigQueryServer } from "../helpers/bigquery-server.ts";
import { mysqlUrl, redisUrl } from "../helpers/services.ts";
import { batch, col, context, numericMod, OID, rec, table, uniq } from "./helpers.ts";

const N = Number(process.argv[2] ?? 50_000);
const PER_BATCH = 5000;
const t = table(
  "bench_events",
  [col("id", OID.int8, { key: true }), col("content_id", OID.uuid), col("event_type", OID.text), col("event_ts", OID.timestamptz), col("duration_ms", OID.int4), col("engagement_seconds", OID.numeric, { typeMod: numericMod(12, 3) }), col("device", OID.text), col("raw_payload", OID.jsonb)],
  ["id"],
);
const batches = Array.from({ length: Math.ceil(N / PER_BATCH) }, (_, b) =>
  batch(
    "bench",
    Array.from({ length: Math.min(PER_BATCH, N - b * PER_BATCH) }, (_, i) => {
      const id = b * PER_BATCH + i + 1;
      return rec(t, "upsert", { id: BigInt(id), content_id: `00000000-0000-0000-0000-${String(id % 500).padStart(12, "0")}`, event_type: "play", event_ts: "2024-05-01 10:00:00.123456+00", duration_ms: 1500 + (id % 100), engagement_seconds: `${id % 1000}.125`, device: "ios", raw_payload: '{"k": 1}' }, BigInt(1000 + b), i);
    }),
  ),
);

async function run(name: string, sink: Sink, targets: { pipeline: string; options: Record<string, unknown> }[]) {
  await sink.open(context(name, targets));
  const t0 = performance.now();
  for (const b of batches) await sink.write(b);
  const s = (performance.now() - t0) / 1000;
  await sink.close();
  console.log(`${name.padEnd(28)} ${N} rows in ${s.toFixed(2)} s = ${Math.round(N / s).toLocaleString("en-US")} rows/s`);
}

const db = uniq("cdc_bench");
await run("mysql (MariaDB upsert)", new MysqlSink(mysqlSinkConfig.parse({ url: mysqlUrl(), database: db })), []);
const admin = await mysql.createConnection({ uri: mysqlUrl() });
await admin.query(`DROP DATABASE \`${db}\``);
await admin.end();

const prefix = uniq("bench") + ":";
await run("redis hash + ttl", new RedisSink(redisSinkConfig.parse({ url: redisUrl(), key_prefix: prefix })), [{ pipeline: "bench", options: { type: "hash", key_template: "ev:{id}", ttl: "10m" } }]);
await run("redis zset", new RedisSink(redisSinkConfig.parse({ url: redisUrl(), key_prefix: prefix + "z:" })), [{ pipeline: "bench", options: { type: "zset", key_template: "top", member: "content_id", score: "engagement_seconds" } }]);
const r = new Redis(redisUrl());
const keys = await r.keys(prefix + "*");
for (let i = 0; i < keys.length; i += 1000) await r.del(...keys.slice(i, i + 1000));
r.disconnect();

const rx = new HttpReceiver();
await run("http (500/request, local)", new HttpSink(httpSinkConfig.parse({ url: rx.url, batch_size: 500 })), [{ pipeline: "bench", options: {} }]);
rx.stop();

const bq = new BigQueryServer("bench");
await run("bigquery insertAll (local)", new BigquerySink(bigquerySinkConfig.parse({ access_token: "test-token", project: "bench", dataset: "b", api_endpoint: bq.endpoint })), [{ pipeline: "bench", options: {} }]);
bq.stop();
process.exit(0);
