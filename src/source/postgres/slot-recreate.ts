/**
 * The slot made (again) when slot safety says so (slot-safety.ts): what must be cleared from
 * the sinks first is gathered (an early crash's removals, or a --resnapshot's truncates), then
 * the old slot is dropped and the new one created, exporting the snapshot to read.
 */
import type { Logger } from "pino";
import type { SourceConfig } from "../../config/schema.ts";
import type { Pg } from "../../db/postgres-client.ts";
import { clearingTruncate, formatLsn, type Change, type Lsn, type Relation } from "../../types.ts";
import { openSourcePg } from "./connections.ts";
import { decodeRemovals, encodeRemovals, GapChanges, gapRemovals, GapWatch, handOver } from "./gap-deletes.ts";
import { createSlot, dropSlot, type SlotInfo } from "./slot.ts";
import type { SnapshotState } from "./snapshot-state.ts";
import type { TypeDecoders } from "./type-decoders.ts";

export interface SlotRecreateOptions {
  config: SourceConfig;
  sql: Pg;
  /** The replication connection the slot is created on (its exported snapshot lives there). */
  repl: Pg;
  serverVersion: number;
  /** The slot as found, null when missing or invalidated; `slotExists`: there is one to drop. */
  slot: SlotInfo | null;
  slotExists: boolean;
  checkpointLsn: Lsn | null;
  resnapshot: boolean;
  /** See SourceStartOptions.sinksHoldData. */
  sinksHoldData: boolean;
  relations: Map<string, Relation>;
  types: TypeDecoders;
  state: SnapshotState;
  /** The inserts-only publication made for the new slot (publications.ts), or null. */
  second: string | null;
  log: Logger;
  /** createSlot waits (e.g. for open transactions): the health to show meanwhile. */
  onWait: (reason: string) => void;
}

export interface RecreatedSlot {
  /** The new slot's exported snapshot, when one is read. */
  snapshotName: string | null;
  consistentPoint: Lsn;
  /** To hand over before the snapshot (cleanup): an early crash's removals or a --resnapshot's truncates. */
  removals: Change[];
}

export async function recreateSlot(o: SlotRecreateOptions): Promise<RecreatedSlot> {
  const { config: c, sql, repl, slot, relations, types, state, log } = o;
  let removals: Change[] = [];
  let generation: Lsn | undefined;
  // Early-crash re-snapshot: the old slot's removals (gap-deletes.ts), those of the removal state
  // of a crash before, and a temporary slot for what commits while the slot is made again.
  const gap = new GapChanges();
  let prior: Change[] = [];
  let watch: GapWatch | null = null;
  // --resnapshot after lost changes reads the tables again even with `snapshot: never`.
  const snap = c.snapshot === "initial" || (o.resnapshot && o.checkpointLsn !== null);
  // A slot recreated without a checkpoint: made by a start that ended before its first one,
  // or left by a state dir that was lost (deleted, a new volume). What was copied through it
  // may since have been deleted at the source, and the new snapshot cannot show it (gap-deletes.ts).
  if (slot && snap && o.checkpointLsn === null) {
    // The same initial snapshot taken again: its rows keep their names (record-identity.ts).
    const earlierSnapshot = state.slot(c.slot);
    if (earlierSnapshot?.snapshotWanted) generation = earlierSnapshot.generation;
    const earlier = state.removals(c.slot);
    prior = earlier ? decodeRemovals(earlier, relations) : [];
    // Made before the old slot is read: it holds what commits until the new slot starts.
    watch = await GapWatch.open(() => openSourcePg(c, 1), log);
    removals = [...prior, ...(await gapRemovals(sql, c.slot, c.publication, relations, types, log, gap))];
    // Saved before the slot (which holds them) is dropped.
    state.setRemovals(c.slot, removals.length ? encodeRemovals(removals) : null);
  }
  // A lost state dir and a slot gone too (dropped, invalidated): the old slot's removals cannot be
  // read, so what was deleted since the sinks' copies were made stayed there for good (QA: 754
  // rows). Cleared as after a --resnapshot.
  const lostBoth = snap && o.checkpointLsn === null && !slot && o.sinksHoldData;
  if (snap && (o.checkpointLsn !== null || lostBoth)) {
    // --resnapshot after lost changes: the deletes among them never come, and the snapshot
    // cannot show a row that is gone, so a mirror kept such rows for good (QA: a publication
    // dropped while streaming, then slot drop + --resnapshot left a deleted row). The copies
    // are cleared first, in the same hand-over as an early crash's removals.
    removals = [...relations.values()].map(clearingTruncate);
    const why = lostBoth ? `no checkpoint, though the sinks hold positions (the state dir was lost), and replication slot ${c.slot} is gone too` : "--resnapshot after lost changes";
    log.warn({ slot: c.slot, tables: removals.map((r) => r.table) }, `${why}: the sinks' copies of the captured tables are cleared before they are read again (rows deleted in the lost changes would stay otherwise); they fill up as the snapshot goes on`);
  }
  if (o.slotExists) await dropSlot(sql, c.slot);
  const created = await createSlot(repl, c.slot, { serverVersion: o.serverVersion, failover: c.failover, exportSnapshot: snap, twoPhase: c.two_phase, watch: { sql, log, onWait: o.onWait } }).catch(async (e) => {
    await watch?.close();
    throw e;
  });
  if (watch) {
    const before = gap.messages;
    await watch
      .read(gap, created.consistentPoint, c.publication, relations, types)
      .catch((e) => log.warn({ err: (e as Error).message }, "cannot read the temporary slot that watched the re-creation; a delete committed meanwhile may stay in the sinks"))
      .finally(() => watch!.close());
    removals = [...prior, ...handOver(relations, gap)];
    state.setRemovals(c.slot, removals.length ? encodeRemovals(removals) : null);
    log.info({ messages: gap.messages - before, changes: removals.length }, "read what committed while the slot was made again");
  }
  log.info({ slot: c.slot, consistentPoint: formatLsn(created.consistentPoint) }, `created replication slot ${c.slot}`);
  state.resetSlot(c.slot, created.consistentPoint, snap, generation);
  if (o.second) state.markInsertsPublication(c.slot, o.second);
  return { snapshotName: created.snapshotName, consistentPoint: created.consistentPoint, removals };
}
