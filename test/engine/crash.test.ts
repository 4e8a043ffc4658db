import { describe, expect, test } from "bun:test";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, historyMultiset, mirrorConfig, pgbench, verify, waitCaughtUp } from "./e2e.ts";

const TABLES = ["public.pgbench_accounts", "public.pgbench_branches", "public.pgbench_tellers", "public.pgbench_history"];

describe("exactly-once under SIGKILL (compiled binary)", () => {
  test("pgbench -T 20 with the engine SIGKILLed and restarted at random moments: nothing lost, nothing duplicated", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "kill_src"), await createDatabase(pg, "kill_dst")];
    expect((await pgbench(["-i", "-q", "-s", "1"], pg.url(src))).code).toBe(0);
    const s = await mirrorConfig(pg.url(src), pg.url(dst), TABLES);
    const engine = new Engine(s);
    try {
      await engine.start();
      await engine.snapshotDone(TABLES);
      const load = pgbench(["-c", "4", "-j", "2", "-T", "20", "-n"], pg.url(src));
      let kills = 0;
      const t0 = Date.now();
      while (Date.now() - t0 < 18_000) {
        await Bun.sleep(1200 + Math.random() * 2000);
        expect(await engine.kill("SIGKILL")).not.toBe(0);
        kills++;
        await engine.start();
      }
      const run = await load;
      expect(run.code).toBe(0);
      expect(kills).toBeGreaterThanOrEqual(5);
      await waitCaughtUp(pg.url(src), pg.url(dst), 120_000);
      const v = await verify(s.config);
      expect(v.stdout).toContain("all 4 table(s) equal");
      expect(v.code).toBe(0);
      const [a, b] = [await historyMultiset(pg.url(src)), await historyMultiset(pg.url(dst))];
      expect(b).toEqual(a);
      expect(engine.starts).toBe(kills + 1);
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine.proc) await engine.kill();
    }
  }, 300_000);
});
