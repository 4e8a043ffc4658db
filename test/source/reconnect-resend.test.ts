/**
 * After the replication connection drops, the server resends every transaction after the slot's
 * confirmed position, including ones the source already handed over in this process. Those must
 * not reach the engine twice: a mirror of a table without a key appended every resent row again
 * (QA run: `pg_ctl -m immediate stop` of the source under load left ~1,100 doubled rows in the
 * postgres and sqlite sinks).
 */
import { describe, expect, test } from "bun:test";
import { pgFlavors } from "../helpers/index.ts";
import { sourceConfig, startSource, testDb } from "./source-helpers.ts";

describe.each(pgFlavors())("resent transactions after a reconnect (%s)", (flavor) => {
  test("transactions handed over before the walsender was terminated are not handed over again", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`create table events (seq int, note text)`); // no key: a doubled row stays doubled
    const cfg = sourceConfig(db.url, { snapshot: "never" });
    // No confirm(): the slot stays at its start, so the server resends everything after a reconnect.
    const { source, collector } = await startSource(cfg, ["public.events"]);
    try {
      for (let i = 1; i <= 10; i++) await db.sql`insert into events values (${i}, ${"n" + i})`;
      await collector.waitFor(() => collector.changes.length === 10, "first 10 rows");
      await db.sql`select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = ${cfg.slot}`;
      await collector.waitFor(() => source.health().status === "degraded", "reconnecting");
      await db.sql`insert into events values (11, 'n11')`;
      await collector.waitFor(() => collector.changes.some((c) => c.after?.seq === 11), "the row after the reconnect", 30_000);
      await Bun.sleep(500); // anything resent after row 11 would arrive by now
      expect(collector.changes.map((c) => c.after?.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      const lsns = collector.txns.filter((t) => t.changes.length).map((t) => t.lsn);
      for (let i = 1; i < lsns.length; i++) expect(lsns[i] > lsns[i - 1]).toBe(true);
      expect(source.health().status).toBe("up");
    } finally {
      await source.stop();
      await db.end();
    }
  }, 60_000);
});
