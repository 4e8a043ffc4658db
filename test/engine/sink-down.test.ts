import { describe, expect, test } from "bun:test";
import { createDatabase, sharedPg, startPgServer } from "../helpers/index.ts";
import { Engine, historyMultiset, mirrorConfig, pgbench, verify, waitCaughtUp } from "./e2e.ts";

const TABLES = ["public.pgbench_accounts", "public.pgbench_branches", "public.pgbench_tellers", "public.pgbench_history"];

describe("sink database down mid-run (compiled binary)", () => {
  test("sink stopped for 20 s: /health shows it down, retries with backoff, catches up with nothing lost", async () => {
    const pg = await sharedPg("system");
    const sinkServer = await startPgServer("system");
    let engine: Engine | null = null;
    try {
      const src = await createDatabase(pg, "down_src");
      const dst = await createDatabase(sinkServer, "down_dst");
      expect((await pgbench(["-i", "-q", "-s", "1"], pg.url(src))).code).toBe(0);
      const s = await mirrorConfig(pg.url(src), sinkServer.url(dst), TABLES);
      engine = new Engine(s);
      await engine.start();
      await engine.snapshotDone(TABLES);
      expect((await engine.health("sink:wh")).body.status).toBe("up");
      const load = pgbench(["-c", "4", "-j", "2", "-T", "30", "-n"], pg.url(src));
      await Bun.sleep(4000);
      await sinkServer.stop("fast");
      const downAt = Date.now();
      let sawDown: { code: number; body: any } | null = null;
      while (Date.now() - downAt < 20_000) {
        const h = await engine.health("sink:wh");
        if (h.body.status === "down") sawDown ??= h;
        await Bun.sleep(500);
      }
      const overall = await engine.health();
      await sinkServer.start();
      expect(sawDown?.code).toBe(503);
      expect(overall.code).toBe(503);
      expect(overall.body.components["sink:wh"].status).toBe("down");
      expect((await load).code).toBe(0);
      await waitCaughtUp(pg.url(src), sinkServer.url(dst), 120_000);
      expect((await engine.health("sink:wh")).body.status).toBe("up");
      const v = await verify(s.config);
      expect(v.stdout).toContain("all 4 table(s) equal");
      expect(v.code).toBe(0);
      expect(await historyMultiset(sinkServer.url(dst))).toEqual(await historyMultiset(pg.url(src)));
      expect(engine.log()).toContain("sink write failed; retrying");
      expect(engine.log()).toContain("sink is back; caught up");
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      await sinkServer.destroy();
    }
  }, 300_000);
});
