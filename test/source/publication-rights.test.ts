/**
 * A least-privilege role (REPLICATION, SELECT; no CREATE on the database, owning no table), as a
 * DBA sets one up. `check` said "ok" and `serve` failed on "permission denied for database" (it
 * made the inserts-only publication) with no word about publications. Now `check` names what the
 * role lacks and the statement to run; with the publication made by an owner, the start streams
 * it as it is (the inserts-only publication is skipped with a warning).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { checkSource } from "../../src/source/postgres/check.ts";
import { memoryLog, sourceConfig, startSource, testDb, type TestDb } from "./source-helpers.ts";

let db: TestDb;
const role = `lp_${Math.random().toString(36).slice(2, 8)}`;
beforeAll(async () => {
  db = await testDb("system");
  await db.sql.unsafe(`
    create table orders (id int primary key, v text);
    create table notes (v text);
    create role ${role} login replication;
    grant select on orders, notes to ${role};
    revoke create on database ${db.url.split("/").pop()} from public;`);
});
afterAll(async () => {
  await db.sql`select pg_drop_replication_slot(slot_name) from pg_replication_slots where active = false and slot_name like 's\\_%'`.catch(() => {});
  await db.sql.unsafe(`drop owned by ${role}; drop role ${role}`).catch(() => {});
  await db.end();
});

test("check names what a least-privilege role lacks; with the publication made for it, the start streams", async () => {
  const url = db.url.replace("postgres://postgres@", `postgres://${role}@`);
  const cfg = sourceConfig(url);
  const err = await checkSource(cfg, ["public.orders", "public.notes"]).then(() => null, (e: Error) => e.message);
  expect(err).toContain(`role ${role} cannot create publication ${cfg.publication} for the captured tables (it needs CREATE on the database and to own each table; it has no CREATE on the database; it does not own public.orders, public.notes)`);
  expect(err).toContain(`have an owner run CREATE PUBLICATION "${cfg.publication}" FOR TABLE "public"."orders", "public"."notes" WITH (publish_via_partition_root = true)`);

  // The DBA runs it: check passes, and the start streams both tables from it.
  await db.sql.unsafe(`create publication "${cfg.publication}" for table orders, notes with (publish_via_partition_root = true)`);
  expect(await checkSource(cfg, ["public.orders", "public.notes"])).toContain("2 table(s) to capture");
  const { log, lines } = memoryLog();
  const run = await startSource(cfg, ["public.orders", "public.notes"], { log });
  try {
    await db.sql`insert into orders values (1, 'a')`;
    await db.sql`insert into notes values ('n')`;
    await run.collector.waitFor(() => run.collector.changes.length >= 2, "both inserts");
    expect(run.collector.changes.map((c) => `${c.op} ${c.table}`)).toEqual(["insert public.orders", "insert public.notes"]);
    expect(lines.some((l) => l.msg.startsWith(`cannot create publication ${cfg.publication}_inserts`))).toBe(true);
  } finally {
    await run.source.stop();
  }
});
