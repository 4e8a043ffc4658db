/**
 * What is read before the stream starts: the slot's initial snapshot (after the removals it
 * hands over first), tables added since the slot was made, reads a crash left unfinished, and
 * new pipelines' backfills.
 */
import type { Logger } from "pino";
import type { SourceConfig } from "../../config/schema.ts";
import type { Pg } from "../../db/postgres-client.ts";
import type { Change, Lsn, Relation } from "../../types.ts";
import type { SourceStartOptions } from "../source.ts";
import { addedTables, exportForAdded } from "./added-tables.ts";
import { resolveTables } from "./catalog.ts";
import { readBackfill } from "./backfill-read.ts";
import { openReplicationPg } from "./connections.ts";
import { resumedTables, saveResumedReads } from "./resumed-reads.ts";
import { runSnapshot } from "./snapshot.ts";
import type { SnapshotSaves } from "./snapshot-saves.ts";
import type { SnapshotState, TableProgress } from "./snapshot-state.ts";
import type { TypeDecoders } from "./type-decoders.ts";

export interface ReadsBeforeStreamOptions {
  config: SourceConfig;
  start: SourceStartOptions;
  sql: Pg;
  serverVersion: number;
  tables: string[];
  relations: Map<string, Relation>;
  types: TypeDecoders;
  state: SnapshotState;
  log: Logger;
  /** The slot was made in this start (recreateSlot), with its snapshot and removals. */
  recreate: boolean;
  snapshotName: string | null;
  consistentPoint: Lsn;
  removals: Change[];
  saves: SnapshotSaves;
  /** Per table, for stats(). */
  progress: Map<string, TableProgress>;
  stopped: () => boolean;
  /** The slot's snapshot is read from here. */
  onSnapshot: () => void;
}

/** False when stopped before the reads finished: the start ends there, without streaming. */
export async function readBeforeStream(o: ReadsBeforeStreamOptions): Promise<boolean> {
  const { config: c, start: opts, sql, tables, relations, types, state, log, recreate, consistentPoint } = o;
  const wanted = state.slot(c.slot)!.snapshotWanted;
  // New pipelines' tables, read for them alone (backfill-read.ts): not when the slot was made
  // anew (its snapshot covers every pipeline), not the tables new to the slot (read for all).
  const asked = opts.backfill?.length && !recreate ? new Set(await resolveTables(sql, opts.backfill)) : new Set<string>();
  const added = recreate ? [] : addedTables(tables, state.progress(c.slot));
  // A table the slot's own snapshot has not finished (a resumed one) reaches every pipeline from there.
  const progress = state.progress(c.slot);
  const backfill = tables.filter((t) => asked.has(t) && !added.includes(t) && (!wanted || progress.get(t)?.done === true));
  // Tables a crash left unfinished: read on in the same temporary slot's snapshot (resumed-reads.ts).
  const resumed = wanted && !recreate ? resumedTables(tables, progress) : [];
  let read: Awaited<ReturnType<typeof exportForAdded>> = null;
  if (wanted) {
    o.onSnapshot();
    const chunkLsn = consistentPoint - 1n;
    o.saves.barrier = opts.checkpointLsn !== null && opts.checkpointLsn > chunkLsn ? opts.checkpointLsn : chunkLsn;
    const snapshotOf = state.slot(c.slot)!.generation; // the name of the slot's initial snapshot (record-identity.ts)
    if (o.removals.length) {
      await opts.onTxn({ lsn: chunkLsn, endLsn: chunkLsn, xid: 0, commitTime: BigInt(Date.now()) * 1000n, changes: o.removals, snapshot: true, cleanup: true, snapshotOf });
      o.saves.removalsHanded = true;
    }
    // tables added since the slot was made: read in a temporary slot's snapshot (added-tables.ts)
    read = added.length || backfill.length || resumed.length ? await exportForAdded(() => openReplicationPg(c), c.slot, o.serverVersion, added, log, backfill, sql) : null;
    if (read && added.length) state.setAddedSince(c.slot, added, read.consistentPoint);
    saveResumedReads(state, c.slot, resumed, progress, read?.consistentPoint ?? null, log);
    const complete = await runSnapshot({
      sql,
      snapshotName: read?.snapshotName ?? o.snapshotName,
      slot: c.slot,
      tables,
      relations,
      chunkSize: c.snapshot_chunk_size,
      lsn: consistentPoint - 1n,
      generation: snapshotOf,
      state,
      types,
      log,
      onTxn: (t) => opts.onTxn(t),
      handed: (p) => o.saves.handed(p),
      progress: o.progress,
      stopped: o.stopped,
    }).catch(async (e) => {
      await read?.repl.end({ timeout: 1 }).catch(() => {});
      throw e;
    });
    if (!complete) {
      await read?.repl.end({ timeout: 1 }).catch(() => {});
      return false;
    }
  } else if (backfill.length) {
    read = await exportForAdded(() => openReplicationPg(c), c.slot, o.serverVersion, [], log, backfill, sql);
  }
  if (opts.backfill?.length) {
    const done = await readBackfill({ sql, read, slot: c.slot, tables: backfill, relations, chunkSize: c.snapshot_chunk_size, state, types, log, onTxn: (t) => opts.onTxn(t), stopped: o.stopped }).finally(() =>
      read?.repl.end({ timeout: 1 }).catch(() => {}),
    );
    if (!done) return false;
  } else await read?.repl.end({ timeout: 1 }).catch(() => {});
  return true;
}
