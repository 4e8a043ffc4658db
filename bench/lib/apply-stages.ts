/**
 * The engine's own work per row on the apply path, stage by stage and in memory, so that a change
 * to one stage shows without the noise of the servers sharing the two cores (bench/lib/apply-wal.ts
 * measures the whole). Records N inserts (1000-row transactions, the apply bench's table) as
 * pgoutput messages once, then times, best of --runs, main-thread CPU:
 *   decode  StreamReader on the recorded messages → Txns
 *   map     + MirrorMapper → OutputRecords
 *   plan    + planBatch per 5,000 records (the sink's default batch_size) → statements with COPY data
 *
 *   bun bench/lib/apply-stages.ts [--rows 200000] [--runs 5] [--batch 5000]
 */
import { parseArgs } from "node:util";
import pino from "pino";
import postgres from "postgres";
import { MirrorMapper } from "../../src/engine/mirror.ts";
import { planBatch } from "../../src/sinks/postgres/plan.ts";
import type { OutputRecord } from "../../src/sinks/sink.ts";
import { loadTypes } from "../../src/source/postgres/catalog.ts";
import { TypeDecoders } from "../../src/source/postgres/type-decoders.ts";
import type { Txn } from "../../src/types.ts";
import { parseLsn } from "../../src/types.ts";
import { createDatabase, startPgServer } from "../../test/helpers/postgres-server.ts";
import { recordMessages, replayMessages } from "./recorded.ts";

const { values } = parseArgs({ options: { rows: { type: "string" }, runs: { type: "string" }, batch: { type: "string" } } });
const ROWS = Number(values.rows ?? 200_000);
const RUNS = Number(values.runs ?? 5);
const BATCH = Number(values.batch ?? 5000);
const TABLE = "create table bench_rows (id bigint primary key, n int not null, label text, amount numeric(12,2), at timestamptz)";
const log = pino({ level: "warn" });

async function record(): Promise<{ messages: Buffer[]; types: TypeDecoders }> {
  const server = await startPgServer("system", ["max_wal_size=4GB"]);
  try {
    const db = await createDatabase(server, "stages");
    const url = server.url(db);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql.unsafe(TABLE);
    await sql.unsafe("create publication bench_pub for table bench_rows");
    const [s] = await sql`select lsn::text as l from pg_create_logical_replication_slot('stages', 'pgoutput')`;
    for (let i = 0; i < ROWS; i += 1000) await sql.unsafe(`insert into bench_rows select g, g % 1000, 'row ' || g, (g % 100000) / 100.0, now() from generate_series(${i}, ${Math.min(ROWS, i + 1000) - 1}) g`);
    const types = new TypeDecoders(await loadTypes(sql as never));
    const { messages } = await recordMessages(url, { slot: "stages", publication: "bench_pub", start: parseLsn(String(s.l)), commits: ROWS / 1000 });
    await sql.end({ timeout: 1 });
    return { messages, types };
  } finally {
    await server.destroy();
  }
}

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function run(messages: Buffer[], types: TypeDecoders, stages: number): Promise<number> {
  const mapper = new MirrorMapper();
  let pending: OutputRecord[] = [];
  let rows = 0;
  let bytes = 0;
  const plan = () => {
    for (const st of planBatch(pending, new Set(), "public", () => COLUMN_TYPES)) bytes += st.copy?.data.length ?? 0;
    pending = [];
  };
  const onTxn = async (t: Txn) => {
    rows += t.changes.length;
    if (stages < 2) return;
    for (const r of mapper.map(t, null)) pending.push(r);
    if (stages >= 3 && pending.length >= BATCH) plan();
  };
  const t0 = cpu();
  await replayMessages(messages, types, log, onTxn);
  if (stages >= 3 && pending.length) plan();
  const secs = cpu() - t0;
  if (rows !== ROWS) throw new Error(`decoded ${rows} of ${ROWS} rows`);
  if (stages >= 3 && bytes < ROWS * 20) throw new Error(`only ${bytes} bytes of COPY data`);
  return secs;
}

const COLUMN_TYPES = new Map([
  ["id", "bigint"],
  ["n", "integer"],
  ["label", "text"],
  ["amount", "numeric(12,2)"],
  ["at", "timestamp with time zone"],
]);

const { messages, types } = await record();
console.log(`recorded ${messages.length} messages for ${ROWS} rows`);
const names = ["decode", "decode+map", "decode+map+plan"];
const best = [Infinity, Infinity, Infinity];
for (let r = 0; r < RUNS; r++) for (let s = 1; s <= 3; s++) best[s - 1] = Math.min(best[s - 1], await run(messages, types, s));
for (let s = 0; s < 3; s++) console.log(`${names[s].padEnd(16)} ${((best[s] / ROWS) * 1e6).toFixed(2)} µs/row CPU (best of ${RUNS})${s ? `, stage ${((best[s] - best[s - 1]) / ROWS * 1e6).toFixed(2)} µs/row` : ""}`);
