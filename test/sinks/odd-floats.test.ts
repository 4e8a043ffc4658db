/**
 * Floats JSON has no number for: a float8 NaN/±Infinity reached a webhook, a Redis string
 * value and the stdout sink as JSON `null` (JSON.stringify's choice), and a -0 in a Redis hash
 * as "0". They are now the text Postgres prints ("NaN", "Infinity", "-Infinity"), the same
 * form a numeric's NaN already had, so a receiver can tell NaN from NULL. A -0 is the JSON number
 * -0 (as `to_json('-0'::float8)` gives it), not 0.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { requireRedis } from "../helpers/index.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { RedisSink } from "../../src/sinks/redis/index.ts";
import { redisSinkConfig } from "../../src/sinks/redis/config.ts";
import { HttpSink } from "../../src/sinks/http/index.ts";
import { httpSinkConfig } from "../../src/sinks/http/config.ts";
import { batch, col, context, OID, rec, table, uniq } from "./helpers.ts";

const t = table("public.readings", [col("id", OID.int4, { key: true }), col("a", OID.float8), col("b", OID.float8), col("c", 700), col("z", OID.float8), col("arr", 1022), col("n", OID.numeric), col("nul", OID.float8)], ["id"]);
const row = { id: 1, a: Number.NaN, b: Number.POSITIVE_INFINITY, c: Number.NEGATIVE_INFINITY, z: -0, arr: [1.5, Number.NaN, null], n: "NaN", nul: null };

describe("NaN, ±Infinity and -0 floats in JSON and Redis sinks", () => {
  let r: Redis;
  const prefix = uniq("cdcfloat") + ":";
  beforeAll(async () => {
    r = new Redis(await requireRedis());
  });
  afterAll(async () => {
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
  });

  test("redis hash and string values", async () => {
    const s = new RedisSink(redisSinkConfig.parse({ url: await requireRedis(), key_prefix: prefix }));
    await s.open(context("cache", [
      { pipeline: "h", options: { type: "hash", key_template: "r:{id}" } },
      { pipeline: "s", options: { type: "string", key_template: "s:{id}" } },
    ]));
    await s.write(batch("h", [rec(t, "upsert", row, 10n)]));
    await s.write(batch("s", [rec(t, "upsert", row, 10n)]));
    await s.close();
    expect(await r.hgetall(`${prefix}r:1`)).toEqual({ id: "1", a: "NaN", b: "Infinity", c: "-Infinity", z: "-0", arr: '[1.5,"NaN",null]', n: "NaN" });
    const json = (await r.get(`${prefix}s:1`))!;
    expect(JSON.parse(json)).toEqual({ id: 1, a: "NaN", b: "Infinity", c: "-Infinity", z: -0, arr: [1.5, "NaN", null], n: "NaN", nul: null });
    expect(json).toContain('"z":-0,'); // as Postgres prints it (JSON.stringify wrote 0)
  });

  test("webhook payload", async () => {
    const rx = new HttpReceiver();
    try {
      const s = new HttpSink(httpSinkConfig.parse({ url: rx.url, payload: "row", batch_size: 1 }));
      await s.open(context("hook", [{ pipeline: "p", options: {} }]));
      await s.write(batch("p", [rec(t, "upsert", row, 10n)]));
      await s.close();
      const body = JSON.parse(rx.requests.find((q) => q.outcome === "stored")!.body);
      expect(body).toMatchObject({ a: "NaN", b: "Infinity", c: "-Infinity", arr: [1.5, "NaN", null], n: "NaN", nul: null });
      expect(Object.is(body.z, -0)).toBe(true);
    } finally {
      rx.stop();
    }
  });
});
