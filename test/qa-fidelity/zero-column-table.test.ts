/**
 * A captured table with no columns (`create table t ()`, or one whose every column was dropped;
 * `public.*` picks it up) stopped the engine at its first start: `cannot start streaming from …:
 * undefined is not an object (evaluating 'n.table')`. loadRelations (catalog.ts) joins
 * pg_attribute, so a table without columns has no Relation, and the snapshot looked it up.
 *
 * test.failing: not fixed yet (src/source/postgres/catalog.ts was being changed by another
 * engineer at the time; the fix is a LEFT JOIN on pg_attribute that adds the table with no
 * columns). Make it `test` once fixed.
 */
import { expect, test } from "bun:test";
import { sourceConfig, startSource, testDb } from "../source/source-helpers.ts";

test.failing("a table without columns is captured next to a normal one; the engine starts and streams", async () => {
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
