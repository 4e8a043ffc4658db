import type { Logger } from "pino";
import type { OutputRecord } from "../sinks/sink.ts";
import { clearingTruncate, type Change, type Lsn, type Txn } from "../types.ts";
import type { SupersededLetters } from "../dlq/superseded.ts";
import type { LeaderboardTap } from "./leaderboard-tap.ts";
import type { PipelineState } from "./pipeline-state.ts";

export interface TxnProcessorDeps {
  pipelines: PipelineState[];
  /** Dead letters a newer change of their key went past (null: the DLQ is not the runtime's own). */
  superseded: SupersededLetters | null;
  tap: LeaderboardTap | null;
  /** How many times the state dir was started, this start included (CheckpointStore.countStart). */
  starts: number;
  log: Logger;
}

/**
 * A transaction's way through one pipeline's operators to its writers: the record indexes that
 * make (lsn, index) one record's identity, and the backfill chunks of new pipelines.
 */
export function txnProcessor(d: TxnProcessorDeps) {
  const { pipelines, superseded, tap, log } = d;
  const route = async (ps: PipelineState, records: OutputRecord[], lsn: Lsn, snapshot: boolean, complete = true) => {
    if (tap && records.length && ps.runner.name === tap.spec.pipeline) tap.add(records);
    if (ps.writers.length === 1) return ps.writers[0].add(records, lsn, snapshot, complete);
    await Promise.all(ps.writers.map((w, i) => w.add(ps.renames[i] ? ps.renames[i]!(records) : records, lsn, snapshot, complete)));
  };
  // Record indexes keep counting across the parts of one large transaction (a stable identity per LSN).
  const partOffset = new Map<string, number>();
  const snapshotOffset = new Map<string, number>();
  // Each start numbers its snapshot records above the last start's (same LSN after a resume): a
  // sink's progress by (lsn, index) and a Redis stream's entry IDs do not take a re-read row for
  // one already written (record-identity.ts). 2^32 records a start, 2^20 starts before it wraps.
  const snapshotIndexBase = ((d.starts - 1) % 2 ** 20) * 2 ** 32;

  /** One transaction (or part) through one pipeline's operators to its writers. */
  const processTxn = async (ps: PipelineState, txn: Txn) => {
    // Operators already saw everything up to the checkpoint; sinks skip by their own position.
    if (ps.runner.stateful && !txn.snapshot && ps.processedLsn !== null && txn.lsn <= ps.processedLsn) return;
    // Windows and GROUP BY rebuild their state from the new snapshot: the rows removed before it are
    // not theirs. Mirrors and row-wise pipelines (select, where, join) delete those rows' outputs.
    // A truncate is theirs: --resnapshot after lost changes clears every table this way, and their
    // state restored from the checkpoint still held rows deleted in the lost changes (QA: a GROUP BY
    // counted 2,601 rows of 1,935). After an early crash their state is empty: it takes nothing back.
    if (ps.runner.aggregating && txn.cleanup) {
      const truncates = txn.changes.filter((c) => c.op === "truncate");
      if (!truncates.length) return;
      txn = { ...txn, changes: truncates };
    }
    const touches = txn.changes.some((c) => ps.runner.reads(c.table));
    // Rows waiting for a join match expire by commit time: traffic on other tables moves it on
    // too (the idle tick alone never came while other tables were busy: QA saw 38 s for 2 s).
    const expire = !touches && !txn.part && !txn.snapshot && ps.runner.hasWaiting?.() === true;
    if (touches) superseded?.changes(ps.runner.name, txn.changes, txn.lsn);
    let records = touches ? await ps.runner.process(txn) : expire ? await ps.runner.process({ ...txn, changes: [] }) : [];
    const complete = !txn.part || txn.part.last;
    ps.inPart = !complete;
    if (txn.part) {
      const off = txn.part.index === 0 ? 0 : (partOffset.get(ps.runner.name) ?? 0);
      if (off) records = records.map((r) => ({ ...r, index: r.index + off }));
      // Past the highest index, not by the count: a mirror numbers a part's changes before it drops
      // other pipelines' tables, so its indexes have gaps, and counting made the next part reuse
      // them (QA: 162 records of a 30,000-row part shared (lsn, index) with others; a Redis stream
      // refused them as already there, and an HTTP receiver de-duplicating by them lost them).
      partOffset.set(ps.runner.name, records.length ? nextIndex(records) : off);
    } else if (txn.snapshot) {
      // Every snapshot chunk has the same LSN: indexes keep counting across chunks, so (lsn, index)
      // stays one record's identity (HTTP Idempotency-Key, BigQuery insertId).
      const off = snapshotOffset.get(ps.runner.name) ?? snapshotIndexBase;
      const of = txn.snapshotOf;
      if (off || of !== undefined) records = records.map((r) => ({ ...r, index: r.index + off, ...(of !== undefined ? { snapshotOf: of } : {}) }));
      snapshotOffset.set(ps.runner.name, records.length ? nextIndex(records) : off);
    }
    await route(ps, records, txn.lsn, txn.snapshot === true, complete);
    if (complete && (ps.processedLsn === null || txn.lsn > ps.processedLsn)) ps.processedLsn = txn.lsn;
  };

  /** A new pipeline's backfill chunk or end marker (backfill.ts): for the pipelines being backfilled only. */
  const backfillTxn = async (txn: Txn) => {
    const b = txn.backfill!;
    for (const ps of pipelines) {
      if (!ps.backfill) continue;
      if (b.since !== null) ps.backfill.since = b.since;
      if (b.end) {
        ps.backfill.ended = true;
        ps.backfill.missed = b.missed === true;
        if (b.since === null) continue; // nothing was read for it (see backfill-read.ts)
        log.info({ pipeline: ps.runner.name }, `backfill of pipeline '${ps.runner.name}' read; it goes on with the stream`);
      }
      if (ps.backfill.again && !b.end) await clearBeforeReadAgain(ps, txn);
      // Chunks carry the backfill's name (Backfills.names), the same in every read of it after a crash.
      await processTxn(ps, ps.backfill.name !== undefined && !b.end ? { ...txn, snapshotOf: ps.backfill.name } : txn);
    }
  };

  /** A backfill read again (see Backfills.choose): a truncate of each table before its first chunk. */
  const clearBeforeReadAgain = async (ps: PipelineState, txn: Txn) => {
    const cleared = (ps.backfill!.cleared ??= new Set());
    const truncates: Change[] = [];
    let last = ""; // a chunk holds one table's rows: one lookup per run, not per row
    for (const c of txn.changes) {
      if (c.table === last) continue;
      last = c.table;
      if (cleared.has(c.table)) continue;
      cleared.add(c.table);
      truncates.push(clearingTruncate(c.relation));
    }
    if (!truncates.length) return;
    log.info({ pipeline: ps.runner.name, tables: truncates.map((c) => c.table) }, "backfill read again after a cut: its copies of the tables are cleared first (rows deleted since the first read would stay otherwise)");
    await processTxn(ps, { ...txn, changes: truncates, cleanup: true });
  };

  return { route, processTxn, backfillTxn };
}

/** One above the highest record index (records are not always numbered densely, see processTxn). */
function nextIndex(records: OutputRecord[]): number {
  let max = -1;
  for (const r of records) if (r.index > max) max = r.index;
  return max + 1;
}
