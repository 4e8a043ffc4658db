/**
 * The sqlite sink names a table `schema.table` (the public schema's without it), and SQLite folds
 * ASCII case in names. So `a.b` (schema a) and `public."a.b"` both wrote to SQLite table "a.b"
 * (the second one's row 1 silently replaced the first one's), as did `public."Orders"` and
 * `public.orders`, and a source table `public.cdc_engine_offsets` wrote into the sink's own
 * positions. As in the mysql and bigquery sinks, the first output table written owns the name and
 * the other's records go to the DLQ naming both.
 */
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteSink } from "../../src/sinks/sqlite/sink.ts";
import { batch, col, context, OID, rec, table } from "../sinks/helpers.ts";

test("tables that come out as one SQLite table do not mix their rows; the engine's positions stay its own", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "cdc-lite-names-")), "w.sqlite");
  const cols = () => [col("id", OID.int4, { key: true }), col("v", OID.text)];
  const a = table("a.b", cols(), ["id"]);
  const b = table("public.a.b", cols(), ["id"]);
  const upper = table("public.Orders", cols(), ["id"]);
  const lower = table("public.orders", cols(), ["id"]);
  const offsets = table("public.cdc_engine_offsets", [col("pipeline", OID.text, { key: true }), col("sink", OID.text, { key: true }), col("lsn", OID.numeric)], ["pipeline", "sink"]);
  const sink = new SqliteSink({ path, batch_size: 100, batch_delay: 0 });
  const ctx = context("lite");
  await sink.open(ctx);
  await sink.write(
    batch("p", [
      rec(a, "upsert", { id: 1, v: "schema a" }, 10n, 0),
      rec(b, "upsert", { id: 1, v: "public" }, 10n, 1),
      rec(upper, "upsert", { id: 1, v: "Upper" }, 10n, 2),
      rec(lower, "upsert", { id: 1, v: "lower" }, 10n, 3),
      rec(offsets, "upsert", { pipeline: "p", sink: "lite", lsn: "99999999" }, 10n, 4),
    ]),
  );
  expect(sink.position("p")).toBe(10n);
  await sink.close();
  const db = new Database(path, { readonly: true });
  expect(db.query('select id, v from "a.b"').all()).toEqual([{ id: 1, v: "schema a" }]);
  expect(db.query('select id, v from "Orders"').all()).toEqual([{ id: 1, v: "Upper" }]);
  expect(db.query("select pipeline, lsn from cdc_engine_offsets").all()).toEqual([{ pipeline: "p", lsn: "10" }]);
  db.close();
  expect(ctx.dead.map((d) => [d.record.table.name, d.error])).toEqual([
    ["public.a.b", 'public.a.b and a.b both map to SQLite table a.b (SQLite ignores ASCII case), which holds the rows of a.b: send public.a.b through a pipeline of its own with another to.table'],
    ["public.orders", "public.orders and public.Orders both map to SQLite table orders (SQLite ignores ASCII case), which holds the rows of public.Orders: send public.orders through a pipeline of its own with another to.table"],
    ["public.cdc_engine_offsets", "public.cdc_engine_offsets and the engine's positions both map to SQLite table cdc_engine_offsets (SQLite ignores ASCII case), which holds the rows of the engine's positions: send public.cdc_engine_offsets through a pipeline of its own with another to.table"],
  ]);
});
