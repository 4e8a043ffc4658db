/**
 * Apply from the WAL: N inserts in 1000-row transactions, written while the engine is stopped, then
 * mirrored by the compiled engine into a second PostgreSQL (`snapshot: never`, so the backlog comes
 * from the WAL and not from a re-snapshot of the table), timed from engine exec until the sink has
 * every row; then the same backlog by CREATE SUBSCRIPTION (created before the backlog, enabled after it).
 * bench/apply.ts measures the same with a config that lets the restarted engine re-snapshot the table.
 * BENCH_SINK_OPTS=", batch_size: 20000" adds options to the engine's sink; BENCH_TIMELINE=1 prints
 * the engine's rows written every ~100 ms (ms:rows) to see its batches and stalls.
 */
import postgres from "postgres";
import { createDatabase, startPgServer } from "../../test/helpers/postgres-server.ts";
import { primeEngine, startEngine, waitFor } from "./engine.ts";
import { cpuSeconds } from "./decode-peers.ts";
import { serverCpuSeconds, threadCpu } from "./proc.ts";

const TABLE = "create table bench_rows (id bigint primary key, n int not null, label text, amount numeric(12,2), at timestamptz)";

export async function applyWal(rows: number, log: (s: string) => void = console.log): Promise<{ engineRate: number; subRate: number; engineCpuS: number; enginePeak: number | null }> {
  const conf = ["max_wal_size=4GB", "checkpoint_timeout=30min"];
  const [source, sink] = await Promise.all([startPgServer("system", conf), startPgServer("system", conf)]);
  try {
    const srcDb = await createDatabase(source, "src");
    const engDb = await createDatabase(sink, "eng");
    const subDb = await createDatabase(sink, "sub");
    const src = postgres(source.url(srcDb), { max: 1, onnotice: () => {} });
    const eng = postgres(sink.url(engDb), { max: 1, onnotice: () => {} });
    const sub = postgres(sink.url(subDb), { max: 1, onnotice: () => {} });
    await src.unsafe(TABLE);
    await src.unsafe("create publication bench_pub for table bench_rows");
    await sub.unsafe(TABLE);
    await sub.unsafe(`create subscription bench_sub connection '${source.url(srcDb)}' publication bench_pub with (copy_data = false)`);
    await sub.unsafe("alter subscription bench_sub disable");
    const body = `source: { url: "${source.url(srcDb)}", slot: bench_engine, publication: bench_engine, heartbeat_interval: 1s, snapshot: never }
log: { level: warn }
sinks: { wh: { type: postgres, url: "${sink.url(engDb)}"${process.env.BENCH_SINK_OPTS ?? ""} } }
pipelines: [{ name: mirror, from: public.bench_rows, to: wh }]
`;
    await primeEngine(body, async () => (await src`select 1 from pg_replication_slots where slot_name = 'bench_engine'`).length === 1);
    let t = performance.now();
    for (let i = 0; i < rows; i += 1000) await src.unsafe(`insert into bench_rows select g, g % 1000, 'row ' || g, (g % 100000) / 100.0, now() from generate_series(${i}, ${Math.min(rows, i + 1000) - 1}) g`);
    log(`apply (WAL): backlog ${rows} inserts in 1000-row transactions written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const count = async (sql: postgres.Sql) => Number((await sql`select count(*)::int as n from bench_rows`.catch(() => [{ n: 0 }]))[0].n);

    const cpu = () => [serverCpuSeconds(`${source.dir}/data`), serverCpuSeconds(`${sink.dir}/data`)];
    let cpu0 = cpu();
    t = performance.now();
    const engine = await startEngine(body);
    const tl: string[] = [];
    const ok = await waitFor(async () => { const w = await engine.rowsWritten(); tl.push(`${Math.round(performance.now() - t)}:${w}`); return w >= rows && (await count(eng)) === rows; }, 600_000, 100);
    if (process.env.BENCH_TIMELINE) log(tl.join(" "));
    const engineS = (performance.now() - t) / 1000;
    const engineCpuS = cpuSeconds(engine.proc.pid);
    const threads = threadCpu(engine.proc.pid);
    const engServers = cpu().map((x, i) => x - cpu0[i]);
    const enginePeak = engine.peak();
    const snap = await engine.snapshotRows().catch(() => 0);
    await engine.stop();
    if (!ok) throw new Error("the engine did not apply the backlog in 10 minutes");
    if (snap > 1) throw new Error(`the engine snapshotted ${snap} rows instead of applying the WAL`);

    cpu0 = cpu();
    t = performance.now();
    await sub.unsafe("alter subscription bench_sub enable");
    // max(id) is an index lookup; count(*) every 100 ms would scan the growing table on the same
    // cores as the apply worker (until 02:20 UTC on 2026-11-22 it did, slowing the peer). The
    // subscription applies transactions in commit order and ids rise with them, so the last id
    // means all are there; one count confirms it.
    const maxId = async () => Number((await sub`select coalesce(max(id), -1)::int8::text as m from bench_rows`)[0].m);
    await waitFor(async () => (await maxId()) === rows - 1 && (await count(sub)) === rows, 600_000, 100);
    const subS = (performance.now() - t) / 1000;
    const subServers = cpu().map((x, i) => x - cpu0[i]);
    await sub.unsafe("alter subscription bench_sub disable");
    await sub.unsafe("alter subscription bench_sub set (slot_name = none)").catch(() => {});
    log(`  cdc-engine ${engineS.toFixed(1)} s = ${Math.round(rows / engineS)} rows/s (CPU ${engineCpuS.toFixed(1)} s, peak RSS ${Math.round((enginePeak ?? 0) / 2 ** 20)} MiB); CREATE SUBSCRIPTION ${subS.toFixed(1)} s = ${Math.round(rows / subS)} rows/s`);
    log(`  engine CPU by thread: ${threads.filter(([, s]) => s >= 0.05).map(([n, s]) => `${n} ${s.toFixed(2)} s`).join(", ")}`);
    log(`  server CPU (source / sink): engine run ${engServers.map((x) => x.toFixed(1)).join(" / ")} s, subscription run ${subServers.map((x) => x.toFixed(1)).join(" / ")} s`);
    await Promise.all([src.end(), eng.end(), sub.end()]);
    return { engineRate: rows / engineS, subRate: rows / subS, engineCpuS, enginePeak };
  } finally {
    await Promise.all([source.destroy(), sink.destroy()]);
  }
}

if (import.meta.main) await applyWal(Number(process.argv[2] ?? 100_000));
