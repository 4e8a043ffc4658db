/**
 * The Redis sink writes only the last record per hash/string key of a batch when that ends the
 * same: a GROUP BY re-emits its hot groups after every source transaction, and a batch held
 * thousands of writes of the same keys. The rule (src/sinks/redis/last-write.ts) is checked record
 * by record, then against Redis itself: a random batch written by the sink leaves every key as
 * applying every record's commands one by one does.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { requireRedis } from "../helpers/index.ts";
import { RedisSink } from "../../src/sinks/redis/index.ts";
import { redisSinkConfig, redisTargetSchema } from "../../src/sinks/redis/config.ts";
import { lastWrites } from "../../src/sinks/redis/last-write.ts";
import { recordOps, renderKey } from "../../src/sinks/redis/ops.ts";
import type { OutputRecord } from "../../src/sinks/sink.ts";
import { batch, col, context, OID, rec, table, uniq } from "./helpers.ts";

const stats = table("content_stats", [col("id", OID.int8, { key: true }), col("title", OID.text), col("plays", OID.int8), col("note", OID.text)], ["id"]);
/** the same output after a schema change: one column more */
const stats2 = table("content_stats", [...stats.columns, col("extra", OID.text)], ["id"]);
const target = (o: Record<string, unknown>) => redisTargetSchema.parse(o);
const hash = target({ type: "hash", key_template: "h:{id}", ttl: "1h" });
const kept = (records: OutputRecord[], t = hash) => lastWrites(records, t, (r) => renderKey(t.key_template, r)).map((r) => records.indexOf(r));

describe("redis: last write per key within a batch", () => {
  test("which records are kept", () => {
    const up = (id: number, plays: number, lsn: bigint, extra: Partial<OutputRecord> = {}) => rec(stats, "upsert", { id: BigInt(id), title: "t", plays: BigInt(plays), note: null }, lsn, 0, extra);
    // the same key upserted per transaction: only the last one
    expect(kept([up(1, 1, 10n), up(2, 1, 10n), up(1, 2, 20n), up(1, 3, 30n)])).toEqual([1, 3]);
    // a delete drops everything before it and is kept; upserts after it: the last one
    expect(kept([up(1, 1, 10n), up(1, 2, 20n), rec(stats, "delete", { id: 1n }, 30n), up(1, 4, 40n), up(1, 5, 50n)])).toEqual([2, 4]);
    // a delete last: only the delete
    expect(kept([up(1, 1, 10n), up(1, 2, 20n), rec(stats, "delete", { id: 1n }, 30n)])).toEqual([2]);
    // an upsert with unchanged TOAST columns leaves fields as they were: what precedes it stays
    expect(kept([up(1, 1, 10n), up(1, 2, 20n, { unchangedToast: ["note"] })])).toEqual([0, 1]);
    expect(kept([up(1, 1, 10n), up(1, 2, 20n, { unchangedToast: ["note"] }), up(1, 3, 30n)])).toEqual([2]);
    // other fields (a column added in between) are not covered
    const wide = rec(stats2, "upsert", { id: 1n, title: "t", plays: 9n, note: null, extra: "x" }, 5n);
    expect(kept([wide, up(1, 1, 10n), up(1, 2, 20n)])).toEqual([0, 2]);
    // fixed fields: every record writes the same ones
    const fixed = target({ type: "hash", key_template: "h:{id}", fields: ["plays"] });
    expect(kept([wide, up(1, 1, 10n), up(1, 2, 20n)], fixed)).toEqual([2]);
    // a truncate is kept (it goes to the DLQ) and covers nothing
    expect(kept([up(1, 1, 10n), rec(stats, "truncate", {}, 20n), up(1, 3, 30n)])).toEqual([1, 2]);
    // strings: the last SET or DEL
    const str = target({ type: "string", key_template: "s:{id}", value: "title" });
    expect(kept([up(1, 1, 10n), up(1, 2, 20n), rec(stats, "delete", { id: 1n }, 30n), up(2, 1, 30n)], str)).toEqual([2, 3]);
    // sorted sets and streams: every record
    const zs = target({ type: "zset", key_template: "z", member: "id", score: "plays" });
    expect(kept([up(1, 1, 10n), up(1, 2, 20n), up(1, 3, 30n)], zs)).toEqual([0, 1, 2]);
    expect(kept([up(1, 1, 10n), up(1, 2, 20n)], target({ type: "stream", key_template: "st" }))).toEqual([0, 1]);
  });
});

describe("redis sink: a batch with many writes of the same keys", () => {
  let url: string;
  let r: Redis;
  const prefixes: string[] = [];
  beforeAll(async () => {
    url = await requireRedis();
    r = new Redis(url);
  });
  afterAll(async () => {
    for (const p of prefixes) {
      const keys = await r.keys(`${p}*`);
      if (keys.length) await r.del(...keys);
    }
    r.disconnect();
  });

  test("ends as applying every record's commands in order (hashes with NULLs, deletes, TOAST, TTL; strings)", async () => {
    const [p, q] = [uniq("cdclw") + ":", uniq("cdclw") + ":"];
    prefixes.push(p, q);
    let seed = 11;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const records: OutputRecord[] = [];
    let lsn = 100n;
    for (let i = 0; i < 3000; i++) {
      if (i % 7 === 0) lsn += 10n;
      const id = BigInt(rnd(12));
      const k = rnd(20);
      const row = { id, title: k % 5 === 0 ? null : `t${rnd(100)}`, plays: BigInt(i), note: k % 3 === 0 ? null : `n${rnd(9)}` };
      if (k === 0) records.push(rec(stats, "delete", { id }, lsn, i));
      else if (k === 1) records.push(rec(stats, "upsert", { ...row, note: undefined }, lsn, i, { unchangedToast: ["note"] }));
      else if (k === 2) records.push(rec(stats2, "upsert", { ...row, extra: `x${i}` }, lsn, i));
      else records.push(rec(stats, "upsert", row, lsn, i));
    }
    const targets = [
      { pipeline: "h", options: { type: "hash", key_template: "h:{id}", ttl: "1h" } },
      { pipeline: "s", options: { type: "string", key_template: "s:{id}", value: "title" } },
    ];
    // fields neither record writes, there before the batch: a DEL removes them, an HSET does not
    for (let id = 0; id < 12; id++) for (const x of [p, q]) await r.hset(`${x}h:${id}`, "outside", "before");

    const sink = new RedisSink(redisSinkConfig.parse({ url, key_prefix: p }));
    const ctx = context("cache", targets);
    await sink.open(ctx);
    const last = records[records.length - 1]!.lsn;
    await sink.write(batch("h", records, last));
    await sink.write(batch("s", records, last));
    await sink.close();
    expect(ctx.dead).toEqual([]);

    // the reference: every record's commands, one by one
    for (const t of targets.map((x) => redisTargetSchema.parse(x.options))) for (const x of records) for (const o of recordOps(x, t, q)) await r.call(o.cmd, ...o.args);

    for (let id = 0; id < 12; id++) {
      expect(await r.hgetall(`${p}h:${id}`)).toEqual(await r.hgetall(`${q}h:${id}`));
      expect(await r.get(`${p}s:${id}`)).toEqual(await r.get(`${q}s:${id}`));
      expect((await r.pttl(`${p}h:${id}`)) > 0).toBe((await r.pttl(`${q}h:${id}`)) > 0);
    }
    // and the rule did drop most of them
    const t = redisTargetSchema.parse(targets[0]!.options);
    expect(lastWrites(records, t, (x) => renderKey(t.key_template, x)).length).toBeLessThan(records.length / 4);
  });
});
