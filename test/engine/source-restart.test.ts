import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg, startPgServer, type PgServer } from "../helpers/index.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine, mirrorConfig, pgbench, verify, waitCaughtUp } from "./e2e.ts";

const SCRIPT = `\\set k random(1, 200000)
begin;
insert into items (id, qty, note) values (:k, 1, 'n' || :k) on conflict (id) do update set qty = items.qty + 1;
update items set qty = qty + 1 where id = :k - 3;
delete from items where id = :k - 7;
commit;
`;

/** Runs the script in one-second pgbench rounds until told to stop; rounds that hit the restart just fail. */
async function writer(url: string, stop: () => boolean, dir: string): Promise<number> {
  const file = join(dir, "items.sql");
  writeFileSync(file, SCRIPT);
  let ok = 0;
  while (!stop()) {
    const r = await pgbench(["-n", "-c", "3", "-T", "1", "-f", file], url);
    if (r.code === 0) ok += Number(/actually processed: (\d+)/.exec(r.out)?.[1] ?? 0);
    else await Bun.sleep(200);
  }
  return ok;
}

type Mirror = Awaited<ReturnType<typeof mirrorUnderLoad>>;

/** The engine mirroring `items` from `source` into `sink`, snapshot done, the writer running through it. */
async function mirrorUnderLoad(source: PgServer, sink: PgServer, prefix: string, editConfig = (yaml: string) => yaml) {
  const src = await createDatabase(source, `${prefix}_src`);
  const dst = await createDatabase(sink, `${prefix}_dst`);
  const admin = postgres(source.url(src), { max: 1, onnotice: () => {} });
  await admin`create table items (id bigint primary key, qty int not null, note text)`;
  await admin.end();
  const s = await mirrorConfig(source.url(src), sink.url(dst), ["public.items"]);
  writeFileSync(s.config, editConfig(await Bun.file(s.config).text()));
  const engine = new Engine(s);
  await engine.start();
  await engine.snapshotDone(["public.items"]);
  let stopping = false;
  const written = writer(source.url(src), () => stopping, s.dir);
  return {
    s,
    engine,
    srcUrl: source.url(src),
    dstUrl: sink.url(dst),
    /** Stops the writer after its current round; resolves with the transactions it committed. */
    stopWriting: () => ((stopping = true), written),
  };
}

/** pg_ctl stop -m fast: "stopped", or why not with the engine's log; and how long it took. */
async function fastStop(server: PgServer, engine: Engine, what: string): Promise<{ said: string; seconds: number }> {
  const t0 = performance.now();
  const said = await server.stop("fast").then(
    () => "stopped",
    (e) => `not stopped: ${String(e).slice(0, 300)}\n${engine.log().slice(-3000)}`,
  );
  const seconds = (performance.now() - t0) / 1000;
  console.log(`${what}: ${seconds.toFixed(1)} s`);
  return { said, seconds };
}

/** After the restart: the sink caught up and `verify` says equal (on a difference: which rows, how, and the log). */
async function expectMirrorEqual(m: Mirror): Promise<void> {
  expect(await m.stopWriting()).toBeGreaterThan(50);
  await waitCaughtUp(m.srcUrl, m.dstUrl, 120_000);
  const v = await verify(m.s.config);
  let diffs = "";
  if (v.code !== 0) {
    const [a, b] = [postgres(m.srcUrl, { max: 1 }), postgres(m.dstUrl, { max: 1 })];
    const sink = new Map((await b`select id::text, qty from items`).map((r) => [r.id, r.qty]));
    diffs = (await a`select id::text, qty from items`).filter((r) => sink.get(r.id) !== r.qty).map((r) => `${r.id}: source qty ${r.qty}, sink ${sink.get(r.id)}`).join("; ");
    await Promise.all([a.end(), b.end()]);
    diffs += `\n${m.engine.log().slice(-3000)}`;
    require("node:fs").writeFileSync("/tmp/sd-fail-engine.log", m.engine.log());
  }
  expect(`${v.stdout}${diffs}`).toContain("all 1 table(s) equal");
  expect(v.code).toBe(0);
}

describe("source restarted mid-run (compiled binary)", () => {
  test("the engine reconnects to a restarted source and loses nothing", async () => {
    const source = await startPgServer("system");
    let m: Mirror | null = null;
    try {
      m = await mirrorUnderLoad(source, await sharedPg("system"), "rs");
      await Bun.sleep(4000);
      // A crash-restart: "fast" shutdown waits for the walsender, which waits for the engine to
      // confirm the shutdown checkpoint (a source-side gap, see README, Engine).
      await source.stop("immediate");
      await Bun.sleep(1000);
      await source.start();
      await Bun.sleep(6000);
      await expectMirrorEqual(m);
      expect(m.engine.log()).toContain("replication stream reconnected");
      expect((await m.engine.health("source")).body.status).toBe("up");
      expect(await m.engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (m?.engine.proc) await m.engine.kill();
      await source.destroy();
    }
  }, 300_000);
});

describe("source fast shutdown while the engine streams (compiled binary)", () => {
  test("pg_ctl stop -m fast completes in seconds with the default 30 s checkpoint interval; nothing lost after the restart", async () => {
    const source = await startPgServer("system");
    let m: Mirror | null = null;
    try {
      // The walsender waits for the slot to reach what it sent; the engine must not make it wait for a 30 s checkpoint.
      m = await mirrorUnderLoad(source, await sharedPg("system"), "fs", (y) => y.replace("checkpoint_interval: 1s", "checkpoint_interval: 30s").replace("heartbeat_interval: 1s", "heartbeat_interval: 1h"));
      await Bun.sleep(4000);
      const stop = await fastStop(source, m.engine, "source fast shutdown with the engine connected");
      expect(stop.said).toBe("stopped");
      expect(stop.seconds).toBeLessThan(10);
      await source.start();
      await Bun.sleep(3000);
      await expectMirrorEqual(m);
      expect(await m.engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (m?.engine.proc) await m.engine.kill();
      await source.destroy();
    }
  }, 300_000);

  test("the sink on the source's own server: pg_ctl stop -m fast completes (the engine lets go of the walsender), nothing lost after the restart", async () => {
    // The walsender waits for the engine to confirm what it sent; the engine waits for its sink,
    // which the same shutdown refuses: the server never stopped while the engine stayed connected.
    const source = await startPgServer("system");
    let m: Mirror | null = null;
    try {
      m = await mirrorUnderLoad(source, source, "same");
      await Bun.sleep(3000);
      expect((await fastStop(source, m.engine, "fast shutdown of the source that also holds the sink, engine connected")).said).toBe("stopped");
      await source.start();
      await Bun.sleep(3000);
      await expectMirrorEqual(m);
      expect(m.engine.log()).toMatch(/sink wh is on the source's server \(postgres:\/\/[^)]+\), which is shutting down/);
      expect(await m.engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (m?.engine.proc) await m.engine.kill();
      await source.destroy();
    }
  }, 300_000);

  test("the sink down, then the source's fast shutdown: it completes (the engine lets go after 10 s of the server waiting), nothing lost once both are back", async () => {
    // The walsender waits for a confirmation the engine cannot give while its sink is down: the
    // source server could not stop until the sink came back.
    const [source, sink] = [await startPgServer("system"), await startPgServer("system")];
    let m: Mirror | null = null;
    try {
      m = await mirrorUnderLoad(source, sink, "sd");
      await Bun.sleep(2000);
      await sink.stop("fast");
      await Bun.sleep(2000);
      expect((await fastStop(source, m.engine, "fast shutdown of the source with the sink down, engine connected")).said).toBe("stopped");
      await source.start();
      await sink.start();
      await Bun.sleep(2000);
      await expectMirrorEqual(m);
      expect(m.engine.log()).toContain("which the sinks have not made durable (a shutdown waits for it)");
      expect(await m.engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (m?.engine.proc) await m.engine.kill();
      await source.destroy();
      await sink.destroy();
    }
  }, 300_000);
});
