import type { Lsn, Row } from "../types.ts";

/**
 * The dead-letter queue as the engine and sinks use it: a row that a transform, a validation
 * or a sink rejects permanently is kept with its reason and position; the pipeline goes on.
 * Implemented by src/dlq/store.ts (SQLite under state.dir); `cdc-engine dlq` manages it.
 */
export interface DeadLetter {
  pipeline: string;
  /** Sink name, or the stage that rejected it ("transform", "validate", "window"). */
  stage: string;
  table: string;
  row: Row;
  error: string;
  lsn: Lsn;
}

export interface DeadLetters {
  /** False when the same record is queued already (a replay after a crash refused it again). */
  put(entry: DeadLetter): boolean | void;
  count(pipeline?: string): number;
}
