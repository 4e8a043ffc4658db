/**
 * Scenario 2 (examples/engagement.yaml, compiled binary): the hash content_stats:<content_id>
 * holds the content's title and content_type. Content is captured by CDC and joined to each
 * event, but the hash took MAX(title) / MAX(content_type) over every event: after a rename the
 * hash kept the greatest title the item ever had ('Zebra talk' over 'Apple talk'), for good.
 * Now MAX_BY(title, event_ts): the title and type joined to the latest event. Counters and the
 * other fields stay exact (SQL over the source). The first events are counted by the example as it
 * was (MAX), stopped, and the engine started again with the current example on that checkpoint:
 * the MAX state is not a MAX_BY state ('invalid numeric' at restore, the engine did not start);
 * it is left out and the next event sets the title.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type postgres from "postgres";
import type Redis from "ioredis";
import { ConfigServe, type EngagementWorld, engagementWorld, examplesDir, Serve, waitFor } from "./harness.ts";

let world: EngagementWorld;
let src: postgres.Sql;
let redis: Redis;
let serve: Serve;
let old: ConfigServe;
let prefix = "";
const ID = "0e0e0e0e-0000-4000-8000-0000000000aa";

beforeAll(async () => {
  world = await engagementWorld("e2e_qa_eng");
  ({ src, redis, prefix } = world);
  const env = {
    ...world.env,
    CDC_SLOT: `qa_eng_${Math.random().toString(36).slice(2, 8)}`,
    CDC_PUBLICATION: "qa_eng_rename",
    CDC_STATE_DIR: join(mkdtempSync(join(tmpdir(), "cdc-e2e-state-")), "state"),
  };
  // the example as it was: MAX(title), MAX(content_type)
  const before = (await Bun.file(join(examplesDir, "engagement.yaml")).text()).replace("MAX_BY(title, event_ts)", "MAX(title)").replace("MAX_BY(content_type, event_ts)", "MAX(content_type)");
  expect(before).toContain("content_type: MAX(content_type)");
  old = new ConfigServe("engagement-before", before, { ...env });
  serve = new Serve("engagement", { ...env });
});

afterAll(async () => {
  await old?.stop();
  await serve?.stop();
  await world?.close();
});

const event = (type: string, ago: string, ms: number | null) =>
  src.unsafe(`insert into engagement_events (content_id, user_id, event_type, event_ts, duration_ms, device) values ('${ID}', gen_random_uuid(), '${type}', now() - interval '${ago}', ${ms ?? "null"}, 'web')`);

test("content_stats title and content_type follow a renamed content item", async () => {
  const key = `${prefix}content_stats:${ID}`;
  await old.start();
  await src.unsafe(`insert into content values ('${ID}', 'qa-rename', 'Zebra talk', 'video', 600, now() - interval '1 day')`);
  await event("play", "3 minutes", 60_000);
  await event("pause", "2 minutes", null);
  await waitFor("hash before the rename", async () => (await redis.hget(key, "pauses")) === "1", 60_000, () => old.logs);
  expect(await redis.hmget(key, "title", "content_type", "plays")).toEqual(["Zebra talk", "video", "1"]);
  expect(await old.stop()).toBe(0);
  await serve.start();

  await src.unsafe(`update content set title = 'Apple talk', content_type = 'podcast' where id = '${ID}'`);
  await event("finish", "1 minute", 300_000);
  await waitFor("hash after the rename", async () => (await redis.hget(key, "finishes")) === "1", 30_000, () => serve.logs);
  // a late event (older event time) joined after the rename does not make an older event the latest
  await event("click", "20 minutes", 1_000);
  await waitFor("the late click", async () => (await redis.hget(key, "clicks")) === "1", 30_000, () => serve.logs);
  const h: Record<string, string> = await redis.hgetall(key);
  const last = (await src.unsafe(`select to_char(max(event_ts) at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') t from engagement_events`))[0]!.t as string;
  expect<Record<string, string>>({ ...h, last_event_ts: (h.last_event_ts ?? "").replace(/(\.\d+)?\+00$/, (m, f: string | undefined) => `${(f ?? ".").padEnd(7, "0")}`) }).toEqual({
    content_id: ID,
    title: "Apple talk",
    content_type: "podcast",
    plays: "1",
    pauses: "1",
    finishes: "1",
    clicks: "1",
    total_engagement_seconds: "361.00000000000000000000",
    // 60/600*100 = 10.00 and 300/600*100 = 50.00 (the pause has no duration, the click was joined with 600 s too: 0.17)
    avg_engagement_pct: "20.0566666666666667",
    last_event_ts: last,
  });
}, 90_000);
