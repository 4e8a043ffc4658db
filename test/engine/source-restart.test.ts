import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg, startPgServer } from "../helpers/index.ts";
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

describe("source restarted mid-run (compiled binary)", () => {
  test("the engine reconnects to a restarted source and loses nothing", async () => {
    const source = await startPgServer("system");
    const pg = await sharedPg("system");
    let engine: Engine | null = null;
    try {
      const src = await createDatabase(source, "rs_src");
      const dst = await createDatabase(pg, "rs_dst");
      const admin = postgres(source.url(src), { max: 1, onnotice: () => {} });
      await admin`create table items (id bigint primary key, qty int not null, note text)`;
      await admin.end();
      const s = await mirrorConfig(source.url(src), pg.url(dst), ["public.items"]);
      engine = new Engine(s);
      await engine.start();
      await engine.snapshotDone(["public.items"]);
      let stopping = false;
      const writers = [writer(source.url(src), () => stopping, s.dir)];
      await Bun.sleep(4000);
      // A crash-restart: "fast" shutdown waits for the walsender, which waits for the engine to
      // confirm the shutdown checkpoint (a source-side gap, see README, Engine).
      await source.stop("immediate");
      await Bun.sleep(1000);
      await source.start();
      await Bun.sleep(6000);
      stopping = true;
      const counts = await Promise.all(writers);
      expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThan(100);
      await waitCaughtUp(source.url(src), pg.url(dst), 120_000);
      const v = await verify(s.config);
      expect(v.stdout).toContain("all 1 table(s) equal");
      expect(v.code).toBe(0);
      expect(engine.log()).toContain("replication stream reconnected");
      expect((await engine.health("source")).body.status).toBe("up");
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      await source.destroy();
    }
  }, 300_000);
});

describe("source fast shutdown while the engine streams (compiled binary)", () => {
  test("pg_ctl stop -m fast completes in seconds with the default 30 s checkpoint interval; nothing lost after the restart", async () => {
    const source = await startPgServer("system");
    const pg = await sharedPg("system");
    let engine: Engine | null = null;
    try {
      const src = await createDatabase(source, "fs_src");
      const dst = await createDatabase(pg, "fs_dst");
      const admin = postgres(source.url(src), { max: 1, onnotice: () => {} });
      await admin`create table items (id bigint primary key, qty int not null, note text)`;
      await admin.end();
      const s = await mirrorConfig(source.url(src), pg.url(dst), ["public.items"]);
      // The walsender waits for the slot to reach what it sent; the engine must not make it wait for a 30 s checkpoint.
      writeFileSync(s.config, (await Bun.file(s.config).text()).replace("checkpoint_interval: 1s", "checkpoint_interval: 30s").replace("heartbeat_interval: 1s", "heartbeat_interval: 1h"));
      engine = new Engine(s);
      await engine.start();
      await engine.snapshotDone(["public.items"]);
      let stopping = false;
      const writers = [writer(source.url(src), () => stopping, s.dir)];
      await Bun.sleep(4000);
      const t0 = performance.now();
      await source.stop("fast");
      const stopSeconds = (performance.now() - t0) / 1000;
      console.log(`source fast shutdown with the engine connected: ${stopSeconds.toFixed(1)} s`);
      expect(stopSeconds).toBeLessThan(10);
      await source.start();
      await Bun.sleep(3000);
      stopping = true;
      expect((await Promise.all(writers))[0]).toBeGreaterThan(50);
      await waitCaughtUp(source.url(src), pg.url(dst), 120_000);
      const v = await verify(s.config);
      expect(v.stdout).toContain("all 1 table(s) equal");
      expect(v.code).toBe(0);
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      await source.destroy();
    }
  }, 300_000);

  test("the sink on the source's own server: pg_ctl stop -m fast completes (the engine lets go of the walsender), nothing lost after the restart", async () => {
    // The walsender waits for the engine to confirm what it sent; the engine waits for its sink,
    // which the same shutdown refuses: the server never stopped while the engine stayed connected.
    const source = await startPgServer("system");
    let engine: Engine | null = null;
    try {
      const src = await createDatabase(source, "same_src");
      const dst = await createDatabase(source, "same_dst");
      const admin = postgres(source.url(src), { max: 1, onnotice: () => {} });
      await admin`create table items (id bigint primary key, qty int not null, note text)`;
      await admin.end();
      const s = await mirrorConfig(source.url(src), source.url(dst), ["public.items"]);
      engine = new Engine(s);
      await engine.start();
      await engine.snapshotDone(["public.items"]);
      let stopping = false;
      const writers = [writer(source.url(src), () => stopping, s.dir)];
      await Bun.sleep(3000);
      const t0 = performance.now();
      const stopped = await source.stop("fast").then(
        () => "stopped",
        (e) => `not stopped: ${String(e).slice(0, 300)}`,
      );
      const stopSeconds = (performance.now() - t0) / 1000;
      console.log(`fast shutdown of the source that also holds the sink, engine connected: ${stopSeconds.toFixed(1)} s`);
      expect(`${stopped}\n${stopped === "stopped" ? "" : engine.log().slice(-3000)}`).toBe("stopped\n");
      await source.start();
      await Bun.sleep(3000);
      stopping = true;
      expect((await Promise.all(writers))[0]).toBeGreaterThan(50);
      await waitCaughtUp(source.url(src), source.url(dst), 120_000);
      const v = await verify(s.config);
      expect(v.stdout).toContain("all 1 table(s) equal");
      expect(v.code).toBe(0);
      expect(engine.log()).toMatch(/sink wh is on the source's server \(postgres:\/\/[^)]+\), which is shutting down/);
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      await source.destroy();
    }
  }, 300_000);

  test("the sink down, then the source's fast shutdown: it completes (the engine lets go after 10 s of the server waiting), nothing lost once both are back", async () => {
    // The walsender waits for a confirmation the engine cannot give while its sink is down: the
    // source server could not stop until the sink came back.
    const source = await startPgServer("system");
    const sink = await startPgServer("system");
    let engine: Engine | null = null;
    try {
      const src = await createDatabase(source, "sd_src");
      const dst = await createDatabase(sink, "sd_dst");
      const admin = postgres(source.url(src), { max: 1, onnotice: () => {} });
      await admin`create table items (id bigint primary key, qty int not null, note text)`;
      await admin.end();
      const s = await mirrorConfig(source.url(src), sink.url(dst), ["public.items"]);
      engine = new Engine(s);
      await engine.start();
      await engine.snapshotDone(["public.items"]);
      let stopping = false;
      const writers = [writer(source.url(src), () => stopping, s.dir)];
      await Bun.sleep(2000);
      await sink.stop("fast");
      await Bun.sleep(2000);
      const t0 = performance.now();
      const stopped = await source.stop("fast").then(
        () => "stopped",
        (e) => `not stopped: ${String(e).slice(0, 300)}`,
      );
      console.log(`fast shutdown of the source with the sink down, engine connected: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      expect(`${stopped}\n${stopped === "stopped" ? "" : engine.log().slice(-3000)}`).toBe("stopped\n");
      await source.start();
      await sink.start();
      await Bun.sleep(2000);
      stopping = true;
      expect((await Promise.all(writers))[0]).toBeGreaterThan(50);
      await waitCaughtUp(source.url(src), sink.url(dst), 120_000);
      const v = await verify(s.config);
      // On a difference, which rows and how (a lost update or an old image written last).
      let diffs = "";
      if (v.code !== 0) {
        const a = postgres(source.url(src), { max: 1 });
        const b = postgres(sink.url(dst), { max: 1 });
        const bs = new Map((await b`select id::text, qty from items`).map((r) => [r.id, r.qty]));
        diffs = (await a`select id::text, qty from items`).filter((r) => bs.get(r.id) !== r.qty).map((r) => `${r.id}: source qty ${r.qty}, sink ${bs.get(r.id)}`).join("; ");
        await a.end();
        await b.end();
        diffs += `\n${engine.log().slice(-3000)}`;
      }
      expect(`${v.stdout}${diffs}`).toContain("all 1 table(s) equal");
      expect(v.code).toBe(0);
      expect(engine.log()).toContain("which the sinks have not made durable (a shutdown waits for it)");
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      await source.destroy();
      await sink.destroy();
    }
  }, 300_000);
});
