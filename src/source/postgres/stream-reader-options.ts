import type { Logger } from "pino";
import type { Change, Lsn, Relation, Txn } from "../../types.ts";
import type { TypeDecoders } from "./type-decoders.ts";

// What a StreamReader (stream-reader.ts) is given: where its messages come from, and its options.

/** Something that yields pgoutput messages (a ReplicationSession, or a test/bench feeder). */
export interface MessageSource {
  next(): Promise<Buffer | null>;
  /** A message already queued, without an await (undefined when none is). */
  poll?(): Buffer | undefined;
}

export interface StreamReaderOptions {
  types: TypeDecoders;
  /** Relations as the catalog described them at start (by relation id), to detect schema changes. */
  known: Map<number, Relation>;
  spillDir: string;
  memoryBudget: number;
  heartbeatMs: number;
  log: Logger;
  /** Where the stream starts (the slot's confirmed position): no idle progress at or below it. */
  startLsn?: Lsn;
  onTxn(txn: Txn): Promise<void>;
  onSchemaChange?(relation: Relation): void;
  /** Re-read pg_type (a Relation message names a type created after start). */
  refreshTypes?(): Promise<void>;
  /** format_type() of each (type oid, typmod): the type names of columns added or retyped while streaming. */
  formatTypes?(cols: { oid: number; mod: number }[]): Promise<string[]>;
  /** The missing values (missing-values.ts) of some columns of a table, by name. */
  missingValues?(relId: number, names: string[]): Promise<Map<string, string | null>>;
  /** The stream carries binary values: a Relation with a column we cannot decode in binary stops it (source_binary_unsupported). */
  binary?(): boolean;
  /** Fills in the unchanged TOAST values of rows an update moved to a new key (toast-reselect.ts). */
  reselect?(changes: Change[]): Promise<void>;
  /** Tables whose every update lacking unchanged TOAST values is filled in too (SourceStartOptions.reselectToast). */
  reselectAll?(table: string): boolean;
}
