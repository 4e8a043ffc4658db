import { describe, expect, test } from "bun:test";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, historyMultiset, mirrorConfig, pgbench, verify, waitCaughtUp } from "./e2e.ts";

const TABLES = ["public.pgbench_accounts", "public.pgbench_branches", "public.pgbench_tellers", "public.pgbench_history"];

describe("pgbench mirrored to another database (compiled binary)", () => {
  test("pgbench -c 4 -T 15: verify passes, pgbench_history equal as a multiset", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "pgb_src"), await createDatabase(pg, "pgb_dst")];
    const init = await pgbench(["-i", "-q", "-s", "1"], pg.url(src));
    expect(init.code).toBe(0);
    const s = await mirrorConfig(pg.url(src), pg.url(dst), TABLES);
    const engine = new Engine(s);
    try {
    await engine.start();
    // The source's snapshot under concurrent updates is the source's concern (see report); start the load after it.
    await engine.snapshotDone(TABLES);
    const run = await pgbench(["-c", "4", "-j", "2", "-T", "15", "-n"], pg.url(src));
    expect(run.code).toBe(0);
    const tx = Number(/number of transactions actually processed: (\d+)/.exec(run.out)?.[1]);
    expect(tx).toBeGreaterThan(100);
    await waitCaughtUp(pg.url(src), pg.url(dst));
    const v = await verify(s.config);
    expect(v.stdout).toContain("all 4 table(s) equal");
    expect(v.code).toBe(0);
    const [a, b] = [await historyMultiset(pg.url(src)), await historyMultiset(pg.url(dst))];
    expect(b.length).toBe(a.length);
    expect(b).toEqual(a);
    expect(await engine.kill("SIGTERM")).toBe(0);
    expect(engine.log()).toContain("runtime stopped");
    } finally {
      if (engine.proc) await engine.kill();
    }
  }, 240_000);
});
