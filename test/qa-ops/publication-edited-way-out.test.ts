/**
 * A captured table taken out of the publication by hand while the engine streams. The error line
 * said to restart and "read them again (serve --resnapshot)", but --resnapshot does nothing while
 * the slot is intact ("--resnapshot not needed, streaming on"): following it left the changes made
 * meanwhile missing for good (QA: 901 rows). The line now gives the way that works, and this test
 * follows it: stop, `slot drop`, `serve --resnapshot`, and the mirror equals the source.
 */
import { describe, expect, test } from "bun:test";
import { runBinary } from "../helpers/index.ts";
import { waitUntil } from "../helpers/wait-for.ts";
import { Engine, mirrorConfig, sourceAndSink } from "../engine/e2e.ts";
import { logSays, rowsOf, slotOf, startWith } from "../qa-source/helpers.ts";

describe("publication edited while streaming (compiled binary)", () => {
  test("the error line's way out brings back the changes missed meanwhile", async () => {
    const db = await sourceAndSink("qapub");
    const setup = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.t"]);
    const engine = new Engine(setup);
    try {
      await db.sql`create table t (id int primary key, v int)`;
      await db.sql`insert into t select g, g from generate_series(1, 100) g`;
      await engine.start();
      await engine.snapshotDone(["public.t"]);
      const pub = await slotOf(setup); // mirrorConfig names the publication as the slot
      await db.sql.unsafe(`alter publication ${pub} drop table t`);
      await db.sql`insert into t select g, g from generate_series(101, 150) g`;
      await db.sql`update t set v = -v where id <= 10`;
      await db.sql`delete from t where id between 11 and 20`;
      const line = await logSays(engine, "no longer covers public.t", 30_000);
      expect(line).toContain("run `cdc-engine slot drop --config <file>`, then serve --resnapshot");

      expect(await engine.kill("SIGTERM")).toBe(0);
      const drop = await runBinary(["slot", "drop", "--config", setup.config]);
      expect(drop.code).toBe(0);
      await startWith(engine, setup, ["--resnapshot"]);
      const want = await rowsOf(db.srcUrl, "t");
      await waitUntil("the mirror equals the source", async () => JSON.stringify(await rowsOf(db.dstUrl, "t")) === JSON.stringify(want), 45_000, () => engine.log());
    } finally {
      if (engine.proc) await engine.kill("SIGTERM");
      await db.end();
    }
  }, 90_000);
});
