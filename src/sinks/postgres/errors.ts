import postgres from "postgres";

/**
 * An ErrorResponse from the server, as opposed to a client-side failure (ECONNRESET,
 * CONNECTION_CLOSED, …). By class, never by `name`: the shipped binary is minified, which renames
 * postgres.js' classes (its PostgresError is called "Ce" there), and checks by name sent no data
 * error to the dead-letter queue and retried it for good.
 */
export function isServerError(e: unknown): e is InstanceType<typeof postgres.PostgresError> {
  return e instanceof postgres.PostgresError;
}

/**
 * Which Postgres errors belong to the records of a batch (SQLSTATE from the server):
 * class 22 data exception (value out of range, bad encoding, invalid input), 23 integrity
 * constraint (NOT NULL, CHECK, unique, foreign key), 42 (datatype mismatch, undefined column)
 * and 54 (program limit, e.g. an index row too large). These never succeed on retry: the batch
 * is narrowed down to the records that cause them, which go to the dead-letter queue.
 * Everything else (class 08 connection, 53 resources, 57P operator intervention/shutdown,
 * 40001 serialization, 40P01 deadlock, 55P03 lock timeout, client-side connection errors, and
 * 42501 insufficient privilege, which an operator fixes for the whole table) is retried.
 */
export function isPgDataError(e: unknown): boolean {
  if (!isServerError(e)) return false;
  const err = e as { code?: unknown };
  if (typeof err.code !== "string" || !/^[0-9A-Z]{5}$/.test(err.code)) return false;
  if (err.code === "42501") return false;
  const cls = err.code.slice(0, 2);
  return cls === "22" || cls === "23" || cls === "42" || cls === "54";
}

/** "23514 new row for relation ... violates check constraint ... (Failing row contains ...)" for the DLQ. */
export function describePgError(e: unknown): string {
  const err = e as { code?: string; message?: string; detail?: string };
  return `${err.code ? err.code + " " : ""}${err.message ?? String(e)}${err.detail ? ` (${err.detail})` : ""}`;
}

/** Client-side and server-side signs that the session is gone (no ROLLBACK can reach it). */
export function isLostConnection(e: unknown): boolean {
  if (e === null || e === undefined) return false;
  if (!isServerError(e)) return true; // ECONNRESET, CONNECTION_CLOSED, …: not an answer from the server
  const x = e as { severity?: unknown; code?: unknown };
  const code = String(x.code ?? "");
  return x.severity === "FATAL" || x.severity === "PANIC" || code.startsWith("08") || code.startsWith("57P");
}
