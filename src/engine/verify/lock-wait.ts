import type { Pg } from "../../db/postgres-client.ts";
import { CdcError } from "../../errors.ts";

/**
 * How long each of verify's reads waits for a lock another session holds on a table (the
 * engine's open transaction, a migration, LOCK TABLE) before it gives up: verify hung for as long
 * as the lock was held (10 minutes were seen on a MySQL metadata lock). Set by `--lock-timeout`.
 */
let lockWaitMs = 30_000;

export function setLockWait(ms: number): void {
  lockWaitMs = ms;
}

export function lockWait(): number {
  return lockWaitMs;
}

/** Postgres 55P03 (lock_timeout), MySQL/MariaDB 1205 (lock_wait_timeout, innodb_lock_wait_timeout). */
export function isLockTimeout(e: unknown): boolean {
  const err = e as { code?: unknown; errno?: unknown };
  return err?.code === "55P03" || err?.errno === 1205 || err?.code === "ER_LOCK_WAIT_TIMEOUT";
}

/** The one line verify ends with when a table stayed locked. */
export function lockedError(table: string, where: string, cause: unknown): CdcError {
  const s = lockWaitMs / 1000;
  return new CdcError(
    "verify_locked",
    `table ${table} (${where}) is locked by another session: no lock within ${s} s (--lock-timeout ${s}); the engine's open transaction or a migration may hold it, try again later`,
    { component: "verify", cause },
  );
}

/** A read as a lock timeout turns it into lockedError; other errors pass unchanged. */
export async function lockBounded<T>(table: string, where: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    throw isLockTimeout(e) ? lockedError(table, where, e) : e;
  }
}

/**
 * Runs `read` on one Postgres connection inside a read-only transaction with a bounded lock wait
 * and verify's session settings (SET LOCAL: whichever pooled connection it gets, also one the pool
 * opened again after its idle timeout).
 */
export function pgBounded<T>(sql: Pg, table: string, where: string, read: (tx: Pg) => Promise<T>): Promise<T> {
  return lockBounded(table, where, () =>
    sql.begin("read only", async (tx) => {
      await tx.unsafe(
        "select set_config('lock_timeout', $1, true), set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, MDY', true), set_config('extra_float_digits', '1', true), set_config('IntervalStyle', 'postgres', true)",
        [`${lockWaitMs}ms`],
      );
      return read(tx as unknown as Pg);
    }) as Promise<T>,
  );
}
