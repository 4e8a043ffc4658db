/**
 * Live latency: commit → visible in Postgres and in Redis while the generator writes orders at a
 * fixed rate (default 5,000 and 20,000 rows/s for 60 s each).
 *
 *   bun bench/latency.ts [--rates 5000,20000] [--seconds 60] [--batch-delay 10ms]
 *
 * --batch-delay sets both sinks' batch_delay (defaults: postgres 100ms, redis 50ms: part of the latency by design).
 *
 * Method: one cdc-engine (the compiled binary) runs one pipeline public.orders → [Postgres table,
 * Redis hash per order]. `cdc-engine generate --dataset orders --rate R/s` (the binary) writes the
 * load. Beside it this process commits a marker order every 100 ms (its own one-row transaction,
 * `created_at = clock_timestamp()`, read back with RETURNING) into the same table, so markers share
 * the pipeline, batches and sink queues with the load. A poller checks every 5 ms which pending
 * markers are visible (Postgres: SELECT by key on the sink table; Redis: EXISTS on the hash key).
 * Latency = time first seen − created_at (same machine clock). Polling adds 0–5 ms (+ the query
 * time); created_at is taken just before the commit, so the figure is a slight over-estimate.
 * Markers not visible 90 s after the load stops count as infinitely late (reported).
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import Redis from "ioredis";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createDatabase, startPgServer } from "../test/helpers/postgres-server.ts";
import { binaryPath } from "../test/helpers/binary.ts";
import { redisUrl } from "../test/helpers/services.ts";
import { startEngine, waitFor } from "./lib/engine.ts";
import { cpuSeconds } from "./lib/decode-peers.ts";

export interface LatencyResult {
  rate: number;
  seconds: number;
  achievedRate: number;
  markers: number;
  /** Engine CPU seconds (user + system) from load start until every marker was seen: less load-sensitive than the latencies on a shared machine. */
  engineCpuS: number;
  pg: Stats;
  redis: Stats;
}
export interface Stats {
  p50: number;
  p99: number;
  max: number;
  lost: number;
}

/** After the load stops, markers get this long to become visible (the engine drains its backlog in order). */
const DRAIN_MS = 90_000;
const now = () => performance.timeOrigin + performance.now();

/** Percentiles over every marker; a marker never seen counts as infinitely late. */
function stats(samples: number[], lost: number): Stats {
  const s = [...samples, ...Array<number>(lost).fill(Infinity)].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] : NaN);
  return { p50: q(0.5), p99: q(0.99), max: s.length ? s[s.length - 1] : NaN, lost };
}

export const ms = (x: number): string => (x === Infinity ? "not seen" : `${x.toFixed(0)} ms`);

export async function latency(rates: number[], seconds: number, log: (s: string) => void = console.log, batchDelay?: string): Promise<{ results: LatencyResult[]; enginePeak: number | null }> {
  const server = await startPgServer("system", ["max_wal_size=4GB", "checkpoint_timeout=30min"]);
  const prefix = `bench:lat:${process.pid}:`;
  const redis = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let engine: Awaited<ReturnType<typeof startEngine>> | null = null;
  try {
    const srcDb = await createDatabase(server, "latsrc");
    const sinkDb = await createDatabase(server, "latsink");
    const src = postgres(server.url(srcDb), { max: 2, onnotice: () => {} });
    const dst = postgres(server.url(sinkDb), { max: 1, onnotice: () => {} });
    await src.unsafe(readFileSync(join(import.meta.dir, "../sql/orders.sql"), "utf8"));
    engine = await startEngine(`source: { url: "${server.url(srcDb)}", slot: lat, publication: lat, heartbeat_interval: 1s }
log: { level: warn }
sinks:
  pg: { type: postgres, url: "${server.url(sinkDb)}"${batchDelay ? `, batch_delay: ${batchDelay}` : ""} }
  cache: { type: redis, url: "${redisUrl()}", key_prefix: "${prefix}"${batchDelay ? `, batch_delay: ${batchDelay}` : ""} }
pipelines:
  - name: orders_mirror
    from: public.orders
    to:
      - { sink: pg, key: [order_id] }
      - { sink: cache, type: hash, key_template: "o:{order_id}", fields: [status, created_at] }
`);
    // warm up: one marker through both sinks (creates the sink table public.orders in the sink database)
    const [w] = await src`insert into orders (customer_id, product_id, quantity, price, status) values (0, 0, 0, 0, 'warmup') returning order_id`;
    const warm = await waitFor(async () => (await redis.exists(`${prefix}o:${w.order_id}`)) === 1 && (await dst`select 1 from orders where order_id = ${w.order_id}`.catch(() => [])).length === 1, 20_000, 200);
    if (!warm) throw new Error(`warm-up marker ${w.order_id} never arrived: ${await (await fetch(`http://127.0.0.1:${engine.port}/status`)).text()} ${await redis.keys(`${prefix}*`)} ${engine.log().slice(-2000)}`);
    // Until commit b132002 a REPLICA IDENTITY FULL table (orders) was mirrored append-only into a sink
    // table without a key: without an index every poll below was a sequential scan of a table
    // growing by 20k rows/s. Until 02:15 UTC on 2026-11-22 that was the case: the poller cost the
    // sink server ~20 s of CPU per 30-s run at 20k rows/s (its statement log), on the engine's 2
    // shared cores, and each Postgres sample carried up to 170 ms of its own query. The index is
    // the instrument's, not the engine's (now the table has its primary key and this is a no-op twin).
    await dst`create index if not exists bench_latency_order_id on orders (order_id)`;

    const bin = await binaryPath();
    const results: LatencyResult[] = [];
    for (const rate of rates) {
      const pending = new Map<string, { t: number; pg?: number; redis?: number }>();
      const seen: { pg: number[]; redis: number[] } = { pg: [], redis: [] };
      let polling = true;
      let drainUntil = Infinity;
      const poller = (async () => {
        while (polling || [...pending.values()].some((m) => m.pg === undefined || m.redis === undefined)) {
          const ids = [...pending.keys()];
          if (ids.length) {
            const waitPg = ids.filter((id) => pending.get(id)!.pg === undefined);
            const waitRedis = ids.filter((id) => pending.get(id)!.redis === undefined);
            const [rows, exists] = await Promise.all([
              waitPg.length ? dst`select order_id::text as id from orders where order_id = any(${waitPg}::bigint[])` : Promise.resolve([]),
              waitRedis.length ? redis.pipeline(waitRedis.map((id) => ["exists", `${prefix}o:${id}`])).exec() : Promise.resolve([]),
            ]);
            const t = now();
            for (const r of rows) {
              const m = pending.get(r.id)!;
              m.pg = t - m.t;
              seen.pg.push(m.pg);
            }
            (exists ?? []).forEach(([, v], i) => {
              if (v === 1) {
                const m = pending.get(waitRedis[i])!;
                m.redis = t - m.t;
                seen.redis.push(m.redis);
              }
            });
            for (const [id, m] of pending) if (m.pg !== undefined && m.redis !== undefined) pending.delete(id);
          }
          if (!polling && Date.now() > drainUntil) break;
          await Bun.sleep(5);
        }
      })();
      const cpu0 = cpuSeconds(engine.proc.pid);
      const gen = Bun.spawn([bin, "generate", "--dataset", "orders", "--url", server.url(srcDb), "--rate", `${rate}/s`, "--duration", `${seconds}s`, "--progress", "json", "--stats-interval", "10s"], { stdout: "pipe", stderr: "pipe" });
      const genOut = new Response(gen.stdout).text();
      let markers = 0;
      const startAt = Date.now();
      while (Date.now() - startAt < seconds * 1000) {
        const [m] = await src`insert into orders (customer_id, product_id, quantity, price, status, created_at) values (0, 0, 0, 0, 'latency-marker', clock_timestamp()) returning order_id::text as id, (extract(epoch from created_at) * 1000)::float8 as ms`;
        pending.set(m.id, { t: Number(m.ms) });
        markers++;
        await Bun.sleep(100);
      }
      await gen.exited;
      const summary = (await genOut).trim().split("\n").map((l) => { try { return JSON.parse(l); } catch { return {}; } }).find((j) => j.event === "generate.summary") ?? {};
      drainUntil = Date.now() + DRAIN_MS;
      polling = false;
      await poller;
      const engineCpuS = cpuSeconds(engine.proc.pid) - cpu0;
      const lostPg = markers - seen.pg.length;
      const lostRedis = markers - seen.redis.length;
      const r: LatencyResult = { rate, seconds, achievedRate: summary.rows && summary.elapsed_s ? summary.rows / summary.elapsed_s : NaN, markers, engineCpuS, pg: stats(seen.pg, lostPg), redis: stats(seen.redis, lostRedis) };
      results.push(r);
      const f = (s: Stats) => `p50 ${ms(s.p50)}, p99 ${ms(s.p99)}, max ${ms(s.max)}${s.lost ? `, ${s.lost} not visible ${DRAIN_MS / 1000} s after the load stopped` : ""}`;
      log(`latency at ${rate} rows/s requested (${Math.round(r.achievedRate)} achieved, ${markers} markers): Postgres ${f(r.pg)}; Redis ${f(r.redis)}; engine CPU ${engineCpuS.toFixed(1)} s; engine peak RSS so far ${Math.round((engine.peak() ?? 0) / 2 ** 20)} MiB`);
      // let the engine catch up fully before the next rate
      await Bun.sleep(2000);
    }
    const enginePeak = engine.peak();
    await engine.stop();
    engine = null;
    await Promise.all([src.end(), dst.end()]);
    return { results, enginePeak };
  } finally {
    await engine?.stop().catch(() => {});
    const keys = await redis.keys(`${prefix}*`).catch(() => [] as string[]);
    for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
    redis.disconnect();
    await server.destroy();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { rates: { type: "string" }, seconds: { type: "string" }, "batch-delay": { type: "string" } } });
  const rates = (values.rates ?? "5000,20000").split(",").map(Number);
  const r = await latency(rates, Number(values.seconds ?? 60), console.log, values["batch-delay"]);
  console.log(JSON.stringify(r, null, 1));
}
