/**
 * Scenario 2 at the seed's floor rate: examples/engagement.yaml run by the compiled binary
 * (Redis = the machine's server, BigQuery = the local REST stand-in, webhook = a local receiver)
 * while `cdc-engine generate --dataset engagement --rate 3333/s --duration 60s` writes the load.
 *
 *   bun bench/engagement.ts [--rate 3333] [--seconds 60]
 *
 * Commit → Redis latency: beside the load a probe commits a marker event every 100 ms (its own
 * one-row transaction, a 'play' for a marker content row, event_ts = clock_timestamp() read back
 * with RETURNING). Marker k is visible when content_stats:<marker>.plays >= k (polled every 5 ms).
 * Latency = first seen − event_ts (same clock; event_ts is taken just before the commit, so a slight
 * over-estimate). Markers not visible 60 s after the load stops count as not seen. The probe is a
 * process of its own (this file with --probe), on a fixed 100-ms schedule: this process also
 * serves the BigQuery stand-in and the webhook, and while it parsed a big insert it used to stop
 * committing markers, just when the engine was busiest (a checkpoint flushes BigQuery first), so
 * the markers missed exactly the pauses they are there to see. The marker content row is inserted
 * once the generator has read the content table: before, the generator took it for one of its own
 * items and sent it plays too, so `plays` ran ahead of the markers and they all looked visible at
 * once (every figure before 03:00 UTC 2026-11-22 is void). The end checks plays == markers.
 *
 * Flat over time? Per 20-s slice of the run it also prints the markers' p50/p99/max, the engine's
 * CPU (utime+stime from /proc, % of one core) and RSS, and at the end the checkpoints' count,
 * total and mean time from /metrics (scraped once, after the load).
 * BENCH_ENGINE_PROFILE=DIR: the engine writes a CPU profile there when it stops (Bun's --cpu-prof).
 * BENCH_ENGINE_LOG=FILE: the engine's stdout and stderr are written there when it stops (and FILE.markers.json:
 * each marker's commit time and latency).
 * BENCH_CONFIG=FILE: run this config instead of examples/engagement.yaml (same environment variables),
 * e.g. the example with one setting changed.
 */
import { parseArgs } from "node:util";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import Redis from "ioredis";
import { createDatabase, startPgServer } from "../test/helpers/postgres-server.ts";
import { binaryPath } from "../test/helpers/binary.ts";
import { redisUrl } from "../test/helpers/services.ts";
import { BigQueryServer } from "../test/helpers/bigquery-server.ts";
import { UNIT_JSC_ENV } from "./lib/engine.ts";
import { HttpReceiver } from "../test/helpers/http-receiver.ts";
import { Serve } from "../test/e2e/harness.ts";

const { values } = parseArgs({ options: { rate: { type: "string" }, seconds: { type: "string" }, probe: { type: "string" } } });
const rate = Number(values.rate ?? 3333);
const seconds = Number(values.seconds ?? 60);
const now = () => performance.timeOrigin + performance.now();
if (values.probe) {
  await probe(JSON.parse(values.probe));
  process.exit(0);
}

/** The marker probe (its own process): markers every 100 ms for `seconds`, then waits for the rest to show; prints {commits, seen}. */
async function probe(o: { url: string; redis: string; key: string; marker: string; seconds: number }): Promise<void> {
  const src = postgres(o.url, { max: 1, onnotice: () => {} });
  const redis = new Redis(o.redis);
  const commits: number[] = [];
  const seen: number[] = [];
  let polling = true;
  let drainUntil = Infinity;
  const poller = (async () => {
    while (polling || (seen.length < commits.length && Date.now() < drainUntil)) {
      const plays = Number((await redis.hget(o.key, "plays")) ?? 0);
      const t = now();
      while (seen.length < Math.min(plays, commits.length)) seen.push(t - commits[seen.length]!);
      await Bun.sleep(5);
    }
  })();
  const t0 = Date.now();
  for (let k = 0; Date.now() - t0 < o.seconds * 1000; k++) {
    const [m] = await src`insert into engagement_events (content_id, user_id, event_type, event_ts, duration_ms, device)
                          values (${o.marker}, ${o.marker}, 'play', clock_timestamp(), 1000, 'bench') returning (extract(epoch from event_ts) * 1000)::float8 as ms`;
    commits.push(Number(m!.ms));
    const wait = t0 + (k + 1) * 100 - Date.now(); // a fixed schedule: a late insert does not push the next ones
    if (wait > 0) await Bun.sleep(wait);
  }
  drainUntil = Date.now() + 60_000;
  polling = false;
  await poller;
  console.log(JSON.stringify({ commits, seen, caughtUp: Date.now() }));
  await src.end();
  redis.disconnect();
}
const SLICE_S = 20;
/** utime+stime of a process in clock ticks (100 per second on Linux), and its RSS in bytes. */
function procCpu(pid: number): { ticks: number; rss: number } | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").slice(0, 4096);
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return { ticks: Number(rest[11]) + Number(rest[12]), rss: Number(rest[21]) * 4096 };
  } catch {
    return null;
  }
}

const server = await startPgServer("system", ["max_wal_size=4GB"]);
const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const bq = new BigQueryServer("bench-project", publicKey);
const rx = new HttpReceiver();
const redis = new Redis(redisUrl());
const prefix = `bench:eng:${process.pid}:`;
/** examples/engagement.yaml, or BENCH_CONFIG. */
class BenchServe extends Serve {
  override get config(): string {
    return process.env.BENCH_CONFIG ?? super.config;
  }
}
let serve: Serve | null = null;
try {
  const url = server.url(await createDatabase(server, "engbench"));
  const src = postgres(url, { max: 2, onnotice: () => {} });
  await src.unsafe(await Bun.file(join(import.meta.dir, "../sql/engagement.sql")).text());
  const marker = randomUUID();
  const keyPath = join(mkdtempSync(join(tmpdir(), "cdc-bench-bq-")), "sa.json");
  writeFileSync(keyPath, JSON.stringify({ type: "service_account", project_id: "bench-project", client_email: "b@bench-project.iam.gserviceaccount.com", private_key: privateKey.export({ type: "pkcs8", format: "pem" }), private_key_id: "k1", token_uri: bq.tokenUri }));
  const prof = process.env.BENCH_ENGINE_PROFILE;
  // the engine started as the unit and the image start it
  serve = new BenchServe("engagement", { ...UNIT_JSC_ENV, ...(prof ? { BUN_OPTIONS: `--cpu-prof --cpu-prof-dir=${prof}` } : {}), SOURCE_URL: url, REDIS_URL: redisUrl(), REDIS_PREFIX: prefix, BQ_PROJECT: "bench-project", BQ_ENDPOINT: bq.endpoint, GOOGLE_APPLICATION_CREDENTIALS: keyPath, WEBHOOK_URL: rx.url });
  await serve.start();

  // per slice of the run: engine CPU ticks and RSS at its end
  const enginePid = serve.proc!.pid;
  const cpuAt: { t: number; ticks: number; rss: number }[] = [];
  const sampleCpu = () => {
    const c = procCpu(enginePid);
    if (c) cpuAt.push({ t: Date.now(), ...c });
  };
  // which writer holds records back (a slow sink stops the whole engine once its queue is full): /status every second
  const queued: { t: number; q: Record<string, number> }[] = [];
  const statusTimer = setInterval(async () => {
    try {
      const st = (await (await fetch(`http://127.0.0.1:${serve!.port}/status`)).json()) as { pipelines: { name: string; sinks: { sink: string; queued: number }[] }[] };
      const q: Record<string, number> = {};
      for (const p of st.pipelines) for (const w of p.sinks) q[`${p.name}→${w.sink}`] = w.queued;
      queued.push({ t: Date.now(), q });
    } catch {
      /* the engine is busy: the next sample */
    }
  }, 1000);
  const bin = await binaryPath();
  const t0 = Date.now();
  sampleCpu();
  const cpuTimer = setInterval(sampleCpu, SLICE_S * 1000);
  const gen = Bun.spawn([bin, "generate", "--dataset", "engagement", "--url", url, "--rate", `${rate}/s`, "--duration", `${seconds}s`, "--progress", "json", "--stats-interval", "10s"], { stdout: "pipe", stderr: "pipe" });
  const genOut = new Response(gen.stdout).text();
  // the generator's setup reads the content table (and fills it to 200 rows): the marker content comes after, so it is not one of its items
  while ((await src`select count(*)::int n from content`)[0]!.n < 200) await Bun.sleep(50);
  await Bun.sleep(500);
  await src`insert into content values (${marker}, ${"marker-" + marker}, 'latency marker', 'podcast', 3600, now())`;
  await Bun.sleep(200); // the join knows the content row before the first marker (else it waits for it, up to 5 s)
  const probeArgs = { url, redis: redisUrl(), key: `${prefix}content_stats:${marker}`, marker, seconds };
  const markers = Bun.spawn([process.execPath, import.meta.path, "--probe", JSON.stringify(probeArgs)], { stdout: "pipe", stderr: "inherit" });
  const markersOut = new Response(markers.stdout).text();
  await gen.exited;
  clearInterval(cpuTimer);
  clearInterval(statusTimer);
  sampleCpu();
  const genEnd = Date.now();
  const summary = (await genOut).trim().split("\n").map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find((j) => j.event === "generate.summary") ?? {};
  await markers.exited;
  const { commits, seen, caughtUp } = JSON.parse((await markersOut).trim().split("\n").pop()!) as { commits: number[]; seen: number[]; caughtUp: number };
  const markerPlays = Number((await redis.hget(`${prefix}content_stats:${marker}`, "plays")) ?? 0);
  if (markerPlays !== commits.length) console.log(`WARNING: content_stats plays of the marker is ${markerPlays}, not the ${commits.length} markers: the latency figures are not valid`);
  const total = Number((await src`select count(*)::int n from engagement_events`)[0]!.n);
  // every event once at the webhook (BigQuery flushes every 10 s: give it that long)
  const until = Date.now() + 30_000;
  while (Date.now() < until && ((bq.table("analytics", "engagement_events")?.rows.length ?? 0) < total || [...rx.byKey.values()].reduce((a, b) => a + (JSON.parse(b) as unknown[]).length, 0) < total)) await Bun.sleep(500);
  const metrics = await (await fetch(`http://127.0.0.1:${serve.port}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(metrics)?.[1] ?? NaN);
  const bucket = (le: string) => Number(new RegExp(`^cdc_engine_checkpoint_duration_seconds_bucket\\{le="${le}"\\} (\\d+)$`, "m").exec(metrics)?.[1] ?? NaN);
  const checkpoints = { n: metric("cdc_engine_checkpoint_duration_seconds_count"), s: metric("cdc_engine_checkpoint_duration_seconds_sum"), over500ms: metric("cdc_engine_checkpoint_duration_seconds_count") - bucket("0.5"), over1s: metric("cdc_engine_checkpoint_duration_seconds_count") - bucket("1") };
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
  // the same figures per slice of the run (marker k was committed about k × 100 ms after the start)
  const slices: { from_s: number; p50_ms: number; p99_ms: number; max_ms: number; cpu_pct: number; rss_mib: number; max_queued: Record<string, number> }[] = [];
  for (let i = 1; i < cpuAt.length; i++) {
    const from = cpuAt[i - 1]!.t;
    const to = cpuAt[i]!.t;
    if (to - from < (SLICE_S * 1000) / 2) continue; // the few ms between the last tick and the end
    const lat = commits.map((c, k) => [c, seen[k]] as const).filter(([c, l]) => c >= from && c < to && l !== undefined).map(([, l]) => l!).sort((a, b) => a - b);
    const pick = (p: number) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)]!) : NaN);
    const maxQueued: Record<string, number> = {};
    for (const { t, q } of queued) if (t >= from && t < to) for (const [k, n] of Object.entries(q)) maxQueued[k] = Math.max(maxQueued[k] ?? 0, n);
    slices.push({ from_s: Math.round((from - t0) / 1000), p50_ms: pick(0.5), p99_ms: pick(0.99), max_ms: pick(1), cpu_pct: Math.round(((cpuAt[i]!.ticks - cpuAt[i - 1]!.ticks) / 100 / ((to - from) / 1000)) * 100), rss_mib: Math.round(cpuAt[i]!.rss / 2 ** 20), max_queued: maxQueued });
  }
  if (process.env.BENCH_ENGINE_LOG) writeFileSync(`${process.env.BENCH_ENGINE_LOG}.markers.json`, JSON.stringify({ commits, seen }));
  const worst = commits.map((c, k) => [c, seen[k] ?? Infinity] as const).sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`  worst markers (s into the run: ms): ${worst.map(([c, l]) => `${((c - t0) / 1000).toFixed(1)}: ${Math.round(l)}`).join(", ")}`);
  for (const x of slices) console.log(`  from ${String(x.from_s).padStart(3)} s: p50 ${x.p50_ms} ms, p99 ${x.p99_ms} ms, max ${x.max_ms} ms; engine CPU ${x.cpu_pct} % of a core, RSS ${x.rss_mib} MiB; most queued ${Object.entries(x.max_queued).map(([k, n]) => `${k} ${n}`).join(", ")}`);
  console.log(`  checkpoints: ${checkpoints.n}, ${(checkpoints.s * 1000).toFixed(0)} ms in all, mean ${((checkpoints.s / checkpoints.n) * 1000).toFixed(0)} ms, ${checkpoints.over500ms} over 0.5 s, ${checkpoints.over1s} over 1 s (from the cut to the stored checkpoint, mostly waiting for the writers to reach the cut by their own batching; transactions go on meanwhile; load average at the end ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")})`);
  // for bench/run.ts
  console.log(JSON.stringify({ bench: "engagement", rate, seconds, achieved, events: total, p50_ms: Math.round(q(0.5)), p99_ms: Math.round(q(0.99)), max_ms: Math.round(q(1)), markers: commits.length, lost, caught_up_s: (caughtUp - genEnd) / 1000, webhook: hooked, bigquery: bqRows, checkpoints: checkpoints.n, checkpoint_mean_ms: Math.round((checkpoints.s / checkpoints.n) * 1000), checkpoints_over_500ms: checkpoints.over500ms, checkpoints_over_1s: checkpoints.over1s, worst: worst.map(([c, l]) => [c, Math.round(l)]), slices }));
  await src.end();
} finally {
  await serve?.stop();
  if (serve && process.env.BENCH_ENGINE_LOG) writeFileSync(process.env.BENCH_ENGINE_LOG, serve.logs);
  const keys = await redis.keys(`${prefix}*`).catch(() => [] as string[]);
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  redis.disconnect();
  bq.stop();
  rx.stop();
  await server.destroy();
}
