import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { CdcError } from "../../src/errors.ts";
import type { Txn } from "../../src/types.ts";
import { createDatabase, pgFlavors, startPgServer, type PgServer } from "../helpers/index.ts";
import { Collector, sourceConfig, startSource } from "./source-helpers.ts";

describe.each(pgFlavors())("two-phase commit (%s)", (flavor) => {
  // Its own server: PREPARE TRANSACTION needs max_prepared_transactions > 0.
  let server: PgServer;
  beforeAll(async () => {
    server = await startPgServer(flavor, ["max_prepared_transactions=10"]);
  });
  afterAll(async () => {
    await server.destroy();
  });

  async function db(setup: string) {
    const name = await createDatabase(server, "tp");
    const url = server.url(name);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql.unsafe(setup);
    return { url, sql, name };
  }

  const ids = (txns: Txn[]) => txns.flatMap((t) => t.changes).map((c) => Number(c.after!.id));
  const withChanges = (c: Collector) => c.txns.filter((t) => t.changes.length);

  test("a prepared transaction is emitted at COMMIT PREPARED, in commit order; ROLLBACK PREPARED drops it", async () => {
    const { url, sql } = await db(`create table t (id int primary key, v text)`);
    const cfg = sourceConfig(url, { snapshot: "never", two_phase: true });
    const { source, collector } = await startSource(cfg, ["public.t"]);
    collector.after = (t) => source.confirm(t.lsn);
    try {
      const [slot] = await sql`select two_phase from pg_replication_slots where slot_name = ${cfg.slot}`;
      expect(slot.two_phase).toBe(true);
      await sql.unsafe(`begin; insert into t values (1, 'prepared'), (2, 'prepared'); prepare transaction 'gx1'`);
      await sql.unsafe(`begin; insert into t values (3, 'gone'); prepare transaction 'gx2'`);
      await sql`insert into t values (10, 'plain')`;
      await collector.waitFor(() => ids(collector.txns).includes(10), "the plain insert");
      // Prepared, not committed: nothing of it yet.
      expect(ids(collector.txns)).toEqual([10]);
      await sql.unsafe(`rollback prepared 'gx2'`);
      await sql.unsafe(`commit prepared 'gx1'`);
      await sql`insert into t values (11, 'plain')`;
      await collector.waitFor(() => ids(collector.txns).includes(11), "the insert after COMMIT PREPARED");
      const txns = withChanges(collector);
      expect(txns.map((t) => t.changes.map((c) => c.after!.id))).toEqual([[10], [1, 2], [11]]);
      expect(txns[1].changes.map((c) => c.after!.v)).toEqual(["prepared", "prepared"]);
      expect(txns[1].changes.every((c) => c.op === "insert")).toBe(true);
      const [{ xid }] = await sql`select xmin::text::int as xid from t where id = 1`;
      expect(txns[1].xid).toBe(Number(xid));
      // Commit order: the COMMIT PREPARED's LSN sits between the two plain commits.
      expect(txns[0].lsn < txns[1].lsn && txns[1].lsn < txns[2].lsn).toBe(true);
    } finally {
      await source.stop();
      await sql.end();
    }
  }, 60_000);

  test("the slot is not confirmed past an open PREPARE: a restart before COMMIT PREPARED loses nothing", async () => {
    const { url, sql } = await db(`create table t (id int primary key, v text)`);
    const cfg = sourceConfig(url, { snapshot: "never", two_phase: true });
    const first = await startSource(cfg, ["public.t"]);
    let position = 0n;
    const confirmer = (src: typeof first.source) => (t: Txn) => {
      if (t.lsn > position) position = t.lsn;
      src.confirm(t.lsn);
    };
    first.collector.after = confirmer(first.source);
    await sql.unsafe(`begin; insert into t values (1, 'a'), (2, 'b'); prepare transaction 'gr1'`);
    const [{ prepared }] = await sql`select pg_current_wal_lsn()::text as prepared`;
    await sql`insert into t values (10, 'plain')`;
    await first.collector.waitFor(() => ids(first.collector.txns).includes(10), "the plain insert");
    expect(position > 0n).toBe(true);
    await Bun.sleep(1300); // the throttled status update goes out
    await first.source.stop();
    const [slot] = await sql`select confirmed_flush_lsn <= ${prepared}::pg_lsn as held from pg_replication_slots where slot_name = ${cfg.slot}`;
    expect(slot.held).toBe(true);

    // Restart from the same state dir and position (what the engine does), then commit.
    const second = await startSource(cfg, ["public.t"], { stateDir: first.stateDir, checkpointLsn: position });
    // Like the engine: what is at or below its position was seen already (a reconnect may resend it).
    const fresh: Txn[] = [];
    second.collector.after = (t) => {
      if (t.lsn <= position) return;
      position = t.lsn;
      if (t.changes.length) fresh.push(t);
      second.source.confirm(t.lsn);
    };
    try {
      await sql.unsafe(`commit prepared 'gr1'`);
      await second.collector.waitFor(() => ids(second.collector.txns).includes(2), "the prepared rows after the restart");
      expect(fresh.map((t) => t.changes.map((c) => c.after!.id))).toEqual([[1, 2]]);
    } finally {
      await second.source.stop();
      await sql.end();
    }
  }, 60_000);

  test("a large prepared transaction streamed before PREPARE (Stream Prepare) arrives whole at COMMIT PREPARED", async () => {
    const { url, sql, name } = await db(`create table s (id int primary key, v text)`);
    await sql.unsafe(`alter database "${name}" set logical_decoding_work_mem = '64kB'`);
    const cfg = sourceConfig(url, { snapshot: "never", two_phase: true });
    const { source, collector } = await startSource(cfg, ["public.s"]);
    try {
      const w = postgres(url, { max: 1, onnotice: () => {} });
      await w.unsafe(`begin; insert into s select g, repeat('x', 100) from generate_series(1, 5000) g; prepare transaction 'gs1'`);
      await w.unsafe(`begin; insert into s select g, repeat('y', 100) from generate_series(10001, 15000) g; prepare transaction 'gs2'`);
      await w`insert into s values (-1, 'marker')`;
      await collector.waitFor(() => ids(collector.txns).includes(-1), "the marker");
      expect(ids(collector.txns)).toEqual([-1]);
      await w.unsafe(`rollback prepared 'gs2'`);
      await w.unsafe(`commit prepared 'gs1'`);
      await w`insert into s values (-2, 'marker')`;
      await w.end();
      await collector.waitFor(() => ids(collector.txns).includes(-2), "the second marker", 30_000);
      const got = ids(collector.txns);
      expect(got.length).toBe(5002);
      expect(got.slice(1, 5001)).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
      expect(got.at(-1)).toBe(-2);
      // The server really streamed them (Stream Prepare, not Prepare).
      let streamed = 0;
      for (let i = 0; i < 50 && !streamed; i++, await Bun.sleep(100)) {
        const [r] = await sql`select stream_txns::int as n from pg_stat_replication_slots where slot_name = ${cfg.slot}`;
        streamed = r?.n ?? 0;
      }
      expect(streamed).toBeGreaterThanOrEqual(2);
    } finally {
      await source.stop();
      await sql.end();
    }
  }, 60_000);

  test("two_phase with protocol_version 2 is a usage error", async () => {
    const { url, sql } = await db(`create table t (id int primary key)`);
    const err = await startSource(sourceConfig(url, { two_phase: true, protocol_version: 2 }), ["public.t"]).catch((e) => e);
    expect(err).toBeInstanceOf(CdcError);
    expect((err as CdcError).code).toBe("source_two_phase");
    await sql.end();
  }, 30_000);
});
