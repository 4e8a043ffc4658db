import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { pgFlavors } from "../helpers/index.ts";
import { sourceConfig, startSource, testDb } from "./source-helpers.ts";

describe.each(pgFlavors())("large transactions (%s)", (flavor) => {
  test("a 200k-row transaction over the memory budget spills to disk and arrives whole, in parts", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`create table big (id int8 primary key, v text)`);
    const { source, collector, stateDir } = await startSource(sourceConfig(db.url, { snapshot: "never", memory_budget: "4MiB" }), ["public.big"]);
    let sawSpill = false;
    collector.after = () => {
      if (!sawSpill) sawSpill = readdirSync(join(stateDir, "spill")).some((f) => f.endsWith(".spill"));
    };
    try {
      await db.sql`insert into big select g, 'row ' || g from generate_series(1, 200000) g`;
      await collector.waitFor(() => collector.txns.some((t) => t.part?.last), "the last part", 60_000);
      const parts = collector.txns.filter((t) => t.part);
      expect(parts.length).toBeGreaterThan(1);
      expect(parts.map((t) => t.part!.index)).toEqual(parts.map((_, i) => i));
      expect(new Set(parts.map((t) => t.lsn)).size).toBe(1);
      expect(parts.filter((t) => t.part!.last).length).toBe(1);
      const ids = parts.flatMap((t) => t.changes.map((c) => c.after!.id as bigint));
      expect(ids.length).toBe(200_000);
      expect(ids[0]).toBe(1n);
      expect(ids[199_999]).toBe(200_000n);
      expect(ids.every((id, i) => id === BigInt(i + 1))).toBe(true);
      expect(sawSpill).toBe(true);
      // The spill file is gone once the transaction is handed over.
      expect(readdirSync(join(stateDir, "spill")).filter((f) => f.endsWith(".spill"))).toEqual([]);
    } finally {
      await source.stop();
      await db.end();
    }
  }, 90_000);

  test("streamed in-progress transactions: committed ones arrive, aborted ones and rolled-back savepoints do not", async () => {
    const db = await testDb(flavor);
    const [{ d }] = await db.sql`select current_database() as d`;
    // Small decoding memory so Postgres streams the transactions before they commit (protocol v2+).
    await db.sql.unsafe(`alter database "${d}" set logical_decoding_work_mem = '64kB'; create table s (id int primary key, v text)`);
    const cfg = sourceConfig(db.url, { snapshot: "never" });
    const { source, collector } = await startSource(cfg, ["public.s"]);
    try {
      await db.sql
        .begin(async (tx) => {
          await tx`insert into s select g, repeat('x', 100) from generate_series(1, 5000) g`;
          throw new Error("rollback");
        })
        .catch(() => {});
      await db.sql.begin(async (tx) => {
        await tx`insert into s select g, 'kept' from generate_series(1, 3000) g`;
        await tx.savepoint(async (sp) => {
          await sp`insert into s select g, 'gone' from generate_series(100001, 105000) g`;
          throw new Error("rollback to savepoint");
        }).catch(() => {});
        await tx`insert into s select g, 'kept' from generate_series(3001, 6000) g`;
      });
      await collector.waitFor(() => collector.changes.length >= 6000, "6000 committed rows", 60_000);
      await Bun.sleep(300);
      const rows = collector.changes;
      expect(rows.length).toBe(6000);
      expect(rows.every((c) => c.after!.v === "kept")).toBe(true);
      expect(rows.map((c) => c.after!.id)).toEqual(Array.from({ length: 6000 }, (_, i) => i + 1));
      expect(new Set(collector.txns.filter((t) => t.changes.length).map((t) => t.lsn)).size).toBe(1);
      // Postgres did stream the committed one (the stats are flushed asynchronously: poll). The aborted
      // one is streamed too on PG 15; PG 17+ may notice the abort first and skip it.
      let streamed = 0;
      for (let i = 0; i < 50 && !streamed; i++, await Bun.sleep(100)) {
        const [r] = await db.sql`select stream_txns::int as n from pg_stat_replication_slots where slot_name = ${cfg.slot}`;
        streamed = r?.n ?? 0;
      }
      expect(streamed).toBeGreaterThanOrEqual(db.server.major < 17 ? 2 : 1);
    } finally {
      await source.stop();
      await db.end();
    }
  }, 90_000);
});
