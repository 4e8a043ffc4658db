/**
 * The source's half of a new pipeline's backfill (src/engine/backfill.ts): the pipeline's tables
 * are read in a temporary slot's exported snapshot taken at S (the one added tables are read in,
 * when there are any), every chunk marked `backfill: { since: S }` at lsn S - 1, then a marker
 * with `end`. The engine gives these to the new pipelines only and has them skip the stream's
 * transactions below S, which the read holds; the other pipelines see nothing of it.
 */
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import type { Lsn, Relation, Txn } from "../../types.ts";
import type { AddedRead } from "./added-tables.ts";
import { runSnapshot } from "./snapshot.ts";
import type { SnapshotState } from "./snapshot-state.ts";
import type { TypeDecoders } from "./type-decoders.ts";

export interface BackfillArgs {
  sql: Pg;
  /** The temporary slot's snapshot; null when none could be made (nothing is read then). */
  read: AddedRead | null;
  slot: string;
  tables: string[];
  relations: Map<string, Relation>;
  chunkSize: number;
  state: SnapshotState;
  types: TypeDecoders;
  log: Logger;
  onTxn(txn: Txn): Promise<void>;
  stopped(): boolean;
}

/** Reads the tables and hands the end marker over; false when stopped midway (no marker: the next start reads again). */
export async function readBackfill(a: BackfillArgs): Promise<boolean> {
  const end = (since: Lsn | null, lsn: Lsn, missed = false) =>
    a.onTxn({ lsn, endLsn: lsn, xid: 0, commitTime: BigInt(Date.now()) * 1000n, changes: [], snapshot: true, backfill: { since, end: true, ...(missed ? { missed } : {}) } });
  if (!a.read || !a.tables.length) {
    // Nothing to read (the tables are new to the slot and read for every pipeline, or the slot
    // was made anew and its snapshot covers every pipeline), or no temporary slot (`missed`: the
    // new pipelines go on from here and the next start tries again).
    await end(null, 0n, a.tables.length > 0);
    return true;
  }
  const since = a.read.consistentPoint;
  a.log.info({ tables: a.tables }, "backfill of new pipelines: reading their tables in the temporary slot's snapshot");
  const done = await runSnapshot({
    sql: a.sql,
    snapshotName: a.read.snapshotName,
    // Progress under a key of its own, never saved: a backfill cut short is read again whole.
    slot: `${a.slot}#backfill`,
    tables: a.tables,
    relations: a.relations,
    chunkSize: a.chunkSize,
    lsn: since - 1n,
    state: a.state,
    types: a.types,
    log: a.log,
    onTxn: (t) => a.onTxn({ ...t, backfill: { since } }),
    handed: () => {},
    progress: new Map(),
    stopped: a.stopped,
    label: "backfill",
  });
  if (done) await end(since, since - 1n);
  return done;
}
