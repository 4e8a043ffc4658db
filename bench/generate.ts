/**
 * `bun bench/generate.ts`: how fast `generate` writes into a local Postgres, and how well it
 * holds a requested rate over a minute. Starts a throwaway PG 15 (as the tests do) unless
 * BENCH_PG_URL points at a server. Takes about 100 s; prints one JSON line per measurement and
 * a summary table.
 *
 *   BENCH_RATE_SECONDS=60   length of the rate-holding run
 *   BENCH_RATE=200000/min   the rate it asks for
 *   BENCH_ONLY=rate         skip the throughput part
 */
import postgres from "postgres";
import { startPgServer } from "../test/helpers/postgres-server.ts";
import { createDatabase } from "../test/helpers/postgres-server.ts";
import { parseRate, runGenerator, type GeneratorOptions, type GeneratorStats } from "../src/generator/index.ts";

const server = process.env.BENCH_PG_URL ? null : await startPgServer("system");
let dbN = 0;
async function freshUrl(): Promise<string> {
  if (server) return server.url(await createDatabase(server, "bench"));
  const admin = postgres(process.env.BENCH_PG_URL!, { max: 1, onnotice: () => {} });
  const name = `bench_gen_${process.pid}_${dbN++}`;
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const u = new URL(process.env.BENCH_PG_URL!);
  u.pathname = `/${name}`;
  return u.toString();
}

const results: Record<string, unknown>[] = [];
function record(r: Record<string, unknown>) {
  results.push(r);
  console.log(JSON.stringify(r));
}

async function throughput(label: string, o: Partial<GeneratorOptions>) {
  const url = await freshUrl();
  const s = await runGenerator({ url, init: true, progress: "none", out: () => {}, dataset: "engagement", ...o } as GeneratorOptions);
  record({ bench: "throughput", label, dataset: s.dataset, rows: s.rows, seconds: s.elapsed_s, rows_per_s: Math.round(s.rows / s.elapsed_s), transactions: s.transactions });
}

try {
  // 1. Inserts as fast as possible: multi-row INSERT against COPY by rows per transaction (one
  // writer), then the defaults (auto method, two writers) per dataset.
  for (const [method, batch] of process.env.BENCH_ONLY === "rate" ? [] :  [["insert", 500], ["insert", 2000], ["copy", 2000], ["copy", 5000]] as const) {
    await throughput(`orders ${method} batch=${batch} concurrency=1`, { dataset: "orders", method, batch, count: 100_000, concurrency: 1 });
  }
  if (process.env.BENCH_ONLY !== "rate") {
    for (const ds of ["orders", "engagement", "ecommerce"]) await throughput(`${ds} defaults (auto, batch=5000, concurrency=2)`, { dataset: ds, count: 100_000 });
    await throughput("orders simulate (20% updates, 5% deletes) batch=5000", { dataset: "orders", count: 50_000, updates: 0.2, deletes: 0.05 });
  }

  // 2. A requested rate over a minute: per-second windows from the stats lines, and the total.
  const seconds = Number(process.env.BENCH_RATE_SECONDS ?? 60);
  const rateText = process.env.BENCH_RATE ?? "200000/min";
  const rate = parseRate(rateText)!;
  const url = await freshUrl();
  const windows: GeneratorStats[] = [];
  const s = await runGenerator({ url, init: true, dataset: "engagement", rate, durationMs: seconds * 1000, progress: "none", out: () => {}, statsIntervalMs: 1000, onStats: (x) => x.event === "generate.stats" && windows.push(x) });
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  // Independent of the generator's own counting: the events in the table, by their timestamps' seconds.
  const perSec = await sql`select date_trunc('second', event_ts) s, count(*)::int n from engagement_events group by 1 order by 1`;
  await sql.end();
  const inner = perSec.slice(1, -1).map((r) => r.n as number); // first and last second are partial
  const rates = windows.map((w) => w.rate);
  record({
    bench: "rate",
    requested: rateText,
    requested_rows_per_s: Math.round(rate * 10) / 10,
    seconds: s.elapsed_s,
    rows: s.rows,
    achieved_rows_per_s: Math.round((s.rows / s.elapsed_s) * 10) / 10,
    deviation_pct: Math.round(((s.rows / s.elapsed_s - rate) / rate) * 10000) / 100,
    per_second_min: Math.min(...inner),
    per_second_max: Math.max(...inner),
    stats_window_min: Math.min(...rates),
    stats_window_max: Math.max(...rates),
  });

  console.log("\n| measurement | rows | seconds | rows/s |\n|---|---|---|---|");
  for (const r of results) {
    if (r.bench === "throughput") console.log(`| ${r.label} | ${r.rows} | ${r.seconds} | ${r.rows_per_s} |`);
    else console.log(`| rate ${r.requested} (${r.requested_rows_per_s}/s) for ${seconds}s: achieved ${r.achieved_rows_per_s}/s (${r.deviation_pct}%), per-second ${r.per_second_min}–${r.per_second_max} | ${r.rows} | ${r.seconds} | ${r.achieved_rows_per_s} |`);
  }
} finally {
  await server?.destroy();
}
