import type { Lsn, Txn, Relation } from "../types.ts";
import type { Health } from "../sinks/sink.ts";

/**
 * What the engine sees of a change source (implemented by source/postgres/).
 * Transactions are handed over one at a time, in commit order; the source does not read
 * ahead of `onTxn` resolving by more than its bounded buffer, so a slow engine holds the
 * walsender (TCP backpressure) instead of growing memory.
 */
export interface SourceStartOptions {
  /** Tables the pipelines read ("schema.table"; "schema.*" expands at start). */
  tables: string[];
  /** LSN of the last checkpoint, or null on a first start. */
  checkpointLsn: Lsn | null;
  /** Operator asked for a fresh snapshot when the slot is missing or ahead of the checkpoint. */
  resnapshot: boolean;
  /** No checkpoint, yet a sink holds a position of a pipeline: the state dir was lost, not a first start. */
  sinksHoldData?: boolean;
  /**
   * Tables ("schema.table"; "schema.*" expands) of pipelines added since the slot's snapshot:
   * read again for those pipelines alone (Txn.backfill), then a Txn with backfill.end is handed
   * over before the stream starts.
   */
  backfill?: string[];
  /**
   * Tables ("schema.table" or "schema.*") whose updates without their unchanged TOAST values get
   * them read again from the table, as those of a row moved to a new key always do: what the
   * pipelines into change-log sinks read (a webhook or BigQuery row has no stored value to keep).
   */
  reselectToast?: string[];
  /** Called for every committed transaction (and snapshot chunk) in order; awaited. */
  onTxn(txn: Txn): Promise<void>;
  /** Called when a Relation message changes a table's columns mid-stream. */
  onSchemaChange?(relation: Relation): void;
  /** The captured tables' columns as the catalog has them at start, before any row is handed over. */
  onRelations?(relations: Relation[]): void;
}

export interface SourceStats {
  /** Last commit LSN handed to the engine. */
  receivedLsn: Lsn | null;
  /** LSN reported to Postgres as flushed (never the received LSN; see confirm()). */
  confirmedLsn: Lsn | null;
  /** Bytes of WAL between the server's current LSN and the confirmed LSN. */
  lagBytes: number;
  /** Seconds between now and the commit time of the last transaction handed over. */
  lagSeconds: number;
  /** WAL retained behind the slot, bytes. */
  slotRetainedBytes: number;
  snapshot?: { table: string; rowsDone: number; rowsTotal: number; done: boolean }[];
}

export interface Source {
  /** Create/verify slot and publication, check slot safety, snapshot if needed, then stream until stop(). */
  start(opts: SourceStartOptions): Promise<void>;
  /**
   * The engine hands back the LSN that is durable everywhere (min of checkpoint and sink positions).
   * Reported as flush LSN in standby status updates; never moves backwards.
   */
  confirm(lsn: Lsn): void;
  /**
   * Called by the engine when it cuts a checkpoint at a transaction boundary: every transaction
   * whose onTxn resolved before this call belongs to the cut. The engine calls the returned
   * function once that checkpoint is stored (every sink holds what the cut holds). The source
   * saves its snapshot progress as of the cut then: snapshot chunks all carry one LSN, so
   * confirm() cannot say which of them are durable.
   */
  checkpointCut?(): () => void;
  /** Resolves when streaming ends: null after stop(), or the error that ended it. */
  readonly done: Promise<Error | null>;
  health(): Health;
  stats(): SourceStats;
  stop(): Promise<void>;
}
