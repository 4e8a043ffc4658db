/**
 * SQLite errors that belong to one record's values (a constraint, a datatype mismatch, a value
 * too big) or to the target table's shape (see TableShapeError): that record goes to the
 * dead-letter queue. Everything else (busy, locked, I/O, disk full, a missing table) is the
 * sink's state, not the record's, and is retried.
 */
export function isSqliteDataError(e: unknown): boolean {
  if (e instanceof TableShapeError) return true;
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  return code.startsWith("SQLITE_CONSTRAINT") || code === "SQLITE_MISMATCH" || code === "SQLITE_TOOBIG" || code === "SQLITE_RANGE";
}

/**
 * A statement SQLite will not prepare because of the target table's shape, the same on every
 * retry (plain SQLITE_ERROR, which is otherwise retried): a table without the PRIMARY KEY or
 * UNIQUE constraint the upsert's ON CONFLICT names (made by the user, or by the engine before a
 * source key column was renamed), a generated column the pipeline writes, a view.
 */
export class TableShapeError extends Error {
  readonly code = "SQLITE_ERROR";
}

/** The shape error behind a failed prepare on `table` (upserted by `key`), or null when it is another error. */
export function tableShapeError(e: unknown, table: string, key: string[]): TableShapeError | null {
  const msg = e instanceof Error ? e.message : String(e);
  if (/ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint/i.test(msg)) {
    return new TableShapeError(`table ${table} has no PRIMARY KEY or UNIQUE constraint on (${key.join(", ")}), the key the pipeline upserts by (${msg})`);
  }
  if (/^cannot (INSERT into|UPDATE) generated column|because it is a view$/i.test(msg)) return new TableShapeError(`table ${table}: ${msg}`);
  return null;
}
