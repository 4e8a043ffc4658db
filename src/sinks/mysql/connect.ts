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

// Errors caused by one row's value: that row goes to the DLQ, the rest is written.
const DATA_ERRNOS = new Set([1048, 1062, 1264, 1265, 1292, 1366, 1367, 1406, 1416, 1452, 1690, 3140, 4025, 1292, 1411, 1441, 3819]);
export function isDataError(e: unknown): boolean {
  const err = e as { errno?: number };
  return err.errno !== undefined && DATA_ERRNOS.has(err.errno);
}
