/**
 * Names Postgres allows and MySQL/MariaDB cannot hold: a column name ending in a space ("end "),
 * two columns differing only in case ("Mixed" and "mixed"). The server refused the CREATE TABLE
 * the same way on every retry and the write was retried for good, holding every pipeline of the
 * sink. Now that table's records go to the DLQ with the server's reason; other tables are written.
 */
import { expect, test } from "bun:test";
import { mysqlTestDb } from "./mysql-db.ts";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { batch, col, context, OID, rec, table } from "../sinks/helpers.ts";

const my = mysqlTestDb("cdc_qa_refused");

test("a table whose names the server refuses goes to the DLQ with the reason; the others are written", async () => {
  const s = new MysqlSink(mysqlSinkConfig.parse({ url: my.url, database: my.db, max_backoff: "100ms" }));
  const ctx = context("my", [{ pipeline: "p", options: {} }]);
  await s.open(ctx);
  const ok = table("public.fine", [col("id", OID.int4, { key: true }), col("v", OID.text)], ["id"]);
  const spaced = table("public.spaced", [col("id", OID.int4, { key: true }), col("end ", OID.text)], ["id"]);
  const cased = table("public.cased", [col("id", OID.int4, { key: true }), col("Mixed", OID.text), col("mixed", OID.text)], ["id"]);
  const write = s.write(
    batch("p", [
      rec(ok, "upsert", { id: 1, v: "a" }, 10n, 0),
      rec(spaced, "upsert", { id: 1, "end ": "x" }, 10n, 1),
      rec(cased, "upsert", { id: 1, Mixed: "M", mixed: "m" }, 10n, 2),
      rec(ok, "upsert", { id: 2, v: "b" }, 10n, 3),
    ]),
  );
  const outcome = await Promise.race([write.then(() => "written"), Bun.sleep(10_000).then(() => "still retrying")]);
  expect(outcome).toBe("written");
  await s.write(batch("p", [rec(spaced, "upsert", { id: 2, "end ": "y" }, 20n, 0), rec(ok, "upsert", { id: 3, v: "c" }, 20n, 1)]));
  await s.close();
  const [rows] = await my.admin.query(`SELECT id, v FROM \`${my.db}\`.fine ORDER BY id`);
  expect(rows as unknown[]).toEqual([{ id: 1, v: "a" }, { id: 2, v: "b" }, { id: 3, v: "c" }]);
  expect(ctx.dead.map((d) => [d.record.table.name, d.record.row.id])).toEqual([["public.spaced", 1], ["public.cased", 1], ["public.spaced", 2]]);
  expect(ctx.dead[0].error).toMatch(/^target table spaced of public\.spaced: the server refused a name \(.*Incorrect column name 'end '.*\); rename the column in select:/);
  expect(ctx.dead[1].error).toMatch(/Duplicate column name 'mixed'/i);
  const [tables] = await my.admin.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1`, [my.db]);
  expect((tables as { t: string }[]).map((r) => r.t)).not.toContain("spaced");
});
