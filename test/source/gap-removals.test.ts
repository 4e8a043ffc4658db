/**
 * gapRemovals against a real slot: what a slot holds that removes rows (deletes, the old key of a
 * key-changing update, truncates), keyed by the table's primary key, and the round trip through
 * the state dir that keeps them until they are durable.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { gapRemovals, decodeRemovals, encodeRemovals } from "../../src/source/postgres/gap-deletes.ts";
import { loadRelations, loadTypes } from "../../src/source/postgres/catalog.ts";
import { TypeDecoders } from "../../src/source/postgres/type-decoders.ts";
import { SnapshotState } from "../../src/source/postgres/snapshot-state.ts";
import type { Pg } from "../../src/db/postgres-client.ts";
import { testDb, type TestDb } from "./source-helpers.ts";

let db: TestDb;
beforeAll(async () => {
  db = await testDb("system");
});
afterAll(async () => {
  await db.sql`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = 'gap_slot'`.catch(() => {});
  await db.end();
});

test("deletes, key changes, truncates and each key's last update held by a slot come back keyed, once each; inserts do not", async () => {
  const sql = db.sql;
  await sql.unsafe(`create table g1 (id int8 primary key, b bytea, v text);
    create table g2 (a int, b text, v int, primary key (a, b));
    create table g3 (id int primary key);
    create table other (id int primary key);
    create table g4 (a int, v text);
    alter table g1 replica identity full;
    alter table g4 replica identity full;
    insert into g4 values (1, 'x'), (2, 'y');
    insert into g1 select g, decode(lpad(to_hex(g), 2, '0'), 'hex'), 'x' from generate_series(1, 10) g;
    insert into g2 values (1, 'a', 1), (2, 'b', 2);
    insert into g3 values (1), (2);
    insert into other values (1);
    create publication gap_pub for table g1, g2, g3, g4`);
  await sql`select pg_create_logical_replication_slot('gap_slot', 'pgoutput')`;
  await sql.unsafe(`delete from g1 where id in (9223372036854775807, 3, 4);
    delete from g1 where id = 3;
    update g1 set v = 'same key' where id = 5;
    update g1 set id = 100 where id = 6;
    insert into g1 values (200, '\\x00', 'new');
    delete from g1 where id = 200;
    delete from g2 where a = 2;
    update g2 set b = 'c' where a = 1;
    truncate g3;
    delete from g4 where a = 1;
    truncate g4;
    delete from other where id = 1`);
  const relations = await loadRelations(sql as unknown as Pg, ["public.g1", "public.g2", "public.g3", "public.g4"]);
  const types = new TypeDecoders(await loadTypes(sql as unknown as Pg));
  const lines: string[] = [];
  const log = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
  const got = await gapRemovals(sql as unknown as Pg, "gap_slot", "gap_pub", relations, types, log);
  const text = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
  const plain = got.map((c) => (c.op === "truncate" ? `truncate ${c.table}` : `${c.op} ${c.table} ${text(c.key)}`));
  expect(plain).toEqual([
    // g4 has no key: copied whole again, so what the earlier start copied is cleared first (once, its own truncate folded in)
    "truncate public.g4",
    'delete public.g1 {"id":"3n"}',
    'delete public.g1 {"id":"4n"}',
    // updates come as each key's last new row (a where pipeline drops a row moved out of its filter)
    'update public.g1 {"id":"5n"}',
    'delete public.g1 {"id":"6n"}',
    'update public.g1 {"id":"100n"}',
    'delete public.g1 {"id":"200n"}',
    'delete public.g2 {"a":2,"b":"b"}',
    'delete public.g2 {"a":1,"b":"a"}',
    'update public.g2 {"a":1,"b":"c"}',
    "truncate public.g3",
  ]);
  expect(got.find((c) => c.op === "update" && c.key!.id === 5n)!.after).toEqual({ id: 5n, b: new Uint8Array([5]), v: "same key" });
  // id 3 once (the second delete found no row); id 5 kept its key; the relation is the start's own.
  expect(got[1].relation).toBe(relations.get("public.g1")!);
  expect(lines.join("")).toContain("holds 8 deletes or truncates and 3 updated rows");
  expect(lines.join("")).toContain("tables without a key are copied again whole");
  // The slot did not move: it still holds everything for the next reader.
  const [{ n }] = await sql`select count(*)::int as n from pg_logical_slot_peek_binary_changes('gap_slot', null, null, 'proto_version', '1', 'publication_names', 'gap_pub')`;
  expect(n).toBeGreaterThan(7);

  // Kept in the state dir until durable: the same changes come back, typed by the relations.
  const state = new SnapshotState(mkdtempSync(join(tmpdir(), "gap-state-")));
  state.setRemovals("gap_slot", encodeRemovals(got));
  const back = decodeRemovals(state.removals("gap_slot")!, relations);
  expect(back.map((c) => [c.op, c.table, c.key, c.after, c.truncate])).toEqual(got.map((c) => [c.op, c.table, c.key, c.after, c.truncate]));
  expect(typeof back[1].key!.id).toBe("bigint");
  // A table no longer captured is left out.
  expect(decodeRemovals(state.removals("gap_slot")!, new Map([["public.g2", relations.get("public.g2")!]])).length).toBe(3);
  state.setRemovals("gap_slot", null);
  expect(state.removals("gap_slot")).toBeNull();
  state.close();

  // A slot that cannot be read: only the keyless tables' clearing, with a warning, and the start goes on.
  expect((await gapRemovals(sql as unknown as Pg, "no_such_slot", "gap_pub", relations, types, log)).map((c) => `${c.op} ${c.table}`)).toEqual(["truncate public.g4"]);
  expect(lines.join("")).toContain("cannot read the deletes held by slot no_such_slot");
});
