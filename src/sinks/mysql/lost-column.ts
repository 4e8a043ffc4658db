/**
 * ER_BAD_FIELD_ERROR: a statement names a column the server does not know. The sink caches each
 * target's columns, so a column dropped by hand (ALTER TABLE … DROP COLUMN) while the engine runs
 * failed every later write, retried until a restart. On this error the sink reads the batch's
 * tables again once, adds what is missing, and writes again; a 1054 that is still there (e.g. a
 * trigger naming a column of another table) is then that row's error and sends it to the DLQ.
 */
export function isUnknownColumn(e: unknown): boolean {
  return (e as { errno?: number })?.errno === 1054;
}

/** Thrown inside a large transaction's part when re-reading found a column to add: the open transaction must end first (ALTER TABLE waits for its metadata lock). */
export class LostColumnError extends Error {
  constructor(readonly server: Error) {
    super(`a target column was dropped meanwhile (${server.message}); it was added again`, { cause: server });
  }
}
