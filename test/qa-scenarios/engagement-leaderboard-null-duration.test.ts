/**
 * Scenario 2, examples/engagement.yaml, compiled binary: the `top_engagement:10min` sorted set
 * against SQL over the window it holds when events carry a NULL duration_ms or a NULL content_id
 * (both allowed by the seed's DDL: a click has no duration).
 *
 * Before the fix the leaderboard summed every event: a content whose events in the window all had a
 * NULL duration got SUM = NULL, which a sorted set cannot hold, so each closed window sent it to the
 * DLQ ("score ... is not a number: NULL"), as every window did for a NULL content_id ("member column
 * 'content_id' is NULL"): ten dead letters a minute per such event. Worse, an update setting an
 * event's duration to NULL re-emitted its content with a NULL total, which went to the DLQ too, and
 * the set kept the old score (7 s here, where SQL over the window has no engagement for it).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import type postgres from "postgres";
import type Redis from "ioredis";
import { type EngagementWorld, engagementWorld, Serve, waitFor } from "../e2e/harness.ts";

let world: EngagementWorld;
let src: postgres.Sql;
let redis: Redis;
let serve: Serve;
let prefix = "";

beforeAll(async () => {
  world = await engagementWorld("qa_lb");
  ({ src, redis, prefix } = world);
  serve = new Serve("engagement", world.env);
  await serve.start();
});

afterAll(async () => {
  await serve?.stop();
  await world?.close();
  if (serve) rmSync(serve.dir, { recursive: true, force: true });
});

const E = "0e0e0e0e-0000-4000-8000-0000000000e1"; // one 7 s play, later set to a NULL duration
const F = "0e0e0e0e-0000-4000-8000-0000000000f1"; // only a click without duration
const G = "0e0e0e0e-0000-4000-8000-0000000000a1"; // 2 s + a click without duration

async function board(): Promise<{ end: string | null; got: Map<string, number> }> {
  const end = await redis.hget(`${prefix}cdc_engine:shown_window:cache`, `${prefix}top_engagement:10min`);
  const flat = await (redis as unknown as { zrange(...a: (string | number)[]): Promise<string[]> }).zrange(`${prefix}top_engagement:10min`, 0, -1, "WITHSCORES");
  const got = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 2) got.set(flat[i]!, Number(flat[i + 1]));
  return { end, got };
}

/** The rule over the source: total engagement seconds per content in the window [end - 10 min, end). */
async function sqlWindow(end: string): Promise<Map<string, number>> {
  const rows = await src.unsafe(
    `select content_id::text id, sum(duration_ms / 1000.0)::float8 s from engagement_events
     where event_ts >= $1::timestamptz - interval '10 minutes' and event_ts < $1::timestamptz group by 1`,
    [end],
  );
  return new Map(rows.filter((r) => r.id !== null && r.s !== null).map((r) => [r.id as string, r.s as number]));
}

async function topDeadLetters(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${serve.port}/metrics`)).text();
  return [...text.matchAll(/^cdc_engine_dlq_rows_total\{pipeline="top_engagement"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

test("NULL durations and content ids: the leaderboard equals SQL over its window, also after a duration is set to NULL; nothing goes to the DLQ", async () => {
  await src.unsafe(`insert into content values ('${E}', 'qa-e', 'E', 'video', 40, now()), ('${F}', 'qa-f', 'F', 'video', 40, now()), ('${G}', 'qa-g', 'G', 'podcast', 40, now())`);
  await src.unsafe(`insert into engagement_events (id, content_id, user_id, event_type, event_ts, duration_ms, device) values
    (1, '${E}', gen_random_uuid(), 'play', now() - interval '3 minutes', 7000, 'web'),
    (2, '${F}', gen_random_uuid(), 'click', now() - interval '3 minutes', NULL, 'web'),
    (3, '${G}', gen_random_uuid(), 'play', now() - interval '3 minutes', 2000, 'web'),
    (4, '${G}', gen_random_uuid(), 'click', now() - interval '3 minutes', NULL, 'web'),
    (5, NULL, gen_random_uuid(), 'play', now() - interval '3 minutes', 1000, 'web')`);
  const first = await waitFor("leaderboard holds E and G", async () => {
    const b = await board();
    return b.end && b.got.get(E) === 7 && b.got.get(G) === 2 ? b : null;
  }, 30_000, () => serve.logs);
  expect(Object.fromEntries(first.got)).toEqual(Object.fromEntries(await sqlWindow(first.end!)));
  expect(first.got.has(F)).toBe(false);

  await src.unsafe(`update engagement_events set duration_ms = NULL where id = 1`);
  let last = "";
  const second = await waitFor("E leaves the leaderboard once its only duration is NULL", async () => {
    const b = await board();
    last = JSON.stringify({ end: b.end, got: Object.fromEntries(b.got) });
    return !b.got.has(E) ? b : null;
  }, 15_000, () => serve.logs + "\nboard: " + last);
  expect(Object.fromEntries(second.got)).toEqual(Object.fromEntries(await sqlWindow(second.end!)));
  expect(Object.fromEntries(second.got)).toEqual({ [G]: 2 });
  expect(await topDeadLetters()).toBe(0);
}, 60_000);
