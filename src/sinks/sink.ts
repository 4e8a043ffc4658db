import type { z } from "zod";
import type { Logger } from "pino";
import type { Lsn, Row, Column } from "../types.ts";

/**
 * The contract between the engine and every sink (see DESIGN.md, "Exactly-once").
 * A batch always ends on a source-transaction boundary, so `batch.lsn` is a position the
 * sink may store. Transactional sinks store it in the same transaction as the rows;
 * the others fence idempotent writes with it. `position(pipeline)` is read back at start
 * so that a replay skips what is at or below it.
 */
export interface OutputTable {
  /** Target table name in the sink ("schema.table" for mirrors, the configured name otherwise). */
  name: string;
  columns: Column[];
  /** Key columns (upsert and delete by these); empty = append-only. */
  key: string[];
}

export type OutputOp = "upsert" | "delete" | "truncate";

export interface OutputRecord {
  op: OutputOp;
  table: OutputTable;
  /** Full row for upsert; at least the key for delete. */
  row: Row;
  /** Previous row, when known (updates with REPLICA IDENTITY FULL, deletes, retractions). */
  before?: Row | null;
  /** Columns to leave untouched on upsert (unchanged TOAST values). */
  unchangedToast?: string[];
  truncate?: { cascade: boolean; restartIdentity: boolean };
  /** Source commit LSN and the record's index within that transaction's output: a stable identity. */
  lsn: Lsn;
  index: number;
  commitTime: bigint;
  /** The source table and operation that produced this record (for envelopes and the DLQ). */
  source: { table: string; op: string; xid: number };
}

export interface OutputBatch {
  pipeline: string;
  records: OutputRecord[];
  /** Commit LSN of the last source transaction fully contained in this batch. */
  lsn: Lsn;
}

export type HealthStatus = "up" | "down" | "degraded";
export interface Health {
  status: HealthStatus;
  reason?: string;
  details?: Record<string, unknown>;
}

/** Handed to a sink when it opens. */
export interface SinkContext {
  name: string;
  /** Pipelines that write to this sink, with the per-pipeline target options (`to:`). */
  targets: { pipeline: string; options: Record<string, unknown> }[];
  stateDir: string;
  log: Logger;
  /** Send a record the sink rejects permanently to the dead-letter queue; the pipeline goes on. */
  deadLetter(record: OutputRecord, error: string): void;
}

export interface Sink {
  open(ctx: SinkContext): Promise<void>;
  /** Durable position for a pipeline, or null when it has written nothing yet. */
  position(pipeline: string): Lsn | null;
  /** Resolves once the batch and its position are durable. */
  write(batch: OutputBatch): Promise<void>;
  health(): Promise<Health>;
  close(): Promise<void>;
}

export interface SinkFactory<S extends z.ZodType = z.ZodType> {
  type: string;
  /** Schema of the sink's block under `sinks:` (without `type`, which the registry adds). */
  configSchema: S;
  /** Schema of the per-pipeline options under `to:` (sink-specific keys such as redis key templates). */
  targetSchema?: z.ZodType;
  create(config: z.infer<S>): Sink;
  /** Connect and return a one-line description, or throw: used by `cdc-engine check`. */
  check(config: z.infer<S>): Promise<string>;
}
