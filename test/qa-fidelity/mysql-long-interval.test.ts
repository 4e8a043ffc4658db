/**
 * interval went to a VARCHAR(64) column, but Postgres' text of a valid interval is up to 67
 * characters (`-178000000 years -11 mons -2147483647 days -2562047788:00:54.775807`): MariaDB
 * refused such a row ("Data too long for column") and it went to the dead-letter queue.
 */
import { expect, test } from "bun:test";
import { mysqlTestDb } from "./mysql-db.ts";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { batch, col, context, OID, rec, table } from "../sinks/helpers.ts";

const my = mysqlTestDb("cdc_qa_iv");

test("the longest interval texts Postgres prints are stored as they are", async () => {
  const t = table("public.spans", [col("id", OID.int4, { key: true }), col("iv", OID.interval)], ["id"]);
  const s = new MysqlSink(mysqlSinkConfig.parse({ url: my.url, database: my.db }));
  const ctx = context("my", [{ pipeline: "p", options: {} }]);
  await s.open(ctx);
  const values = ["-178000000 years -11 mons -2147483647 days -2562047788:00:54.775807", "178000000 years 11 mons 2147483647 days 2562047788:00:54.775807", "1 year 2 mons 3 days 04:05:06.000001"];
  await s.write(batch("p", values.map((iv, i) => rec(t, "upsert", { id: i + 1, iv }, 10n, i))));
  await s.close();
  expect(ctx.dead.map((d) => d.error)).toEqual([]);
  const [rows] = await my.admin.query(`SELECT iv FROM \`${my.db}\`.spans ORDER BY id`);
  expect((rows as { iv: string }[]).map((r) => r.iv)).toEqual(values);
});
