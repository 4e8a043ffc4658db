/**
 * Text keys that differ only in trailing spaces are different rows in Postgres ('k', 'k ', 'k  ').
 * The mysql sink created tables with utf8mb4_bin, a PAD SPACE collation: the three keys were equal
 * there, so ON DUPLICATE KEY UPDATE folded them into one row (two rows lost, the survivor holding
 * the last one's values) and a delete of 'k ' deleted 'k'. Tables are now created with a NO PAD
 * binary collation when the server has one (MariaDB utf8mb4_nopad_bin, MySQL 8 utf8mb4_0900_bin).
 */
import { expect, test } from "bun:test";
import { mysqlTestDb } from "./mysql-db.ts";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { batch, col, context, OID, rec, table } from "../sinks/helpers.ts";

const my = mysqlTestDb("cdc_qa_pad");

test("keys 'k', 'k ' and 'k  ' stay three rows, and a delete of one removes only it", async () => {
  const t = table("public.codes", [col("code", OID.text, { key: true }), col("v", OID.text), col("label", OID.varchar, { typeMod: 14 })], ["code"]);
  const s = new MysqlSink(mysqlSinkConfig.parse({ url: my.url, database: my.db }));
  const ctx = context("my", [{ pipeline: "p", options: {} }]);
  await s.open(ctx);
  await s.write(batch("p", [rec(t, "upsert", { code: "k", v: "none", label: "a" }, 10n, 0), rec(t, "upsert", { code: "k ", v: "one", label: "a " }, 10n, 1), rec(t, "upsert", { code: "k  ", v: "two", label: "a  " }, 10n, 2)]));
  const read = async () => {
    const [rows] = await my.admin.query(`SELECT CONCAT('[', code, ']') AS code, v, CONCAT('[', label, ']') AS label FROM \`${my.db}\`.codes ORDER BY LENGTH(codes.code)`);
    return rows as unknown[];
  };
  expect(await read()).toEqual([
    { code: "[k]", v: "none", label: "[a]" },
    { code: "[k ]", v: "one", label: "[a ]" },
    { code: "[k  ]", v: "two", label: "[a  ]" },
  ]);
  await s.write(batch("p", [rec(t, "delete", { code: "k " }, 20n, 0)]));
  await s.close();
  expect(await read()).toEqual([
    { code: "[k]", v: "none", label: "[a]" },
    { code: "[k  ]", v: "two", label: "[a  ]" },
  ]);
  expect(ctx.dead).toEqual([]);
});
