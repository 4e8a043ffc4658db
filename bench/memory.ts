/**
 * Memory: peak RSS (VmHWM from /proc/PID/status) of the compiled engine while it takes one huge
 * transaction (N rows inserted by one INSERT ... SELECT generate_series) from PostgreSQL and
 * writes it to a stdout sink sent to /dev/null (decode + spill + pipeline + sink, the whole engine).
 * Default state.memory_budget; the source spills what is above it.
 *
 *   bun bench/memory.ts [--rows 1000000] [--mode backlog|live] [--sink stdout|postgres] [--budget 64MB]
 *
 * --sink postgres mirrors the table into a second database on the same server instead (the
 * transaction streamed part by part into one open sink transaction; the row count is checked).
 *
 * backlog: the engine is stopped while the transaction is written, then drains it; live: the engine
 * runs while it is written (PostgreSQL streams the transaction in progress). Careful with --mode live
 * (or backlog) and millions of rows: at 00:05 UTC one 1M-row transaction peaked at 1.65 GB.
 *
 * (bench/decode.ts --rss N measures the source alone, in-process.) The peak RSS of the engine during
 * decode/apply/latency is collected by bench/run.ts from those parts.
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { createDatabase, startPgServer } from "../test/helpers/postgres-server.ts";
import { primeEngine, startEngine, waitFor } from "./lib/engine.ts";
import { cpuSeconds } from "./lib/decode-peers.ts";

export interface MemoryResult {
  rows: number;
  peak: number | null;
  idlePeak: number | null;
  seconds: number;
}

/**
 * backlog: the engine is stopped while the transaction is written, then drains it (PostgreSQL decodes it from WAL).
 * live: the engine runs while the transaction is written (PostgreSQL streams it in progress, pgoutput v2+).
 */
export type MemoryMode = "backlog" | "live";

export type MemorySink = "stdout" | "postgres";

export async function bigTransaction(rows: number, log: (s: string) => void = console.log, mode: MemoryMode = "backlog", sinkType: MemorySink = "stdout", budget?: string): Promise<MemoryResult> {
  const server = await startPgServer("system", ["max_wal_size=8GB", "checkpoint_timeout=30min"]);
  try {
    const db = await createDatabase(server, "mem");
    const url = server.url(db);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql.unsafe(`create table bench (id int8 primary key, n int4, v text, ts timestamptz, amount numeric(12,2))`);
    const sinkUrl = sinkType === "postgres" ? server.url(await createDatabase(server, "mem_sink")) : null;
    const sinkYaml = sinkUrl ? `{ type: postgres, url: "${sinkUrl}" }` : "{ type: stdout }";
    const body = `source: { url: "${url}", slot: mem, publication: mem, heartbeat_interval: 10s, snapshot: never${budget ? `, memory_budget: ${budget}` : ""} }
log: { level: warn }
sinks: { out: ${sinkYaml} }
pipelines: [{ name: drain, from: public.bench, to: out }]
`;
    let engine = await startEngine(body, { stdout: "null" });
    let idlePeak: number | null = null;
    let t = performance.now();
    if (mode === "backlog") {
      await engine.stop();
      await primeEngine(body, async () => (await sql`select 1 from pg_replication_slots where slot_name = 'mem'`).length === 1);
      await sql.unsafe(`insert into bench select g, g % 1000, 'value ' || g, now(), g * 0.01 from generate_series(1, ${rows}) g`);
      log(`memory (backlog): ${rows} rows inserted in one transaction in ${((performance.now() - t) / 1000).toFixed(1)} s while the engine was stopped`);
      t = performance.now();
      engine = await startEngine(body, { stdout: "null" });
      idlePeak = engine.peak();
    } else {
      await Bun.sleep(1000);
      idlePeak = engine.peak();
      await sql.unsafe(`insert into bench select g, g % 1000, 'value ' || g, now(), g * 0.01 from generate_series(1, ${rows}) g`);
      log(`memory (live): ${rows} rows inserted in one transaction in ${((performance.now() - t) / 1000).toFixed(1)} s while the engine ran`);
    }
    const ok = await waitFor(async () => (await engine.rowsWritten()) >= rows, 900_000, 200);
    const seconds = (performance.now() - t) / 1000;
    const peak = engine.peak();
    const cpu = cpuSeconds(engine.proc.pid);
    const snap = await engine.snapshotRows().catch(() => 0);
    await engine.stop();
    await sql.end();
    if (sinkUrl) {
      const dst = postgres(sinkUrl, { max: 1, onnotice: () => {} });
      const [{ n }] = await dst`select count(*)::int8::text as n from bench`;
      await dst.end();
      if (n !== String(rows)) throw new Error(`the postgres sink has ${n} rows, not ${rows}`);
    }
    if (!ok) throw new Error("the engine did not write the transaction in 15 minutes");
    if (snap > 1) throw new Error(`the engine snapshotted ${snap} rows instead of decoding the transaction from the WAL`);
    log(`  cdc-engine (${mode}, ${sinkType} sink${budget ? `, memory_budget ${budget}` : ""}): ${rows} rows in ${seconds.toFixed(1)} s (${Math.round(rows / seconds)} rows/s, CPU ${cpu.toFixed(1)} s), VmHWM ${Math.round((peak ?? 0) / 2 ** 20)} MiB (at /health: ${Math.round((idlePeak ?? 0) / 2 ** 20)} MiB)`);
    return { rows, peak, idlePeak, seconds };
  } finally {
    await server.destroy();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { rows: { type: "string" }, mode: { type: "string" }, sink: { type: "string" }, budget: { type: "string" } } });
  const mode = (values.mode ?? "backlog") as MemoryMode;
  if (mode !== "backlog" && mode !== "live") throw new Error("--mode backlog|live");
  const sinkType = (values.sink ?? "stdout") as MemorySink;
  if (sinkType !== "stdout" && sinkType !== "postgres") throw new Error("--sink stdout|postgres");
  for (const n of (values.rows ?? "1000000").split(",").map(Number)) await bigTransaction(n, console.log, mode, sinkType, values.budget);
}
