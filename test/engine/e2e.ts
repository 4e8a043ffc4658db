/** Helpers for the engine's end-to-end tests: run the compiled binary on a mirror config. */
import { Database } from "bun:sqlite";
import { mkdtempSync, writeFileSync, openSync, closeSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { binaryPath, createDatabase, freePort, runBinary, sharedPg } from "../helpers/index.ts";

export const PGBENCH = "/usr/lib/postgresql/15/bin/pgbench";

/** A source and a sink database on the shared server, with a connection to each. */
export async function sourceAndSink(name: string): Promise<{ srcUrl: string; dstUrl: string; sql: postgres.Sql; out: postgres.Sql; end(): Promise<void> }> {
  const pg = await sharedPg("system");
  const [src, dst] = [await createDatabase(pg, `${name}_src`), await createDatabase(pg, `${name}_dst`)];
  const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
  const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
  return { srcUrl: pg.url(src), dstUrl: pg.url(dst), sql, out, end: async () => void (await Promise.all([sql.end(), out.end()])) };
}

export interface MirrorSetup {
  dir: string;
  config: string;
  port: number;
  logFile: string;
}

export async function mirrorConfig(srcUrl: string, dstUrl: string, from: string[], extra = ""): Promise<MirrorSetup> {
  const dir = mkdtempSync(join(tmpdir(), "cdc-e2e-"));
  const port = await freePort();
  const slot = `s_${Math.random().toString(36).slice(2, 10)}`;
  const config = join(dir, "cdc.yaml");
  writeFileSync(
    config,
    `source:
  url: "${srcUrl}"
  slot: ${slot}
  publication: ${slot}
  heartbeat_interval: 1s
state: { dir: "${join(dir, "state")}", checkpoint_interval: 1s }
api: { listen: "127.0.0.1:${port}" }
log: { level: info }
sinks:
  wh: { type: postgres, url: "${dstUrl}", batch_delay: 50ms }
pipelines:
  - name: mirror
    from: [${from.map((f) => JSON.stringify(f)).join(", ")}]
    to: wh
${extra}`,
  );
  return { dir, config, port, logFile: join(dir, "engine.log") };
}

export class Engine {
  proc: ReturnType<typeof Bun.spawn> | null = null;
  starts = 0;
  constructor(private s: MirrorSetup) {}

  async start(): Promise<void> {
    const bin = await binaryPath();
    const fd = openSync(this.s.logFile, "a");
    this.proc = Bun.spawn([bin, "serve", "--config", this.s.config], { cwd: this.s.dir, stdout: fd, stderr: fd });
    closeSync(fd);
    this.starts++;
  }
  kill(signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<number> {
    const p = this.proc!;
    p.kill(signal);
    this.proc = null;
    return p.exited;
  }
  async health(component?: string): Promise<{ code: number; body: any }> {
    try {
      const r = await fetch(`http://127.0.0.1:${this.s.port}/health${component ? "/" + encodeURIComponent(component) : ""}`, { signal: AbortSignal.timeout(3000) });
      return { code: r.status, body: await r.json() };
    } catch (e) {
      return { code: 0, body: { error: String(e) } };
    }
  }
  /** Waits for the source's "snapshot of T done" log line for every table (or a start without snapshot). */
  async snapshotDone(tables: string[], timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const log = this.log();
      if (tables.every((t) => log.includes(`snapshot of ${t} done`))) return;
      await Bun.sleep(100);
    }
    throw new Error(`snapshot not done in time:\n${this.log().slice(-2000)}`);
  }
  log(): string {
    return readFileSync(this.s.logFile, "utf8");
  }
}

/** Waits until the sink's stored position for the pipeline passes the source's current WAL LSN. */
export async function waitCaughtUp(srcUrl: string, dstUrl: string, timeoutMs = 90_000): Promise<void> {
  const src = postgres(srcUrl, { max: 1, onnotice: () => {} });
  const dst = postgres(dstUrl, { max: 1, onnotice: () => {} });
  try {
    const [{ l }] = await src`select (pg_current_wal_lsn() - '0/0')::text as l`;
    const target = BigInt(l);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await dst`select lsn::text from cdc_engine_offsets where pipeline = 'mirror'`.catch(() => []);
      if (r.length && BigInt(r[0].lsn) >= target) return;
      if (Date.now() > until) throw new Error(`sink did not catch up: at ${r[0]?.lsn ?? "nothing"}, source at ${target}`);
      await Bun.sleep(250);
    }
  } finally {
    await src.end();
    await dst.end();
  }
}

export async function verify(config: string) {
  return runBinary(["verify", "--config", config, "--wait", "60"], { timeoutMs: 120_000 });
}

/** pgbench_history compared as a multiset (it has no key). */
export async function historyMultiset(url: string): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select tid, bid, aid, delta, mtime::text as mtime, count(*)::int as n from pgbench_history group by 1, 2, 3, 4, 5 order by 1, 2, 3, 4, 5`;
    return rows.map((r) => `${r.tid},${r.bid},${r.aid},${r.delta},${r.mtime}x${r.n}`);
  } finally {
    await sql.end();
  }
}

export async function pgbench(args: string[], url: string): Promise<{ code: number; out: string }> {
  const u = new URL(url);
  const p = Bun.spawn([PGBENCH, "-h", u.hostname, "-p", u.port, "-U", u.username, ...args, u.pathname.slice(1)], { stdout: "pipe", stderr: "pipe" });
  const [o, e, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out: o + e };
}

/**
 * The set-up of the snapshot kill tests: `public.big` (id, v) of `rows` rows in the source, read in
 * 1,000-row chunks, and no checkpoint (1h) until killTwiceMidSnapshot lets one come.
 */
export async function bigSnapshotSetup(sql: postgres.Sql, srcUrl: string, rows: number, sinksAndPipelines: string): Promise<MirrorSetup> {
  await sql.unsafe(`create table big (id int primary key, v text); insert into big select g, md5(g::text) from generate_series(1, ${rows}) g`);
  const dir = mkdtempSync(join(tmpdir(), "cdc-snapkill-"));
  const port = await freePort();
  const slot = `s_${Math.random().toString(36).slice(2, 10)}`;
  const config = join(dir, "cdc.yaml");
  writeFileSync(
    config,
    `source: { url: "${srcUrl}", slot: ${slot}, publication: ${slot}, heartbeat_interval: 1s, snapshot_chunk_size: 1000 }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 1h }
api: { listen: "127.0.0.1:${port}" }
${sinksAndPipelines}`,
  );
  return { dir, config, port, logFile: join(dir, "engine.log") };
}

/** Checkpoints stored in the setup's state dir (0 before the first, or when it cannot be read). */
export function checkpointCount(s: MirrorSetup): number {
  try {
    const db = new Database(join(s.dir, "state", "checkpoints.db"), { readonly: true });
    try {
      return (db.query("select count(*) as n from checkpoints").get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

/**
 * Two kill -9s during the initial snapshot of bigSnapshotSetup's table, each once `delivered()` grew
 * by 12,000: the first before any checkpoint (the slot is made again, a new snapshot), the second
 * after one (the snapshot resumes after its last saved key). `beforeKill(n)` runs just before kill n.
 */
export async function killTwiceMidSnapshot(engine: Engine, s: MirrorSetup, delivered: () => number | Promise<number>, beforeKill?: (kill: number) => Promise<unknown>): Promise<void> {
  let seen = 0;
  for (let kill = 0; kill < 2; kill++) {
    if (kill === 1) writeFileSync(s.config, readFileSync(s.config, "utf8").replace("checkpoint_interval: 1h", "checkpoint_interval: 200ms"));
    await engine.start();
    const until = Date.now() + 60_000;
    while (((await delivered()) <= seen + 12_000 || (kill === 1 && checkpointCount(s) === 0)) && Date.now() < until) await Bun.sleep(20);
    await beforeKill?.(kill);
    seen = await delivered();
    if (engine.log().includes("snapshot of public.big done")) throw new Error(`kill ${kill + 1} came after the snapshot`);
    await engine.kill("SIGKILL");
  }
}
