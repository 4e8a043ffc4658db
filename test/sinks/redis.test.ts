import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { requireRedis } from "../helpers/index.ts";
import { redisSink, RedisSink } from "../../src/sinks/redis/index.ts";
import { redisSinkConfig } from "../../src/sinks/redis/config.ts";
import { batch, col, context, OID, rec, table, uniq } from "./helpers.ts";

let url: string;
let r: Redis;
const prefixes: string[] = [];

beforeAll(async () => {
  url = await requireRedis();
  r = new Redis(url);
  r.on("error", () => {}); // the restart test takes Redis away on purpose
});
afterAll(async () => {
  for (const p of prefixes) {
    const keys = await r.keys(`${p}*`);
    if (keys.length) await r.del(...keys);
  }
  r.disconnect();
});

function prefix(): string {
  const p = uniq("cdctest") + ":";
  prefixes.push(p);
  return p;
}

const stats = table(
  "content_stats",
  [col("content_id", OID.uuid, { key: true }), col("title", OID.text), col("plays", OID.int8), col("total_engagement_seconds", OID.numeric), col("avg_pct", OID.numeric), col("last_event_ts", OID.timestamptz), col("note", OID.text)],
  ["content_id"],
);
const top = table("top_engagement", [col("content_id", OID.uuid, { key: true }), col("score", OID.numeric)], ["content_id"]);
const A = "11111111-1111-1111-1111-111111111111";
const B = "22222222-2222-2222-2222-222222222222";

function targets() {
  return [
    { pipeline: "stats", options: { type: "hash", key_template: "content_stats:{content_id}", ttl: "24h" } },
    { pipeline: "top", options: { type: "zset", key_template: "top_engagement:10min", member: "content_id", score: "score" } },
    { pipeline: "last", options: { type: "string", key_template: "last:{content_id}", value: "title" } },
    { pipeline: "events", options: { type: "stream", key_template: "events", maxlen: 1000 } },
  ];
}

function workload() {
  return {
    stats: [
      batch("stats", [rec(stats, "upsert", { content_id: A, title: "Pod", plays: 9007199254740993n, total_engagement_seconds: "12.345", avg_pct: "50.00", last_event_ts: "2024-01-01 10:00:00.123456+00", note: "x" }, 100n)]),
      batch("stats", [rec(stats, "upsert", { content_id: A, title: "Pod", plays: 9007199254740994n, total_engagement_seconds: "20.000", avg_pct: "51.25", last_event_ts: "2024-01-01 10:01:00.000001+00", note: null }, 200n), rec(stats, "upsert", { content_id: B, title: "Vid", plays: 1n, total_engagement_seconds: "1.5", avg_pct: null, last_event_ts: "2024-01-01 10:01:00+00", note: null }, 200n, 1)]),
      batch("stats", [rec(stats, "delete", { content_id: B }, 300n)]),
    ],
    top: [
      batch("top", [rec(top, "upsert", { content_id: A, score: "12.5" }, 100n), rec(top, "upsert", { content_id: B, score: "7.25" }, 100n, 1)]),
      batch("top", [rec(top, "upsert", { content_id: A, score: "30" }, 200n)]),
    ],
    last: [batch("last", [rec(stats, "upsert", { content_id: A, title: "Pod" }, 100n)])],
    events: [batch("events", [rec(top, "upsert", { content_id: A, score: "1" }, 100n), rec(top, "upsert", { content_id: B, score: "2" }, 100n, 1)]), batch("events", [rec(top, "delete", { content_id: A }, 200n)])],
  };
}

async function snapshot(p: string) {
  return {
    a: await r.hgetall(`${p}content_stats:${A}`),
    b: await r.exists(`${p}content_stats:${B}`),
    ttl: await r.ttl(`${p}content_stats:${A}`),
    top: await r.zrange(`${p}top_engagement:10min`, "0", "-1", "WITHSCORES"),
    last: await r.get(`${p}last:${A}`),
    events: await r.xrange(`${p}events`, "-", "+"),
  };
}

describe("redis sink", () => {
  test("hash, zset, string and stream writes hold exact values; replay after reopen changes nothing", async () => {
    const p = prefix();
    const cfg = redisSinkConfig.parse({ url, key_prefix: p });
    const s1 = new RedisSink(cfg);
    await s1.open(context("cache", targets()));
    const w = workload();
    for (const list of Object.values(w)) for (const b of list) await s1.write(b);
    await s1.close();
    const first = await snapshot(p);
    expect(first.a).toEqual({ content_id: A, title: "Pod", plays: "9007199254740994", total_engagement_seconds: "20.000", avg_pct: "51.25", last_event_ts: "2024-01-01 10:01:00.000001+00" });
    expect(first.b).toBe(0);
    expect(first.ttl).toBeGreaterThan(86_000);
    expect(first.top).toEqual([B, "7.25", A, "30"]);
    expect(first.last).toBe("Pod");
    expect(first.events.map(([id, f]) => [id, f.join(",")])).toEqual([
      ["100-1", `op,upsert,content_id,${A},score,1`],
      ["100-2", `op,upsert,content_id,${B},score,2`],
      ["200-1", `op,delete,content_id,${A}`],
    ]);
    expect(await r.get(`${p}cdc_engine:position:cache:top`)).toBe("00000000000000000200");

    // Restart: positions are read back and every batch is a replay.
    const s2 = new RedisSink(cfg);
    await s2.open(context("cache", targets()));
    expect(s2.position("stats")).toBe(300n);
    expect(s2.position("events")).toBe(200n);
    for (const list of Object.values(w)) for (const b of list) await s2.write(b);
    await s2.close();
    expect(await snapshot(p)).toEqual({ ...first, ttl: (await snapshot(p)).ttl });
    expect((await snapshot(p)).top).toEqual([B, "7.25", A, "30"]); // not doubled
  });

  test("a replace leaderboard is swapped atomically per source transaction", async () => {
    const p = prefix();
    const s = new RedisSink(redisSinkConfig.parse({ url, key_prefix: p }));
    await s.open(context("cache", [{ pipeline: "lb", options: { type: "zset", key_template: "lb", member: "content_id", score: "score", replace: true } }]));
    await s.write(batch("lb", [rec(top, "upsert", { content_id: A, score: "3" }, 10n), rec(top, "upsert", { content_id: B, score: "2" }, 10n, 1)]));
    await s.write(batch("lb", [rec(top, "upsert", { content_id: B, score: "5" }, 20n)]));
    expect(await r.zrange(`${p}lb`, "0", "-1", "WITHSCORES")).toEqual([B, "5"]);
    // Two rankings (two source transactions) in one batch: the later one is the set.
    await s.write(batch("lb", [rec(top, "upsert", { content_id: A, score: "1" }, 30n), rec(top, "upsert", { content_id: B, score: "2" }, 30n, 1), rec(top, "upsert", { content_id: B, score: "9" }, 40n)], 40n));
    await s.close();
    expect(await r.zrange(`${p}lb`, "0", "-1", "WITHSCORES")).toEqual([B, "9"]);
  });

  test("a replace leaderboard fed by a window shows the newest closed window: late corrections and deletes of older windows leave it alone", async () => {
    const p = prefix();
    const C = "cccccccc-0000-0000-0000-000000000003";
    const s = new RedisSink(redisSinkConfig.parse({ url, key_prefix: p }));
    await s.open(context("cache", [{ pipeline: "lb", options: { type: "zset", key_template: "lb", member: "content_id", score: "score", replace: true } }]));
    const w = (end: string, id: string, score: string, lsn: bigint, i = 0, op: "upsert" | "delete" = "upsert") =>
      rec(top, op, { content_id: id, score, window_start: "x", window_end: end }, lsn, i);
    await s.write(batch("lb", [w("2026-01-01 10:02:00+00", A, "3", 10n), w("2026-01-01 10:02:00+00", B, "2", 10n, 1)]));
    // A late correction of the older window and a delete from it: the board still shows 10:02.
    await s.write(batch("lb", [w("2026-01-01 10:01:00+00", C, "99", 20n), w("2026-01-01 10:01:00+00", A, "3", 20n, 1, "delete")]));
    expect(await r.zrange(`${p}lb`, "0", "-1", "WITHSCORES")).toEqual([B, "2", A, "3"]);
    // Two windows closing in one batch: the newer one is the board.
    await s.write(batch("lb", [w("2026-01-01 10:03:00+00", A, "1", 30n), w("2026-01-01 10:04:00+00", C, "4", 30n, 1), w("2026-01-01 10:04:00+00", B, "5", 30n, 2)]));
    await s.close();
    expect(await r.zrange(`${p}lb`, "0", "-1", "WITHSCORES")).toEqual([C, "4", B, "5"]);
  });

  test("a window leaderboard takes corrections of the window it shows member by member, says which window it holds, and keeps it across a restart", async () => {
    const p = prefix();
    const C = "cccccccc-0000-0000-0000-000000000003";
    const targets = [{ pipeline: "lb", options: { type: "zset", key_template: "lb", member: "content_id", score: "score", replace: true } }];
    const w = (end: string, id: string, score: string, lsn: bigint, i = 0, op: "upsert" | "delete" = "upsert") =>
      rec(top, op, { content_id: id, score, window_start: "x", window_end: end }, lsn, i);
    const s = new RedisSink(redisSinkConfig.parse({ url, key_prefix: p }));
    await s.open(context("cache", targets));
    await s.write(batch("lb", [w("2026-01-01 10:02:00+00", A, "3", 10n), w("2026-01-01 10:02:00+00", B, "2", 10n, 1)]));
    // a late row (C) and an update (B) in the shown window: the other members stay
    await s.write(batch("lb", [w("2026-01-01 10:02:00+00", C, "7", 20n), w("2026-01-01 10:02:00+00", B, "4", 20n, 1)]));
    expect(await r.zrange(`${p}lb`, "0", "-1", "WITHSCORES")).toEqual([A, "3", B, "4", C, "7"]);
    expect(await r.hget(`${p}cdc_engine:shown_window:cache`, `${p}lb`)).toBe("2026-01-01 10:02:00+00");
    await s.close();
    // after a restart: A's window emptied (all its events deleted) → ZREM, the rest stays
    const s2 = new RedisSink(redisSinkConfig.parse({ url, key_prefix: p }));
    await s2.open(context("cache", targets));
    await s2.write(batch("lb", [w("2026-01-01 10:02:00+00", A, "3", 30n, 0, "delete")]));
    expect(await r.zrange(`${p}lb`, "0", "-1", "WITHSCORES")).toEqual([B, "4", C, "7"]);
    // the next window replaces the set
    await s2.write(batch("lb", [w("2026-01-01 10:03:00+00", A, "1", 40n)]));
    await s2.close();
    expect(await r.zrange(`${p}lb`, "0", "-1", "WITHSCORES")).toEqual([A, "1"]);
    expect(await r.hget(`${p}cdc_engine:shown_window:cache`, `${p}lb`)).toBe("2026-01-01 10:03:00+00");
  });

  test("records Redis refuses go to the DLQ; the rest of the batch is written", async () => {
    const p = prefix();
    await r.set(`${p}content_stats:${B}`, "a string, not a hash");
    const s = new RedisSink(redisSinkConfig.parse({ url, key_prefix: p }));
    const ctx = context("cache", [...targets()]);
    await s.open(ctx);
    await s.write(
      batch("stats", [
        rec(stats, "upsert", { content_id: A, title: "ok", plays: 1n }, 10n),
        rec(stats, "upsert", { content_id: B, title: "wrongtype", plays: 2n }, 10n, 1),
        rec(stats, "upsert", { content_id: null, title: "no key", plays: 3n }, 10n, 2),
      ]),
    );
    await s.write(batch("top", [rec(top, "upsert", { content_id: A, score: "not-a-number" }, 10n), rec(top, "upsert", { content_id: B, score: "4" }, 10n, 1)]));
    await s.close();
    expect(await r.hget(`${p}content_stats:${A}`, "title")).toBe("ok");
    expect(await r.zrange(`${p}top_engagement:10min`, "0", "-1", "WITHSCORES")).toEqual([B, "4"]);
    expect(ctx.dead.map((d) => d.pipeline)).toEqual(["stats", "stats", "top"]);
    expect(ctx.dead.map((d) => [d.record.row.title ?? d.record.row.score, d.error.replace(/^(\S+ \S+).*$/s, "$1")])).toEqual([
      ["no key", "key template"],
      ["wrongtype", "HSET: WRONGTYPE"],
      ["not-a-number", "zset score"],
    ]);
  });

  test("an update that moves a row to another key or member removes the old one (old values from REPLICA IDENTITY FULL or a key change)", async () => {
    const p = prefix();
    const users = table("users", [col("id", OID.int8, { key: true }), col("email", OID.text), col("region", OID.text), col("points", OID.int8)], ["id"]);
    const s = new RedisSink(redisSinkConfig.parse({ url, key_prefix: p }));
    await s.open(
      context("cache", [
        { pipeline: "by_email", options: { type: "hash", key_template: "user:{email}" } },
        { pipeline: "email_of", options: { type: "string", key_template: "email:{email}", value: "id" } },
        { pipeline: "board", options: { type: "zset", key_template: "board:{region}", member: "id", score: "points" } },
      ]),
    );
    const u1 = { id: 1n, email: "a@x.test", region: "eu", points: 10n };
    const u2 = { id: 2n, email: "b@x.test", region: "eu", points: 20n };
    const moved = { id: 1n, email: "a2@x.test", region: "us", points: 11n };
    for (const pl of ["by_email", "email_of", "board"]) {
      await s.write(batch(pl, [rec(users, "upsert", u1, 100n), rec(users, "upsert", u2, 100n, 1)]));
      // the update carries the old row (REPLICA IDENTITY FULL); then a second update of the new
      // key in the same batch, which makes the first one's own writes irrelevant
      await s.write(batch(pl, [rec(users, "upsert", moved, 200n, 0, { before: u1 }), rec(users, "upsert", { ...moved, points: 12n }, 201n, 0, { before: moved })]));
      // no old values (REPLICA IDENTITY DEFAULT, key unchanged): nothing to remove, nothing fails
      await s.write(batch(pl, [rec(users, "upsert", { ...u2, points: 21n }, 300n)]));
    }
    await s.close();
    expect(await r.exists(`${p}user:a@x.test`)).toBe(0);
    expect(await r.hgetall(`${p}user:a2@x.test`)).toEqual({ id: "1", email: "a2@x.test", region: "us", points: "12" });
    expect(await r.hget(`${p}user:b@x.test`, "points")).toBe("21");
    expect(await r.exists(`${p}email:a@x.test`)).toBe(0);
    expect(await r.get(`${p}email:a2@x.test`)).toBe("1");
    expect(await r.zrange(`${p}board:eu`, "0", "-1", "WITHSCORES")).toEqual(["2", "21"]);
    expect(await r.zrange(`${p}board:us`, "0", "-1", "WITHSCORES")).toEqual(["1", "12"]);
  });

  test("Redis restarted mid-run: the write waits with backoff, health is down; back empty, the lost position stops the sink", async () => {
    const p = prefix();
    const s = new RedisSink(redisSinkConfig.parse({ url, key_prefix: p, max_backoff: "300ms", connect_timeout: "1s" }));
    await s.open(context("cache", targets()));
    await s.write(batch("top", [rec(top, "upsert", { content_id: A, score: "1" }, 10n)]));
    const stop = Bun.spawnSync(["redis-cli", "-u", url, "shutdown", "nosave"]);
    let failure: unknown = null;
    try {
      expect(stop.exitCode === 0 || stop.stdout.toString() === "").toBe(true);
      let done = false;
      const pending = s.write(batch("top", [rec(top, "upsert", { content_id: A, score: "11" }, 20n), rec(top, "upsert", { content_id: B, score: "22" }, 20n, 1)])).then(
        () => (done = true),
        (e) => ((failure = e), (done = true)),
      );
      await Bun.sleep(1200);
      expect(done).toBe(false);
      expect((await s.health()).status).toBe("down");
      await startRedis();
      await pending;
    } finally {
      await startRedis();
    }
    await s.close();
    // This Redis runs without persistence: the first write and the position are gone with the
    // restart. Writing on would leave Redis partial without a word (the engine did, before):
    // the write refuses, naming the key, and writes nothing.
    expect((failure as { code?: string })?.code).toBe("sink_position_lost");
    expect(String(failure)).toContain(`key ${p}cdc_engine:position:cache:top, last 0/A`);
    expect(await r.zrange(`${p}top_engagement:10min`, "0", "-1", "WITHSCORES")).toEqual([]);
    expect(await r.get(`${p}cdc_engine:position:cache:top`)).toBeNull();
  }, 60_000);

  test("AUTH with an ACL user; a wrong password is one clear line at check and at open", async () => {
    const user = uniq("cdc_user");
    const p = prefix();
    await r.call("ACL", "SETUSER", user, "on", ">s3cret-pass", `~${p}*`, "+@all");
    try {
      const u = new URL(url);
      const good = redisSinkConfig.parse({ url: `redis://${user}:s3cret-pass@${u.host}`, key_prefix: p });
      expect(await redisSink.check(good)).toMatch(/^redis 7\.\d+\.\d+ at redis:\/\/.*:\*\*\*@/);
      const s = new RedisSink(good);
      await s.open(context("cache", [{ pipeline: "top", options: targets()[1].options }]));
      await s.write(batch("top", [rec(top, "upsert", { content_id: A, score: "1.5" }, 10n)]));
      await s.close();
      expect(await r.zscore(`${p}top_engagement:10min`, A)).toBe("1.5");
      const bad = redisSinkConfig.parse({ url: `redis://${user}:wrong@${u.host}`, key_prefix: p });
      expect(redisSink.check(bad)).rejects.toThrow(/authentication failed at redis:\/\/.*:\*\*\*@.*check the username and password/);
      expect(new RedisSink(bad).open(context("cache", []))).rejects.toThrow(/\[sink:cache\] authentication failed/);
    } finally {
      await r.call("ACL", "DELUSER", user);
    }
  });

  test("target options are validated with the sink's schema", () => {
    const t = redisSink.targetSchema!;
    expect(t.safeParse({ type: "zset", key_template: "k" }).success).toBe(false);
    expect(t.safeParse({ type: "hash", key_template: "content_stats:{content_id}", ttl: "24h" }).data).toMatchObject({ ttl: 86_400_000 });
  });
});

async function startRedis(): Promise<void> {
  const ping = () => Bun.spawnSync(["redis-cli", "-u", url, "ping"]).stdout.toString().trim() === "PONG";
  if (ping()) return;
  Bun.spawnSync(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]);
  for (let i = 0; i < 100 && !ping(); i++) await Bun.sleep(100);
  if (!ping()) throw new Error("could not restart the machine's Redis");
}
