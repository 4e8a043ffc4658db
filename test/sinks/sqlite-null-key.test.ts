import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteSink } from "../../src/sinks/sqlite/sink.ts";
import type { OutputTable } from "../../src/sinks/sink.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

/**
 * SQLite accepts NULL in a primary key (an INTEGER PRIMARY KEY even assigns the next rowid) and
 * ON CONFLICT never matches it, so every re-emitted window of a NULL group added one more row.
 * A group_by / window key (nullableKey) is one group for its NULLs, as in SQL's GROUP BY: its
 * target has a UNIQUE key and the NULL group's row is updated by `k IS ?`. A source's key that
 * is NULL still goes to the DLQ.
 */
const grouped = (name: string, columns: OutputTable["columns"], key: string[]): OutputTable => ({ name, columns, key, nullableKey: true });
const byCustomer = grouped("customer_totals", [col("customer_id", OID.int4), col("n", OID.int8)], ["customer_id"]);
const byWindow = grouped("order_agg", [col("customer_id", OID.int4), col("window_start", OID.timestamptz), col("n", OID.int8)], ["customer_id", "window_start"]);
const W = "2024-01-01 00:00:00+00";
const file = () => join(mkdtempSync(join(tmpdir(), "cdc-lite-null-")), "w.sqlite");

test("a NULL group is one row: upserted, updated in place, replayed without a second row, deleted when it empties", async () => {
  const path = file();
  const ctx = context("lite");
  const sink = new SqliteSink({ path, batch_size: 100, batch_delay: 0 });
  await sink.open(ctx);
  await sink.write(batch("p", [
    rec(byCustomer, "upsert", { customer_id: 1, n: 1n }, 10n, 0),
    rec(byCustomer, "upsert", { customer_id: null, n: 1n }, 10n, 1),
    rec(byWindow, "upsert", { customer_id: null, window_start: W, n: 1n }, 10n, 2),
    rec(byWindow, "upsert", { customer_id: 1, window_start: W, n: 1n }, 10n, 3),
  ]));
  await sink.write(batch("p", [rec(byCustomer, "upsert", { customer_id: null, n: 2n }, 20n, 0), rec(byWindow, "upsert", { customer_id: null, window_start: W, n: 2n }, 20n, 1)]));
  // The same values again (as a replay would write them): still one row.
  await sink.write(batch("p", [rec(byCustomer, "upsert", { customer_id: null, n: 2n }, 30n, 0), rec(byWindow, "upsert", { customer_id: null, window_start: W, n: 2n }, 30n, 1)]));
  const db = new Database(path, { readonly: true });
  // Before: customer_id NULL became rowid 2 (an INTEGER PRIMARY KEY), and each emit went to the DLQ.
  expect(db.query("select customer_id, n from customer_totals order by customer_id").all()).toEqual([{ customer_id: null, n: 2 }, { customer_id: 1, n: 1 }]);
  expect(db.query("select customer_id, window_start, n from order_agg order by customer_id").all()).toEqual([{ customer_id: null, window_start: W, n: 2 }, { customer_id: 1, window_start: W, n: 1 }]);
  db.close();

  await sink.write(batch("p", [rec(byCustomer, "delete", { customer_id: null }, 40n, 0), rec(byWindow, "delete", { customer_id: null, window_start: W }, 40n, 1)]));
  await sink.close();
  // A restart skips what it has; the NULL group is gone from both tables.
  const again = new SqliteSink({ path, batch_size: 100, batch_delay: 0 });
  await again.open(ctx);
  expect(again.position("p")).toBe(40n);
  await again.close();
  const after = new Database(path, { readonly: true });
  expect(after.query("select customer_id, n from customer_totals").all()).toEqual([{ customer_id: 1, n: 1 }]);
  expect(after.query("select customer_id, n from order_agg").all()).toEqual([{ customer_id: 1, n: 1 }]);
  after.close();
  expect(ctx.dead).toEqual([]);
});

test("a NULL in a source's key, or a NULL group into a table whose INTEGER PRIMARY KEY is the rowid, goes to the DLQ", async () => {
  const path = file();
  const made = new Database(path);
  made.run("create table customer_totals (customer_id integer primary key, n integer)");
  made.close();
  const ev = table("events", [col("id", OID.int4, { key: true }), col("v", OID.text)], ["id"]);
  const ctx = context("lite");
  const sink = new SqliteSink({ path, batch_size: 100, batch_delay: 0 });
  await sink.open(ctx);
  await sink.write(batch("p", [rec(byCustomer, "upsert", { customer_id: 1, n: 1n }, 10n, 0), rec(byCustomer, "upsert", { customer_id: null, n: 1n }, 10n, 1), rec(ev, "upsert", { id: null, v: "x" }, 10n, 2)]));
  await sink.close();
  const db = new Database(path, { readonly: true });
  expect(db.query("select customer_id, n from customer_totals").all()).toEqual([{ customer_id: 1, n: 1 }]);
  expect(db.query("select count(*) as c from events").get()).toEqual({ c: 0 });
  db.close();
  expect(ctx.dead.map((d) => d.error)).toEqual([
    "NOT NULL constraint failed: key column customer_totals.customer_id is NULL, and the table's INTEGER PRIMARY KEY customer_id is its rowid, which cannot be NULL (a table made by an earlier version: drop it, and the engine makes it with a UNIQUE key that holds the NULL group)",
    "NOT NULL constraint failed: key column events.id is NULL",
  ]);
});
