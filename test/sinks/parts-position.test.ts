import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { requireRedis } from "../helpers/index.ts";
import { RedisSink } from "../../src/sinks/redis/sink.ts";
import { redisSinkConfig } from "../../src/sinks/redis/config.ts";
import { unseenRecords } from "../../src/sinks/position-fence.ts";
import type { OutputBatch } from "../../src/sinks/sink.ts";
import { col, context, OID, rec, table, uniq } from "./helpers.ts";

/**
 * Sinks without transactions write each part of a large source transaction as it comes and store
 * their position only with the last part: a crash in between replays the whole transaction,
 * whose parts must not be skipped as already written.
 */
const t = table("public.kv", [col("id", OID.int8, { key: true }), col("v", OID.text)], ["id"]);
const part = (index: number, last: boolean, ids: number[]): OutputBatch => ({
  pipeline: "p",
  lsn: 900n,
  part: { index, last },
  records: ids.map((id, i) => rec(t, "upsert", { id: BigInt(id), v: `v${id}` }, 900n, index * 10 + i)),
});

describe("position fence and parts", () => {
  test("unseenRecords: a part before the last is written but does not store the position", () => {
    const first = part(0, false, [1]); // built once: rec() stamps the commit time from the clock
    expect(unseenRecords(first, 500n)).toEqual({ replay: false, store: false, records: first.records });
    expect(unseenRecords(part(1, true, [2]), 500n)?.store).toBe(true);
    expect(unseenRecords(part(1, false, [2]), 900n)).toBeNull(); // the whole transaction is already there
    expect(unseenRecords({ pipeline: "p", lsn: 901n, records: [] }, 500n)?.store).toBe(true);
  });

  describe("redis", () => {
    let url: string;
    let r: Redis;
    const prefix = uniq("cdcparts") + ":";
    beforeAll(async () => {
      url = await requireRedis();
      r = new Redis(url);
    });
    afterAll(async () => {
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
    });

    test("parts are written at once; the stored position moves only with the last part", async () => {
      const cfg = redisSinkConfig.parse({ url, key_prefix: prefix });
      const targets = [{ pipeline: "p", options: { type: "hash", key_template: "kv:{id}" } }];
      const open = async () => {
        const s = new RedisSink(cfg);
        await s.open(context("r", targets));
        return s;
      };
      const sink = await open();
      await sink.write({ pipeline: "p", lsn: 500n, records: [rec(t, "upsert", { id: 0n, v: "before" }, 500n)] });
      await sink.write(part(0, false, [1, 2]));
      await sink.write(part(1, false, [3]));
      expect(await r.hget(`${prefix}kv:3`, "v")).toBe("v3");
      expect(sink.position("p")).toBe(500n);
      // A restart now would read 500: the transaction at 900 is replayed whole, not skipped.
      const reopened = await open();
      expect(reopened.position("p")).toBe(500n);
      await reopened.close();
      await sink.write(part(2, true, [4]));
      expect(sink.position("p")).toBe(900n);
      expect(await r.hget(`${prefix}kv:4`, "v")).toBe("v4");
      const again = await open();
      expect(again.position("p")).toBe(900n);
      await again.close();
      await sink.close();
    });
  });
});
