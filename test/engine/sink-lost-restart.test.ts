/**
 * A sink connection lost in the middle of a transaction larger than source.memory_budget
 * (compiled binary, real servers): the open sink transaction holding the earlier parts is gone,
 * the runtime ends with PartsLostError and `serve` restarts it in-process from the last
 * checkpoint (no supervisor). The slot resends the transaction, which is applied exactly once:
 * the keyless table would show a duplicate, and `verify` compares it as a multiset.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, freePort, sharedPg, startPgServer, waitUntil } from "../helpers/index.ts";
import { Engine, verify, waitCaughtUp, type MirrorSetup } from "./e2e.ts";

const N = 200_000;
const EVENTS = 20_000;
const DDL = `create table big (id int8 primary key, n int4 not null, v text, amount numeric(14,2), at timestamptz);
  create table evlog (seq int8, note text)`; // no key: append-only in the sink
const BIG_TXN = `begin;
  insert into big select g, g % 1000, 'row ' || g || repeat('x', 40), g * 1.25 + 9000000000.01, '2026-01-01 00:00:00.123456+00'::timestamptz + g * interval '1 second' from generate_series(1, ${N}) g;
  insert into evlog select g, 'event ' || g from generate_series(1, ${EVENTS}) g;
  commit;`;

async function setup(srcUrl: string, dstUrl: string): Promise<MirrorSetup> {
  const dir = mkdtempSync(join(tmpdir(), "cdc-partslost-"));
  const port = await freePort();
  const slot = `pl_${Math.random().toString(36).slice(2, 10)}`;
  const config = join(dir, "cdc.yaml");
  writeFileSync(
    config,
    `source: { url: "${srcUrl}", slot: ${slot}, publication: ${slot}, heartbeat_interval: 1s, memory_budget: 1MiB }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 1s }
api: { listen: "127.0.0.1:${port}" }
log: { level: info }
sinks:
  wh: { type: postgres, url: "${dstUrl}", batch_delay: 20ms }
pipelines:
  - { name: mirror, from: [public.big, public.evlog], to: wh }
`,
  );
  return { dir, config, port, logFile: join(dir, "engine.log") };
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").at(-1));
  return sum;
}

/** Polls /health until the engine component reports a restart; returns that reason. */
async function sawRestarting(engine: Engine, ms: number): Promise<string> {
  let last: unknown = null; // shown on a timeout: what /health said instead
  return waitUntil(
    "/health showing the restart",
    async () => {
      const h = await engine.health();
      last = h;
      const e = h.body?.components?.engine;
      return h.code === 503 && e?.status === "down" && /^restarting/.test(e.reason) ? (e.reason as string) : null;
    },
    ms,
    () => `${engine.log().slice(-2500)}\nlast /health: ${JSON.stringify(last).slice(0, 1400)}`,
    25,
  );
}

/** Waits until some parts of the big transaction are written: the writer counted rows, not all. */
async function partsWritten(engine: Engine, port: number): Promise<void> {
  await waitUntil(
    "parts of the transaction written",
    async () => {
      const w = await metric(port, 'cdc_engine_sink_rows_written_total{sink="wh"').catch(() => 0);
      return w > 0 && w < N;
    },
    120_000,
    () => engine.log().slice(-2000),
    10,
  );
}

/** The sink's connection holding the open transaction (it has an xid: it wrote the earlier parts). */
async function openTransaction(admin: postgres.Sql, db: string, engine: Engine): Promise<{ pid: number; state: string }> {
  return waitUntil(
    "the sink's open transaction",
    async () => {
      // The parts' own connection (by name: the pipelined batch writer holds an xid for a moment too).
      const r = await admin`select pid, state from pg_stat_activity where datname = ${db} and application_name = 'cdc-engine transaction parts' and backend_xid is not null limit 1`;
      return r[0] as { pid: number; state: string } | undefined;
    },
    60_000,
    () => engine.log().slice(-2000),
    5,
  );
}

describe("sink lost in the middle of a large transaction (compiled binary)", () => {
  test("pg_terminate_backend on the sink's open transaction: the process stays up, restarts its runtime, the sink ends equal, rows exactly once", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "pl_src"), await createDatabase(pg, "pl_dst")];
    const s = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    const admin = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
    await s.unsafe(DDL);
    const cfg = await setup(pg.url(src), pg.url(dst));
    const engine = new Engine(cfg);
    try {
      await engine.start();
      await engine.snapshotDone(["public.big", "public.evlog"]);
      const pid = engine.proc!.pid;
      await s.unsafe(BIG_TXN);
      await partsWritten(engine, cfg.port);
      const victim = await openTransaction(admin, dst, engine);
      const restarting = sawRestarting(engine, 60_000);
      const [{ ok }] = await admin`select pg_terminate_backend(${victim.pid}) as ok`;
      expect(ok).toBe(true);
      expect(await restarting).toMatch(/after: \[sink:wh\] the open transaction holding the earlier parts of the transaction at LSN [0-9A-F]+\/[0-9A-F]+ \(pipeline mirror\) was rolled back/);

      await waitUntil("the runtime restarted", async () => (await metric(cfg.port, "cdc_engine_runtime_restarts_total")) === 1, 60_000, () => engine.log().slice(-3000));
      await waitCaughtUp(pg.url(src), pg.url(dst), 240_000);
      // Same process all along.
      expect(engine.proc!.exitCode).toBeNull();
      expect(engine.proc!.pid).toBe(pid);
      expect(engine.starts).toBe(1);

      const v = await verify(cfg.config);
      expect(v.stdout).toMatch(/public\.big\s+200000\s+200000\s+equal/);
      expect(v.stdout).toMatch(/public\.evlog\s+20000\s+20000\s+equal/);
      expect(v.code).toBe(0);
      const [c] = await admin`select count(*)::int as n, count(distinct seq)::int as d from evlog`;
      expect(c).toEqual({ n: EVENTS, d: EVENTS });

      const health = await engine.health();
      expect(health.code).toBe(200);
      expect(health.body.components.engine).toMatchObject({ status: "up", details: { restarts: 1 } });
      const status = (await (await fetch(`http://127.0.0.1:${cfg.port}/status`)).json()) as { engine: unknown; errors: { message: string }[] };
      expect(status.engine).toMatchObject({ state: "running", restarts: 1 });
      expect(status.errors.some((e) => e.message.includes("was rolled back"))).toBe(true);
      expect(engine.log()).toContain("runtime restarted");
      expect(await metric(cfg.port, "cdc_engine_runtime_restarts_total")).toBe(1);
      expect(await engine.kill("SIGTERM")).toBe(0);
      console.log(`terminated a backend in state '${victim.state}'`);
    } finally {
      if (engine.proc) await engine.kill();
      await s.end();
      await admin.end();
    }
  }, 420_000);

  test("sink server down: restarts back off while it cannot connect, SIGTERM during the backoff exits 0 promptly; a later start catches up", async () => {
    const pg = await sharedPg("system");
    const sinkServer = await startPgServer("system");
    const src = await createDatabase(pg, "pld_src");
    const dst = await createDatabase(sinkServer, "pld_dst");
    const s = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    await s.unsafe(DDL);
    const cfg = await setup(pg.url(src), sinkServer.url(dst));
    const engine = new Engine(cfg);
    try {
      await engine.start();
      await engine.snapshotDone(["public.big", "public.evlog"]);
      await s.unsafe(BIG_TXN);
      await partsWritten(engine, cfg.port);
      // Lose the open transaction, then the whole server: the restarts cannot connect.
      const admin = postgres(sinkServer.url(dst), { max: 1, onnotice: () => {} });
      const victim = await openTransaction(admin, dst, engine);
      const restarting = sawRestarting(engine, 60_000);
      await admin`select pg_terminate_backend(${victim.pid})`;
      await admin.end();
      await sinkServer.stop("immediate");
      expect(await restarting).toMatch(/^restarting \(attempt \d+, .*\) after: /);
      // At least one attempt failed on the unreachable sink and was retried.
      await waitUntil("a failed restart attempt", async () => /restart attempt \d+ failed: \[sink:wh\] cannot open/.test(JSON.stringify(await (await fetch(`http://127.0.0.1:${cfg.port}/status`)).json())), 60_000, () => engine.log().slice(-3000));
      expect(await metric(cfg.port, "cdc_engine_runtime_restarts_total")).toBe(0);
      const t0 = Date.now();
      expect(await engine.kill("SIGTERM")).toBe(0);
      const stopMs = Date.now() - t0;
      expect(stopMs).toBeLessThan(5_000);

      await sinkServer.start();
      await engine.start();
      await waitCaughtUp(pg.url(src), sinkServer.url(dst), 240_000);
      const v = await verify(cfg.config);
      expect(v.stdout).toContain("all 2 table(s) equal");
      expect(v.code).toBe(0);
      expect(await engine.kill("SIGTERM")).toBe(0);
      console.log(`SIGTERM during the backoff: exited in ${stopMs} ms`);
    } finally {
      if (engine.proc) await engine.kill();
      await s.end();
      await sinkServer.destroy();
    }
  }, 420_000);
});
