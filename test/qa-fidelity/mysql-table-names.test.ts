/**
 * Source table names the MySQL/MariaDB target cannot take as they are:
 * - sales.orders and public.sales_orders both map to target table `sales_orders`: their rows were
 *   mixed there, and public.sales_orders' row 1 silently replaced sales.orders' row 1. The second
 *   table's records now go to the dead-letter queue, naming both tables.
 * - a schema and a table name of up to 63 characters each make a target name over MariaDB's 64:
 *   the server refused it ("Incorrect table name") and the write was retried for good, holding
 *   the pipeline. It is now cut to 64 characters with a digest of the source name.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import mysql from "mysql2/promise";
import { requireMysql } from "../helpers/index.ts";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { batch, col, context, OID, rec, table, uniq } from "../sinks/helpers.ts";

let admin: mysql.Connection;
let url: string;
const dbs: string[] = [];
beforeAll(async () => {
  url = await requireMysql();
  admin = await mysql.createConnection({ uri: url });
});
afterAll(async () => {
  for (const db of dbs) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin.end();
});

async function sinkOn(): Promise<{ s: MysqlSink; ctx: ReturnType<typeof context>; db: string }> {
  const db = uniq("cdc_qa_names");
  dbs.push(db);
  const s = new MysqlSink(mysqlSinkConfig.parse({ url, database: db, max_backoff: "100ms" }));
  const ctx = context("my", [{ pipeline: "p", options: {} }]);
  await s.open(ctx);
  return { s, ctx, db };
}

test("sales.orders and public.sales_orders do not mix their rows in one target table", async () => {
  const { s, ctx, db } = await sinkOn();
  const cols = () => [col("id", OID.int4, { key: true }), col("amount", OID.text)];
  const a = table("sales.orders", cols(), ["id"]);
  const b = table("public.sales_orders", cols(), ["id"]);
  await s.write(batch("p", [rec(a, "upsert", { id: 1, amount: "10.00" }, 10n, 0), rec(a, "upsert", { id: 2, amount: "20.00" }, 10n, 1), rec(b, "upsert", { id: 1, amount: "99.99" }, 10n, 2)]));
  await s.write(batch("p", [rec(b, "upsert", { id: 3, amount: "1.00" }, 20n, 0), rec(a, "upsert", { id: 4, amount: "4.00" }, 20n, 1)]));
  await s.close();
  const [rows] = await admin.query(`SELECT id, amount FROM \`${db}\`.sales_orders ORDER BY id`);
  expect(rows as unknown[]).toEqual([
    { id: 1, amount: "10.00" },
    { id: 2, amount: "20.00" },
    { id: 4, amount: "4.00" },
  ]);
  expect(ctx.dead.map((d) => [d.record.table.name, d.record.row.id, d.error])).toEqual([
    ["public.sales_orders", 1, "public.sales_orders and sales.orders both map to target table sales_orders, which holds the rows of sales.orders: mirror public.sales_orders with a pipeline of its own and another to.table"],
    ["public.sales_orders", 3, "public.sales_orders and sales.orders both map to target table sales_orders, which holds the rows of sales.orders: mirror public.sales_orders with a pipeline of its own and another to.table"],
  ]);
});

test("a schema.table name longer than 64 characters is written to a table named within 64", async () => {
  const { s, ctx, db } = await sinkOn();
  const schema = "a_very_long_schema_name_that_goes_on_and_on_for_quite_a_while_x";
  const t = table(`${schema}.and_a_table_name_that_is_also_rather_long_for_mysql`, [col("id", OID.int4, { key: true }), col("v", OID.text)], ["id"]);
  const write = s.write(batch("p", [rec(t, "upsert", { id: 1, v: "one" }, 10n, 0), rec(t, "upsert", { id: 2, v: "two" }, 10n, 1)]));
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("write still retrying after 5 s")), 5000));
  await Promise.race([write, timeout]);
  await s.write(batch("p", [rec(t, "delete", { id: 1 }, 20n, 0)]));
  await s.close();
  expect(ctx.dead).toEqual([]);
  const [tables] = await admin.query("SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 'cdc_engine_offsets'", [db]);
  const names = (tables as { n: string }[]).map((r) => r.n);
  expect(names.length).toBe(1);
  expect(names[0].length).toBe(64);
  expect(names[0]).toMatch(new RegExp(`^${schema.slice(0, 55)}_[0-9a-f]{8}$`));
  const [rows] = await admin.query(`SELECT id, v FROM \`${db}\`.\`${names[0]}\``);
  expect(rows as unknown[]).toEqual([{ id: 2, v: "two" }]);
});
