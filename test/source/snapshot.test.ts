import { describe, expect, test } from "bun:test";
import { pgFlavors } from "../helpers/index.ts";
import { Collector, snapshotCutAtThirdChunk, sourceConfig, startSource, testDb } from "./source-helpers.ts";
import type { Change } from "../../src/types.ts";
import { createPostgresSource } from "../../src/source/postgres/index.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";

/** Apply changes as keyed upserts/deletes, the way a sink does. */
function apply(changes: Change[]): Map<string, Record<string, unknown>> {
  const state = new Map<string, Record<string, unknown>>();
  for (const c of changes) {
    const k = String(c.key!.id);
    if (c.op === "delete") state.delete(k);
    else state.set(k, { ...state.get(k), ...c.after });
  }
  return state;
}

describe.each(pgFlavors())("initial snapshot (%s)", (flavor) => {
  test("snapshot and stream while writes run: no gap, no duplicate", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`create table t (id int primary key, n int not null); insert into t select g, 0 from generate_series(1, 20000) g`);
    const collector = new Collector();
    collector.delayMs = 5; // a slow engine, so writes land while the snapshot is read
    let writing = true;
    let nextId = 20001;
    const writer = (async () => {
      while (writing) {
        await db.sql.begin(async (tx) => {
          await tx`insert into t values (${nextId++}, 1)`;
          await tx`update t set n = n + 1 where id = ${1 + Math.floor(Math.random() * 20000)}`;
          await tx`delete from t where id = ${1 + Math.floor(Math.random() * 20000)}`;
        });
      }
    })();
    await Bun.sleep(50);
    const cfg = sourceConfig(db.url, { snapshot_chunk_size: 500 });
    const { source } = await startSource(cfg, ["public.t"], { collector });
    try {
      expect(source.stats().snapshot).toEqual([{ table: "public.t", rowsDone: expect.any(Number), rowsTotal: expect.any(Number), done: true }]);
      await Bun.sleep(300);
      writing = false;
      await writer;
      collector.delayMs = 0;
      const [{ count }] = await db.sql`select count(*)::int as count from t`;
      const [{ lsn }] = await db.sql`select pg_current_wal_lsn()::text as lsn`;
      void lsn;
      const snapRows = collector.txns.filter((t) => t.snapshot);
      const snapLsn = snapRows[0].lsn;
      expect(snapRows.every((t) => t.lsn === snapLsn)).toBe(true);
      await db.sql`insert into t values (-1, -1)`; // a marker: everything before it has been streamed
      await collector.waitFor(() => collector.changes.some((c) => c.after?.id === -1), "marker");
      const streamed = collector.txns.filter((t) => !t.snapshot);
      expect(streamed.every((t) => t.lsn > snapLsn)).toBe(true);
      const readIds = snapRows.flatMap((t) => t.changes.map((c) => c.after!.id as number));
      expect(new Set(readIds).size).toBe(readIds.length); // each row read once
      const inserted = streamed.flatMap((t) => t.changes.filter((c) => c.op === "insert").map((c) => c.after!.id as number));
      expect(readIds.filter((id) => inserted.includes(id))).toEqual([]); // no row both read and inserted
      const final = apply(collector.changes);
      final.delete("-1");
      const rows = await db.sql`select id, n from t where id <> -1 order by id`;
      expect(final.size).toBe(count);
      for (const r of rows) expect(final.get(String(r.id))).toEqual({ id: r.id, n: r.n });
    } finally {
      writing = false;
      await source.stop();
      await db.end();
    }
  }, 60_000);

  test("a crash mid-snapshot resumes after the last key the engine made durable", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`create table t (a int, b text, v int, primary key (a, b)); insert into t select g / 10, 'k' || (g % 10), g from generate_series(1, 5000) g`);
    const cfg = sourceConfig(db.url, { snapshot_chunk_size: 400 });
    // A checkpoint while the third chunk is being taken (the first two are durable), then a stop (like a crash).
    const { collector, stateDir } = await snapshotCutAtThirdChunk(cfg, ["public.t"]);
    const firstReads = collector.changes.length;
    expect(firstReads).toBeGreaterThanOrEqual(1200);
    expect(firstReads).toBeLessThan(5000);
    const checkpoint = collector.txns[0].lsn;

    const again = new Collector();
    const second = await startSource(cfg, ["public.t"], { checkpointLsn: checkpoint, stateDir, collector: again });
    try {
      const all = [...collector.changes, ...again.changes].filter((c) => c.op === "read");
      const keys = all.map((c) => `${c.after!.a}/${c.after!.b}`);
      expect(new Set(keys).size).toBe(5000);
      expect(keys.length).toBe(5000 + 400); // the chunk not yet durable is read again
      expect(again.txns.every((t) => t.lsn === checkpoint)).toBe(true);
      expect(second.source.stats().snapshot![0].done).toBe(true);
    } finally {
      await second.source.stop();
      await db.end();
    }
  }, 60_000);

  test("a crash mid-snapshot before any checkpoint reads the chunks the engine had taken again", async () => {
    // The engine takes chunks into its sink queues; saving the progress at hand-over meant a
    // kill -9 lost the queued rows for good (QA: 35,000 of 300,000 rows missing in a postgres sink).
    const db = await testDb(flavor);
    await db.sql.unsafe(`create table t (id int primary key, v int); insert into t select g, g from generate_series(1, 3000) g`);
    const cfg = sourceConfig(db.url, { snapshot_chunk_size: 400 });
    const collector = new Collector();
    const stateDir = mkdtempSync(join(tmpdir(), "cdc-src-"));
    const source = createPostgresSource(cfg, { stateDir, log: pino({ level: "silent" }) });
    collector.after = () => {
      if (collector.txns.length === 3) void source.stop(); // nothing durable yet
    };
    await source.start({ tables: ["public.t"], checkpointLsn: null, resnapshot: false, onTxn: collector.onTxn });
    expect(await source.done).toBeNull();
    expect(collector.changes.length).toBeGreaterThanOrEqual(1200);
    const checkpoint = collector.txns[0].lsn;

    const again = new Collector();
    const second = await startSource(cfg, ["public.t"], { checkpointLsn: checkpoint, stateDir, collector: again });
    try {
      const ids = again.changes.filter((c) => c.op === "read").map((c) => c.after!.id);
      expect(ids.length).toBe(3000);
      expect(new Set(ids).size).toBe(3000);
      // Streaming after the snapshot: a checkpoint past it saves the progress (done), so a third start reads nothing again.
      await db.sql`insert into t values (5001, 1)`;
      await again.waitFor(() => again.changes.some((c) => c.op === "insert"), "the insert after the snapshot");
      second.source.confirm(again.txns.at(-1)!.lsn);
    } finally {
      await second.source.stop();
    }
    const third = new Collector();
    const last = await startSource(cfg, ["public.t"], { checkpointLsn: again.txns.at(-1)!.lsn, stateDir, collector: third });
    try {
      await Bun.sleep(300);
      expect(third.changes.filter((c) => c.op === "read").length).toBe(0);
    } finally {
      await last.source.stop();
      await db.end();
    }
  }, 60_000);
});
