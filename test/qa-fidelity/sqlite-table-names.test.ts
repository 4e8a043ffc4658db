/**
 * The sqlite sink names a table `schema.table` (the public schema's without it), so a table
 * `a.b` (schema a) and `public."a.b"` both wrote to the SQLite table "a.b": the second one's row 1
 * silently replaced the first one's. As the mysql and bigquery sinks do, the first output table
 * written owns the name and the other's records go to the DLQ naming both.
 *
 * test.failing: not fixed yet (src/sinks/sqlite/sink.ts was being changed by another engineer at
 * the time; the fix is a TableOwners claim on sqliteTableName before each record). Make it
 * `test` once fixed.
 */
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteSink } from "../../src/sinks/sqlite/sink.ts";
import { batch, col, context, OID, rec, table } from "../sinks/helpers.ts";

test.failing("a.b and public.\"a.b\" do not mix their rows in SQLite table \"a.b\"", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "cdc-lite-names-")), "w.sqlite");
  const cols = () => [col("id", OID.int4, { key: true }), col("v", OID.text)];
  const a = table("a.b", cols(), ["id"]);
  const b = table("public.a.b", cols(), ["id"]);
  const sink = new SqliteSink({ path, batch_size: 100, batch_delay: 0 });
  const ctx = context("lite");
  await sink.open(ctx);
  await sink.write(batch("p", [rec(a, "upsert", { id: 1, v: "schema a" }, 10n, 0), rec(b, "upsert", { id: 1, v: "public" }, 10n, 1)]));
  await sink.close();
  const db = new Database(path, { readonly: true });
  expect(db.query('select id, v from "a.b"').all()).toEqual([{ id: 1, v: "schema a" }]);
  db.close();
  expect(ctx.dead.map((d) => [d.record.table.name, d.error])).toEqual([["public.a.b", expect.stringContaining("a.b")]]);
});
