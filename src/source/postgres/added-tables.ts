/**
 * Tables captured after the slot was made (a `public.*` pattern picking up a new table, a table
 * added to `from:`) are read at the next start while the slot goes on from where it was. The
 * publication takes them in first, so the stream carries their changes from then on; a plain
 * read afterwards also holds the rows written in between, and a table without a key got those
 * rows twice. As PostgreSQL's own table sync does: a temporary slot exports a snapshot at its
 * consistent point S, the tables are read in that snapshot, and the stream drops their changes
 * of transactions that committed before S (the read holds them). S is kept per table in the
 * state dir, so a restart before the stream passes S still drops them.
 */
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import { formatLsn, type Lsn, type Txn } from "../../types.ts";
import { errorMessage } from "../../errors.ts";
import { createSlot } from "./slot.ts";

export interface AddedRead {
  /** The replication connection holding the temporary slot: the snapshot lives while it is open. */
  repl: Pg;
  snapshotName: string;
  consistentPoint: Lsn;
}

/** Tables never read in this slot's snapshot (none of their progress saved). */
export function addedTables(tables: string[], saved: Map<string, unknown>): string[] {
  return tables.filter((t) => !saved.has(t));
}

/**
 * A temporary slot exporting a snapshot, on a replication connection of its own. Null when it
 * cannot be made (no free replication slot, an old server): the tables are then read fresh, as
 * before, and a table without a key may get the rows written meanwhile twice (said in the log).
 */
export async function exportForAdded(open: () => Pg, slot: string, serverVersion: number, tables: string[], log: Logger, backfill: string[] = [], sql?: Pg): Promise<AddedRead | null> {
  const repl = open();
  const name = `${slot.slice(0, 40)}_add_${process.pid}_${Date.now() % 100_000}`;
  try {
    const created = await createSlot(repl, name, { serverVersion, failover: false, exportSnapshot: true, temporary: true, ...(sql ? { watch: { sql, log } } : {}) });
    if (!created.snapshotName) throw new Error("no snapshot exported");
    if (tables.length) log.info({ tables, consistentPoint: formatLsn(created.consistentPoint) }, "tables added since the slot was made: read in the snapshot of a temporary slot; their changes committed before it are dropped from the stream");
    if (backfill.length) log.info({ tables: backfill, consistentPoint: formatLsn(created.consistentPoint) }, "tables of new pipelines: read for them in the snapshot of a temporary slot; they skip the stream's changes committed before it");
    return { repl, snapshotName: created.snapshotName, consistentPoint: created.consistentPoint };
  } catch (e) {
    await repl.end({ timeout: 1 }).catch(() => {});
    if (tables.length) log.warn({ tables, err: errorMessage(e) }, "could not make a temporary slot for the tables added since the slot was made: reading them fresh (a table without a key may get the rows written meanwhile twice)");
    if (backfill.length) log.warn({ tables: backfill, err: errorMessage(e) }, "could not make a temporary slot to backfill new pipelines: they get changes from now on only (free a replication slot and restart to backfill them)");
    return null;
  }
}

/**
 * `onTxn` without the changes of an added table in transactions that committed before its read
 * (`since`: table → the read's consistent point). A transaction left without changes still goes
 * on (its position moves the sinks and the checkpoints).
 */
export function dropBeforeRead(onTxn: (t: Txn) => Promise<void>, since: Map<string, Lsn>): (t: Txn) => Promise<void> {
  if (!since.size) return onTxn;
  let last: Lsn = 0n;
  for (const s of since.values()) if (s > last) last = s;
  return (t) => {
    if (t.lsn >= last || t.snapshot) return onTxn(t);
    const changes = t.changes.filter((c) => {
      const s = since.get(c.table);
      return s === undefined || t.lsn >= s;
    });
    return onTxn(changes.length === t.changes.length ? t : { ...t, changes });
  };
}
