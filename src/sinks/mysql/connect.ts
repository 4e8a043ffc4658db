import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "mysql2";
import type { MysqlSinkConfig } from "./config.ts";

/** mysql2 options: exact numbers and dates come back as strings; strict mode so bad values fail instead of truncating. */
export function connectionOptions(config: MysqlSinkConfig): ConnectionOptions & { database?: string } {
  const u = new URL(config.url);
  const urlDb = decodeURIComponent(u.pathname.replace(/^\//, "")) || undefined;
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
    database: config.database ?? urlDb,
    connectTimeout: config.connect_timeout,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    dateStrings: true,
    timezone: "Z",
    charset: "utf8mb4",
    ssl: config.tls
      ? {
          ca: config.tls.ca ? readFileSync(config.tls.ca, "utf8") : undefined,
          cert: config.tls.cert ? readFileSync(config.tls.cert, "utf8") : undefined,
          key: config.tls.key ? readFileSync(config.tls.key, "utf8") : undefined,
          rejectUnauthorized: config.tls.reject_unauthorized,
        }
      : undefined,
  };
}

export function redactMysqlUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "mysql://***";
  }
}

/** One clear line for the usual connection mistakes. */
export function describeMysqlError(e: unknown, config: MysqlSinkConfig): string {
  const err = e as { code?: string; message?: string };
  const where = redactMysqlUrl(config.url);
  switch (err.code) {
    case "ER_ACCESS_DENIED_ERROR":
    case "ER_DBACCESS_DENIED_ERROR":
      return `access denied at ${where}: check the user and password (${err.message})`;
    case "ER_BAD_DB_ERROR":
      return `database does not exist at ${where} (${err.message}); set create_database: true or create it`;
    case "ECONNREFUSED":
      return `connection refused at ${where}: is the server running?`;
    case "ETIMEDOUT":
      return `no answer from ${where} within ${config.connect_timeout / 1000}s`;
    case "ENOTFOUND":
      return `host not found: ${where}`;
    default:
      return err.message ?? String(e);
  }
}

const TRANSIENT_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT", "ER_CON_COUNT_ERROR", "ER_LOCK_DEADLOCK", "ER_LOCK_WAIT_TIMEOUT", "ER_SERVER_SHUTDOWN",
  "ER_QUERY_INTERRUPTED", "ER_CONNECTION_KILLED", "ER_TOO_MANY_USER_CONNECTIONS",
]);

/** Worth retrying: the server is away or busy, not a problem with the rows. */
export function isTransient(e: unknown): boolean {
  const err = e as { code?: string; fatal?: boolean; errno?: number; message?: string };
  if (err.code && TRANSIENT_CODES.has(err.code)) return true;
  if (err.fatal) return true;
  if (err.errno === 1927 || err.errno === 2006 || err.errno === 2013) return true;
  return /connection.*(closed|lost|ended)|Can't add new command when connection is in closed state|Pool is closed/i.test(err.message ?? "");
}

/**
 * Errors caused by a row's values or by the target table's shape, the same on every retry: that
 * row goes to the DLQ with the server's message, the rest is written.
 * - values: 1048 NULL in NOT NULL, 1062/1586 duplicate (also on a secondary unique index), 1264/1690
 *   out of range, 1265 data truncated (e.g. not an ENUM member), 1292/1366 incorrect value,
 *   1300 invalid character string, 1367/1411 illegal value for the type, 1406 data too long,
 *   1416 geometry, 1441 datetime overflow, 3140 invalid JSON (MySQL), 4025 CHECK (MariaDB),
 *   3819 CHECK (MySQL);
 * - the table's shape: 1364 a NOT NULL column without a default that the pipeline does not
 *   write (a user-created table with an extra column), 1423 the same through a view, 1451/1217
 *   deleting a row a foreign key still references, 1452/1216 a child row without its parent,
 *   1526 no partition for the value, 1906 (MariaDB) / 3105 (MySQL) a value for a generated column.
 * Not here (retried): permissions (1142, 1143: an operator fixes them for the whole table), lock
 * waits and deadlocks, connection errors, a missing table or column (the sink's own DDL state).
 */
const DATA_ERRNOS = new Set([
  1048, 1062, 1586, 1264, 1690, 1265, 1292, 1366, 1300, 1367, 1411, 1406, 1416, 1441, 3140, 4025, 3819,
  1364, 1423, 1451, 1217, 1452, 1216, 1526, 1906, 3105,
]);
export function isDataError(e: unknown): boolean {
  const err = e as { errno?: number };
  return err.errno !== undefined && DATA_ERRNOS.has(err.errno);
}
