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
});
