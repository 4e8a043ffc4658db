import { describe, expect, test } from "bun:test";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, mirrorConfig, verify, waitCaughtUp, pgbench } from "./e2e.ts";

describe("initial snapshot while writes run (compiled binary)", () => {
  test("pgbench -c 4 running through the snapshot: verify passes on every table, history included", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "snl_src"), await createDatabase(pg, "snl_dst")];
    expect((await pgbench(["-i", "-s", "2", "-q"], pg.url(src))).code).toBe(0);
    const run = pgbench(["-n", "-c", "4", "-T", "20"], pg.url(src));
    await Bun.sleep(2000);
    const s = await mirrorConfig(pg.url(src), pg.url(dst), ["public.*"]);
    const engine = new Engine(s);
    await engine.start();
    try {
      const r = await run;
      expect(r.code).toBe(0);
      await waitCaughtUp(pg.url(src), pg.url(dst), 120_000);
      const v = await verify(s.config);
      expect(v.stdout).toContain("all 4 table(s) equal");
      expect(v.code).toBe(0);
      // The snapshot really overlapped the load: the history table got rows from both.
      expect(Number(/pgbench_history\s+(\d+)/.exec(v.stdout)?.[1] ?? 0)).toBeGreaterThan(1000);
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine.proc) await engine.kill();
    }
  }, 240_000);
});
