import type { Lsn } from "../types.ts";
import type { OutputBatch, OutputRecord } from "./sink.ts";
import { REPLAY_LSN } from "../dlq/replay-lsn.ts";

/**
 * The part of a batch a sink that keeps its own position still has to write: null when it
 * already holds all of it (a replay after a restart), else the records above its position.
 * A DLQ replay (REPLAY_LSN) bypasses the fence and must not move the position. `store` says
 * whether the write may store batch.lsn as the position: not for a DLQ replay, nor for a part
 * of a large transaction before its last (a crash there replays the whole transaction, whose
 * parts must not be skipped). Snapshot batches (OutputBatch.snapshot) are skipped only once the
 * position is past their LSN.
 */
export function unseenRecords(batch: OutputBatch, position: Lsn | null | undefined): { replay: boolean; store: boolean; records: OutputRecord[] } | null {
  const replay = batch.lsn === REPLAY_LSN;
  const pos = position ?? null;
  if (!replay && batch.snapshot) {
    // All snapshot chunks share one LSN: a position equal to it says nothing about this chunk (upserts make it harmless again).
    return pos !== null && batch.lsn < pos ? null : { replay: false, store: true, records: batch.records };
  }
  if (!replay && pos !== null && batch.lsn <= pos) return null;
  const store = !replay && (!batch.part || batch.part.last);
  return { replay, store, records: replay || pos === null ? batch.records : batch.records.filter((r) => r.lsn > pos) };
}
