import { afterAll, beforeAll } from "bun:test";
import mysql from "mysql2/promise";
import { requireMysql } from "../helpers/index.ts";
import { uniq } from "../sinks/helpers.ts";

/**
 * A MariaDB database of the test file's own (dropped after it) and an admin connection to read
 * it back; registers the file's beforeAll/afterAll. `url` and `admin` are set once beforeAll ran.
 */
export function mysqlTestDb(prefix: string): { db: string; url: string; admin: mysql.Connection } {
  const t = { db: uniq(prefix), url: "", admin: null as unknown as mysql.Connection };
  beforeAll(async () => {
    t.url = await requireMysql();
    t.admin = await mysql.createConnection({ uri: t.url });
  });
  afterAll(async () => {
    await t.admin.query(`DROP DATABASE IF EXISTS \`${t.db}\``);
    await t.admin.end();
  });
  return t;
}
