import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteSink } from "../../src/sinks/sqlite/sink.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

/**
 * SQLite accepts NULL in a primary key (an INTEGER PRIMARY KEY even assigns the next rowid) and
 * ON CONFLICT never matches it, so every re-emitted window of a NULL group (order_agg of an order
 * with a NULL customer_id, as the demo writes) added one more row. Such a record goes to the DLQ.
 */
test("a NULL key value goes to the DLQ instead of adding a row per upsert", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "cdc-lite-null-")), "w.sqlite");
  const agg = table("order_agg", [col("customer_id", OID.int4, { key: true }), col("window_start", OID.timestamptz, { key: true }), col("n", OID.int8)], ["customer_id", "window_start"]);
  const ev = table("events", [col("id", OID.int4, { key: true }), col("v", OID.text)], ["id"]);
  const sink = new SqliteSink({ path, batch_size: 100, batch_delay: 0 });
  const ctx = context("lite");
  await sink.open(ctx);
  const w = "2024-01-01 00:00:00+00";
  await sink.write(batch("p", [rec(agg, "upsert", { customer_id: 1, window_start: w, n: 1n }, 10n, 0), rec(agg, "upsert", { customer_id: null, window_start: w, n: 1n }, 10n, 1), rec(ev, "upsert", { id: null, v: "x" }, 10n, 2)]));
  await sink.write(batch("p", [rec(agg, "upsert", { customer_id: null, window_start: w, n: 2n }, 20n, 0), rec(agg, "upsert", { customer_id: 1, window_start: w, n: 3n }, 20n, 1)]));
  await sink.close();
  const db = new Database(path, { readonly: true });
  expect(db.query("select customer_id, n from order_agg order by customer_id").all()).toEqual([{ customer_id: 1, n: 3 }]);
  expect(db.query("select count(*) as c from events").get()).toEqual({ c: 0 });
  db.close();
  expect(ctx.dead.map((d) => d.error)).toEqual([
    "NOT NULL constraint failed: key column order_agg.customer_id is NULL",
    "NOT NULL constraint failed: key column events.id is NULL",
    "NOT NULL constraint failed: key column order_agg.customer_id is NULL",
  ]);
});
