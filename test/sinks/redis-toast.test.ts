/**
 * Redis `type: string` keys and unchanged TOAST columns: an update that did not touch a large
 * column does not carry it, and the key keeps its value (whole-row JSON: taken from the value held
 * before, in the batch or in Redis, as text; `value:` of such a column: the SET is left out).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { requireRedis } from "../helpers/index.ts";
import { RedisSink } from "../../src/sinks/redis/index.ts";
import { redisSinkConfig } from "../../src/sinks/redis/config.ts";
import { topLevelFields } from "../../src/sinks/redis/toast-merge.ts";
import { batch, col, context, OID, rec, table, uniq } from "./helpers.ts";

let url: string;
let r: Redis;
const p = uniq("cdctoast") + ":";

beforeAll(async () => {
  url = await requireRedis();
  r = new Redis(url);
});
afterAll(async () => {
  const keys = await r.keys(`${p}*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
});

const big = table("big", [col("id", OID.int8, { key: true }), col("payload", OID.text), col("counter", OID.int4), col("n", OID.int8)], ["id"]);
const PAYLOAD = "x\"y\\z {,}".repeat(20_000);

test("topLevelFields: members as raw text, numbers and nesting untouched; not an object is null", () => {
  const f = topLevelFields(`{"id":9007199254740993, "s":"a\\"},{b" ,"o":{"x":[1,{"y":"]"}]},"n":null,"f":-1.5e3}`)!;
  expect([...f]).toEqual([["id", "9007199254740993"], ["s", '"a\\"},{b"'], ["o", '{"x":[1,{"y":"]"}]}'], ["n", "null"], ["f", "-1.5e3"]]);
  expect(topLevelFields("{}")!.size).toBe(0);
  expect(topLevelFields('"a string"')).toBeNull();
  expect(topLevelFields("{broken")).toBeNull();
});

test("whole-row JSON: an update without the TOASTed column keeps it, from Redis and from an earlier record of the batch", async () => {
  const s = new RedisSink(redisSinkConfig.parse({ url, key_prefix: p }));
  await s.open(context("cache", [
    { pipeline: "rows", options: { type: "string", key_template: "row:{id}" } },
    { pipeline: "titles", options: { type: "string", key_template: "payload:{id}", value: "payload", ttl: "1h" } },
  ]));
  // batch 1: the full row; batch 2: an update without payload (read back from Redis)
  await s.write(batch("rows", [rec(big, "upsert", { id: 1n, payload: PAYLOAD, counter: 1, n: 9223372036854775807n }, 100n)]));
  await s.write(batch("rows", [rec(big, "upsert", { id: 1n, counter: 2, n: -9223372036854775808n }, 200n, 0, { unchangedToast: ["payload"] })]));
  expect(await r.get(`${p}row:1`)).toBe(`{"id":1,"payload":${JSON.stringify(PAYLOAD)},"counter":2,"n":-9223372036854775808}`);
  // one batch: insert, then two updates without payload, then a delete and a re-insert of another key
  await s.write(
    batch("rows", [
      rec(big, "upsert", { id: 2n, payload: "second", counter: 1, n: 1n }, 300n),
      rec(big, "upsert", { id: 2n, counter: 2, n: 2n }, 301n, 0, { unchangedToast: ["payload"] }),
      rec(big, "upsert", { id: 2n, counter: 3, n: 3n }, 302n, 0, { unchangedToast: ["payload"] }),
      rec(big, "delete", { id: 3n }, 303n),
      rec(big, "upsert", { id: 3n, counter: 1, n: 4n }, 304n, 0, { unchangedToast: ["payload"] }), // nothing held: left out
    ]),
  );
  expect(await r.get(`${p}row:2`)).toBe('{"id":2,"payload":"second","counter":3,"n":3}');
  expect(await r.get(`${p}row:3`)).toBe('{"id":3,"counter":1,"n":4}');
  // value: payload, then an update that does not carry it: the value stays
  await s.write(batch("titles", [rec(big, "upsert", { id: 1n, payload: PAYLOAD, counter: 1, n: 1n }, 100n)]));
  await r.pexpire(`${p}payload:1`, 5000);
  await s.write(batch("titles", [rec(big, "upsert", { id: 1n, counter: 2, n: 1n }, 200n, 0, { unchangedToast: ["payload"] })]));
  expect(await r.get(`${p}payload:1`)).toBe(PAYLOAD);
  expect(await r.pttl(`${p}payload:1`)).toBeGreaterThan(3_000_000); // the TTL was refreshed
  await s.close();
});
