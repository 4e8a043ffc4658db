/**
 * Initial-snapshot chunks all carry one LSN (the slot's consistent point). Sinks that fence by
 * their stored position (mysql, redis, http, bigquery) dropped every chunk after the first one
 * (position == chunk LSN looked like "already written"), and the http/bigquery identities
 * (lsn, index) repeated from chunk to chunk. The runtime drives all four sinks here with a fake
 * source: three tables' snapshots in several chunks, then streamed transactions.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import Redis from "ioredis";
import { requireMysql, requireRedis } from "../helpers/index.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { BigQueryServer } from "../helpers/bigquery-server.ts";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { FakeSource, col, relation, txn, ins, upd } from "../engine/fake-source.ts";
import type { Change, Relation, Txn } from "../../src/types.ts";
import { uniq } from "./helpers.ts";

const log = createLogger({ level: "silent" });
let my: mysql.Connection;
let redis: Redis;
let mysqlUrl: string;
let redisUrl: string;
const db = uniq("cdc_snap");
const prefix = uniq("snap") + ":";

beforeAll(async () => {
  mysqlUrl = await requireMysql();
  redisUrl = await requireRedis();
  my = await mysql.createConnection({ uri: mysqlUrl, supportBigNumbers: true, bigNumberStrings: true });
  redis = new Redis(redisUrl);
});
afterAll(async () => {
  await my.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await my.end();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const read = (rel: Relation, after: Record<string, unknown>): Change => ({ op: "read", table: rel.table, relation: rel, key: { id: after.id }, before: null, after });

describe("initial snapshot in several chunks through the position-fenced sinks", () => {
  test("mysql, redis, http and bigquery get every row of every chunk once, then the stream", async () => {
    const rx = new HttpReceiver();
    const bq = new BigQueryServer("snap");
    try {
      const stateDir = mkdtempSync(join(tmpdir(), "cdc-snap-"));
      const tables = ["a", "b", "c"];
      const cfg = parseConfig(
        `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${stateDir}", checkpoint_interval: 100ms }
sinks:
  mart: { type: mysql, url: "${mysqlUrl}", database: ${db}, batch_size: 40 }
  cache: { type: redis, url: "${redisUrl}", key_prefix: "${prefix}", batch_size: 40, batch_delay: 10ms }
  hook: { type: http, url: "${rx.url}", payload: envelope, batch_size: 40, batch_delay: 10ms }
  bq: { type: bigquery, access_token: test-token, project: snap, dataset: d, api_endpoint: "${bq.endpoint}", batch_size: 40, flush_interval: 10ms }
pipelines:
${tables
  .map(
    (t) => `  - { name: ${t}_mart, from: public.${t}, to: mart }
  - { name: ${t}_cache, from: public.${t}, to: { sink: cache, type: hash, key_template: "${t}:{id}" } }
  - { name: ${t}_hook, from: public.${t}, to: hook }
  - { name: ${t}_bq, from: public.${t}, to: { sink: bq, table: ${t} } }`,
  )
  .join("\n")}
`,
        "test.yaml",
        {},
      );
      const rels = tables.map((t, i) => relation(`public.${t}`, [col("id", "integer", 23, true), col("v", "text", 25)], "d", i + 1));
      // 3 tables × 250 rows in 50-row chunks, all at the snapshot's LSN; then two streamed transactions.
      const snapLsn = 0x500n;
      const txns: Txn[] = [];
      for (const rel of rels) {
        for (let c = 0; c < 5; c++) {
          const changes = Array.from({ length: 50 }, (_, i) => read(rel, { id: c * 50 + i + 1, v: `${rel.table}#${c * 50 + i + 1}` }));
          txns.push({ lsn: snapLsn, endLsn: snapLsn, xid: 0, commitTime: 1_700_000_000_000_000n, changes, snapshot: true });
        }
      }
      txns.push(txn([ins(rels[0], { id: 1000, v: "streamed" })]));
      txns.push(txn([upd(rels[1], { id: 1, v: "updated" })]));
      const source = new FakeSource(txns);
      const rt = await startRuntime(cfg, log, { source });
      const last = txns.at(-1)!.lsn;
      for (let i = 0; i < 400 && (source.confirmed.at(-1) ?? 0n) < last; i++) await Bun.sleep(25);
      await rt.stop();
      expect(await rt.done).toBeNull();

      const want = (t: string) => 250 + (t === "a" ? 1 : 0);
      for (const t of tables) {
        const [rows] = await my.query(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM \`${db}\`.\`${t}\``);
        const r0 = (rows as { n: string; d: string }[])[0];
        expect([Number(r0.n), Number(r0.d)]).toEqual([want(t), want(t)]);
        expect((await redis.keys(`${prefix}${t}:*`)).length).toBe(want(t));
        const got = bq.table("d", t)!.rows.map((r) => Number((r as { id: unknown }).id));
        expect(got.length).toBe(250 + (t === "c" ? 0 : 1)); // BigQuery appends: b's update is a row of its own
        expect(new Set(got).size).toBe(want(t));
      }
      expect(await redis.hget(`${prefix}b:1`, "v")).toBe("updated");
      const [b1] = await my.query(`SELECT v FROM \`${db}\`.\`b\` WHERE id = 1`);
      expect((b1 as { v: string }[])[0].v).toBe("updated");
      // The webhook: every row in exactly one stored request (one copy per Idempotency-Key).
      const hooked = new Map<string, number>();
      for (const body of rx.byKey.values()) {
        for (const r of JSON.parse(body) as { after: { id: number }; source: { schema: string; table: string } }[]) {
          const k = `${r.source.schema}.${r.source.table}:${r.after.id}`;
          hooked.set(k, (hooked.get(k) ?? 0) + 1);
        }
      }
      for (const t of tables) for (let id = 1; id <= 250; id++) expect(hooked.get(`public.${t}:${id}`) ?? 0).toBe(t === "b" && id === 1 ? 2 : 1);
      expect(hooked.get("public.a:1000")).toBe(1);
    } finally {
      rx.stop();
      bq.stop();
    }
  });
});
