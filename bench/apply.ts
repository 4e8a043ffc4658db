/**
 * Apply throughput of the Postgres sink.
 *
 *   bun bench/apply.ts                 1M-row backlog (inserts in 1000-row transactions) drained by the
 *                                      compiled engine into Postgres, next to PostgreSQL's own logical
 *                                      replication (CREATE SUBSCRIPTION) catching up on the same backlog
 *   --rows N  --txn-rows N             backlog size and rows per source transaction (1000000, 1000)
 *   --updates                          the backlog is then updates of the same rows (one more pass)
 *   --apply-only / --drain-only        only the batch-apply comparison below / only the backlog drain
 *
 * Also measures the two batch-apply strategies on 100k rows (5000-row batches), inserts and updates:
 * multi-row INSERT ... ON CONFLICT / DELETE (what the sink does) vs COPY into a staging table then
 * one INSERT ... SELECT ... ON CONFLICT.
 *
 * Starts its own throwaway PostgreSQL servers (test/helpers): source and sink on the same machine.
 */
import { mkdtempSync, writeFileSync, openSync, closeSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import pino from "pino";
import { createDatabase, startPgServer, freePort } from "../test/helpers/postgres-server.ts";
import { binaryPath } from "../test/helpers/binary.ts";
import { engineEnv } from "./lib/engine.ts";
import { PostgresSink } from "../src/sinks/postgres/sink.ts";
import { postgresSinkConfig } from "../src/sinks/postgres/config.ts";
import type { OutputRecord, OutputTable } from "../src/sinks/sink.ts";
import { toPgText } from "../src/sinks/postgres/values.ts";
import { planBatch } from "../src/sinks/postgres/plan.ts";
import { openSinkPg } from "../src/sinks/postgres/connect.ts";

const { values } = parseArgs({ options: { rows: { type: "string" }, "txn-rows": { type: "string" }, updates: { type: "boolean" }, "apply-only": { type: "boolean" }, "drain-only": { type: "boolean" } } });
const ROWS = Number(values.rows ?? 1_000_000);
const TXN_ROWS = Number(values["txn-rows"] ?? 1000);
const conf = ["max_wal_size=4GB", "checkpoint_timeout=30min"];
const source = await startPgServer("system", conf);
const sink = await startPgServer("system", conf);
const TABLE = "create table bench_rows (id bigint primary key, n int not null, label text, amount numeric(12,2), at timestamptz)";

async function main() {
  if (!values["drain-only"]) await applyStrategies();
  if (values["apply-only"]) return;
  await backlog();
}

// ---- 1. batch-apply strategies ------------------------------------------------------------

async function applyStrategies() {
  const db = await createDatabase(sink, "apply");
  const url = sink.url(db);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const N = 100_000;
  const B = 5000;
  const table: OutputTable = {
    name: "public.bench_rows",
    key: ["id"],
    columns: [
      { name: "id", typeOid: 20, typeName: "bigint", typeMod: -1, isKey: true },
      { name: "n", typeOid: 23, typeName: "integer", typeMod: -1, isKey: false },
      { name: "label", typeOid: 25, typeName: "text", typeMod: -1, isKey: false },
      { name: "amount", typeOid: 1700, typeName: "numeric(12,2)", typeMod: -1, isKey: false },
      { name: "at", typeOid: 1184, typeName: "timestamp with time zone", typeMod: -1, isKey: false },
    ],
  };
  const rec = (i: number, pass: number): OutputRecord => ({
    op: "upsert",
    table,
    row: { id: BigInt(i), n: i + pass, label: `label ${i} pass ${pass}`, amount: `${i % 10000}.${pass % 100}`.padEnd(4, "0"), at: "2024-05-06 07:08:09.123456+00" },
    lsn: BigInt(i),
    index: 0,
    commitTime: 0n,
    source: { table: "public.bench_rows", op: "insert", xid: 1 },
  });
  const results: string[] = [];

  // (a) the sink as built: multi-row statements, batch + position in one transaction
  for (const pass of [0, 1]) {
    await sql.unsafe("drop table if exists bench_rows; drop table if exists cdc_engine_offsets");
    const s = new PostgresSink(postgresSinkConfig.parse({ url }));
    await s.open({ name: "wh", targets: [], stateDir: tmpdir(), log: pino({ level: "silent" }), deadLetter: () => {} });
    if (pass === 1) for (let i = 0; i < N; i += B) await s.write({ pipeline: "p", lsn: BigInt(i + 1), records: Array.from({ length: B }, (_, j) => rec(i + j, 0)) });
    const t0 = performance.now();
    for (let i = 0; i < N; i += B) await s.write({ pipeline: "p", lsn: BigInt(N + i + 1), records: Array.from({ length: B }, (_, j) => rec(i + j, pass)) });
    const ms = performance.now() - t0;
    results.push(`sink as built (runs >= 1000 rows: COPY to staging; smaller: unnest) ${pass ? "updates" : "inserts"}: ${Math.round(N / (ms / 1000))} rows/s`);
    await s.close();
  }

  // (a') unnest($1::type[], ...) ON CONFLICT (prepared; the sink's path for smaller runs), and
  // multi-row VALUES ($1, ...), (...) ON CONFLICT (the fallback for tables with array columns)
  for (const [how, pass] of [["unnest", 0], ["unnest", 1], ["values", 0], ["values", 1]] as const) {
    await sql.unsafe(`drop table if exists bench_rows; ${TABLE}; create table if not exists bench_offsets (k int primary key, lsn numeric)`);
    if (pass === 1) await sql.unsafe("insert into bench_rows select g, 0, 'x', 0, now() from generate_series(0, $1 - 1) g", [N]);
    const raw = openSinkPg(postgresSinkConfig.parse({ url }), 1);
    const t0 = performance.now();
    for (let i = 0; i < N; i += B) {
      const types = new Map([["id", "bigint"], ["n", "integer"], ["label", "text"], ["amount", "numeric(12,2)"], ["at", "timestamp with time zone"]]);
      const recs = Array.from({ length: B }, (_, j) => rec(i + j, pass));
      const stmts = how === "unnest" ? planBatch(recs, new Set(), "public", () => types, Infinity) : planBatch(recs, new Set(), "public");
      await raw.begin(async (tx) => {
        for (const st of stmts) await tx.unsafe(st.text, st.params as never[], { prepare: how === "unnest" });
        await tx.unsafe("insert into bench_offsets values (1, $1) on conflict (k) do update set lsn = excluded.lsn", [String(i)]);
      });
    }
    const ms = performance.now() - t0;
    results.push(`${how === "unnest" ? "unnest($1::type[], ...) ON CONFLICT, prepared" : "multi-row VALUES ... ON CONFLICT"} ${pass ? "updates" : "inserts"}: ${Math.round(N / (ms / 1000))} rows/s`);
    await raw.end();
  }

  // (b) COPY into a temp staging table, then INSERT ... SELECT ... ON CONFLICT
  const cols = table.columns.map((c) => c.name);
  const copyLine = (r: OutputRecord) => cols.map((c) => copyText(toPgText(r.row[c]))).join("\t") + "\n";
  for (const pass of [0, 1]) {
    await sql.unsafe(`drop table if exists bench_rows; ${TABLE}; create table if not exists bench_offsets (k int primary key, lsn numeric)`);
    if (pass === 1) await sql.unsafe("insert into bench_rows select g, 0, 'x', 0, now() from generate_series(0, $1 - 1) g", [N]);
    const t0 = performance.now();
    for (let i = 0; i < N; i += B) {
      await sql.begin(async (tx) => {
        await tx.unsafe("create temp table if not exists stage (like bench_rows) on commit delete rows");
        const w = await tx.unsafe("copy stage from stdin").writable();
        let text = "";
        for (let j = 0; j < B; j++) text += copyLine(rec(i + j, pass));
        await new Promise<void>((resolve, reject) => {
          w.on("error", reject);
          w.on("finish", resolve);
          w.end(text);
        });
        await tx.unsafe(`insert into bench_rows select * from stage on conflict (id) do update set n = excluded.n, label = excluded.label, amount = excluded.amount, at = excluded.at`);
        // the position, in the same transaction (as the sink does)
        await tx.unsafe("insert into bench_offsets values (1, $1) on conflict (k) do update set lsn = excluded.lsn", [String(i)]);
      });
    }
    const ms = performance.now() - t0;
    results.push(`COPY to staging + INSERT ON CONFLICT ${pass ? "updates" : "inserts"}: ${Math.round(N / (ms / 1000))} rows/s`);
  }
  await sql.end();
  console.log(`\nbatch apply, ${N} rows in ${B}-row batches (sink PostgreSQL ${sink.major}, same machine):`);
  for (const r of results) console.log("  " + r);
}

function copyText(v: string | null): string {
  if (v === null) return "\\N";
  return v.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
}

// ---- 2. backlog drain: engine vs CREATE SUBSCRIPTION ----------------------------------------

async function backlog() {
  const srcDb = await createDatabase(source, "src");
  const engDb = await createDatabase(sink, "eng");
  const subDb = await createDatabase(sink, "sub");
  const src = postgres(source.url(srcDb), { max: 1, onnotice: () => {} });
  const sub = postgres(sink.url(subDb), { max: 1, onnotice: () => {} });
  const eng = postgres(sink.url(engDb), { max: 1, onnotice: () => {} });
  await src.unsafe(TABLE);
  await src.unsafe("create publication bench_pub for table bench_rows");
  await sub.unsafe(TABLE);
  await sub.unsafe(`create subscription bench_sub connection '${source.url(srcDb)}' publication bench_pub with (copy_data = false)`);
  await sub.unsafe("alter subscription bench_sub disable");

  // The engine's slot: first start on the empty table, then stop (SIGTERM).
  const dir = mkdtempSync(join(tmpdir(), "cdc-bench-"));
  const cfg = join(dir, "cdc.yaml");
  const apiPort = await freePort();
  writeFileSync(cfg, `source: { url: "${source.url(srcDb)}", slot: bench_engine, publication: bench_engine, heartbeat_interval: 1s }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 5s }
api: { listen: "127.0.0.1:${apiPort}" }
log: { level: warn }
sinks: { wh: { type: postgres, url: "${sink.url(engDb)}" } }
pipelines: [{ name: mirror, from: public.bench_rows, to: wh }]
`);
  const bin = await binaryPath();
  const logFd = openSync(join(dir, "engine.log"), "a");
  const spawn = () => Bun.spawn([bin, "serve", "--config", cfg], { cwd: dir, env: engineEnv(), stdout: logFd, stderr: logFd });
  let p = spawn();
  await waitFor(async () => (await eng`select count(*)::int as n from pg_tables where tablename = 'cdc_engine_offsets'`)[0].n === 1, 60_000);
  await Bun.sleep(1500);
  p.kill("SIGTERM");
  await p.exited;

  const writeBacklog = async (what: "insert" | "update") => {
    const t0 = performance.now();
    for (let i = 0; i < ROWS; i += TXN_ROWS) {
      const hi = Math.min(ROWS, i + TXN_ROWS) - 1;
      if (what === "insert") await src.unsafe(`insert into bench_rows select g, g % 1000, 'row ' || g, (g % 100000) / 100.0, now() from generate_series(${i}, ${hi}) g`);
      else await src.unsafe(`update bench_rows set n = n + 1, label = label || '+' where id between ${i} and ${hi}`);
    }
    const [{ l }] = await src`select (pg_current_wal_lsn() - '0/0')::text as l, pg_size_pretty(pg_current_wal_lsn() - '0/0') as s`;
    console.log(`backlog: ${ROWS} ${what}s in ${Math.ceil(ROWS / TXN_ROWS)} transactions of ${TXN_ROWS} rows, written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return BigInt(l);
  };

  const drain = async (label: string, target: bigint, expectSum: bigint) => {
    // engine
    let t0 = performance.now();
    p = spawn();
    // Where the time goes: rows queued toward the sink (near the bound = sink-bound, near 0 = source-bound).
    const queued: number[] = [];
    const sampler = setInterval(async () => {
      try {
        const st = (await (await fetch(`http://127.0.0.1:${apiPort}/status`)).json()) as { pipelines?: { sinks: { queued: number }[] }[] };
        const q = st.pipelines?.[0]?.sinks?.[0]?.queued;
        if (typeof q === "number") queued.push(q);
      } catch {}
    }, 500);
    await waitFor(async () => {
      const r = await eng`select lsn::text from cdc_engine_offsets where pipeline = 'mirror'`;
      return r.length > 0 && BigInt(r[0].lsn) >= target - 4096n && (await sumN(eng)) === expectSum;
    }, 600_000, 100);
    const engineS = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(p.pid);
    clearInterval(sampler);
    const avgQ = queued.length ? Math.round(queued.reduce((a, b) => a + b, 0) / queued.length) : -1;
    p.kill("SIGTERM");
    await p.exited;
    // CREATE SUBSCRIPTION
    t0 = performance.now();
    await sub.unsafe("alter subscription bench_sub enable");
    await waitFor(async () => (await sumN(sub)) === expectSum, 600_000, 100);
    const subS = (performance.now() - t0) / 1000;
    await sub.unsafe("alter subscription bench_sub disable");
    console.log(`${label}: cdc-engine ${engineS.toFixed(1)} s = ${Math.round(ROWS / engineS)} rows/s (engine process CPU ${cpu.toFixed(1)} s, avg rows queued to the sink ${avgQ});  CREATE SUBSCRIPTION ${subS.toFixed(1)} s = ${Math.round(ROWS / subS)} rows/s`);
  };

  const sumN = async (sql: postgres.Sql) => BigInt((await sql`select coalesce(sum(n), 0)::text as s from bench_rows`)[0].s);
  const target = await writeBacklog("insert");
  await drain("insert backlog drain", target, await sumN(src));
  if (values.updates) {
    const t2 = await writeBacklog("update");
    await drain("update backlog drain", t2, await sumN(src));
  }
  closeSync(logFd);
  await Promise.all([src.end(), sub.end(), eng.end()]);
}

/** User + system CPU seconds of a process (Linux /proc). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function waitFor(fn: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error("timed out");
    await Bun.sleep(everyMs);
  }
}

try {
  await main();
} finally {
  await source.destroy();
  await sink.destroy();
}
