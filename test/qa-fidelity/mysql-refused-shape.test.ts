/**
 * Tables InnoDB cannot hold: 600 text columns (LONGTEXT, each a 20-byte pointer in a row of at
 * most 8126 bytes: "Row size too large"), a key of 33 columns (MySQL allows 16 key parts, MariaDB
 * 32), a bytea key (LONGBLOB: no key without a length) and a key of four text columns
 * (4 × VARCHAR(255) × 4 bytes > 3072). Postgres holds them all. The server refused the CREATE TABLE the same way on every retry and the write was
 * retried for good, holding every table of the sink (QA: a public.* mirror with one wide table).
 * Now that table's records go to the DLQ with the server's reason; the other tables are written.
 */
import { expect, test } from "bun:test";
import { mysqlTestDb } from "./mysql-db.ts";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { batch, col, context, OID, rec, table } from "../sinks/helpers.ts";

const my = mysqlTestDb("cdc_qa_shape");

test("a table whose shape the server refuses goes to the DLQ with the reason; the others are written", async () => {
  const s = new MysqlSink(mysqlSinkConfig.parse({ url: my.url, database: my.db, max_backoff: "100ms" }));
  const ctx = context("my", [{ pipeline: "p", options: {} }]);
  await s.open(ctx);
  const ok = table("public.fine", [col("id", OID.int4, { key: true }), col("v", OID.text)], ["id"]);
  const names = Array.from({ length: 600 }, (_, i) => `c${i}`);
  const wide = table("public.wide", [col("id", OID.int4, { key: true }), ...names.map((n) => col(n, OID.text))], ["id"]);
  const keyNames = Array.from({ length: 33 }, (_, i) => `k${i}`);
  const manyKeys = table("public.many_keys", keyNames.map((n) => col(n, OID.int4, { key: true })), keyNames);
  const wideRow = (id: number) => Object.fromEntries([["id", id], ...names.map((n) => [n, `v${id}`])]);
  const write = s.write(
    batch("p", [
      rec(ok, "upsert", { id: 1, v: "a" }, 10n, 0),
      rec(wide, "upsert", wideRow(1), 10n, 1),
      rec(manyKeys, "upsert", Object.fromEntries(keyNames.map((n, i) => [n, i])), 10n, 2),
      rec(ok, "upsert", { id: 2, v: "b" }, 10n, 3),
    ]),
  );
  const outcome = await Promise.race([write.then(() => "written"), Bun.sleep(15_000).then(() => "still retrying")]);
  expect(outcome).toBe("written");
  await s.write(batch("p", [rec(wide, "upsert", wideRow(2), 20n, 0), rec(ok, "upsert", { id: 3, v: "c" }, 20n, 1)]));
  await s.close();
  const [rows] = await my.admin.query(`SELECT id, v FROM \`${my.db}\`.fine ORDER BY id`);
  expect(rows as unknown[]).toEqual([{ id: 1, v: "a" }, { id: 2, v: "b" }, { id: 3, v: "c" }]);
  expect(ctx.dead.map((d) => [d.record.table.name, d.record.row.id ?? d.record.row.k0])).toEqual([["public.wide", 1], ["public.many_keys", 0], ["public.wide", 2]]);
  expect(ctx.dead[0].error).toMatch(/^target table wide of public\.wide: the server refused the table's shape \(Row size too large.*\); keep fewer columns with a pipeline's select:/);
  expect(ctx.dead[1].error).toMatch(/^target table many_keys of public\.many_keys: the server refused the table's shape \(Too many key parts specified; max 32 parts allowed\)/);
}, 60_000);

// Keys InnoDB could not index as the sink first made them: a bytea key was LONGBLOB (no key
// without a length), four text key columns 4 × VARCHAR(255) × 4 bytes > 3072. Their tables were
// refused and every row went to the DLQ; now the key columns are sized to fit (VARBINARY(1020);
// four VARCHAR(191) next to a bigint: (3072 - 8) / 4 / 4 bytes), and only a key value longer than that is refused.
test("a bytea key and four text key columns fit InnoDB's index: rows are written, a too-long key value goes to the DLQ", async () => {
  const s = new MysqlSink(mysqlSinkConfig.parse({ url: my.url, database: my.db, max_backoff: "100ms" }));
  const ctx = context("my", [{ pipeline: "q", options: {} }]);
  await s.open(ctx);
  const blobKey = table("public.blob_key", [col("k", OID.bytea, { key: true }), col("v", OID.text)], ["k"]);
  const keys = ["a", "b", "c", "d"];
  const fourText = table("public.four_text_keys", [col("n", OID.int8, { key: true }), ...keys.map((n) => col(n, OID.text, { key: true })), col("v", OID.text)], ["n", ...keys]);
  const long = "x".repeat(192);
  await s.write(
    batch("q", [
      rec(blobKey, "upsert", { k: new Uint8Array([1, 2]), v: "one" }, 10n, 0),
      rec(blobKey, "upsert", { k: new Uint8Array(1000).fill(7), v: "long" }, 10n, 1),
      rec(fourText, "upsert", { n: 1n, a: "a", b: "b", c: "c", d: "d", v: "first" }, 10n, 2),
      rec(fourText, "upsert", { n: 1n, a: "x".repeat(191), b: "b", c: "c", d: "d", v: "191 fits" }, 10n, 3),
      rec(fourText, "upsert", { n: 2n, a: long, b: "b", c: "c", d: "d", v: "192 does not" }, 10n, 4),
    ]),
  );
  await s.write(batch("q", [rec(fourText, "upsert", { n: 1n, a: "a", b: "b", c: "c", d: "d", v: "updated" }, 20n, 0)]));
  await s.close();
  const [blobs] = await my.admin.query(`SELECT HEX(k) AS k, v FROM \`${my.db}\`.blob_key ORDER BY v`);
  expect(blobs as unknown[]).toEqual([{ k: "07".repeat(1000), v: "long" }, { k: "0102", v: "one" }]);
  const [rows] = await my.admin.query(`SELECT n, LENGTH(a) AS la, v FROM \`${my.db}\`.four_text_keys ORDER BY la`);
  expect(rows as unknown[]).toEqual([{ n: 1, la: 1, v: "updated" }, { n: 1, la: 191, v: "191 fits" }]);
  const [[keyCol]] = (await my.admin.query(`SELECT COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'four_text_keys' AND COLUMN_NAME = 'a'`, [my.db])) as unknown as [{ t: string }[]];
  expect(keyCol.t).toBe("varchar(191)");
  expect(ctx.dead.map((d) => [d.record.table.name, d.record.row.v])).toEqual([["public.four_text_keys", "192 does not"]]);
  expect(ctx.dead[0].error).toMatch(/too long/i);
}, 60_000);
