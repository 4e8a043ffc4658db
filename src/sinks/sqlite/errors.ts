/**
 * SQLite errors that belong to one record's values (a constraint, a datatype mismatch, a value
 * too big): that record goes to the dead-letter queue. Everything else (busy, locked, I/O, disk
 * full, a missing table) is the sink's state, not the record's, and is retried.
 */
export function isSqliteDataError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  return code.startsWith("SQLITE_CONSTRAINT") || code === "SQLITE_MISMATCH" || code === "SQLITE_TOOBIG" || code === "SQLITE_RANGE";
}
