import { afterAll, beforeAll, expect, test } from "bun:test";
import mysql from "mysql2/promise";
import pino from "pino";
import { requireMysql } from "../helpers/index.ts";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { createTableSql } from "../../src/sinks/mysql/ddl.ts";
import { TargetTables } from "../../src/sinks/mysql/tables.ts";
import { RowPreparer } from "../../src/sinks/mysql/prepare.ts";
import type { OutputBatch, OutputRecord, OutputTable } from "../../src/sinks/sink.ts";
import { batch, col, context, OID, rec, uniq, varcharMod } from "./helpers.ts";

/**
 * A group_by / window key can be NULL (SQL's GROUP BY makes the NULLs one group). MariaDB's
 * primary key refused it (1048), so every emit of that group went to the DLQ. Now such a target
 * is keyed by a UNIQUE key over nullable columns, and a row whose key holds a NULL is written by
 * the key compared with <=>: one row per NULL group, updated in place, deleted when it empties.
 */
let admin: mysql.Connection;
let baseUrl: string;
const dbs: string[] = [];
beforeAll(async () => {
  baseUrl = await requireMysql();
  admin = await mysql.createConnection({ uri: baseUrl, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
});
afterAll(async () => {
  for (const db of dbs) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin.end();
});
function newDb(): string {
  const db = uniq("cdc_nullkey");
  dbs.push(db);
  return db;
}
async function rows(db: string, sql: string): Promise<Record<string, unknown>[]> {
  const [r] = await admin.query(sql.replaceAll("$db", `\`${db}\``));
  return r as Record<string, unknown>[];
}
const grouped = (name: string, columns: OutputTable["columns"], key: string[]): OutputTable => ({ name, columns, key, nullableKey: true });

const byStatus = grouped("status_counts", [col("status", OID.text), col("n", OID.int8), col("label", OID.varchar, { typeMod: varcharMod(3) })], ["status"]);
const byWindow = grouped("order_agg", [col("customer_id", OID.int4), col("window_start", OID.timestamptz), col("total", OID.numeric)], ["customer_id", "window_start"]);
const W = "2024-01-01 00:00:00+00";

test("a NULL group is one row: upserted, updated in place, replayed without a second row, deleted when it empties", async () => {
  const db = newDb();
  const ctx = context("m");
  const warned: string[] = [];
  ctx.log = pino({ level: "warn" }, { write: (l: string) => void warned.push(JSON.parse(l).msg) });
  const s = new MysqlSink(mysqlSinkConfig.parse({ url: baseUrl, database: db }));
  await s.open(ctx);
  await s.write(batch("p", [
    rec(byStatus, "upsert", { status: "a", n: 1n, label: "x" }, 10n, 0),
    rec(byStatus, "upsert", { status: null, n: 1n, label: "x" }, 10n, 1),
    rec(byWindow, "upsert", { customer_id: null, window_start: W, total: "1.50" }, 10n, 2),
    rec(byWindow, "upsert", { customer_id: 7, window_start: W, total: "2.00" }, 10n, 3),
  ]));
  // The group changes; a bad row in the same batch makes the sink redo it row by row under savepoints.
  await s.write(batch("p", [
    rec(byStatus, "upsert", { status: null, n: 2n, label: "y" }, 20n, 0),
    rec(byStatus, "upsert", { status: "b", n: 1n, label: "too long" }, 20n, 1),
    rec(byWindow, "upsert", { customer_id: null, window_start: W, total: "3.50" }, 20n, 2),
  ]));
  // The same values again (a replay after a crash before the position was stored): still one row.
  await s.write(batch("p", [rec(byStatus, "upsert", { status: null, n: 2n, label: "y" }, 30n, 0), rec(byWindow, "upsert", { customer_id: null, window_start: W, total: "3.50" }, 30n, 1)]));
  expect(await rows(db, "SELECT status, n, label FROM $db.status_counts ORDER BY status")).toEqual([{ status: null, n: "2", label: "y" }, { status: "a", n: "1", label: "x" }]);
  expect(await rows(db, "SELECT customer_id, total FROM $db.order_agg ORDER BY customer_id")).toEqual([{ customer_id: null, total: "3.500000000000000000000000000000" }, { customer_id: 7, total: "2.000000000000000000000000000000" }]);
  expect(ctx.dead.map((d) => [d.record.row.status, d.error])).toEqual([["b", expect.stringContaining("Data too long for column 'label'")]]);

  // A large transaction's parts take the same path inside their open transaction.
  const part = (records: OutputRecord[], index: number, last: boolean): OutputBatch => ({ ...batch("p", records, 40n), part: { index, last } });
  await s.write(part([rec(byStatus, "upsert", { status: null, n: 3n, label: "z" }, 40n, 0)], 0, false));
  await s.write(part([rec(byStatus, "upsert", { status: null, n: 4n, label: "z" }, 40n, 1), rec(byWindow, "delete", { customer_id: null, window_start: W }, 40n, 2)], 1, true));
  expect(await rows(db, "SELECT status, n FROM $db.status_counts ORDER BY status")).toEqual([{ status: null, n: "4" }, { status: "a", n: "1" }]);
  expect(await rows(db, "SELECT customer_id FROM $db.order_agg")).toEqual([{ customer_id: 7 }]);

  await s.write(batch("p", [rec(byStatus, "delete", { status: null }, 50n, 0), rec(byStatus, "upsert", { status: "a", n: 5n, label: "x" }, 50n, 1)]));
  await s.close();
  expect(await rows(db, "SELECT status, n FROM $db.status_counts ORDER BY status")).toEqual([{ status: "a", n: "5" }]);
  expect((await rows(db, "SELECT lsn FROM $db.cdc_engine_offsets"))[0].lsn).toBe("50");
  // Keyed by a UNIQUE key over nullable columns (a primary key cannot hold NULL), which is not warned about as a user's extra unique key.
  const idx = await rows(db, "SELECT INDEX_NAME AS i, NON_UNIQUE AS nu, COLUMN_NAME AS c FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '$name' AND TABLE_NAME = 'order_agg' ORDER BY SEQ_IN_INDEX".replace("$name", db));
  expect(idx).toEqual([{ i: "cdc_engine_key", nu: "0", c: "customer_id" }, { i: "cdc_engine_key", nu: "0", c: "window_start" }]);
  expect(warned.filter((m) => m.includes("unique key(s) besides"))).toEqual([]);
});

test("a target with a primary key (made by hand or by an earlier version) refuses the NULL group: DLQ with the server's reason", async () => {
  const db = newDb();
  await admin.query(`CREATE DATABASE \`${db}\``);
  await admin.query(`CREATE TABLE \`${db}\`.status_counts (status VARCHAR(255) NOT NULL PRIMARY KEY, n BIGINT NULL, label VARCHAR(3) NULL)`);
  const ctx = context("m");
  const s = new MysqlSink(mysqlSinkConfig.parse({ url: baseUrl, database: db }));
  await s.open(ctx);
  await s.write(batch("p", [rec(byStatus, "upsert", { status: null, n: 1n, label: "x" }, 10n, 0), rec(byStatus, "upsert", { status: "a", n: 1n, label: "x" }, 10n, 1)]));
  await s.close();
  expect(await rows(db, "SELECT status, n FROM $db.status_counts")).toEqual([{ status: "a", n: "1" }]);
  expect(ctx.dead.map((d) => d.error)).toEqual([expect.stringContaining("Column 'status' cannot be null")]);
});

test("StarRocks: Primary Key tables cannot hold a NULL key, so the NULL group goes to the DLQ with that reason", () => {
  expect(createTableSql(byStatus, undefined, { dialect: "starrocks" })).toContain("`status` VARCHAR(255) NOT NULL");
  expect(createTableSql(byStatus, undefined, { dialect: "starrocks" })).toContain("PRIMARY KEY (`status`)");
  expect(createTableSql(byStatus, undefined, { dialect: "mysql" })).toStartWith("CREATE TABLE IF NOT EXISTS `status_counts` (`status` VARCHAR(255) NULL, `n` BIGINT NULL, `label` VARCHAR(3) NULL, UNIQUE KEY `cdc_engine_key` (`status`))");
  const rows = new RowPreparer(new TargetTables("x", "starrocks", pino({ level: "silent" }), () => ({ dialect: "starrocks" })), "starrocks", () => 16 << 20);
  const dead: [OutputRecord, string][] = [];
  const prepared = rows.all([rec(byStatus, "upsert", { status: null, n: 1n }, 10n), rec(byStatus, "delete", { status: null }, 10n), rec(byStatus, "upsert", { status: "ok", n: 2n }, 10n)], dead);
  expect(prepared.map((p) => p.rec.row.status)).toEqual(["ok"]);
  expect(dead.map(([r, why]) => [r.op, why])).toEqual([
    ["upsert", "status_counts: key column status is NULL, and a StarRocks Primary Key table cannot hold a NULL key (use COALESCE in select:)"],
    ["delete", "status_counts: key column status is NULL, and a StarRocks Primary Key table cannot hold a NULL key (use COALESCE in select:)"],
  ]);
});

test("a server that requires a primary key (sql_require_primary_key, innodb_force_primary_key) gets one instead of the UNIQUE key, with a warning", async () => {
  // A global setting of the shared MariaDB: played by a stand-in pool that refuses a table without a primary key as MariaDB does.
  const sent: string[] = [];
  const pool = {
    query: async (sql: string) => {
      if (sql.startsWith("CREATE TABLE") && !sql.includes("PRIMARY KEY")) throw Object.assign(new Error("This table type requires a primary key"), { errno: 1173 });
      sent.push(sql);
      if (sql.includes("information_schema.COLUMNS")) return [[{ c: "status", t: "varchar(255)", n: "NO" }, { c: "n", t: "bigint(20)", n: "YES" }, { c: "label", t: "varchar(3)", n: "YES" }]];
      return [[]];
    },
  };
  const warned: string[] = [];
  const log = pino({ level: "warn" }, { write: (l: string) => void warned.push(JSON.parse(l).msg) });
  const tables = new TargetTables("db", "mysql", log, () => ({ dialect: "mysql" }));
  await tables.ensure(pool as never, [rec(byStatus, "upsert", { status: null, n: 1n, label: "x" }, 10n)]);
  expect(sent[0]).toStartWith("CREATE TABLE IF NOT EXISTS `status_counts` (`status` VARCHAR(255) NOT NULL, `n` BIGINT NULL, `label` VARCHAR(3) NULL, PRIMARY KEY (`status`))");
  expect(sent.filter((q) => q.startsWith("ALTER"))).toEqual([]);
  expect(warned).toEqual(["the server requires a primary key: the table gets one, and a NULL group key goes to the dead-letter queue"]);
});
