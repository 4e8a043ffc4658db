import type { z } from "zod";
import type { Logger } from "pino";
import type { Lsn, Row, Column, WireTuple } from "../types.ts";
import { formatLsn } from "../types.ts";

/**
 * The contract between the engine and every sink (see DESIGN.md, "Exactly-once").
 * A batch always ends on a source-transaction boundary (or is a part of one large transaction,
 * see OutputBatch.part), so `batch.lsn` is a position the sink may store. Transactional sinks store it in the same transaction as the rows;
 * the others fence idempotent writes with it. `position(pipeline)` is read back at start
 * so that a replay skips what is at or below it.
 */
export interface OutputTable {
  /** Target table name in the sink ("schema.table" for mirrors, the configured name otherwise). */
  name: string;
  columns: Column[];
  /** Key columns (upsert and delete by these); empty = append-only, except records addressed by their old row (byOldRow). */
  key: string[];
  /**
   * The key is an aggregate's group (group_by, window.key, or a `to: {key}` of such a pipeline),
   * not a row's identity: a value may be NULL, and all NULLs of a key column are one group, as
   * in SQL's GROUP BY.
   */
  nullableKey?: boolean;
}

export type OutputOp = "upsert" | "delete" | "truncate";

export interface OutputRecord {
  op: OutputOp;
  table: OutputTable;
  /** Full row for upsert; at least the key for delete. */
  row: Row;
  /** Previous row, when known (updates with REPLICA IDENTITY FULL, deletes, retractions). */
  before?: Row | null;
  /**
   * A table without a key under REPLICA IDENTITY FULL (engine/mirror.ts): this delete or upsert
   * addresses ONE row equal to `before` in every column (NULL equal to NULL), which it deletes or
   * replaces with `row`, as PostgreSQL's own logical replication does. A sink finding no such row
   * counts it and goes on (unmatched-rows.ts); a sink that cannot address rows skips it.
   */
  byOldRow?: true;
  /** Columns to leave untouched on upsert (unchanged TOAST values). */
  unchangedToast?: string[];
  /**
   * `row` as the source sent it (a mirror's insert or update, every column text or NULL, in the
   * order of table.columns): the Postgres sink copies it into COPY data without printing values.
   */
  wire?: WireTuple;
  truncate?: { cascade: boolean; restartIdentity: boolean };
  /** A snapshot row's snapshot (Txn.snapshotOf): part of its name for receivers (record-identity.ts). */
  snapshotOf?: Lsn;
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
  /**
   * Set when the batch is one part of ONE source transaction larger than the memory budget
   * (Txn.part): it holds only that transaction's records and `lsn` is its commit LSN; `index`
   * counts the parts this sink was sent (0 = the first). A part with last=false must not store
   * the position. A transactional sink (postgres, sqlite, mysql) opens one database transaction
   * at the first part, writes each part into it, and stores the position and commits only with
   * the last one, so no reader sees half a source transaction and a crash in between rolls it
   * all back (the replay re-sends the whole transaction). Once that open transaction is lost,
   * writing a later part throws PartsLostError: the runtime ends rather than commit a half, and
   * serve starts a new one from the last checkpoint (engine/supervisor.ts), which replays it whole.
   * Other sinks write each part like a batch (idempotent per lsn+index) and store the position
   * only with the last.
   */
  part?: { index: number; last: boolean };
  /**
   * The records are initial-snapshot chunks (or output of an idle tick, stamped between
   * transactions). Every chunk of a snapshot carries the same LSN (the slot's consistent point),
   * so a stored position equal to it does not mean the sink has this chunk: a sink that fences
   * by position writes such a batch unless its position is already past batch.lsn. The writer
   * never mixes them with streamed transactions in one batch.
   */
  snapshot?: boolean;
}

/** The open transaction holding earlier parts of a multi-part batch is gone (see OutputBatch.part). */
export class PartsLostError extends Error {
  readonly code = "sink_parts_lost";
  constructor(sink: string, pipeline: string, lsn: Lsn, cause?: unknown) {
    super(`[sink:${sink}] the open transaction holding the earlier parts of the transaction at LSN ${formatLsn(lsn)} (pipeline ${pipeline}) was rolled back${cause ? ` (${(cause as Error).message ?? cause})` : ""}; the engine restarts from the last checkpoint so that the slot replays the whole transaction`, { cause });
    this.name = "PartsLostError";
  }
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
  /** `pipeline`: the pipeline whose batch held the record (a sink serves several). */
  deadLetter(record: OutputRecord, error: string, pipeline?: string): void;
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
  /** Output columns the (parsed) `to:` options name, by option: checked against the pipeline's output at check and serve. */
  targetColumns?(target: unknown): Record<string, string[]>;
  create(config: z.infer<S>): Sink;
  /** Connect and return a one-line description, or throw: used by `cdc-engine check`. */
  check(config: z.infer<S>): Promise<string>;
}
