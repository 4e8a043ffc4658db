/**
 * Scenario 2 at the seed's floor rate: examples/engagement.yaml run by the compiled binary
 * (Redis = the machine's server, BigQuery = the local REST stand-in, webhook = a local receiver)
 * while `cdc-engine generate --dataset engagement --rate 3333/s --duration 60s` writes the load.
 *
 *   bun bench/engagement.ts [--rate 3333] [--seconds 60]
 *
 * Commit → Redis latency: beside the load this process commits a marker event every 100 ms (its own
 * one-row transaction, a 'play' for a marker content row, event_ts = clock_timestamp() read back
 * with RETURNING). Marker k is visible when content_stats:<marker>.plays >= k (polled every 5 ms).
 * Latency = first seen − event_ts (same clock; event_ts is taken just before the commit, so a slight
 * over-estimate). Markers not visible 60 s after the load stops count as not seen.
 */
import { parseArgs } from "node:util";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import Redis from "ioredis";
import { createDatabase, startPgServer } from "../test/helpers/postgres-server.ts";
import { binaryPath } from "../test/helpers/binary.ts";
import { redisUrl } from "../test/helpers/services.ts";
import { BigQueryServer } from "../test/helpers/bigquery-server.ts";
import { HttpReceiver } from "../test/helpers/http-receiver.ts";
import { Serve } from "../test/e2e/harness.ts";

const { values } = parseArgs({ options: { rate: { type: "string" }, seconds: { type: "string" } } });
const rate = Number(values.rate ?? 3333);
const seconds = Number(values.seconds ?? 60);
const now = () => performance.timeOrigin + performance.now();

const server = await startPgServer("system", ["max_wal_size=4GB"]);
const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const bq = new BigQueryServer("bench-project", publicKey);
const rx = new HttpReceiver();
const redis = new Redis(redisUrl());
const prefix = `bench:eng:${process.pid}:`;
let serve: Serve | null = null;
try {
  const url = server.url(await createDatabase(server, "engbench"));
  const src = postgres(url, { max: 2, onnotice: () => {} });
  await src.unsafe(await Bun.file(join(import.meta.dir, "../sql/engagement.sql")).text());
  const marker = randomUUID();
  await src`insert into content values (${marker}, ${"marker-" + marker}, 'latency marker', 'podcast', 3600, now())`;
  const keyPath = join(mkdtempSync(join(tmpdir(), "cdc-bench-bq-")), "sa.json");
  writeFileSync(keyPath, JSON.stringify({ type: "service_account", project_id: "bench-project", client_email: "b@bench-project.iam.gserviceaccount.com", private_key: privateKey.export({ type: "pkcs8", format: "pem" }), private_key_id: "k1", token_uri: bq.tokenUri }));
  serve = new Serve("engagement", { SOURCE_URL: url, REDIS_URL: redisUrl(), REDIS_PREFIX: prefix, BQ_PROJECT: "bench-project", BQ_ENDPOINT: bq.endpoint, GOOGLE_APPLICATION_CREDENTIALS: keyPath, WEBHOOK_URL: rx.url });
  await serve.start();

  const commits: number[] = [];
  const seen: number[] = [];
  let polling = true;
  let drainUntil = Infinity;
  const poller = (async () => {
    while (polling || (seen.length < commits.length && Date.now() < drainUntil)) {
      const plays = Number((await redis.hget(`${prefix}content_stats:${marker}`, "plays")) ?? 0);
      const t = now();
      while (seen.length < Math.min(plays, commits.length)) seen.push(t - commits[seen.length]!);
      await Bun.sleep(5);
    }
  })();
  const bin = await binaryPath();
  const t0 = Date.now();
  const gen = Bun.spawn([bin, "generate", "--dataset", "engagement", "--url", url, "--rate", `${rate}/s`, "--duration", `${seconds}s`, "--progress", "json", "--stats-interval", "10s"], { stdout: "pipe", stderr: "pipe" });
  const genOut = new Response(gen.stdout).text();
  while (Date.now() - t0 < seconds * 1000) {
    const [m] = await src`insert into engagement_events (content_id, user_id, event_type, event_ts, duration_ms, device)
                          values (${marker}, ${marker}, 'play', clock_timestamp(), 1000, 'bench') returning (extract(epoch from event_ts) * 1000)::float8 as ms`;
    commits.push(Number(m!.ms));
    await Bun.sleep(100);
  }
  await gen.exited;
  const genEnd = Date.now();
  const summary = (await genOut).trim().split("\n").map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find((j) => j.event === "generate.summary") ?? {};
  drainUntil = Date.now() + 60_000;
  polling = false;
  await poller;
  const caughtUp = Date.now();
  const total = Number((await src`select count(*)::int n from engagement_events`)[0]!.n);
  // every event once at the webhook (BigQuery flushes every 10 s: give it that long)
  const until = Date.now() + 30_000;
  while (Date.now() < until && ((bq.table("analytics", "engagement_events")?.rows.length ?? 0) < total || [...rx.byKey.values()].reduce((a, b) => a + (JSON.parse(b) as unknown[]).length, 0) < total)) await Bun.sleep(500);
  const hooked = [...rx.byKey.values()].reduce((a, b) => a + (JSON.parse(b) as unknown[]).length, 0);
  const bqRows = bq.table("analytics", "engagement_events")?.rows.length ?? 0;
  const s = [...seen].sort((a, b) => a - b);
  const lost = commits.length - s.length;
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]! : NaN);
  const achieved = summary.rows && summary.elapsed_s ? Math.round(summary.rows / summary.elapsed_s) : NaN;
  console.log(
    `engagement at ${rate}/s requested for ${seconds} s (${achieved} rows/s achieved by the generator, ${total} events): ` +
      `commit→Redis p50 ${q(0.5).toFixed(0)} ms, p99 ${q(0.99).toFixed(0)} ms, max ${q(1).toFixed(0)} ms over ${commits.length} markers${lost ? `, ${lost} not seen` : ""}; ` +
      `last marker visible ${((caughtUp - genEnd) / 1000).toFixed(1)} s after the load stopped; webhook ${hooked}/${total} rows, BigQuery ${bqRows}/${total} rows`,
  );
  // for bench/run.ts
  console.log(JSON.stringify({ bench: "engagement", rate, seconds, achieved, events: total, p50_ms: Math.round(q(0.5)), p99_ms: Math.round(q(0.99)), max_ms: Math.round(q(1)), markers: commits.length, lost, caught_up_s: (caughtUp - genEnd) / 1000, webhook: hooked, bigquery: bqRows }));
  await src.end();
} finally {
  await serve?.stop();
  const keys = await redis.keys(`${prefix}*`).catch(() => [] as string[]);
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  redis.disconnect();
  bq.stop();
  rx.stop();
  await server.destroy();
}
