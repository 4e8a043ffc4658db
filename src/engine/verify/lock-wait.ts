import type { Pg } from "../../db/postgres-client.ts";
import { CdcError } from "../../errors.ts";

/**
 * How long each of verify's reads waits for a lock another session holds on a table (the
 * engine's open transaction, a migration, LOCK TABLE) before it gives up: verify hung for as long
 * as the lock was held (10 minutes were seen on a MySQL metadata lock). `--lock-timeout`, passed
 * down as VerifyOptions.lockTimeoutMs (one run's setting, not the process's).
 */
export const DEFAULT_LOCK_WAIT_MS = 30_000;

/** Postgres 55P03 (lock_timeout), MySQL/MariaDB 1205 (lock_wait_timeout, innodb_lock_wait_timeout), SQLite busy past busy_timeout. */
export function isLockTimeout(e: unknown): boolean {
  const err = e as { code?: unknown; errno?: unknown };
  return err?.code === "55P03" || err?.errno === 1205 || err?.code === "ER_LOCK_WAIT_TIMEOUT" || err?.code === "SQLITE_BUSY";
}

/** What verify reports for a table that stayed locked (the table is then "locked, not compared"). */
export function lockedError(table: string, where: string, ms: number, cause: unknown): CdcError {
  const s = ms / 1000;
  return new CdcError(
    "verify_locked",
    `table ${table} (${where}) is locked by another session: no lock within ${s} s (--lock-timeout ${s}); the engine's open transaction or a migration may hold it, try again later`,
    { component: "verify", cause },
  );
}

export function isLockedError(e: unknown): e is CdcError {
  return e instanceof CdcError && e.code === "verify_locked";
}

/** A read as a lock timeout turns it into lockedError; other errors pass unchanged. */
export async function lockBounded<T>(table: string, where: string, ms: number, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    throw isLockTimeout(e) ? lockedError(table, where, ms, e) : e;
  }
}

/**
 * Runs `read` on one Postgres connection inside a read-only transaction with a bounded lock wait
 * and verify's session settings (SET LOCAL: whichever pooled connection it gets, also one the pool
 * opened again after its idle timeout).
 */
export function pgBounded<T>(sql: Pg, table: string, where: string, ms: number, read: (tx: Pg) => Promise<T>): Promise<T> {
  return lockBounded(table, where, ms, () =>
    sql.begin("read only", async (tx) => {
      await tx.unsafe(
        "select set_config('lock_timeout', $1, true), set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, MDY', true), set_config('extra_float_digits', '1', true), set_config('IntervalStyle', 'postgres', true)",
        [`${ms}ms`],
      );
      return read(tx as unknown as Pg);
    }) as Promise<T>,
  );
}
