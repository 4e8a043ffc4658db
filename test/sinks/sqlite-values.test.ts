import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteSink } from "../../src/sinks/sqlite/sink.ts";
import { toSqliteValue } from "../../src/sinks/sqlite/values.ts";
import { canonValue } from "../../src/engine/verify/canonical.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

const FLOAT8_ARRAY = 1022;

/**
 * JSON.stringify turned NaN and ±Infinity inside a float8[] into null, while a scalar NaN is kept
 * as the text 'NaN' (and the mysql and redis sinks keep "NaN" in arrays). verify ran the source
 * value through the same conversion, so it called the lost values equal.
 */
test("NaN and ±Infinity inside a float8[] are kept as text, like a scalar NaN", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "cdc-lite-nan-")), "w.sqlite");
  const t = table("floats", [col("id", OID.int4, { key: true }), col("f", OID.float8), col("fs", FLOAT8_ARRAY, { typeName: "float8[]" })], ["id"]);
  const sink = new SqliteSink({ path, batch_size: 100, batch_delay: 0 });
  const ctx = context("lite");
  await sink.open(ctx);
  await sink.write(
    batch("p", [
      rec(t, "upsert", { id: 1, f: NaN, fs: [1.5, NaN, Infinity, -Infinity, null] }, 10n, 0),
      rec(t, "upsert", { id: 2, f: -Infinity, fs: [[NaN], [2]] }, 10n, 1),
    ]),
  );
  await sink.close();
  expect(ctx.dead).toEqual([]);
  const db = new Database(path, { readonly: true });
  expect(db.query("select id, f, fs from floats order by id").all()).toEqual([
    { id: 1, f: "NaN", fs: '[1.5,"NaN","Infinity","-Infinity",null]' },
    { id: 2, f: "-Infinity", fs: '[["NaN"],[2]]' },
  ]);
  db.close();
  // verify compares the source value through this conversion: a NaN lost as null must not compare equal.
  const c = t.columns[2];
  expect(toSqliteValue([NaN, Infinity])).toBe('["NaN","Infinity"]');
  expect(canonValue(toSqliteValue([NaN]), c)).not.toBe(canonValue("[null]", c));
  expect(canonValue(toSqliteValue([NaN]), c)).toBe(canonValue('["NaN"]', c));
});
