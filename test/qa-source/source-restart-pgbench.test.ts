/**
 * The source PostgreSQL restarts while pgbench (TPC-B: three keyed tables and pgbench_history,
 * which has no key) writes and the engine mirrors into another server: a fast shutdown, then an
 * immediate one. The engine reconnects each time; the mirror ends equal (verify, and the keyless
 * history as a multiset: nothing lost, nothing twice).
 */
import { expect, test } from "bun:test";
import { createDatabase, sharedPg, startPgServer } from "../helpers/index.ts";
import { Engine, historyMultiset, mirrorConfig, pgbench, verify, waitCaughtUp } from "../engine/e2e.ts";

const TABLES = ["public.pgbench_accounts", "public.pgbench_branches", "public.pgbench_tellers", "public.pgbench_history"];

test("pgbench through a fast and an immediate restart of the source: the engine reconnects, the mirror equals the source", async () => {
  const source = await startPgServer("system");
  const sink = await sharedPg("system");
  const src = source.url(await createDatabase(source, "qa_rs_src"));
  const dst = sink.url(await createDatabase(sink, "qa_rs_dst"));
  expect((await pgbench(["-i", "-q", "-s", "1"], src)).code).toBe(0);
  const s = await mirrorConfig(src, dst, TABLES);
  const engine = new Engine(s);
  let stopping = false;
  let txns = 0;
  const load = (async () => {
    while (!stopping) {
      const r = await pgbench(["-n", "-c", "3", "-T", "1"], src);
      if (r.code === 0) txns += Number(/actually processed: (\d+)/.exec(r.out)?.[1] ?? 0);
      else await Bun.sleep(200);
    }
  })();
  try {
    await engine.start();
    await engine.snapshotDone(TABLES);
    for (const mode of ["fast", "immediate"] as const) {
      await Bun.sleep(4000);
      // Counted before the stop: the engine may reconnect while pg_ctl start still waits.
      const before = engine.log().split("replication stream reconnected").length;
      const t0 = performance.now();
      await source.stop(mode);
      const stopped = (performance.now() - t0) / 1000;
      await Bun.sleep(1500);
      const health = await engine.health("source");
      await source.start();
      const until = Date.now() + 60_000;
      while (engine.log().split("replication stream reconnected").length === before && Date.now() < until) await Bun.sleep(200);
      console.log(`${mode} shutdown took ${stopped.toFixed(1)} s; /health/source while down: ${health.body.status} (${String(health.body.reason).slice(0, 120)}); reconnected after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      expect(health.body.status).not.toBe("up");
      expect(engine.log().split("replication stream reconnected").length).toBeGreaterThan(before);
    }
    await Bun.sleep(3000);
    stopping = true;
    await load;
    console.log(`pgbench transactions committed: ${txns}`);
    expect(txns).toBeGreaterThan(100);
    await waitCaughtUp(src, dst, 120_000);
    const v = await verify(s.config);
    expect(v.stdout).toContain("all 4 table(s) equal");
    expect(await historyMultiset(dst)).toEqual(await historyMultiset(src));
    expect((await engine.health("source")).body.status).toBe("up");
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    stopping = true;
    await load.catch(() => {});
    if (engine.proc) await engine.kill();
    await source.destroy();
  }
}, 300_000);
