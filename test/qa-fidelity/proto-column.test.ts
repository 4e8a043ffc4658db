/**
 * A column named `__proto__` (legal in Postgres: `"__proto__" text`). The decoder built each row
 * as a plain object, where `row["__proto__"] = "PROTO"` is not a property but a (refused)
 * prototype change: the value was lost, and reading it gave Object.prototype. A webhook got the
 * row without the column; the postgres and mysql sinks stored `{}`.
 */
import { expect, test } from "bun:test";
import { DataDecoder } from "../../src/source/postgres/pgoutput.ts";
import { TypeDecoders } from "../../src/source/postgres/type-decoders.ts";
import { MirrorMapper } from "../../src/engine/mirror.ts";
import { toJsonText } from "../../src/sinks/json.ts";
import { toParam } from "../../src/sinks/mysql/types.ts";
import { toPgText } from "../../src/sinks/postgres/values.ts";
import type { Change } from "../../src/types.ts";
import { sourceConfig, startSource, testDb } from "../source/source-helpers.ts";
import { insertMessage, relationMessage } from "../helpers/pgoutput-messages.ts";

const COLS: [string, number][] = [["id", 23], ["__proto__", 25], ["constructor", 23]];

test("a __proto__ column keeps its value from the decoder to the sinks' values", () => {
  const dec = new DataDecoder(new TypeDecoders());
  dec.decode(relationMessage(COLS), false);
  const change = (dec.decode(insertMessage(["1", "PROTO", "7"]), false) as { change: Change }).change;
  expect(Object.keys(change.after!)).toEqual(["id", "__proto__", "constructor"]);
  expect(change.after!["__proto__"]).toBe("PROTO");
  const [r] = new MirrorMapper().map({ lsn: 1n, endLsn: 2n, xid: 1, commitTime: 0n, changes: [change] }, null);
  expect(toJsonText(r.row)).toBe('{"id":1,"__proto__":"PROTO","constructor":7}');
  expect(toJsonText({ ...r.row, __deleted: true })).toBe('{"id":1,"__proto__":"PROTO","constructor":7,"__deleted":true}');
  const col = r.table.columns.find((c) => c.name === "__proto__");
  expect(toParam(r.row["__proto__"], col)).toBe("PROTO");
  expect(toPgText(r.row["__proto__"])).toBe("PROTO");
});

test("a __proto__ column keeps its value in snapshot rows and streamed rows from a real source", async () => {
  const db = await testDb("system");
  await db.sql.unsafe(`create table pt (id int primary key, "__proto__" text, "constructor" int); insert into pt values (1, 'SNAP', 5)`);
  const { source, collector } = await startSource(sourceConfig(db.url), ["public.pt"]);
  try {
    await db.sql.unsafe(`insert into pt values (2, 'LIVE', 6)`);
    await collector.waitFor(() => collector.changes.some((c) => c.after?.id === 2), "streamed row");
    const rows = collector.changes.map((c) => [c.op, c.after!.id, c.after!["__proto__"], c.after!["constructor"]]);
    expect(rows).toEqual([
      ["read", 1, "SNAP", 5],
      ["insert", 2, "LIVE", 6],
    ]);
  } finally {
    await source.stop();
    await db.end();
  }
});
