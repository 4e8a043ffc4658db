/**
 * kill -9 in the middle of a run, then a new sink process replays every batch from the start
 * (as the engine does after a restart from an older slot position): the target holds exactly
 * the state of one pass: counts and values equal, Redis scores not doubled, no duplicates.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import Redis from "ioredis";
import { requireMysql, requireRedis } from "../helpers/index.ts";
import { sinkFactory } from "../../src/sinks/index.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { BigQueryServer } from "../helpers/bigquery-server.ts";
import { context, uniq } from "./helpers.ts";
import { expectedState, workload } from "./kill9-workload.ts";

const BATCHES = 60;
let mysqlUrl: string;
let redisUrl: string;
let admin: mysql.Connection;
let redis: Redis;
const db = uniq("cdc_k9");
const prefix = uniq("k9") + ":";

beforeAll(async () => {
  mysqlUrl = await requireMysql();
  redisUrl = await requireRedis();
  admin = await mysql.createConnection({ uri: mysqlUrl, supportBigNumbers: true, bigNumberStrings: true });
  redis = new Redis(redisUrl);
});
afterAll(async () => {
  await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin.end();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

type Spec = { type: string; config: Record<string, unknown>; targets: { pipeline: string; options: Record<string, unknown> }[]; stateDir: string; name: string };

/** Run the writer in a child, SIGKILL it after `killAfter` durable batches, return how many it reported. */
async function crashRun(spec: Spec, killAfter: number): Promise<number> {
  const child = Bun.spawn(["bun", join(import.meta.dir, "kill9-writer.ts"), JSON.stringify({ ...spec, batches: BATCHES })], { stdout: "pipe", stderr: "inherit" });
  const reader = child.stdout.getReader();
  let text = "";
  let wrote = 0;
  while (wrote < killAfter) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    wrote = (text.match(/^wrote /gm) ?? []).length;
  }
  child.kill("SIGKILL"); // mid-way through the next batch
  await child.exited;
  return wrote;
}

/** A "restarted" sink in this process replays every batch. */
async function replayAll(spec: Spec): Promise<bigint | null> {
  const f = sinkFactory(spec.type)!;
  const sink = f.create(f.configSchema.parse(spec.config));
  const ctx = context(spec.name, spec.targets, spec.stateDir);
  await sink.open(ctx);
  const pos = sink.position("k9");
  for (const b of workload(BATCHES)) await sink.write(b);
  await sink.close();
  expect(ctx.dead).toEqual([]);
  return pos;
}

const expected = expectedState(workload(BATCHES));

describe("kill -9 mid-run, then replay from the start", () => {
  test("mysql (MariaDB)", async () => {
    const spec: Spec = { type: "mysql", config: { url: mysqlUrl, database: db }, targets: [{ pipeline: "k9", options: {} }], stateDir: mkdtempSync(join(tmpdir(), "k9-")), name: "mart" };
    const wrote = await crashRun(spec, 20);
    expect(wrote).toBeGreaterThanOrEqual(20);
    const pos = await replayAll(spec);
    expect(pos).toBeGreaterThanOrEqual(BigInt(1000 + 10 * (wrote - 1)));
    const [rows] = await admin.query(`SELECT id, score, big, label FROM \`${db}\`.kill_rows ORDER BY id`);
    const got = new Map((rows as { id: string; score: string; big: string; label: string }[]).map((r) => [r.id, { score: r.score, big: r.big, label: r.label }]));
    expect(got.size).toBe(expected.size);
    // numeric without precision → DECIMAL(65,30): compare as numbers of the same digits.
    for (const [id, v] of expected) expect({ ...got.get(id)!, score: got.get(id)!.score.replace(/\.?0+$/, "") }).toEqual({ ...v, score: v.score.replace(/\.?0+$/, "") });
  }, 120_000);

  test("redis (hash + zset)", async () => {
    const spec: Spec = {
      type: "redis",
      config: { url: redisUrl, key_prefix: prefix },
      targets: [
        { pipeline: "k9", options: { type: "hash", key_template: "row:{id}" } },
        { pipeline: "k9", options: { type: "zset", key_template: "board", member: "id", score: "score" } },
      ],
      stateDir: mkdtempSync(join(tmpdir(), "k9-")),
      name: "cache",
    };
    await crashRun(spec, 20);
    await replayAll(spec);
    const board = await redis.zrange(`${prefix}board`, "0", "-1", "WITHSCORES");
    const scores = new Map<string, string>();
    for (let i = 0; i < board.length; i += 2) scores.set(board[i], board[i + 1]);
    expect(scores.size).toBe(expected.size);
    for (const [id, v] of expected) {
      expect(Number(scores.get(id))).toBe(Number(v.score)); // absolute, not doubled
      expect(await redis.hgetall(`${prefix}row:${id}`)).toEqual({ id, score: v.score, big: v.big, label: v.label });
    }
  }, 120_000);

  test("http (receiver de-duplicates by Idempotency-Key)", async () => {
    const rx = new HttpReceiver();
    try {
      const spec: Spec = { type: "http", config: { url: rx.url, batch_size: 50 }, targets: [{ pipeline: "k9", options: {} }], stateDir: mkdtempSync(join(tmpdir(), "k9-")), name: "hook" };
      await crashRun(spec, 20);
      await replayAll(spec);
      const records = [...rx.byKey.values()].flatMap((b) => JSON.parse(b) as Record<string, unknown>[]);
      expect(records.length).toBe(BATCHES * 41);
      expect(rx.byKey.size).toBe(BATCHES);
    } finally {
      rx.stop();
    }
  }, 120_000);

  test("bigquery (insertIds de-duplicate)", async () => {
    const bq = new BigQueryServer("k9");
    try {
      const spec: Spec = { type: "bigquery", config: { access_token: "test-token", project: "k9", dataset: "d", api_endpoint: bq.endpoint }, targets: [{ pipeline: "k9", options: {} }], stateDir: mkdtempSync(join(tmpdir(), "k9-")), name: "bq" };
      await crashRun(spec, 20);
      await replayAll(spec);
      const rows = bq.table("d", "kill_rows")!.rows;
      expect(rows.length).toBe(BATCHES * 41);
      expect(new Set(rows.map((r) => `${r._cdc_lsn}:${r.id}:${r._cdc_op}`)).size).toBe(BATCHES * 41);
    } finally {
      bq.stop();
    }
  }, 120_000);
});
