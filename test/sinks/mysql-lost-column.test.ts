import { afterAll, beforeAll, expect, test } from "bun:test";
import mysql from "mysql2/promise";
import { requireMysql } from "../helpers/index.ts";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { PartsLostError, type OutputBatch, type OutputRecord } from "../../src/sinks/sink.ts";
import { batch, col, context, OID, rec, table, uniq } from "./helpers.ts";

/**
 * A target column dropped by hand while the engine runs: the sink knew the table's columns from
 * its cache, so every later write failed with "Unknown column" (1054) and the batch was retried
 * until a restart. Now the sink reads the columns again once, adds the missing one back and
 * writes the batch; a 1054 that re-reading does not explain sends the row to the DLQ.
 */
let admin: mysql.Connection;
let baseUrl: string;
const dbs: string[] = [];
beforeAll(async () => {
  baseUrl = await requireMysql();
  admin = await mysql.createConnection({ uri: baseUrl, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true, multipleStatements: true });
});
afterAll(async () => {
  for (const db of dbs) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin.end();
});
function newDb(): string {
  const db = uniq("cdc_lostcol");
  dbs.push(db);
  return db;
}
async function rows(db: string, sql: string): Promise<Record<string, unknown>[]> {
  const [r] = await admin.query(sql.replaceAll("$db", `\`${db}\``));
  return r as Record<string, unknown>[];
}
const items = table("items", [col("id", OID.int8, { key: true }), col("a", OID.text), col("w", OID.int4)], ["id"]);
const notes = table("notes", [col("id", OID.int8, { key: true }), col("body", OID.text), col("x", OID.int4)], ["id"]);
const part = (records: OutputRecord[], lsn: bigint, index: number, last: boolean): OutputBatch => ({ ...batch("p", records, lsn), part: { index, last } });

test("a column dropped by hand mid-stream is added back and later rows carry its values (batches and large transactions)", async () => {
  const db = newDb();
  const ctx = context("m");
  const s = new MysqlSink(mysqlSinkConfig.parse({ url: baseUrl, database: db }));
  await s.open(ctx);
  await s.write(batch("p", [rec(items, "upsert", { id: 1n, a: "x", w: 1 }, 10n, 0), rec(notes, "upsert", { id: 1n, body: "n", x: 1 }, 10n, 1)]));

  await admin.query(`ALTER TABLE \`${db}\`.items DROP COLUMN w`);
  // Before: rejected with "Unknown column 'w' in 'field list'" on every try.
  await s.write(batch("p", [rec(items, "upsert", { id: 2n, a: "y", w: 2 }, 20n, 0), rec(items, "upsert", { id: 1n, a: "x2", w: 11 }, 20n, 1)]));
  expect(await rows(db, "SELECT id, a, w FROM $db.items ORDER BY id")).toEqual([{ id: "1", a: "x2", w: 11 }, { id: "2", a: "y", w: 2 }]);

  // In the first part of a large transaction: redone at once in a new transaction.
  await admin.query(`ALTER TABLE \`${db}\`.items DROP COLUMN w`);
  await s.write(part([rec(items, "upsert", { id: 3n, a: "z", w: 3 }, 30n, 0)], 30n, 0, false));
  await s.write(part([rec(items, "upsert", { id: 4n, a: "q", w: 4 }, 30n, 1)], 30n, 1, true));
  expect(await rows(db, "SELECT id, w FROM $db.items WHERE id >= 3 ORDER BY id")).toEqual([{ id: "3", w: 3 }, { id: "4", w: 4 }]);

  // In a later part, on a table the earlier parts did not write: the open transaction is rolled
  // back, the column added, and the slot sends the transaction again (PartsLostError restarts the runtime).
  await admin.query(`ALTER TABLE \`${db}\`.notes DROP COLUMN x`);
  const first = [rec(items, "upsert", { id: 5n, a: "r", w: 5 }, 40n, 0)];
  const second = [rec(notes, "upsert", { id: 2n, body: "m", x: 2 }, 40n, 1)];
  await s.write(part(first, 40n, 0, false));
  expect(await s.write(part(second, 40n, 1, true)).then(() => null, (e: Error) => e)).toBeInstanceOf(PartsLostError);
  expect(await rows(db, "SELECT id FROM $db.items WHERE id = 5")).toEqual([]);
  await s.write(part(first, 40n, 0, false));
  await s.write(part(second, 40n, 1, true));
  await s.close();
  expect(await rows(db, "SELECT id, body, x FROM $db.notes ORDER BY id")).toEqual([{ id: "1", body: "n", x: null }, { id: "2", body: "m", x: 2 }]);
  expect(await rows(db, "SELECT id, w FROM $db.items WHERE id = 5")).toEqual([{ id: "5", w: 5 }]);
  expect((await rows(db, "SELECT lsn FROM $db.cdc_engine_offsets"))[0].lsn).toBe("40");
  expect(ctx.dead).toEqual([]);
}, 30_000);

test("an Unknown column that re-reading the table does not explain (a trigger's) sends that row to the DLQ, the rest is written", async () => {
  const db = newDb();
  const ctx = context("m");
  const s = new MysqlSink(mysqlSinkConfig.parse({ url: baseUrl, database: db }));
  await s.open(ctx);
  await s.write(batch("p", [rec(items, "upsert", { id: 1n, a: "x", w: 1 }, 10n)]));
  await admin.query(`CREATE TABLE \`${db}\`.audit (id BIGINT, note TEXT)`);
  await admin.query(`CREATE TRIGGER \`${db}\`.items_audit BEFORE INSERT ON \`${db}\`.items FOR EACH ROW IF NEW.id = 99 THEN INSERT INTO \`${db}\`.audit (id, note) VALUES (NEW.id, 'x'); END IF`);
  await admin.query(`ALTER TABLE \`${db}\`.audit DROP COLUMN note`);
  await s.write(batch("p", [rec(items, "upsert", { id: 2n, a: "y", w: 2 }, 20n, 0), rec(items, "upsert", { id: 99n, a: "bad", w: 9 }, 20n, 1), rec(items, "upsert", { id: 3n, a: "z", w: 3 }, 20n, 2)]));
  await s.close();
  expect(await rows(db, "SELECT id, a, w FROM $db.items ORDER BY id")).toEqual([{ id: "1", a: "x", w: 1 }, { id: "2", a: "y", w: 2 }, { id: "3", a: "z", w: 3 }]);
  expect(ctx.dead.map((d) => [d.record.row.id, d.error])).toEqual([[99n, expect.stringContaining("Unknown column 'note'")]]);
  expect((await rows(db, "SELECT lsn FROM $db.cdc_engine_offsets"))[0].lsn).toBe("20");
}, 30_000);
