import { describe, expect, test } from "bun:test";
import { pgFlavors } from "../helpers/index.ts";
import { sourceConfig, startSource, testDb } from "./source-helpers.ts";
import { COLUMNS, TYPES_SQL } from "./type-cases.ts";
import { boundsPrefix } from "../../src/array-bounds.ts";

describe.each(pgFlavors())("every type round-trips exactly (%s)", (flavor) => {
  test("snapshot and stream give the same exact values", async () => {
    const db = await testDb(flavor);
    await db.sql.unsafe(`
      ${TYPES_SQL}
      create table t (id int primary key, ${COLUMNS.map(([n, t]) => `${n} ${t}`).join(", ")});
      insert into t values (1, ${COLUMNS.map((c) => c[2]).join(", ")});`);
    const cfg = sourceConfig(db.url);
    const { source, collector } = await startSource(cfg, ["public.t"]);
    try {
      await db.sql.unsafe(`insert into t values (2, ${COLUMNS.map((c) => c[2]).join(", ")})`);
      await collector.waitFor(() => collector.changes.length >= 2, "snapshot row and streamed row");
      const [snap, streamed] = collector.changes;
      expect(snap.op).toBe("read");
      expect(streamed.op).toBe("insert");
      expect(snap.after!.id).toBe(1);
      expect(streamed.after!.id).toBe(2);
      for (const [name, , , want] of COLUMNS) {
        for (const row of [snap.after!, streamed.after!]) {
          expect({ name, value: row[name] }).toEqual({ name, value: want });
        }
      }
      // The lower bound 0 is kept for the sinks that print arrays back (array-bounds.ts).
      expect([snap, streamed].map((c) => boundsPrefix(c.after!.c_lbarr as unknown[]))).toEqual(["[0:1]=", "[0:1]="]);
      expect(boundsPrefix(snap.after!.c_textarr as unknown[])).toBe("");
      expect(streamed.key).toEqual({ id: 2 });
      expect(streamed.relation.columns.find((c) => c.name === "c_num2")!.typeName).toBe("numeric(10,2)");
    } finally {
      await source.stop();
      await db.end();
    }
  }, 60_000);
});
