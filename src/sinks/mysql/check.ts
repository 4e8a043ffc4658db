import mysql from "mysql2/promise";
import type { MysqlSinkConfig } from "./config.ts";
import { connectionOptions, describeMysqlError, redactMysqlUrl } from "./connect.ts";

/** `cdc-engine check`: connect, report the server version and whether the database exists. */
export async function checkMysqlSink(config: MysqlSinkConfig): Promise<string> {
  const opts = connectionOptions(config);
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({ ...opts, database: undefined });
    const [rows] = await conn.query("SELECT VERSION() AS v");
    const version = (rows as { v: string }[])[0].v;
    let dbNote = "";
    if (opts.database) {
      const [dbs] = await conn.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [opts.database]);
      const exists = (dbs as unknown[]).length > 0;
      if (!exists && !config.create_database) throw new Error(`database '${opts.database}' does not exist (create it, or set create_database: true)`);
      dbNote = exists ? `, database ${opts.database}` : `, database ${opts.database} (will be created)`;
    }
    return `${config.dialect} ${version}${dbNote} at ${redactMysqlUrl(config.url)}`;
  } catch (e) {
    throw new Error(describeMysqlError(e, config));
  } finally {
    await conn?.end().catch(() => {});
  }
}
