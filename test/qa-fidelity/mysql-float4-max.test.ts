/**
 * real's largest values reach MySQL/MariaDB FLOAT. Postgres prints FLT_MAX as 3.4028235e+38 (its
 * shortest text), the source decodes that to the double 3.4028235e38, and the sink sent the
 * double's text: MariaDB reads it as a double above FLT_MAX and refused the row ("Out of range
 * value for column"), so a valid real went to the dead-letter queue.
 */
import { expect, test } from "bun:test";
import { mysqlTestDb } from "./mysql-db.ts";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { batch, col, context, OID, rec, table } from "../sinks/helpers.ts";

const my = mysqlTestDb("cdc_qa_f4");

test("FLT_MAX, -FLT_MAX, the smallest subnormal and ordinary reals are stored as the same float", async () => {
  const t = table("public.readings", [col("id", OID.int4, { key: true }), col("f4", 700)], ["id"]);
  const s = new MysqlSink(mysqlSinkConfig.parse({ url: my.url, database: my.db }));
  const ctx = context("my", [{ pipeline: "p", options: {} }]);
  await s.open(ctx);
  // As the source decodes them: the double of Postgres's shortest float4 text.
  const values = [3.4028235e38, -3.4028235e38, 1e-45, 1.1, -0.5, 16777217];
  await s.write(batch("p", values.map((f4, i) => rec(t, "upsert", { id: i + 1, f4 }, 10n, i))));
  await s.close();
  expect(ctx.dead.map((d) => d.error)).toEqual([]);
  // FLOAT read back as its exact double, compared with the float4 each value is in Postgres.
  const [rows] = await my.admin.query(`SELECT id, CAST(f4 AS DOUBLE) AS f FROM \`${my.db}\`.readings ORDER BY id`);
  expect((rows as { f: number }[]).map((r) => r.f)).toEqual(values.map((v) => Math.fround(v)));
});
