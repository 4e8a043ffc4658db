import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { Lsn } from "../types.ts";
import type { DeadLetters } from "../dlq/dead-letters.ts";
import type { DlqStore } from "../dlq/store.ts";
import { SupersededLetters } from "../dlq/superseded.ts";
import { errorMessage } from "../errors.ts";
import { dlqPendingRows } from "../metrics/metrics.ts";
import type { RejectedRow } from "./operators/operator.ts";
import type { ReplayGate } from "./dlq-replayer.ts";

/** A full recount of the pending gauge at least this often, whatever the data_version says. */
const RECOUNT_EVERY_MS = 10 * 60_000;

export interface RuntimeDeadLettersDeps {
  config: Config;
  /** The runtime's own store (null: dead letters were injected as `dlq`). */
  ownDlq: DlqStore | null;
  dlq: DeadLetters;
  gate: ReplayGate;
  log: Logger;
  /** The LSN of the transaction being processed (null: none yet). */
  currentLsn(): Lsn | null;
}

/**
 * The runtime's side of the dead-letter queue: operators' rejected rows queued, the pending-rows
 * gauge, and the watch for newer changes of a dead letter's key.
 */
export function runtimeDeadLetters(d: RuntimeDeadLettersDeps) {
  const { config, ownDlq, dlq, gate, log } = d;
  // Dead letters a newer change of their key went past (sink batches written, changes processed).
  const superseded = ownDlq
    ? new SupersededLetters(ownDlq, () => log.warn({ limit: SupersededLetters.LIMIT }, "the dead-letter queue holds more keys than are watched for newer changes: entries past the limit are replayed as captured, even when a newer change of their key came since"))
    : null;

  /** The `reject` of pipeline `pipeline`'s operators: the row goes to the dead-letter queue. */
  const rejectFor = (pipeline: string) => (r: RejectedRow) => {
    if (gate.intercept(`pipeline:${pipeline}`, r.reason)) return; // a replayed row rejected again: it keeps its queue entry
    const entry = { pipeline, stage: "operator", table: r.source?.table ?? "", row: r.row, error: r.reason, lsn: d.currentLsn() ?? 0n };
    const queued = ownDlq ? ownDlq.put({ ...entry, ...(r.source ? { source: r.source } : {}) }) : dlq.put(entry);
    if (queued !== false) dlqPendingRows.inc({ pipeline });
  };

  /** cdc_engine_dlq_pending_rows from the store (puts increment it in between; `dlq purge` from the CLI shows up here). */
  let countedVersion: number | null = null;
  let countedAt = 0;
  const refreshDlqPending = () => {
    try {
      countedVersion = ownDlq?.dataVersion() ?? null;
      countedAt = Date.now();
      for (const p of config.pipelines) dlqPendingRows.set({ pipeline: p.name }, dlq.count(p.name));
    } catch (e) {
      log.warn({ err: errorMessage(e) }, "cannot count dead letters");
    }
  };
  /**
   * The idle tick's recount, only when another process wrote the queue (`dlq purge`/`replay` from the
   * CLI: SQLite's data_version moves) or every RECOUNT_EVERY_MS: this process's puts increment the
   * gauge and its replays recount. Counting each pipeline every 10 s scanned an index of the whole
   * queue on the main thread, ~25 ms per pipeline per million dead letters: a queue that keeps
   * growing (examples/warehouse.yaml's invalid orders, 6/s in the soak: 3.6 M a week) made it a stall.
   */
  const refreshDlqPendingIfChanged = () => {
    try {
      if (ownDlq && ownDlq.dataVersion() === countedVersion && Date.now() - countedAt < RECOUNT_EVERY_MS) return;
    } catch {
      // the recount below says what is wrong with the store
    }
    refreshDlqPending();
  };

  return { superseded, rejectFor, refreshDlqPending, refreshDlqPendingIfChanged };
}
