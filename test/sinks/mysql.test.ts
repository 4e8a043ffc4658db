import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mysql from "mysql2/promise";
import pino from "pino";
import { requireMysql } from "../helpers/index.ts";
import { mysqlSink, MysqlSink } from "../../src/sinks/mysql/index.ts";
import { PartsLostError, type OutputBatch, type OutputRecord } from "../../src/sinks/sink.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { createTableSql, deleteSql, upsertSql } from "../../src/sinks/mysql/ddl.ts";
import { columnType, decimalMisfit, decimalOf, toUtcDatetime } from "../../src/sinks/mysql/types.ts";
import { DlqStore } from "../../src/dlq/store.ts";
import { replayDeadLetters } from "../../src/dlq/replay.ts";
import { parseConfig } from "../../src/config/load.ts";
import { batch, col, context, numericMod, OID, rec, table, TcpProxy, uniq, varcharMod } from "./helpers.ts";

let admin: mysql.Connection;
let baseUrl: string;
const dbs: string[] = [];

beforeAll(async () => {
  baseUrl = await requireMysql();
  admin = await mysql.createConnection({ uri: baseUrl, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true, jsonStrings: true });
});
afterAll(async () => {
  for (const db of dbs) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin.end();
});

function newDb(): string {
  const db = uniq("cdc_test");
  dbs.push(db);
  return db;
}
function sinkFor(database: string, extra: Record<string, unknown> = {}, url = baseUrl): MysqlSink {
  return new MysqlSink(mysqlSinkConfig.parse({ url, database, ...extra }));
}
async function rows(db: string, sql: string): Promise<Record<string, unknown>[]> {
  const [r] = await admin.query(sql.replaceAll("$db", `\`${db}\``));
  return r as Record<string, unknown>[];
}

const allTypes = table(
  "public.all_types",
  [
    col("id", OID.int8, { key: true }),
    col("i2", 21),
    col("i4", OID.int4),
    col("big", OID.int8),
    col("num", OID.numeric, { typeMod: numericMod(20, 6) }),
    col("num_free", OID.numeric),
    col("f8", OID.float8),
    col("flag", OID.bool),
    col("txt", OID.text),
    col("vc", OID.varchar, { typeMod: varcharMod(5) }),
    col("u", OID.uuid),
    col("j", OID.jsonb),
    col("ts", OID.timestamp),
    col("tstz", OID.timestamptz),
    col("d", OID.date),
    col("tm", OID.time),
    col("bin", OID.bytea),
    col("arr", OID.int4arr),
    col("iv", OID.interval),
  ],
  ["id"],
);
const fullRow = {
  id: 9007199254740993n,
  i2: -32768,
  i4: 2147483647,
  big: -9223372036854775808n,
  num: "12345678901234.123456",
  num_free: "123456789012345678901234567890.123456789012345678901234567891",
  f8: 1.5,
  flag: true,
  txt: "héllo 🎉 'quoted' \\ back",
  vc: "abcde",
  u: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
  j: '{"a": 1, "b": [12345678901234567890]}',
  ts: "2024-02-29 23:59:59.123456",
  tstz: "2024-03-01 01:30:00.000001+02",
  d: "2024-02-29",
  tm: "13:14:15.654321",
  bin: new Uint8Array([0, 1, 255]),
  arr: [1, 2, 3],
  iv: "1 day 02:03:04",
};

describe("mysql sink (MariaDB)", () => {
  test("every mapped type arrives exactly", async () => {
    const db = newDb();
    const s = sinkFor(db);
    const ctx = context("mart");
    await s.open(ctx);
    await s.write(batch("p", [rec(allTypes, "upsert", fullRow, 100n)]));
    await s.close();
    const [r] = await rows(db, "SELECT *, HEX(bin) AS binhex FROM $db.all_types");
    expect(r.id).toBe("9007199254740993");
    expect(r.i2).toBe(-32768);
    expect(r.i4).toBe(2147483647);
    expect(r.big).toBe("-9223372036854775808");
    expect(r.num).toBe("12345678901234.123456");
    expect(r.num_free).toBe("123456789012345678901234567890.123456789012345678901234567891");
    expect(r.f8).toBe(1.5);
    expect(r.flag).toBe(1);
    expect(r.txt).toBe(fullRow.txt);
    expect(r.vc).toBe("abcde");
    expect(r.u).toBe(fullRow.u);
    expect(r.j).toBe(fullRow.j);
    expect(r.ts).toBe("2024-02-29 23:59:59.123456");
    expect(r.tstz).toBe("2024-02-29 23:30:00.000001");
    expect(r.d).toBe("2024-02-29");
    expect(r.tm).toBe("13:14:15.654321");
    expect(r.binhex).toBe("0001FF");
    expect(r.arr).toBe("[1,2,3]");
    expect(r.iv).toBe("1 day 02:03:04");
    const [cols] = await admin.query("SELECT COLUMN_NAME c, COLUMN_TYPE t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'all_types' ORDER BY ORDINAL_POSITION", [db]);
    const types = Object.fromEntries((cols as { c: string; t: string }[]).map((x) => [x.c, x.t]));
    expect(types).toMatchObject({ id: "bigint(20)", num: "decimal(20,6)", num_free: "decimal(65,30)", vc: "varchar(5)", ts: "datetime(6)", tstz: "datetime(6)", flag: "tinyint(1)", u: "char(36)" });
    const [off] = await rows(db, "SELECT lsn FROM $db.cdc_engine_offsets WHERE pipeline = 'p' AND sink = 'mart'");
    expect(off.lsn).toBe("100");
  });

  test("timestamptz text converts to UTC keeping microseconds", () => {
    expect(toUtcDatetime("2024-01-01 00:00:00.5-05:30")).toBe("2024-01-01 05:30:00.500000");
    expect(toUtcDatetime("1999-12-31 23:59:59.999999+00")).toBe("1999-12-31 23:59:59.999999");
    expect(() => toUtcDatetime("0044-03-15 12:00:00+00 BC")).toThrow(/outside/);
  });

  test("upserts, deletes, new columns; replay after reopen changes nothing", async () => {
    const db = newDb();
    const t1 = table("orders_out", [col("id", OID.int8, { key: true }), col("amount", OID.numeric, { typeMod: numericMod(10, 2) })], ["id"]);
    const t2 = table("orders_out", [...t1.columns, col("status", OID.text)], ["id"]);
    const batches = [
      batch("p", [rec(t1, "upsert", { id: 1n, amount: "10.10" }, 10n, 0), rec(t1, "upsert", { id: 2n, amount: "20.20" }, 10n, 1), rec(t1, "upsert", { id: 3n, amount: "30.30" }, 10n, 2)]),
      batch("p", [rec(t1, "upsert", { id: 1n, amount: "11.11" }, 20n), rec(t1, "delete", { id: 2n }, 30n)]),
      batch("p", [rec(t2, "upsert", { id: 4n, amount: "99999999.99", status: "NEW" }, 40n), rec(t2, "upsert", { id: 3n, amount: "30.30", status: "OLD" }, 40n, 1)]),
    ];
    const s1 = sinkFor(db);
    await s1.open(context("m"));
    for (const b of batches) await s1.write(b);
    await s1.close();
    const before = await rows(db, "SELECT * FROM $db.orders_out ORDER BY id");
    expect(before).toEqual([
      { id: "1", amount: "11.11", status: null },
      { id: "3", amount: "30.30", status: "OLD" },
      { id: "4", amount: "99999999.99", status: "NEW" },
    ]);
    // "Restart": a new sink reads its position and skips everything at or below it.
    const s2 = sinkFor(db);
    await s2.open(context("m"));
    expect(s2.position("p")).toBe(40n);
    for (const b of batches) await s2.write(b);
    // A batch straddling the position: only the newer record is applied.
    await s2.write(batch("p", [rec(t2, "upsert", { id: 1n, amount: "0.00", status: "STALE" }, 40n), rec(t2, "upsert", { id: 5n, amount: "5.00", status: "X" }, 50n)], 50n));
    await s2.close();
    expect(await rows(db, "SELECT * FROM $db.orders_out ORDER BY id")).toEqual([...before, { id: "5", amount: "5.00", status: "X" }]);
    const [off] = await rows(db, "SELECT lsn FROM $db.cdc_engine_offsets");
    expect(off.lsn).toBe("50");
  });

  test("unchanged TOAST columns are left alone; a truncate empties the table in the batch's transaction", async () => {
    const db = newDb();
    const t = table("docs", [col("id", OID.int4, { key: true }), col("body", OID.text), col("v", OID.int4)], ["id"]);
    const s = sinkFor(db);
    await s.open(context("m"));
    await s.write(batch("p", [rec(t, "upsert", { id: 1, body: "x".repeat(100_000), v: 1 }, 10n)]));
    await s.write(batch("p", [rec(t, "upsert", { id: 1, v: 2 }, 20n, 0, { unchangedToast: ["body"] })]));
    expect(await rows(db, "SELECT id, LENGTH(body) AS len, v FROM $db.docs")).toEqual([{ id: 1, len: 100_000, v: 2 }]);
    await s.write(batch("p", [rec(t, "truncate", {}, 30n), rec(t, "upsert", { id: 7, body: "after", v: 7 }, 30n, 1)]));
    await s.close();
    expect(await rows(db, "SELECT id, body, v FROM $db.docs")).toEqual([{ id: 7, body: "after", v: 7 }]);
  });

  test("a column added in the middle of a large transaction: the open parts are rolled back, the table altered, and the replay goes through (no hang on the metadata lock)", async () => {
    const db = newDb();
    const t1 = table("big_tx", [col("id", OID.int8, { key: true }), col("v", OID.text)], ["id"]);
    const t2 = table("big_tx", [...t1.columns, col("c", OID.int4)], ["id"]);
    const part = (records: OutputRecord[], index: number, last: boolean): OutputBatch => ({ ...batch("p", records, 100n), part: { index, last } });
    const first = [rec(t1, "upsert", { id: 1n, v: "a" }, 100n, 0), rec(t1, "upsert", { id: 2n, v: "b" }, 100n, 1)];
    const second = [rec(t2, "upsert", { id: 3n, v: "c", c: 7 }, 100n, 2)];
    const s = sinkFor(db);
    await s.open(context("m"));
    await s.write(batch("p", [rec(t1, "upsert", { id: 0n, v: "before" }, 50n)], 50n));
    await s.write(part(first, 0, false));
    // Before: ALTER TABLE on another connection waited for this transaction's lock (a day by default).
    const err = await s.write(part(second, 1, true)).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(PartsLostError);
    expect(await rows(db, "SELECT id, v FROM $db.big_tx ORDER BY id")).toEqual([{ id: "0", v: "before" }]);
    const [cols] = await admin.query(`SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '${db}' AND TABLE_NAME = 'big_tx' ORDER BY ORDINAL_POSITION`);
    expect((cols as { c: string }[]).map((r) => r.c)).toEqual(["id", "v", "c"]);
    // The runtime restarts from its checkpoint and the slot sends the transaction again, whole.
    await s.write(part(first, 0, false));
    await s.write(part(second, 1, true));
    await s.close();
    expect(await rows(db, "SELECT id, v, c FROM $db.big_tx ORDER BY id")).toEqual([{ id: "0", v: "before", c: null }, { id: "1", v: "a", c: null }, { id: "2", v: "b", c: null }, { id: "3", v: "c", c: 7 }]);
    expect((await rows(db, "SELECT lsn FROM $db.cdc_engine_offsets"))[0].lsn).toBe("100");
  }, 30_000);

  test("a target table with another unique key is named in a warning (ON DUPLICATE KEY UPDATE would update the row matching it)", async () => {
    const db = newDb();
    await admin.query(`CREATE DATABASE \`${db}\``);
    await admin.query(`CREATE TABLE \`${db}\`.users (id BIGINT NOT NULL PRIMARY KEY, email VARCHAR(100), UNIQUE KEY users_email (email))`);
    const t = table("users", [col("id", OID.int8, { key: true }), col("email", OID.text)], ["id"]);
    const ctx = context("m");
    const warned: { table?: string; msg: string }[] = [];
    ctx.log = pino({ level: "warn" }, { write: (l: string) => void warned.push(JSON.parse(l)) });
    const s = sinkFor(db);
    await s.open(ctx);
    await s.write(batch("p", [rec(t, "upsert", { id: 1n, email: "a@x" }, 10n, 0), rec(t, "upsert", { id: 2n, email: "b@x" }, 10n, 1)]));
    // Why it matters: row 3 takes row 1's address, and MariaDB updates row 1 instead of refusing (row 3 is lost).
    await s.write(batch("p", [rec(t, "upsert", { id: 3n, email: "a@x" }, 20n, 0)], 20n));
    await s.write(batch("p", [rec(t, "upsert", { id: 4n, email: "c@x" }, 30n, 0)], 30n));
    await s.close();
    expect(await rows(db, "SELECT id, email FROM $db.users ORDER BY id")).toEqual([{ id: "1", email: "a@x" }, { id: "2", email: "b@x" }, { id: "4", email: "c@x" }]);
    const lines = warned.filter((w) => w.msg.includes("unique key(s) besides its primary key"));
    expect(lines.length).toBe(1);
    expect(lines[0].msg).toContain("table users has unique key(s) besides its primary key (users_email): an upsert whose value there matches another row updates that row");
  });

  test("numeric with a negative scale or a scale above its precision (PostgreSQL 15) gets a DECIMAL that holds it", async () => {
    // The scale is a signed 11-bit field of the type modifier: numeric(5,-2) read as scale 2046 made a CREATE TABLE MySQL refused, retried forever.
    const mod = (p: number, s: number) => ((p << 16) | (s & 0x7ff)) + 4;
    const db = newDb();
    const t = table("scales", [col("id", OID.int4, { key: true }), col("hundreds", OID.numeric, { typeMod: mod(5, -2) }), col("tiny", OID.numeric, { typeMod: mod(3, 5) }), col("wide", OID.numeric, { typeMod: mod(60, -10) })], ["id"]);
    expect(createTableSql(t, undefined, { dialect: "mysql" })).toContain("`hundreds` DECIMAL(7,0) NULL, `tiny` DECIMAL(5,5) NULL, `wide` LONGTEXT NULL");
    const s = sinkFor(db);
    const ctx = context("m");
    await s.open(ctx);
    await s.write(batch("p", [rec(t, "upsert", { id: 1, hundreds: "9999900", tiny: "0.00123", wide: "123" + "0".repeat(60) }, 10n, 0)]));
    await s.close();
    expect(ctx.dead).toEqual([]);
    expect(await rows(db, "SELECT id, hundreds, tiny, wide FROM $db.scales")).toEqual([{ id: 1, hundreds: "9999900", tiny: "0.00123", wide: "123" + "0".repeat(60) }]);
  });

  test("a value the target cannot hold goes to the DLQ, the rest of the batch is written; dlq replay resends it", async () => {
    const db = newDb();
    const t = table("narrow", [col("id", OID.int4, { key: true }), col("code", OID.varchar, { typeMod: varcharMod(3) }), col("n", OID.numeric, { typeMod: numericMod(4, 1) }), col("at", OID.timestamptz)], ["id"]);
    const s = sinkFor(db);
    const ctx = context("m");
    const store = new DlqStore(ctx.stateDir);
    ctx.deadLetter = (r, e) => {
      ctx.dead.push({ record: r, error: e });
      store.putRecord("p", "m", r, e);
    };
    await s.open(ctx);
    await s.write(
      batch("p", [
        rec(t, "upsert", { id: 1, code: "ok", n: "1.5", at: "2024-01-01 00:00:00+00" }, 10n, 0),
        rec(t, "upsert", { id: 2, code: "toolong", n: "1.5", at: null }, 10n, 1),
        rec(t, "upsert", { id: 3, code: "ok", n: "12345.6", at: null }, 10n, 2),
        rec(t, "upsert", { id: 4, code: "ok", n: "2.5", at: "infinity" }, 10n, 3),
        rec(t, "upsert", { id: 5, code: "yes", n: "999.9", at: null }, 10n, 4),
      ]),
    );
    await s.close();
    expect((await rows(db, "SELECT id FROM $db.narrow ORDER BY id")).map((r) => r.id)).toEqual([1, 5]);
    expect(ctx.dead.map((d) => d.record.row.id).sort()).toEqual([2, 3, 4]);
    expect(ctx.dead.find((d) => d.record.row.id === 2)!.error).toMatch(/too long/i);
    expect(ctx.dead.find((d) => d.record.row.id === 3)!.error).toBe("column n: 12345.6 has 5 integer digits; DECIMAL(4,1) holds 3");
    expect(ctx.dead.find((d) => d.record.row.id === 4)!.error).toMatch(/DATETIME/);
    expect(store.count("p")).toBe(3);
    // A row larger than max_allowed_packet is refused before sending (it would drop the connection).
    const s2 = sinkFor(db);
    const ctx2 = context("m");
    await s2.open(ctx2);
    await s2.write(batch("p", [rec(t, "upsert", { id: 8, code: "x".repeat(17 * 1024 * 1024), n: "1", at: null }, 20n), rec(t, "upsert", { id: 9, code: "ok", n: "1", at: null }, 20n, 1)]));
    await s2.close();
    expect(ctx2.dead.map((d) => d.record.row.id)).toEqual([8]);
    expect(ctx2.dead[0].error).toMatch(/^row is 178258\d\d bytes, more than the server's max_allowed_packet \(16777216\)$/);
    await admin.query(`DELETE FROM \`${db}\`.narrow WHERE id = 9`);

    // Widen the column; replay sends the rows again and removes the ones now accepted.
    await admin.query(`ALTER TABLE \`${db}\`.narrow MODIFY code VARCHAR(20), MODIFY n DECIMAL(10,1)`);
    const config = parseConfig(
      `source: {url: "postgres://x@localhost/db"}\nstate: {dir: "${ctx.stateDir}"}\nsinks:\n  m: {type: mysql, url: "${baseUrl}", database: ${db}}\npipelines:\n  - {name: p, from: public.t, to: m}\n`,
      "cdc.yaml",
    );
    const result = await replayDeadLetters(config, store, store.list({ pipeline: "p" }));
    expect(result.replayed).toBe(2);
    expect(result.failed.length).toBe(1);
    expect(store.list().map((e) => e.row.id)).toEqual([4]);
    expect(await rows(db, "SELECT id, code, n FROM $db.narrow ORDER BY id")).toEqual([
      { id: 1, code: "ok", n: "1.5" },
      { id: 2, code: "toolong", n: "1.5" },
      { id: 3, code: "ok", n: "12345.6" },
      { id: 5, code: "yes", n: "999.9" },
    ]);
    store.close();
  });

  test("rows a user-created table refuses for its shape (no default, foreign key, partition, generated column) go to the DLQ, not retried forever", async () => {
    // errno 1364 "Field 'extra' doesn't have a default value" was retried with backoff forever: no checkpoint was ever stored.
    const db = newDb();
    await admin.query(`CREATE DATABASE \`${db}\``);
    await admin.query(`CREATE TABLE \`${db}\`.shaped (id INT PRIMARY KEY, v INT, extra INT NOT NULL)`);
    await admin.query(`CREATE TABLE \`${db}\`.parent (id INT PRIMARY KEY) ENGINE=InnoDB`);
    await admin.query(`CREATE TABLE \`${db}\`.child (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES parent (id)) ENGINE=InnoDB`);
    await admin.query(`INSERT INTO \`${db}\`.parent VALUES (1), (2)`);
    await admin.query(`INSERT INTO \`${db}\`.child VALUES (1, 1)`);
    await admin.query(`CREATE TABLE \`${db}\`.parted (id INT PRIMARY KEY) PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10))`);
    await admin.query(`CREATE TABLE \`${db}\`.gen (id INT PRIMARY KEY, v INT, w INT AS (v + 1) VIRTUAL)`);
    const shaped = table("shaped", [col("id", OID.int4, { key: true }), col("v", OID.int4)], ["id"]);
    const parent = table("parent", [col("id", OID.int4, { key: true })], ["id"]);
    const child = table("child", [col("id", OID.int4, { key: true }), col("pid", OID.int4)], ["id"]);
    const parted = table("parted", [col("id", OID.int4, { key: true })], ["id"]);
    const gen = table("gen", [col("id", OID.int4, { key: true }), col("v", OID.int4), col("w", OID.int4)], ["id"]);
    const s = sinkFor(db, { max_backoff: "200ms" });
    const ctx = context("m");
    await s.open(ctx);
    const write = s.write(
      batch("p", [
        rec(shaped, "upsert", { id: 1, v: 10 }, 10n, 0),
        rec(shaped, "upsert", { id: 2, v: 20 }, 10n, 1),
        rec(parent, "delete", { id: 1 }, 10n, 2),
        rec(parent, "delete", { id: 2 }, 10n, 3),
        rec(child, "upsert", { id: 2, pid: 99 }, 10n, 4),
        rec(child, "upsert", { id: 3, pid: 1 }, 10n, 5),
        rec(parted, "upsert", { id: 20 }, 10n, 6),
        rec(parted, "upsert", { id: 5 }, 10n, 7),
        rec(gen, "upsert", { id: 1, v: 1, w: 2 }, 10n, 8),
      ]),
    );
    const outcome = await Promise.race([write.then(() => "written", (e) => `failed: ${(e as Error).message}`), Bun.sleep(8000).then(() => "still retrying after 8 s")]);
    await s.close();
    expect(outcome).toBe("written");
    const reasons = Object.fromEntries(ctx.dead.map((d) => [`${d.record.table.name}/${d.record.row.id}`, d.error]));
    expect(reasons).toEqual({
      "shaped/1": "Field 'extra' doesn't have a default value",
      "shaped/2": "Field 'extra' doesn't have a default value",
      "parent/1": expect.stringMatching(/^Cannot delete or update a parent row: a foreign key constraint fails/),
      "child/2": expect.stringMatching(/^Cannot add or update a child row: a foreign key constraint fails/),
      "parted/20": "Table has no partition for value 20",
      "gen/1": "The value specified for generated column 'w' in table 'gen' has been ignored",
    });
    expect(await rows(db, "SELECT id FROM $db.parent")).toEqual([{ id: 1 }]);
    expect(await rows(db, "SELECT id, pid FROM $db.child ORDER BY id")).toEqual([{ id: 1, pid: 1 }, { id: 3, pid: 1 }]);
    expect(await rows(db, "SELECT id FROM $db.parted")).toEqual([{ id: 5 }]);
    expect(await rows(db, "SELECT COUNT(*) AS n FROM $db.shaped")).toEqual([{ n: "0" }]);
    expect(await rows(db, "SELECT lsn FROM $db.cdc_engine_offsets WHERE pipeline = 'p'")).toEqual([{ lsn: "10" }]);
  }, 30_000);

  test("a decimal with more digits than the target's DECIMAL(p,s) goes to the DLQ instead of being rounded", async () => {
    // MariaDB stores 1.0000000000000000000000000000001 in DECIMAL(65,30) as 1.000…0 with only a Note, even in strict mode.
    const db = newDb();
    await admin.query(`CREATE DATABASE \`${db}\``);
    await admin.query(`CREATE TABLE \`${db}\`.narrow_dec (id INT PRIMARY KEY, m DECIMAL(5,2))`); // made by the user, narrower than the source's numeric(10,4)
    const free = table("free_dec", [col("id", OID.int4, { key: true }), col("n", OID.numeric)], ["id"]);
    const narrow = table("narrow_dec", [col("id", OID.int4, { key: true }), col("m", OID.numeric, { typeMod: numericMod(10, 4) })], ["id"]);
    const s = sinkFor(db);
    const ctx = context("m");
    await s.open(ctx);
    const int35 = "9".repeat(35);
    await s.write(
      batch("p", [
        rec(free, "upsert", { id: 1, n: "1.0000000000000000000000000000001" }, 10n, 0),
        rec(free, "upsert", { id: 2, n: "1" + "0".repeat(35) + ".5" }, 10n, 1),
        rec(free, "upsert", { id: 3, n: `-${int35}.${"1".repeat(30)}` }, 10n, 2),
        rec(free, "upsert", { id: 4, n: "123.4500000000000000000000000000000000" }, 10n, 3),
        rec(narrow, "upsert", { id: 1, m: "1.0050" }, 10n, 4),
        rec(narrow, "upsert", { id: 2, m: "999.9900" }, 10n, 5),
        rec(narrow, "upsert", { id: 3, m: "1000.0000" }, 10n, 6),
      ]),
    );
    await s.close();
    expect(ctx.dead.map((d) => [d.record.table.name, d.record.row.id, d.error])).toEqual([
      ["free_dec", 1, "column n: 1.0000000000000000000000000000001 has 31 fractional digits; DECIMAL(65,30) keeps 30"],
      ["free_dec", 2, `column n: 1${"0".repeat(35)}.5 has 36 integer digits; DECIMAL(65,30) holds 35`],
      ["narrow_dec", 1, "column m: 1.0050 has 3 fractional digits; DECIMAL(5,2) keeps 2"],
      ["narrow_dec", 3, "column m: 1000.0000 has 4 integer digits; DECIMAL(5,2) holds 3"],
    ]);
    expect(await rows(db, "SELECT id, n FROM $db.free_dec ORDER BY id")).toEqual([
      { id: 3, n: `-${int35}.${"1".repeat(30)}` },
      { id: 4, n: "123.450000000000000000000000000000" },
    ]);
    expect(await rows(db, "SELECT id, m FROM $db.narrow_dec ORDER BY id")).toEqual([{ id: 2, m: "999.99" }]);
    // The user widens the column while the sink runs: the sink reads the type again instead of refusing by its cache.
    await admin.query(`ALTER TABLE \`${db}\`.narrow_dec MODIFY m DECIMAL(8,4)`);
    const s2 = sinkFor(db);
    const ctx2 = context("m");
    await s2.open(ctx2);
    await s2.write(batch("p", [rec(narrow, "upsert", { id: 5, m: "1.5" }, 20n, 0)]));
    await admin.query(`ALTER TABLE \`${db}\`.narrow_dec MODIFY m DECIMAL(10,5)`);
    await s2.write(batch("p", [rec(narrow, "upsert", { id: 1, m: "1.0050" }, 30n, 0), rec(narrow, "upsert", { id: 6, m: "0.00001" }, 30n, 1), rec(narrow, "upsert", { id: 7, m: "0.000001" }, 30n, 2)]));
    await s2.close();
    expect(ctx2.dead.map((d) => d.error)).toEqual(["column m: 0.000001 has 6 fractional digits; DECIMAL(10,5) keeps 5"]);
    expect(await rows(db, "SELECT id, m FROM $db.narrow_dec ORDER BY id")).toEqual([{ id: 1, m: "1.00500" }, { id: 2, m: "999.99000" }, { id: 5, m: "1.50000" }, { id: 6, m: "0.00001" }]);
    // StarRocks (no server here): an unconstrained numeric is DECIMAL(38,9), checked with its limits.
    const sr = decimalOf(columnType(col("n", OID.numeric), "starrocks", false))!;
    expect(sr).toEqual({ p: 38, s: 9 });
    expect(decimalMisfit("0.0000000001", sr, "n")).toBe("column n: 0.0000000001 has 10 fractional digits; DECIMAL(38,9) keeps 9");
    expect(decimalMisfit("1" + "0".repeat(29), sr, "n")).toBe(`column n: 1${"0".repeat(29)} has 30 integer digits; DECIMAL(38,9) holds 29`);
    expect(decimalMisfit("-0012.340000000000", sr, "n")).toBeNull();
    expect(decimalOf("decimal128(38,9)")).toEqual({ p: 38, s: 9 });
  });

  test("server unreachable mid-run: retries with backoff, health down, nothing lost", async () => {
    const db = newDb();
    const u = new URL(baseUrl);
    const proxy = new TcpProxy(u.hostname, Number(u.port || 3306)).start();
    const url = `mysql://${u.username || "root"}${u.password ? ":" + u.password : ""}@127.0.0.1:${proxy.port}`;
    const t = table("ticks", [col("id", OID.int4, { key: true }), col("v", OID.int8)], ["id"]);
    const s = sinkFor(db, { max_backoff: "300ms", connect_timeout: "1s" }, url);
    await s.open(context("m"));
    await s.write(batch("p", [rec(t, "upsert", { id: 1, v: 1n }, 10n)]));
    proxy.cut();
    const pending = s.write(batch("p", [rec(t, "upsert", { id: 2, v: 2n }, 20n), rec(t, "upsert", { id: 3, v: 3n }, 20n, 1)]));
    let done = false;
    void pending.then(() => (done = true));
    await Bun.sleep(1500);
    expect(done).toBe(false);
    expect((await s.health()).status).toBe("down");
    new TcpProxy(u.hostname, Number(u.port || 3306), proxy.port).start();
    await pending;
    expect((await s.health()).status).toBe("up");
    await s.close();
    expect((await rows(db, "SELECT id, v FROM $db.ticks ORDER BY id"))).toEqual([{ id: 1, v: "1" }, { id: 2, v: "2" }, { id: 3, v: "3" }]);
  }, 60_000);

  test("wrong password and missing database: one clear line at check and at open", async () => {
    const u = new URL(baseUrl);
    const bad = `mysql://${u.username || "root"}:definitely-wrong@${u.host}`;
    const cfg = mysqlSinkConfig.parse({ url: bad, database: "x" });
    expect(mysqlSink.check(cfg)).rejects.toThrow(/access denied .*check the user and password/);
    expect(new MysqlSink(cfg).open(context("m"))).rejects.toThrow(/\[sink:m\] access denied/);
    const missing = mysqlSinkConfig.parse({ url: baseUrl, database: "cdc_no_such_db", create_database: false });
    expect(mysqlSink.check(missing)).rejects.toThrow(/database 'cdc_no_such_db' does not exist/);
    expect(new MysqlSink(missing).open(context("m"))).rejects.toThrow(/database does not exist/);
    expect(await mysqlSink.check(mysqlSinkConfig.parse({ url: baseUrl, database: "ecommerce_ods_clean" }))).toMatch(/^mysql 10\.\d+.*MariaDB.*ecommerce_ods_clean/);
  });

  test("StarRocks dialect DDL and DML (generated SQL; no StarRocks here)", () => {
    const t = table("ods_orders", [col("status", OID.text), col("order_id", OID.varchar, { typeMod: varcharMod(32), key: true }), col("total", OID.numeric, { typeMod: numericMod(12, 2) }), col("at", OID.timestamptz)], ["order_id"]);
    expect(createTableSql(t, undefined, { dialect: "starrocks", buckets: 8, replicationNum: 1 })).toBe(
      "CREATE TABLE IF NOT EXISTS `ods_orders` (`order_id` VARCHAR(32) NOT NULL, `status` STRING NULL, `total` DECIMAL(12,2) NULL, `at` DATETIME NULL) PRIMARY KEY (`order_id`) DISTRIBUTED BY HASH(`order_id`) BUCKETS 8 PROPERTIES (\"replication_num\" = \"1\")",
    );
    expect(upsertSql("ods_orders", ["order_id", "status"], 2, ["order_id"], "starrocks")).toBe("INSERT INTO `ods_orders` (`order_id`, `status`) VALUES (?, ?), (?, ?)");
    expect(upsertSql("ods_orders", ["order_id", "status"], 1, ["order_id"], "mysql")).toBe("INSERT INTO `ods_orders` (`order_id`, `status`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `status` = VALUES(`status`)");
    expect(deleteSql("r", ["a", "b"], 2)).toBe("DELETE FROM `r` WHERE (`a` = ? AND `b` = ?) OR (`a` = ? AND `b` = ?)");
  });
});
