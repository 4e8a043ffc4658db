/**
 * A captured table with no columns (`create table t ()`, or one whose every column was dropped;
 * `public.*` picks it up) stopped the engine at its first start: `cannot start streaming from …:
 * undefined is not an object (evaluating 'n.table')`. loadRelations (catalog.ts) joins
 * pg_attribute, so a table without columns has no Relation, and the snapshot looked it up.
 *
 * With loadRelations fixed (a left join), the sinks then failed on it for good (SQLite and MySQL
 * cannot make a table without columns; the postgres sink threw), holding every other table: such a
 * table is now left out of the capture with a warning.
 */
import { expect, test } from "bun:test";
import { sourceConfig, startSource, testDb } from "../source/source-helpers.ts";

test("a table without columns is captured next to a normal one; the engine starts and streams", async () => {
  const db = await testDb("system");
  await db.sql.unsafe(`create table empty_shell (gone int); alter table empty_shell drop column gone; insert into empty_shell default values;
                       create table ok (id int primary key); insert into ok values (1)`);
  const { source, collector } = await startSource(sourceConfig(db.url), ["public.empty_shell", "public.ok"]);
  try {
    await db.sql.unsafe(`insert into ok values (2)`);
    await collector.waitFor(() => collector.changes.some((c) => c.after?.id === 2), "streamed row");
    expect(collector.changes.filter((c) => c.table === "public.ok").map((c) => [c.op, c.after!.id])).toEqual([["read", 1], ["insert", 2]]);
  } finally {
    await source.stop();
    await db.end();
  }
}, 30_000);
