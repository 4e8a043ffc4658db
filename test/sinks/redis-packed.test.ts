import { afterAll, beforeAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { requireRedis } from "../helpers/index.ts";
import { RedisSink } from "../../src/sinks/redis/index.ts";
import { redisSinkConfig } from "../../src/sinks/redis/config.ts";
import { opsAsJson } from "../../src/sinks/redis/fence.ts";
import { batch, col, context, OID, rec, table, uniq } from "./helpers.ts";

// A batch's commands go to the fence script as one JSON argument (decoded by Redis' cjson); a
// batch with a bytes value, or text that is not valid UTF-8, goes as one argument per item.

let url: string;
let r: Redis;
const prefix = uniq("cdcpack") + ":";
beforeAll(async () => {
  url = await requireRedis();
  r = new Redis(url);
});
afterAll(async () => {
  const keys = await r.keys(`${prefix}*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
});

test("opsAsJson: one JSON array of commands; null when an argument is bytes or text holds a lone surrogate", () => {
  const op = (cmd: string, ...args: (string | Buffer)[]) => ({ cmd, args });
  expect(opsAsJson([op("HSET", "k", "f", "1:2|3"), op("DEL", "")], 0, 2)).toBe('[["HSET","k","f","1:2|3"],["DEL",""]]');
  expect(JSON.parse(opsAsJson([op("SET", "k", 'ü✓"\\\n\u0000')], 0, 1)!)).toEqual([["SET", "k", 'ü✓"\\\n\u0000']]);
  expect(opsAsJson([op("SET", "a", "b"), op("SET", "k", Buffer.from([0]))], 0, 2)).toBeNull();
  expect(opsAsJson([op("SET", "a", "b"), op("SET", "k", Buffer.from([0]))], 0, 1)).toBe('[["SET","a","b"]]');
  expect(opsAsJson([op("SET", "k", "\ud800")], 0, 1)).toBeNull();
});

test("values with separators, digits, non-ASCII text and bytes arrive exactly; a refused command goes to the DLQ by its index", async () => {
  const t = table("public.t", [col("id", OID.text, { key: true }), col("a", OID.text), col("b", OID.bytea), col("n", OID.int8)], ["id"]);
  const ctx = context("cache", [{ pipeline: "p", options: { type: "hash", key_template: "h:{id}" } }]);
  const s = new RedisSink(redisSinkConfig.parse({ url, key_prefix: prefix }));
  await s.open(ctx);
  try {
    const tricky = ["12:34|5", "ünïcødé ✓ 𝄞", "", "line\nbreak\r\0 \u0001", '"quoted" \\ back[slash]', "9:" + "x".repeat(20)];
    await r.set(`${prefix}h:wrongtype`, "a string, not a hash");
    const text = tricky.map((a, i) => rec(t, "upsert", { id: `k${i}:|`, a, b: null, n: 9007199254740993n + BigInt(i) }, 10n, i));
    await s.write(batch("p", [...text, rec(t, "upsert", { id: "wrongtype", a: "x", b: null, n: 1n }, 10n, 9)]));
    for (let i = 0; i < tricky.length; i++) expect(await r.hgetall(`${prefix}h:k${i}:|`)).toEqual({ id: `k${i}:|`, a: tricky[i], n: String(9007199254740993n + BigInt(i)) });
    expect(ctx.dead.map((d) => [d.record.row.id, d.error.split(" ")[0]])).toEqual([["wrongtype", "HSET:"]]);
    expect(ctx.dead[0].error).toContain("WRONGTYPE");
    // A bytes value: the batch goes as separate arguments (same fence, same result).
    const bytes = Buffer.from([0, 58, 124, 255, 10]);
    await s.write(batch("p", [rec(t, "upsert", { id: "bin", a: "ü", b: new Uint8Array(bytes), n: 1n }, 11n)]));
    expect((await r.hgetallBuffer(`${prefix}h:bin`)).b).toEqual(bytes);
    expect(await r.hget(`${prefix}h:bin`, "a")).toBe("ü");
    expect(s.position("p")).toBe(11n);
    // Replays of both kinds change nothing.
    await s.write(batch("p", [rec(t, "upsert", { id: "k0:|", a: "replayed", b: null, n: 0n }, 10n)]));
    expect(await r.hget(`${prefix}h:k0:|`, "a")).toBe(tricky[0]);
  } finally {
    await s.close();
  }
});
