import { z } from "zod";
import { duration, durationAtLeast, maxBackoff, timeout } from "../../config/fields.ts";

const ident = z.string().regex(/^[A-Za-z0-9_]{1,1024}$/, "letters, digits and _");

export const bigquerySinkConfig = z
  .strictObject({
    /** Project that holds the datasets (default: the key file's project_id). */
    project: z.string().min(1).optional(),
    /** Default dataset for pipelines that do not name one. */
    dataset: ident.optional(),
    /** Dataset location used when the sink creates a dataset. */
    location: z.string().default("US"),
    /** Service-account key file (JSON); default $GOOGLE_APPLICATION_CREDENTIALS. */
    credentials_file: z.string().min(1).optional(),
    /** A ready OAuth access token instead of a key file (short-lived; for tests and emulators). */
    access_token: z.string().min(1).optional(),
    /** REST endpoint, e.g. a local emulator; default https://bigquery.googleapis.com. */
    api_endpoint: z.string().regex(/^https?:\/\//, "must be an http(s) URL").default("https://bigquery.googleapis.com"),
    /** Micro-batch interval: rows wait at most this long before they are sent (at most 30 s). */
    flush_interval: duration.default(10_000).refine((ms) => ms <= 30_000, "at most 30s"),
    /** Rows per micro-batch handed to the sink. */
    batch_size: z.number().int().min(1).default(10_000),
    /** Rows per insertAll request (Google recommends at most 500). */
    rows_per_request: z.number().int().min(1).max(10_000).default(500),
    /** Add _cdc_op, _cdc_lsn and _cdc_commit_ts columns to every row. */
    metadata_columns: z.boolean().default(true),
    timeout: timeout.default(30_000),
    max_backoff: maxBackoff.default(30_000),
  })
  // The engine batches by batch_size / batch_delay: the flush interval is the batch delay.
  .transform((c) => ({ ...c, batch_delay: c.flush_interval }));
export type BigquerySinkConfig = z.infer<typeof bigquerySinkConfig>;

export const bigqueryTargetSchema = z.strictObject({
  dataset: ident.optional(),
  /** Time-unit partitioning on a TIMESTAMP/DATE/DATETIME column. */
  partition: z
    .union([
      z.strictObject({ field: z.string().min(1), type: z.enum(["HOUR", "DAY", "MONTH", "YEAR"]).default("DAY"), expiration: durationAtLeast(1, "leave expiration out for partitions that do not expire").optional() }),
      z.strictObject({
        /** Integer-range partitioning, e.g. on a half-hour bucket column. */
        range: z.strictObject({ field: z.string().min(1), start: z.number().int(), end: z.number().int(), interval: z.number().int().min(1).default(1) }),
      }),
    ])
    .optional(),
  /**
   * Adds an INT64 column holding floor(epoch seconds of `from` / 1800): the 30-minute bucket
   * that integer-range partitioning can split on (BigQuery's time-unit partitions stop at HOUR).
   */
  half_hour_bucket: z.strictObject({ from: z.string().min(1), column: z.string().min(1).default("half_hour_bucket") }).optional(),
  cluster_by: z.array(z.string().min(1)).min(1).max(4).optional(),
});
export type BigqueryTarget = z.infer<typeof bigqueryTargetSchema>;
