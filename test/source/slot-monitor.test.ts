/**
 * The slot monitor reads the slot's lag as it starts, not first on its next round (up to 10 s
 * later): /status and /metrics said lag 0 for a start ~9 MB behind (QA).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import pino from "pino";
import { SlotMonitor } from "../../src/source/postgres/slot-monitor.ts";
import { testDb, type TestDb } from "./source-helpers.ts";

let db: TestDb;
beforeAll(async () => {
  db = await testDb("system");
});
afterAll(async () => {
  await db.sql`select pg_drop_replication_slot('mon_slot')`.catch(() => {});
  await db.end();
});

test("lag and retained WAL are known right after start", async () => {
  await db.sql`select pg_create_logical_replication_slot('mon_slot', 'pgoutput')`;
  await db.sql.unsafe("create table filler (v text); insert into filler select repeat('x', 1000) from generate_series(1, 3000)");
  const monitor = new SlotMonitor({ sql: () => db.sql as never, slot: "mon_slot", heartbeatMs: 10_000, serverVersion: 150000, warnRatio: 0.8, lagSeconds: () => 0, log: pino({ level: "silent" }) });
  monitor.start();
  try {
    for (let i = 0; i < 40 && monitor.info === null; i++) await Bun.sleep(25);
    expect(monitor.info?.lagBytes ?? 0).toBeGreaterThan(1_000_000);
    expect(monitor.info?.retainedBytes ?? 0).toBeGreaterThan(1_000_000);
  } finally {
    monitor.stop();
  }
});
