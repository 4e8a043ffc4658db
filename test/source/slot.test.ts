import { describe, expect, test } from "bun:test";
import { CdcError } from "../../src/errors.ts";
import { parseLsn } from "../../src/types.ts";
import { pgFlavors } from "../helpers/index.ts";
import { Collector, sourceConfig, startSource, testDb } from "./source-helpers.ts";

async function confirmedFlush(sql: import("postgres").Sql, slot: string): Promise<bigint | null> {
  const [r] = await sql`select confirmed_flush_lsn::text as l from pg_replication_slots where slot_name = ${slot}`;
  return r ? parseLsn(String(r.l)) : null;
}

describe.each(pgFlavors())("slot lifecycle (%s)", (flavor) => {
  test("restart from the slot: stop, write, start again, nothing lost", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`create table t (id int primary key, v text); insert into t select g, 's' from generate_series(1, 50) g`);
    const cfg = sourceConfig(db.url);
    const first = await startSource(cfg, ["public.t"]);
    await db.sql`insert into t select g, 'a' from generate_series(51, 60) g`;
    await first.collector.waitFor(() => first.collector.changes.length === 60, "snapshot + first stream");
    const checkpoint = first.collector.txns.at(-1)!.lsn;
    first.source.confirm(checkpoint);
    await first.source.stop();
    expect(await confirmedFlush(db.sql, cfg.slot)).toBe(checkpoint);

    // Written while the engine is down.
    for (let i = 61; i <= 70; i++) await db.sql`insert into t values (${i}, 'b')`;
    await db.sql`update t set v = 'u' where id = 1`;

    const collector = new Collector();
    const second = await startSource(cfg, ["public.t"], { checkpointLsn: checkpoint, stateDir: first.stateDir, collector });
    try {
      await collector.waitFor(() => collector.changes.some((c) => c.op === "update"), "the update after restart");
      // No snapshot again; the transaction at the checkpoint LSN may be resent (the engine drops it).
      expect(collector.txns.some((t) => t.snapshot)).toBe(false);
      const fresh = collector.txns.filter((t) => t.lsn > checkpoint).flatMap((t) => t.changes);
      expect(fresh.filter((c) => c.op === "insert").map((c) => c.after!.id)).toEqual([61, 62, 63, 64, 65, 66, 67, 68, 69, 70]);
      expect(fresh.at(-1)!.after).toEqual({ id: 1, v: "u" });
      expect(collector.txns.every((t) => t.lsn >= checkpoint)).toBe(true);
    } finally {
      await second.source.stop();
      await db.end();
    }
  }, 60_000);

  test("slot ahead of the checkpoint or missing: refuse with slot_lost; --resnapshot recreates and snapshots", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`create table t (id int primary key); insert into t values (1), (2)`);
    const cfg = sourceConfig(db.url, { snapshot: "never" });
    const first = await startSource(cfg, ["public.t"]);
    await db.sql`insert into t values (3)`;
    await first.collector.waitFor(() => first.collector.changes.length === 1, "one insert");
    const lsn = first.collector.txns[0].lsn;
    first.source.confirm(lsn);
    await first.source.stop();

    // A checkpoint older than the slot: changes between are gone.
    const err = await startSource(cfg, ["public.t"], { checkpointLsn: lsn - 1000n, stateDir: first.stateDir }).catch((e) => e);
    expect(err).toBeInstanceOf(CdcError);
    expect((err as CdcError).code).toBe("slot_lost");
    expect((err as CdcError).message).toContain(cfg.slot);
    expect((err as CdcError).message).toContain("--resnapshot");

    // Slot dropped behind our back.
    await db.sql`select pg_drop_replication_slot(${cfg.slot})`;
    const err2 = await startSource(cfg, ["public.t"], { checkpointLsn: lsn, stateDir: first.stateDir }).catch((e) => e);
    expect((err2 as CdcError).code).toBe("slot_lost");
    expect((err2 as CdcError).message).toContain("missing");

    // --resnapshot: recreate and read everything again (even with snapshot: never).
    const again = await startSource(cfg, ["public.t"], { checkpointLsn: lsn, resnapshot: true, stateDir: first.stateDir });
    try {
      // The copies are cleared first: deletes among the lost changes never come (QA 2026-12-07).
      await again.collector.waitFor(() => again.collector.changes.length === 4, "a truncate, then a re-snapshot of 3 rows");
      expect(again.collector.changes.map((c) => [c.op, c.after?.id ?? c.table])).toEqual([["truncate", "public.t"], ["read", 1], ["read", 2], ["read", 3]]);
      expect(await confirmedFlush(db.sql, cfg.slot)).not.toBeNull();
    } finally {
      await again.source.stop();
      await db.end();
    }
  }, 60_000);

  test("a slot in use by another process is refused with a message naming it", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`create table t (id int primary key)`);
    const cfg = sourceConfig(db.url, { snapshot: "never" });
    const first = await startSource(cfg, ["public.t"]);
    try {
      await Bun.sleep(200);
      const err = await startSource(cfg, ["public.t"], { checkpointLsn: null }).catch((e) => e);
      expect((err as CdcError).code).toBe("slot_active");
      expect((err as CdcError).message).toMatch(new RegExp(`slot ${cfg.slot} is active for PID \\d+`));
    } finally {
      await first.source.stop();
      await db.end();
    }
  }, 60_000);

  test("heartbeats advance an idle slot while another table is busy", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`create table captured (id int primary key); create table busy (id serial primary key, v text)`);
    const cfg = sourceConfig(db.url, { snapshot: "never", heartbeat_interval: "300ms" });
    const { source, collector } = await startSource(cfg, ["public.captured"]);
    // The engine confirms everything it is handed (what the runtime does after checkpoints).
    collector.after = (t) => source.confirm(t.lsn);
    try {
      const start = (await confirmedFlush(db.sql, cfg.slot))!;
      const until = Date.now() + 2500;
      while (Date.now() < until) await db.sql`insert into busy (v) select 'x' from generate_series(1, 100)`;
      const [{ now }] = await db.sql`select pg_current_wal_lsn()::text as now`;
      await collector.waitFor(() => collector.txns.length >= 2, "empty heartbeat txns");
      expect(collector.txns.every((t) => t.changes.length === 0)).toBe(true);
      // Coalesced: about two per interval at most, not one per busy commit.
      expect(collector.txns.length).toBeLessThan(40);
      // The slot catches up to within a few heartbeats of the busy table's WAL position (poll: the
      // walsender first decodes all the busy WAL, slower on a loaded machine).
      let moved = start;
      for (let i = 0; i < 150 && Number(parseLsn(String(now)) - moved) >= 2_000_000; i++, await Bun.sleep(100)) moved = (await confirmedFlush(db.sql, cfg.slot))!;
      expect(moved > start).toBe(true);
      expect(Number(parseLsn(String(now)) - moved)).toBeLessThan(2_000_000);
      await Bun.sleep(1200);
      // The last hand-over is idle progress (a heartbeat message's or a keepalive's): one before the
      // server position it stands for, which is what the slot is confirmed to.
      expect(source.stats().confirmedLsn).toBe(collector.txns.at(-1)!.lsn + 1n);
      // Lag stats from the slot (refreshed every second here): once idle, bytes behind drop to a few heartbeats.
      await collector.waitFor(() => source.stats().lagBytes > 0 && source.stats().lagBytes < 2_000_000, "lag bytes to drop", 15_000);
      const st = source.stats();
      expect(st.slotRetainedBytes).toBeGreaterThan(0);
      expect(st.lagSeconds).toBeLessThan(5);
    } finally {
      await source.stop();
      await db.end();
    }
  }, 60_000);
  test("failover slots: created as such on PostgreSQL 17+, a usage error before", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`create table t (id int primary key)`);
    const cfg = sourceConfig(db.url, { snapshot: "never", failover: true });
    if (db.server.major >= 17) {
      const { source } = await startSource(cfg, ["public.t"]);
      try {
        const [r] = await db.sql`select failover from pg_replication_slots where slot_name = ${cfg.slot}`;
        expect(r.failover).toBe(true);
      } finally {
        await source.stop();
      }
    } else {
      const err = await startSource(cfg, ["public.t"]).catch((e) => e);
      expect((err as CdcError).code).toBe("slot_failover");
      expect((err as CdcError).message).toContain("failover slots need PostgreSQL 17 or later");
    }
    await db.end();
  }, 60_000);
});
