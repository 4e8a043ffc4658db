/**
 * Scenario 2: examples/engagement.yaml with the compiled binary → Redis (machine's server),
 * the local BigQuery REST server and an HTTP receiver (test/helpers). Checks: content_stats:*
 * hashes equal SQL over the source; every enriched row arrives once at BigQuery and once at the
 * webhook; the top_engagement:10min leaderboard equals SQL over the 10-minute window the sink says
 * it holds (hash cdc_engine:shown_window:cache), also after a late row, an update and a delete in
 * that window. (The 60 s run at 3,333 rows/s belongs in bench/engagement.ts, not here.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type postgres from "postgres";
import type Redis from "ioredis";
import { type EngagementWorld, engagementWorld, generate, Serve, waitFor } from "./harness.ts";

let world: EngagementWorld;
let src: postgres.Sql;
let redis: Redis;
let serve: Serve;
let srcUrl = "";
let bq: EngagementWorld["bq"];
let rx: EngagementWorld["rx"];
let prefix = "";

beforeAll(async () => {
  world = await engagementWorld("e2e_eng");
  ({ src, redis, bq, rx, prefix } = world);
  srcUrl = world.env.SOURCE_URL;
  serve = new Serve("engagement", world.env);
  await serve.start();
});

afterAll(async () => {
  await serve?.stop();
  await world?.close();
});

test("Redis hashes equal SQL; every enriched row once at BigQuery and the webhook", async () => {
  // Events before and inside the 10-minute window the board will show (on a content item the
  // generator also uses): the one 12 minutes back must have slid out of it, the one 3 minutes back counts.
  const OWN = "0e0e0e0e-0000-4000-8000-000000000001";
  await src.unsafe(`insert into content values ('${OWN}', 'own-e2e', 'Own e2e item', 'video', 600, now() - interval '1 day')`);
  await src.unsafe(`insert into engagement_events (content_id, user_id, event_type, event_ts, duration_ms, device)
                    values ('${OWN}', gen_random_uuid(), 'play', now() - interval '12 minutes', 100000, 'web'),
                           ('${OWN}', gen_random_uuid(), 'play', now() - interval '3 minutes', 7000, 'web')`);
  const t0 = performance.now();
  await generate(srcUrl, ["--dataset", "engagement", "--count", "3000", "--rate", "1000/s"]);
  const genDone = performance.now();
  const n = (await src.unsafe("select count(*)::int n from engagement_events"))[0]!.n as number;
  expect(n).toBeGreaterThan(2500); // --count counts content rows too

  // content_stats:<id> = SQL per content
  const stats = await src.unsafe(`
    select e.content_id::text id, c.title, c.content_type,
           count(*) filter (where event_type = 'play')::text plays, count(*) filter (where event_type = 'pause')::text pauses,
           count(*) filter (where event_type = 'finish')::text finishes, count(*) filter (where event_type = 'click')::text clicks,
           sum(duration_ms / 1000.0)::float8 total, avg(case when c.length_seconds is null or c.length_seconds = 0 or duration_ms is null then null
             else round(duration_ms / 1000.0 / c.length_seconds * 100, 2) end)::float8 avg_pct
    from engagement_events e left join content c on c.id = e.content_id group by 1, 2, 3`);
  let mismatch = "";
  const hashOk = async () => {
    for (const s of stats) {
      const h = await redis.hgetall(`${prefix}content_stats:${s.id}`);
      mismatch = JSON.stringify({ want: s, got: h });
      if (h.title !== s.title || h.content_type !== s.content_type || h.plays !== s.plays || h.pauses !== s.pauses || h.finishes !== s.finishes || h.clicks !== s.clicks) return false;
      if (Math.abs(Number(h.total_engagement_seconds) - (s.total as number)) > 1e-6) return false;
      if (s.avg_pct !== null && Math.abs(Number(h.avg_engagement_pct) - (s.avg_pct as number)) > 1e-6) return false;
    }
    return true;
  };
  await waitFor("content_stats hashes = SQL", hashOk, 60_000, () => serve.logs + "\nfirst mismatch: " + mismatch);
  const hashesAt = performance.now();
  const ttl = await redis.ttl(`${prefix}content_stats:${stats[0]!.id}`);
  expect(ttl).toBeGreaterThan(86_000);

  // every enriched row once at the webhook and at BigQuery
  const hooked = () => [...rx.byKey.values()].flatMap((b) => JSON.parse(b) as { id: number | string; title: string | null; engagement_seconds: string }[]);
  await waitFor("webhook has every row", async () => hooked().length >= n, 60_000, () => serve.logs);
  const ids = hooked().map((r) => String(r.id));
  expect(ids.length).toBe(n);
  expect(new Set(ids).size).toBe(n);
  await waitFor("BigQuery has every row", async () => (bq.table("analytics", "engagement_events")?.rows.length ?? 0) >= n, 60_000, () => serve.logs);
  const bqRows = bq.table("analytics", "engagement_events")!;
  expect(bqRows.rows.length).toBe(n);
  expect(new Set(bqRows.rows.map((r) => String((r as { json?: { id: unknown } }).json?.id ?? (r as { id: unknown }).id))).size).toBe(n);
  const res = bqRows.resource as { rangePartitioning?: { field: string }; clustering?: { fields: string[] } };
  expect(res.rangePartitioning?.field).toBe("event_half_hour");
  expect(res.clustering?.fields).toEqual(["content_type", "event_type"]);
  const allAt = performance.now();

  // leaderboard: the zset equals SQL over the window the sink says it holds (read atomically with it)
  const board = async () => {
    const [[, end], [, flat]] = (await redis.multi().hget(`${prefix}cdc_engine:shown_window:cache`, `${prefix}top_engagement:10min`).zrange(`${prefix}top_engagement:10min`, "0", "-1", "WITHSCORES").exec()) as [unknown, unknown][];
    const got = new Map<string, number>();
    const list = flat as string[];
    for (let i = 0; i < list.length; i += 2) got.set(list[i]!, Number(list[i + 1]));
    return { end: end as string | null, got };
  };
  const sqlWindow = async (end: string) =>
    new Map((await src.unsafe(`select content_id::text id, sum(duration_ms / 1000.0)::text s from engagement_events
                               where event_ts >= $1::timestamptz - interval '10 minutes' and event_ts < $1::timestamptz and duration_ms is not null group by 1`, [end])).map((r) => [r.id as string, r.s as string]));
  let last = "";
  const boardEqualsSql = async () => {
    const { end, got } = await board();
    if (end === null) return null;
    const want = await sqlWindow(end);
    const bad = [...want].filter(([id, v]) => !(Math.abs((got.get(id) ?? NaN) - Number(v)) < 1e-6));
    last = `window ending ${end}: zset ${got.size} members, SQL ${want.size}; first differences ${JSON.stringify(bad.slice(0, 3).map(([id, v]) => [id, v, got.get(id)]))}`;
    return got.size === want.size && bad.length === 0 ? { end, members: got.size, own: got.get(OWN) } : null;
  };
  // the first window holding every generated event: it closes once the idle watermark passes its end
  const [{ maxMs }] = await src.unsafe(`select extract(epoch from max(event_ts))::float8 * 1000 as "maxMs" from engagement_events`);
  const closed = async () => {
    const ok = await boardEqualsSql();
    return ok && Date.parse(ok.end.replace(" ", "T").replace(/\+00$/, "Z")) > (maxMs as number) ? ok : null;
  };
  const first = await waitFor("top_engagement:10min = SQL over the window it holds, the generated events included", closed, 120_000, () => serve.logs + "\n" + last);
  const boardAt = performance.now();
  expect(first.members).toBeGreaterThan(150);
  const [{ own }] = await src.unsafe(`select sum(duration_ms / 1000.0)::float8 own from engagement_events where content_id = '${OWN}' and event_ts >= $1::timestamptz - interval '10 minutes'`, [first.end]);
  expect(first.own).toBeCloseTo(own as number, 6); // not the 100 s event 12 minutes back

  // corrections inside the shown window: a late row, an update, a delete (each retracts/adds exactly)
  const [victim] = await src.unsafe(`select id, content_id::text c from engagement_events where content_id <> '${OWN}' and duration_ms > 0 order by id limit 1`);
  await src.unsafe(`update engagement_events set duration_ms = duration_ms + 123456 where id = $1`, [victim!.id]);
  await src.unsafe(`delete from engagement_events where id = (select max(id) from engagement_events where content_id <> $1)`, [victim!.c]);
  await src.unsafe(`insert into engagement_events (content_id, user_id, event_type, event_ts, duration_ms, device) values ('${OWN}', gen_random_uuid(), 'play', now() - interval '2 minutes', 5000, 'web')`);
  const second = await waitFor("top_engagement:10min = SQL after a late row, an update and a delete", async () => {
    const ok = await boardEqualsSql();
    return ok && Math.abs(ok.own! - (first.own! + 5)) < 1e-6 ? ok : null;
  }, 60_000, () => serve.logs + "\n" + last);
  expect(second.members).toBeGreaterThanOrEqual(first.members - 1);
  console.log(`[e2e engagement] ${n} events at 1000/s (generate ${((genDone - t0) / 1000).toFixed(1)} s); hashes equal ${((hashesAt - genDone) / 1000).toFixed(1)} s after, webhook+BigQuery complete ${((allAt - genDone) / 1000).toFixed(1)} s after (BigQuery flush_interval 10s); leaderboard = SQL for the window ending ${first.end} (${first.members} members) ${((boardAt - genDone) / 1000).toFixed(1)} s after, and again after corrections (window ${second.end})`);
}, 300_000);
