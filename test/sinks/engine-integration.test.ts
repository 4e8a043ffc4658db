/**
 * The engine's runtime driving these sinks (fake source, real MariaDB and Redis): batching by
 * the engine's SinkWriter, positions read at open, and a full replay from an older slot
 * position applying nothing twice.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import Redis from "ioredis";
import { requireMysql, requireRedis } from "../helpers/index.ts";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { FakeSource, col, relation, txn, ins, upd, del } from "../engine/fake-source.ts";
import type { Txn } from "../../src/types.ts";
import { uniq } from "./helpers.ts";

const log = createLogger({ level: "silent" });
let my: mysql.Connection;
let redis: Redis;
let mysqlUrl: string;
let redisUrl: string;
const db = uniq("cdc_e2e");
const prefix = uniq("e2e") + ":";

beforeAll(async () => {
  mysqlUrl = await requireMysql();
  redisUrl = await requireRedis();
  my = await mysql.createConnection({ uri: mysqlUrl, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  redis = new Redis(redisUrl);
});
afterAll(async () => {
  await my.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await my.end();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

async function runOnce(cfg: ReturnType<typeof parseConfig>, txns: Txn[]) {
  const source = new FakeSource(txns);
  const rt = await startRuntime(cfg, log, { source });
  const last = txns.at(-1)!.lsn;
  for (let i = 0; i < 400 && (source.confirmed.at(-1) ?? 0n) < last; i++) await Bun.sleep(25);
  await rt.stop();
  expect(await rt.done).toBeNull();
  return source;
}

describe("engine → mysql and redis sinks", () => {
  test("mirror into MariaDB and a Redis hash; replay from the start applies nothing twice", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "cdc-e2e-"));
    const cfg = parseConfig(
      `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${stateDir}", checkpoint_interval: 200ms }
sinks:
  mart: { type: mysql, url: "${mysqlUrl}", database: ${db} }
  cache: { type: redis, url: "${redisUrl}", key_prefix: "${prefix}", batch_delay: 20ms }
pipelines:
  - name: accounts_mart
    from: public.accounts
    to: mart
  - name: accounts_cache
    from: public.accounts
    to: { sink: cache, type: hash, key_template: "acc:{id}", ttl: 1h }
`,
      "test.yaml",
      {},
    );
    const acc = relation("public.accounts", [col("id", "integer", 23, true), col("balance", "numeric(20,6)", 1700), col("big", "bigint", 20), col("ts", "timestamp with time zone", 1184)]);
    const txns: Txn[] = [
      txn([ins(acc, { id: 1, balance: "12345678901234.123456", big: 9007199254740993n, ts: "2024-01-02 03:04:05.123456+00" }), ins(acc, { id: 2, balance: "1", big: 1n, ts: null })]),
      txn([upd(acc, { id: 1, balance: "2.5", big: -9223372036854775808n, ts: "2024-01-02 05:04:05.000001+02" })]),
      txn([upd(acc, { id: 3, balance: "3", big: 3n, ts: null }, { id: 2 })]),
      txn([ins(acc, { id: 4, balance: "4", big: 4n, ts: null })]),
      txn([del(acc, { id: 4 })]),
    ];
    const s1 = await runOnce(cfg, txns);
    expect(s1.confirmed.at(-1)).toBe(txns.at(-1)!.lsn);
    const expected = [
      { id: 1, balance: "2.500000", big: "-9223372036854775808", ts: "2024-01-02 03:04:05.000001" },
      { id: 3, balance: "3.000000", big: "3", ts: null },
    ];
    const [rows1] = await my.query(`SELECT * FROM \`${db}\`.accounts ORDER BY id`);
    expect(rows1 as unknown[]).toEqual(expected);
    expect(await redis.hgetall(`${prefix}acc:1`)).toEqual({ id: "1", balance: "2.5", big: "-9223372036854775808", ts: "2024-01-02 05:04:05.000001+02" });
    expect(await redis.exists(`${prefix}acc:2`, `${prefix}acc:4`)).toBe(0);
    expect(await redis.hget(`${prefix}acc:3`, "balance")).toBe("3");

    // Restart from an older slot position: every transaction again, then one new one.
    const more = [...txns, txn([upd(acc, { id: 3, balance: "33", big: 33n, ts: null })])];
    await runOnce(cfg, more);
    const [rows2] = await my.query(`SELECT * FROM \`${db}\`.accounts ORDER BY id`);
    expect(rows2 as unknown[]).toEqual([expected[0], { ...expected[1], balance: "33.000000", big: "33" }]);
    expect(await redis.hget(`${prefix}acc:3`, "balance")).toBe("33");
    const [off] = await my.query(`SELECT pipeline, sink, lsn FROM \`${db}\`.cdc_engine_offsets`);
    expect(off as unknown[]).toEqual([{ pipeline: "accounts_mart", sink: "mart", lsn: more.at(-1)!.lsn.toString() }]);
    expect(await redis.get(`${prefix}cdc_engine:position:cache:accounts_cache`)).toBe(more.at(-1)!.lsn.toString().padStart(20, "0"));
  }, 60_000);
});

describe("engine → redis: output of idle ticks", () => {
  test("a window closed by the idle watermark reaches a sink that fences by position", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "cdc-tick-"));
    const cfg = parseConfig(
      `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${stateDir}", checkpoint_interval: 200ms }
sinks:
  cache: { type: redis, url: "${redisUrl}", key_prefix: "${prefix}", batch_delay: 20ms }
pipelines:
  - name: win_cache
    from: public.sales
    window: { type: tumbling, size: 1m, time: ts, key: [shop], idle_timeout: 200ms }
    aggregate: { total: SUM(amount), n: COUNT(*) }
    to: { sink: cache, type: hash, key_template: "win:{shop}" }
`,
      "test.yaml",
      {},
    );
    const sales = relation("public.sales", [col("id", "integer", 23, true), col("shop", "text", 25), col("amount", "numeric(10,2)", 1700), col("ts", "timestamp with time zone", 1184)], "d", 7);
    const txns: Txn[] = [
      txn([ins(sales, { id: 1, shop: "a", amount: "1.10", ts: "2024-01-02 03:04:05.000001+00" }), ins(sales, { id: 2, shop: "b", amount: "5.00", ts: "2024-01-02 03:04:30+00" })]),
      txn([ins(sales, { id: 3, shop: "a", amount: "2.20", ts: "2024-01-02 03:04:59.999999+00" })]),
    ];
    const source = new FakeSource(txns);
    const rt = await startRuntime(cfg, log, { source });
    try {
      let a: Record<string, string> = {};
      // The window closes only on an idle tick (no later event time ever arrives).
      for (let i = 0; i < 200 && !a.total; i++) {
        await Bun.sleep(50);
        a = await redis.hgetall(`${prefix}win:a`);
      }
      expect(a.total).toBe("3.30");
      expect(a.n).toBe("2");
      const b = await redis.hgetall(`${prefix}win:b`);
      expect(b.total).toBe("5.00");
    } finally {
      await rt.stop();
    }
    expect(await rt.done).toBeNull();
  });
});
