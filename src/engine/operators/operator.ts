import type { Txn, Row, Lsn, Change, Relation } from "../../types.ts";

/**
 * A record leaving an operator chain toward the sinks. `op` is "upsert" or "delete" (keyed
 * results, e.g. a window's row or a retraction when a window empties) or "truncate".
 * `table` is the output table name; `key` the columns that identify the row there.
 */
export interface EmittedRow {
  op: "upsert" | "delete" | "truncate";
  row: Row;
  before?: Row | null;
  unchangedToast?: string[];
  /** The source change this came from (undefined for window results emitted on watermark). */
  source?: Change;
}

export interface Emit {
  (row: EmittedRow): void;
}

export interface RejectedRow {
  row: Row;
  reason: string;
  source?: Change;
}

/** Context an operator may use: its pipeline, the DLQ, counters. No wall clock inside process(). */
export interface OperatorContext {
  pipeline: string;
  reject(r: RejectedRow): void;
  count(metric: "late_rows" | "join_misses" | "rejected_rows", n?: number): void;
}

/**
 * A stream operator (DESIGN.md): deterministic given its input and state.
 * `process` sees every committed transaction routed to the pipeline, in commit order.
 */
export interface Operator {
  process(txn: Txn, emit: Emit): void | Promise<void>;
  /** Event-time progress (ms since epoch): close windows, release waiting join rows. */
  onWatermark?(watermarkMs: number, emit: Emit): void;
  snapshot(): unknown;
  restore(state: unknown): void;
  /**
   * Incremental checkpoints: full the first time (and after fullNext()), then what changed since
   * the previous call. restore() takes the full one and then each later one, in order.
   */
  snapshotDelta?(): unknown;
  fullNext?(): void;
  /** Release files the operator holds (its spill file); the runtime calls it when it stops. */
  close?(): void;
  /** Rows wait for a lookup-join match (released by later commit times or the idle tick). */
  hasWaiting?(): boolean;
  /** The source tables' columns at start (a joined table's, before any of its changes). */
  knowRelations?(relations: Relation[]): void;
}

export type { Lsn };
