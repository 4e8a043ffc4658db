import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteSink } from "../../src/sinks/sqlite/sink.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

/**
 * A target table whose shape the pipeline's statements do not fit (no key for ON CONFLICT, a
 * generated column, a view) made SQLite refuse to prepare them with a plain SQLITE_ERROR, which
 * the engine retried forever. Those records go to the DLQ with a reason naming table and key.
 */
test("rows a user-made table cannot take for its shape go to the DLQ; the rest and the position are written", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "cdc-lite-shape-")), "w.sqlite");
  const pre = new Database(path, { create: true });
  pre.run("create table nokey (id integer, v text)"); // no primary key: ON CONFLICT (id) matches nothing
  pre.run("create table gen (id integer primary key, v integer, w integer as (v + 1))");
  pre.run("create view vw as select 1 as id");
  pre.run("create table lacks (id integer primary key)"); // a missing column is added, not refused
  pre.close();
  const nokey = table("nokey", [col("id", OID.int4, { key: true }), col("v", OID.text)], ["id"]);
  const gen = table("gen", [col("id", OID.int4, { key: true }), col("v", OID.int4), col("w", OID.int4)], ["id"]);
  const vw = table("vw", [col("id", OID.int4, { key: true })], ["id"]);
  const lacks = table("lacks", [col("id", OID.int4, { key: true }), col("v", OID.text)], ["id"]);
  const ok = table("ok", [col("id", OID.int4, { key: true }), col("v", OID.text)], ["id"]);
  const sink = new SqliteSink({ path, batch_size: 100, batch_delay: 0 });
  const ctx = context("lite");
  await sink.open(ctx);
  await sink.write(
    batch("p", [
      rec(nokey, "upsert", { id: 1, v: "a" }, 10n, 0),
      rec(gen, "upsert", { id: 1, v: 1, w: 2 }, 10n, 1),
      rec(vw, "delete", { id: 1 }, 10n, 2),
      rec(lacks, "upsert", { id: 1, v: "added" }, 10n, 3),
      rec(ok, "upsert", { id: 1, v: "x" }, 10n, 4),
      rec(nokey, "upsert", { id: 2, v: "b" }, 10n, 5),
    ]),
  );
  expect(sink.position("p")).toBe(10n);
  await sink.close();
  expect(ctx.dead.map((d) => [d.record.table.name, d.record.row.id, d.error])).toEqual([
    ["nokey", 1, "table nokey has no PRIMARY KEY or UNIQUE constraint on (id), the key the pipeline upserts by (ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint)"],
    ["gen", 1, 'table gen: cannot INSERT into generated column "w"'],
    ["vw", 1, "table vw: cannot modify vw because it is a view"],
    ["nokey", 2, "table nokey has no PRIMARY KEY or UNIQUE constraint on (id), the key the pipeline upserts by (ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint)"],
  ]);
  const db = new Database(path, { readonly: true });
  expect(db.query("select count(*) as n from nokey").get()).toEqual({ n: 0 });
  expect(db.query("select id, v from lacks").all()).toEqual([{ id: 1, v: "added" }]);
  expect(db.query("select id, v from ok").all()).toEqual([{ id: 1, v: "x" }]);
  expect(db.query("select lsn from cdc_engine_offsets where pipeline = 'p'").get()).toEqual({ lsn: "10" });
  db.close();
});
