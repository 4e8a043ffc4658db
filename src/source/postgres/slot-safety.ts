/**
 * Slot safety at start: compare the engine's checkpoint with the slot and decide whether to
 * stream on, (re)create the slot, or refuse because changes were lost (DESIGN.md "Exactly-once").
 */
import type { Logger } from "pino";
import { CdcError } from "../../errors.ts";
import { formatLsn, type Lsn } from "../../types.ts";
import type { SlotInfo } from "./slot.ts";

export interface SlotDecisionInput {
  slotName: string;
  /** The slot as the server has it (null: missing; wal_status "lost" counts as missing). */
  slot: SlotInfo | null;
  checkpointLsn: Lsn | null;
  resnapshot: boolean;
  /** Consistent point of the slot this state dir created, if it did. */
  ours: Lsn | null;
  snapshot: "initial" | "never";
  /** The slot is there but invalidated (wal_status lost): said as such, not as "missing". */
  invalidated?: boolean;
  log: Logger;
}

/** true: drop (if present) and create the slot; false: stream on from it. Throws slot_lost. */
export function mustRecreateSlot(i: SlotDecisionInput): boolean {
  const { slot, slotName: name } = i;
  if (i.checkpointLsn !== null) {
    const cp = i.checkpointLsn;
    // +1: a snapshot's position is consistent point - 1 while the slot sits at the consistent point.
    const lost = !slot || slot.confirmedFlushLsn === null || slot.confirmedFlushLsn > cp + 1n;
    if (!lost) {
      if (i.resnapshot) i.log.info({ slot: name }, `slot ${name} is intact at ${formatLsn(slot!.confirmedFlushLsn!)}; --resnapshot not needed, streaming on`);
      return false;
    }
    const why = !slot
      ? i.invalidated
        ? `replication slot ${name} was invalidated: the server removed WAL it still needed (max_slot_wal_keep_size)`
        : `replication slot ${name} is missing (dropped or invalidated)`
      : `replication slot ${name} is at ${formatLsn(slot.confirmedFlushLsn!)}, past the checkpoint ${formatLsn(cp)} (recreated or advanced by someone else)`;
    if (!i.resnapshot) {
      throw new CdcError("slot_lost", `${why}: changes in between are lost. Start with --resnapshot to recreate the slot and snapshot the tables again`, { component: "source" });
    }
    i.log.warn({ slot: name }, `${why}; --resnapshot: recreating the slot and snapshotting again`);
    return true;
  }
  if (!slot) return true;
  // No checkpoint: nothing was confirmed past the slot's start, so a new slot loses nothing.
  // With an initial snapshot it must be new: a slot we know nothing of cannot give a consistent
  // snapshot, and one this state dir created before a crash has lost its exported snapshot. Read
  // fresh and then replayed from the slot's start, every change made in between was applied twice
  // (windows and GROUP BY doubled, webhook rows sent twice, after a kill -9 in the first seconds).
  if (i.snapshot === "initial") {
    const ours = i.ours !== null && slot.confirmedFlushLsn !== null && slot.confirmedFlushLsn <= i.ours;
    i.log.warn({ slot: name }, ours ? `replication slot ${name} was created by a start that ended before its first checkpoint; recreating it and taking the initial snapshot again` : `replication slot ${name} exists without a checkpoint; recreating it for a consistent initial snapshot`);
    return true;
  }
  return false;
}
