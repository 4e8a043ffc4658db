/**
 * One pipeline with several entries into one Redis sink (hash, zset, stream), through the compiled
 * binary: each source row is applied once to every entry, and a row one entry refuses (a zset score
 * that is no number) goes to the DLQ once. A writer per entry used to write every batch once per
 * entry, and each write sent the refused row to the DLQ again.
 */
import { afterAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { requireRedis } from "../helpers/index.ts";
import { ConfigServe, sourceAndWarehouse, waitFor } from "./harness.ts";

let serve: ConfigServe | null = null;
let redis: Redis | null = null;

afterAll(async () => {
  await serve?.stop();
  redis?.disconnect();
});

test("three entries into one redis sink: every row once in each, a refused score once in the DLQ", async () => {
  const url = await requireRedis();
  redis = new Redis(url);
  const { src, wh, env } = await sourceAndWarehouse("rentries");
  await wh.end();
  await src.unsafe("create table z (id int primary key, name text, val numeric)");
  const p = `rentries:${process.pid}:${Date.now()}:`;
  const yaml = `source: { url: "\${SOURCE_URL}", slot: "\${CDC_SLOT}", publication: "\${CDC_PUBLICATION}" }
state: { dir: "\${CDC_STATE_DIR}", checkpoint_interval: 2s }
api: { listen: "\${CDC_LISTEN}" }
sinks: { cache: { type: redis, url: "${url}", key_prefix: "${p}", batch_delay: 20ms } }
pipelines:
  - name: zz
    from: public.z
    to:
      - { sink: cache, type: hash, key_template: "h:{id}" }
      - { sink: cache, type: zset, key_template: "board", member: id, score: val }
      - { sink: cache, type: stream, key_template: "events" }
`;
  serve = new ConfigServe("rentries", yaml, env);
  await serve.start();
  // The rows must come through the stream: written before the snapshot, the snapshot read them
  // already updated (three stream entries, not four; it failed so once in CI).
  await waitFor(
    "the snapshot",
    async () => {
      const snapshot = ((await serve!.status()) as { source?: { snapshot?: { table: string; done: boolean }[] } }).source?.snapshot ?? [];
      return snapshot.some((t) => t.table === "public.z" && t.done);
    },
    60_000,
    () => serve!.logs,
  );
  await src.unsafe("insert into z values (1, 'a', 1.5), (2, 'b', 'NaN'), (3, 'c', 'Infinity')");
  await src.unsafe("update z set val = 2.5 where id = 1");
  await waitFor(
    "the update in the zset",
    async () => (await redis!.zscore(`${p}board`, "1")) === "2.5",
    60_000,
    () => serve!.logs,
  );
  expect(await redis.hget(`${p}h:2`, "name")).toBe("b");
  expect(await redis.hget(`${p}h:3`, "val")).toBe("Infinity");
  // Infinity is a score Redis keeps (+inf, ordered last); NaN is not.
  expect(await redis.zrange(`${p}board`, "0", "-1")).toEqual(["1", "3"]);
  expect(await redis.zscore(`${p}board`, "3")).toBe("inf");
  expect(await redis.xlen(`${p}events`)).toBe(4); // three inserts and the update, once each
  const list = await serve.run(["dlq", "list", "--json"]);
  expect(list.code).toBe(0);
  const entries = list.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { row: { id: number }; error: string });
  expect(entries.map((e) => [e.row.id, e.error])).toEqual([
    [2, "zset score column 'val' is not a number: NaN"],
  ]);
  await src.end();
}, 90_000);
