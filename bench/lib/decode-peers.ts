/**
 * Decode, second half: on one backlog (N rows in 10-row transactions, the table of bench/decode.ts)
 * pg_recvlogical (to /dev/null), the pg-logical-replication npm library (pgoutput, parsed to
 * objects, counted) and the compiled cdc-engine (`serve` into a stdout sink sent to /dev/null,
 * i.e. decode + pipeline + JSON serialisation) each drain their own slot. Sequential: on 2 cores
 * running them side by side would measure the scheduler.
 */
import { join } from "node:path";
import postgres from "postgres";
import { LogicalReplicationService, PgoutputPlugin } from "pg-logical-replication";
import { createDatabase, startPgServer } from "../../test/helpers/postgres-server.ts";
import { primeEngine, startEngine, waitFor } from "./engine.ts";

export interface DecodePeers {
  rows: number;
  recvRate: number;
  npmRate: number;
  engineRate: number;
  enginePeak: number | null;
  engineCpuS: number;
}

export async function decodePeers(rows: number, log: (s: string) => void = console.log): Promise<DecodePeers> {
  const server = await startPgServer("system", ["max_wal_size=4GB", "checkpoint_timeout=30min"]);
  try {
    const db = await createDatabase(server, "peers");
    const url = server.url(db);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql.unsafe(`create table bench (id int8 primary key, n int4, v text, ts timestamptz, amount numeric(12,2))`);
    await sql.unsafe(`create publication bench for table bench`);
    for (const s of ["recv", "npm"]) await sql`select pg_create_logical_replication_slot(${s}, 'pgoutput')`;
    // the engine creates its own slot and publication on first start (before the backlog)
    const body = `source: { url: "${url}", slot: eng, publication: eng, heartbeat_interval: 10s, snapshot: never }
log: { level: warn }
sinks: { out: { type: stdout } }
pipelines: [{ name: drain, from: public.bench, to: out }]
`;
    await primeEngine(body, async () => (await sql`select 1 from pg_replication_slots where slot_name = 'eng'`).length === 1);

    let t = performance.now();
    await sql.unsafe(`do $$ begin for i in 0..${rows / 10 - 1} loop
        insert into bench select g, g % 1000, 'value ' || g, now(), g * 0.01 from generate_series(i * 10 + 1, i * 10 + 10) g;
        commit; end loop; end $$`);
    const [{ end }] = await sql`select pg_current_wal_lsn()::text as end`;
    log(`decode peers: backlog ${rows} rows in ${rows / 10} transactions written in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const bin = (await Bun.$`sh -c 'ls -d /usr/lib/postgresql/*/bin | tail -1'`.text()).trim();
    t = performance.now();
    const p = Bun.spawn([join(bin, "pg_recvlogical"), "-d", url, "--slot", "recv", "--start", "-o", "proto_version=1", "-o", "publication_names=bench", "-f", "/dev/null", "--endpos", String(end), "--no-loop"], { stderr: "pipe" });
    if ((await p.exited) !== 0) throw new Error(`pg_recvlogical: ${await new Response(p.stderr).text()}`);
    const recvRate = rows / ((performance.now() - t) / 1000);
    log(`  pg_recvlogical: ${Math.round(recvRate)} rows/s`);

    // pg-logical-replication: count decoded inserts until all rows arrived
    const u = new URL(url);
    const service = new LogicalReplicationService(
      { host: u.hostname, port: Number(u.port), user: u.username, database: db },
      { acknowledge: { auto: true, timeoutSeconds: 10 } },
    );
    let seen = 0;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    service.on("data", (_lsn: string, msg: { tag: string }) => {
      if (msg.tag === "insert" && ++seen >= rows) done();
    });
    service.on("error", () => {});
    t = performance.now();
    void service.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: ["bench"] }), "npm").catch(() => {});
    await finished;
    const npmRate = rows / ((performance.now() - t) / 1000);
    await service.stop();
    log(`  pg-logical-replication: ${Math.round(npmRate)} rows/s`);

    t = performance.now();
    const engine = await startEngine(body, { stdout: "null" });
    const ok = await waitFor(async () => (await engine.rowsWritten()) >= rows, 600_000, 50);
    const engineRate = rows / ((performance.now() - t) / 1000);
    const cpu = cpuSeconds(engine.proc.pid);
    const enginePeak = engine.peak();
    const snap = engine.snapshotRows();
    await snap.catch(() => 0);
    await engine.stop();
    if ((await snap) > 1) throw new Error(`the engine snapshotted ${await snap} rows instead of decoding the WAL`);
    if (!ok) throw new Error("cdc-engine did not drain the backlog in 10 minutes");
    log(`  cdc-engine binary (stdout sink to /dev/null, from process start): ${Math.round(engineRate)} rows/s, CPU ${cpu.toFixed(1)} s, peak RSS ${Math.round((enginePeak ?? 0) / 2 ** 20)} MiB`);
    await sql.end();
    return { rows, recvRate, npmRate, engineRate, enginePeak, engineCpuS: cpu };
  } finally {
    await server.destroy();
  }
}

export function cpuSeconds(pid: number): number {
  try {
    const s = require("node:fs").readFileSync(`/proc/${pid}/stat`, "utf8") as string;
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

if (import.meta.main) console.log(await decodePeers(Number(process.argv[2] ?? 100_000)));
