/**
 * The state dir lost (a new volume) and the slot gone too (dropped by a DBA, or invalidated while
 * the engine was down). With no checkpoint the start looked like a first one: a new slot and a new
 * snapshot over sinks that still held the old copies, so the rows deleted meanwhile stayed there
 * for good (QA: 754 rows in Postgres and MariaDB). The sinks' positions tell it is not a first
 * start: their copies are cleared before the snapshot, as after a --resnapshot.
 */
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { waitUntil } from "../helpers/wait-for.ts";
import { Engine, mirrorConfig, sourceAndSink, waitCaughtUp } from "../engine/e2e.ts";
import { dropSlotUnder, logSays, rowsOf, slotOf } from "../qa-source/helpers.ts";

describe("state dir and slot both lost (compiled binary)", () => {
  test("the next start clears the sinks' copies before its snapshot: no deleted row stays", async () => {
    const db = await sourceAndSink("qalost");
    const setup = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.t"]);
    const engine = new Engine(setup);
    try {
      await db.sql`create table t (id int primary key, v int)`;
      await db.sql`insert into t select g, g from generate_series(1, 100) g`;
      await engine.start();
      await engine.snapshotDone(["public.t"]);
      await db.sql`update t set v = 0 where id = 1`;
      await waitCaughtUp(db.srcUrl, db.dstUrl, 30_000);
      expect(await engine.kill("SIGTERM")).toBe(0);

      await db.sql`delete from t where id between 11 and 20`;
      await db.sql`insert into t select g, g from generate_series(101, 105) g`;
      await dropSlotUnder(db.sql, await slotOf(setup));
      rmSync(join(setup.dir, "state"), { recursive: true, force: true });

      await engine.start();
      const want = await rowsOf(db.srcUrl, "t");
      await waitUntil("the mirror equals the source", async () => JSON.stringify(await rowsOf(db.dstUrl, "t")) === JSON.stringify(want), 30_000, () => engine.log());
      await logSays(engine, "the state dir was lost), and replication slot");
    } finally {
      if (engine.proc) await engine.kill("SIGTERM");
      await db.end();
    }
  }, 90_000);
});
