/**
 * The compiled binary as a user runs it: Postgres (logical replication) → `cdc-engine serve` →
 * MariaDB, Redis and a webhook at once; updates and deletes arrive; after SIGTERM and a
 * restart, new rows arrive and nothing is applied or delivered twice.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import Redis from "ioredis";
import { binaryPath, createDatabase, freePort, requireMysql, requireRedis, sharedPg } from "../helpers/index.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { uniq } from "./helpers.ts";
import { waitUntil } from "../helpers/wait-for.ts";

let sql: postgres.Sql;
let my: mysql.Connection;
let redis: Redis;
let rx: HttpReceiver;
let cfg = "";
let dir = "";
let port = 0;
const mdb = uniq("cdc_serve");
const prefix = uniq("serve") + ":";
let proc: ReturnType<typeof Bun.spawn> | null = null;
let logs = "";

const waitFor = <T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 30_000) => waitUntil(what, fn, ms, () => logs);

async function start(): Promise<void> {
  proc = Bun.spawn([await binaryPath(), "serve", "--config", cfg], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  for (const s of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      const dec = new TextDecoder();
      for await (const c of s) logs += dec.decode(c, { stream: true });
    })();
  }
  await waitFor("/health 200", async () => (await fetch(`http://127.0.0.1:${port}/health`)).status === 200);
}

async function stop(): Promise<void> {
  proc?.kill("SIGTERM");
  expect(await proc?.exited).toBe(0);
  proc = null;
}

const mysqlRows = async () => (await my.query(`SELECT id, name, price, big, at FROM \`${mdb}\`.items ORDER BY id`))[0] as Record<string, unknown>[];

beforeAll(async () => {
  const [murl, rurl] = [await requireMysql(), await requireRedis()];
  const pg = await sharedPg("system");
  const db = await createDatabase(pg, "serve");
  sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
  await sql.unsafe("create table items (id int primary key, name varchar(20), price numeric(12,2), big bigint, at timestamptz)");
  my = await mysql.createConnection({ uri: murl, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  redis = new Redis(rurl);
  rx = new HttpReceiver();
  port = await freePort();
  dir = mkdtempSync(join(tmpdir(), "cdc-serve-sinks-"));
  cfg = join(dir, "cdc.yaml");
  writeFileSync(
    cfg,
    `source: {url: "${pg.url(db)}", slot: s_${db.slice(6)}, publication: p_${db.slice(6)}}
state: {dir: "${dir}/state", checkpoint_interval: 1s}
api: {listen: "127.0.0.1:${port}"}
log: {level: warn}
sinks:
  mart: {type: mysql, url: "${murl}", database: ${mdb}}
  cache: {type: redis, url: "${rurl}", key_prefix: "${prefix}"}
  hook: {type: http, url: "${rx.url}", payload: envelope, batch_size: 50}
pipelines:
  - {name: items_mart, from: public.items, to: mart}
  - {name: items_cache, from: public.items, to: {sink: cache, type: hash, key_template: "item:{id}"}}
  - {name: items_hook, from: public.items, to: hook}
`,
  );
  await start();
}, 120_000);

afterAll(async () => {
  if (proc) proc.kill("SIGKILL");
  await sql?.end();
  await my?.query(`DROP DATABASE IF EXISTS \`${mdb}\``);
  await my?.end();
  const keys = (await redis?.keys(`${prefix}*`)) ?? [];
  if (keys.length) await redis.del(...keys);
  redis?.disconnect();
  rx?.stop();
});

describe("cdc-engine serve with the mysql, redis and http sinks", () => {
  test("changes reach all three; a restart applies and delivers nothing twice", async () => {
    await sql.unsafe(`insert into items select g, 'item ' || g, g * 1.25, 9007199254740993 + g, '2024-01-01 00:00:00.000001+00'::timestamptz + g * interval '1 hour' from generate_series(1, 300) g`);
    await sql.unsafe("update items set price = price + 100 where id <= 10");
    await sql.unsafe("delete from items where id > 295");
    await waitFor("MariaDB caught up", async () => {
      const r = await mysqlRows();
      return r.length === 295 && r[0].price === "101.25" ? r : null;
    });
    const rows = await mysqlRows();
    expect(rows[0]).toEqual({ id: 1, name: "item 1", price: "101.25", big: "9007199254740994", at: "2024-01-01 01:00:00.000001" });
    await waitFor("Redis caught up", async () => (await redis.hget(`${prefix}item:1`, "price")) === "101.25" && (await redis.exists(`${prefix}item:296`)) === 0);
    expect(await redis.hgetall(`${prefix}item:2`)).toEqual({ id: "2", name: "item 2", price: "102.50", big: "9007199254740995", at: "2024-01-01 02:00:00.000001+00" });
    const envelopes = () => [...rx.byKey.values()].flatMap((b) => JSON.parse(b) as { op: string; after: { id: number } | null; before: { id: number } | null }[]);
    await waitFor("webhook caught up", async () => envelopes().length === 300 + 10 + 5);
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { components: Record<string, { status: string }> };
    expect(health.components["sink:mart"]?.status).toBe("up");
    expect(health.components["sink:cache"]?.status).toBe("up");

    await stop();
    await sql.unsafe("insert into items values (1000, 'after restart', 1.00, 1, null)");
    await start();
    await waitFor("new row in MariaDB", async () => (await mysqlRows()).length === 296);
    await waitFor("new row at the webhook", async () => envelopes().length === 316);
    await stop();
    expect((await mysqlRows()).slice(0, 295)).toEqual(rows);
    const ops = envelopes().map((e) => `${e.op}:${(e.after ?? e.before)!.id}`);
    // Each (op, id) happened once in the source, so each is delivered once.
    expect(ops.length).toBe(316);
    expect(new Set(ops).size).toBe(316);
    expect(ops.filter((o) => o.startsWith("c:")).length).toBe(301);
    expect(ops.filter((o) => o.startsWith("d:")).length).toBe(5);
    expect(await redis.hget(`${prefix}item:1000`, "name")).toBe("after restart");
  }, 180_000);
});
