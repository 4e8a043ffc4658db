import { z } from "zod";
import { byteSize, duration, maxBackoff, timeout, tls } from "../../config/fields.ts";

export const mysqlSinkConfig = z.strictObject({
  /** mysql://user:password@host:3306[/database] (MySQL, MariaDB, or StarRocks' FE query port). */
  url: z.string().regex(/^mysql:\/\//, "must be a mysql:// URL"),
  dialect: z.enum(["mysql", "starrocks"]).default("mysql"),
  /** Target database; overrides the URL's; created when missing unless create_database is false. */
  database: z.string().regex(/^[A-Za-z0-9_$]{1,64}$/, "letters, digits, _ or $ (at most 64)").optional(),
  create_database: z.boolean().default(true),
  tls,
  pool: z.number().int().min(1).max(64).default(4),
  /** Rows per multi-row INSERT statement. */
  batch_size: z.number().int().min(1).max(20_000).default(1000),
  /** Longest wait before a partly filled batch is written (the engine's writer reads it, as for the other sinks). */
  batch_delay: duration.default(100),
  /** Largest multi-row statement (keep under the server's max_allowed_packet). */
  max_statement_bytes: byteSize.default(4 * 1024 * 1024),
  /** Longest wait between retries while the server is unreachable (retries go on until it returns). */
  max_backoff: maxBackoff.default(30_000),
  connect_timeout: timeout.default(10_000),
  /** StarRocks only: BUCKETS and replication_num for created tables. */
  buckets: z.number().int().min(1).optional(),
  replication_num: z.number().int().min(1).optional(),
});
export type MysqlSinkConfig = z.infer<typeof mysqlSinkConfig>;

/** Per-pipeline options under `to:` (besides sink/table/key). */
export const mysqlTargetSchema = z.strictObject({
  /** StarRocks: BUCKETS for this table. */
  buckets: z.number().int().min(1).optional(),
});
