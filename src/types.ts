/**
 * The unit that flows from the source through pipelines to sinks: one committed source
 * transaction. Values are decoded exactly (see source/postgres/types.ts):
 * int2/int4 → number, int8 → bigint, numeric → decimal string, float → number,
 * bool → boolean, bytea → Uint8Array, json/jsonb → the JSON text, arrays → JS arrays,
 * timestamps/dates/times/intervals and the rest → Postgres' ISO text (microseconds kept).
 */
export type Lsn = bigint;
export type Row = Record<string, unknown>;

export interface Column {
  name: string;
  typeOid: number;
  /** Postgres type name as format_type() gives it (e.g. "numeric(10,2)"), when known. */
  typeName?: string;
  typeMod: number;
  /** Part of the replica identity (the primary key for REPLICA IDENTITY DEFAULT). */
  isKey: boolean;
  /**
   * The value, as text, that the rows the table had when this column was added with a constant
   * default read for it (missing-values.ts): a sink adding the column gives its rows this value.
   */
  missing?: string;
}

export interface Relation {
  id: number;
  schema: string;
  name: string;
  /** "schema.name" */
  table: string;
  /** d = default (pk), n = nothing, f = full, i = index */
  replicaIdentity: string;
  columns: Column[];
}

export type ChangeOp = "insert" | "update" | "delete" | "truncate" | "read";

export interface Change {
  op: ChangeOp;
  /** "schema.table" */
  table: string;
  /** Column metadata as of this change (a Relation message may change it mid-stream). */
  relation: Relation;
  /** Key columns of the row (from after for insert/update, before/old key for delete). */
  key?: Row;
  before?: Row | null;
  after?: Row | null;
  /** Columns whose TOASTed value did not change and was not sent: sinks must leave them alone. */
  unchangedToast?: string[];
  /** The new row as pgoutput sent it, when every column came as text or NULL (see WireTuple). */
  afterWire?: WireTuple;
  /** For truncate: the options Postgres sent. */
  truncate?: { cascade: boolean; restartIdentity: boolean };
}

/** A plain TRUNCATE of `relation`'s table that the engine makes itself, to clear the sinks' copies before they are read again. */
export function clearingTruncate(relation: Relation): Change {
  return { op: "truncate", table: relation.table, relation, truncate: { cascade: false, restartIdentity: false } };
}

/**
 * A tuple in pgoutput's wire form: at `at` in `buf` the column count (int16), then per column
 * 'n' or 't' + int32 length + the output function's text (in the connection's UTF-8), up to `end`.
 * The Postgres sink copies these bytes into COPY data instead of printing decoded values again.
 * Set only where `buf` outlives the transaction's decoding, and with the relation's columns in order.
 */
export interface WireTuple {
  buf: Buffer;
  at: number;
  end: number;
}

export interface Txn {
  /** Commit LSN: the source position of this transaction. */
  lsn: Lsn;
  /** End LSN of the commit record (what the slot is confirmed with). */
  endLsn: Lsn;
  xid: number;
  /** Commit time, microseconds since the Unix epoch. */
  commitTime: bigint;
  changes: Change[];
  /** Set when the relation list changed in this transaction (schema change surfaced to sinks). */
  schemaChanges?: Relation[];
  /** True for rows read by the initial snapshot (op "read"). */
  snapshot?: boolean;
  /**
   * The initial snapshot these rows belong to (its first slot's consistent point): kept when a
   * start that ended before its first checkpoint made the slot again, so the rows read again are
   * the same records to a de-duplicating receiver (sinks/record-identity.ts).
   */
  snapshotOf?: Lsn;
  /**
   * Removals (deletes, truncates) the source found in the slot of a start that ended before its
   * first checkpoint, handed over once before that snapshot is taken again (gap-deletes.ts):
   * stateless pipelines apply them to what their sinks may hold; stateful ones skip them.
   */
  cleanup?: boolean;
  /**
   * Rows read for new pipelines only (backfill, src/engine/backfill.ts), in a temporary slot's
   * snapshot taken at `since`: only the pipelines being backfilled get them, and they skip the
   * stream's transactions below `since` (the read holds those). `end`: the read is complete (a
   * marker without changes; `since` null when no read was needed, or, with `missed`, possible).
   */
  backfill?: { since: Lsn | null; end?: boolean; missed?: boolean };
  /**
   * Set only on a transaction larger than source.memory_budget, handed over in several parts
   * (same lsn/xid, index 0, 1, ...; the last has last=true) so memory stays flat. The parts form
   * ONE transaction: apply/checkpoint/confirm only after the part with last=true.
   */
  part?: { index: number; last: boolean };
  /**
   * Idle progress the server is waiting on (a keepalive that asked for a reply: the walsender is
   * shutting down or nearing wal_sender_timeout). The engine checkpoints soon so the slot follows.
   */
  awaited?: boolean;
}

export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function parseLsn(text: string): Lsn {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`invalid LSN '${text}'`);
  return (BigInt("0x" + m[1]) << 32n) | BigInt("0x" + m[2]);
}
