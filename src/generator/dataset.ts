import type { Faker } from "@faker-js/faker";
import type { Pg } from "../db/postgres-client.ts";
import type { Clock } from "./clock.ts";
import type { Rng } from "./random.ts";

/** A generated row: column name → value (string for numeric/timestamps, object for jsonb, null). */
export type Row = Record<string, unknown>;

export interface InsertOp {
  kind: "insert";
  table: string;
  columns: string[];
  rows: Row[];
  /** Column whose server-assigned values (BIGSERIAL) the dataset wants back, in row order. */
  returning?: string;
  /** Reference data that may already be there (idempotent). */
  ignoreConflicts?: boolean;
  /** Rows that come along with the counted ones (engagement's new content): not counted by --count, --burst or --rate. */
  uncounted?: boolean;
}

export interface UpdateOp {
  kind: "update";
  table: string;
  key: string[];
  set: string[];
  /** Each row holds the key columns and the set columns. */
  rows: Row[];
}

export interface DeleteOp {
  kind: "delete";
  table: string;
  key: string[];
  rows: Row[];
}

export type Op = InsertOp | UpdateOp | DeleteOp;

/** One database transaction's worth of changes. */
export interface Batch {
  ops: Op[];
  /** Called after the transaction committed, with the `returning` values of each insert op (by op index). */
  onCommit?: (returned: Map<number, unknown[]>) => void;
}

export interface DatasetContext {
  sql: Pg;
  rng: Rng;
  faker: Faker;
  clock: Clock;
  /** Fractions of operations that update / delete existing rows, and the other knobs. */
  updates: number;
  deletes: number;
  invalid: number;
  dirty: number;
  /** orders/engagement: fraction of rows whose event time lies up to `lateByUs` in the past (late, out of order). */
  late: number;
  lateByUs: number;
  /** Dataset-specific counts (relational: users, transactions, details per run). */
  counts: Record<string, number>;
}

export interface Dataset {
  name: string;
  /** Tables in creation order (the DDL's order); the schema check covers these. */
  tables: string[];
  ddl: string;
  /** Locale of the faker instance handed to the dataset (Brazilian names and cities for Olist). */
  fakerLocale?: "pt_BR" | "en";
  /** Rows/s when nothing else is asked (the seed's figure). */
  defaultRate: number;
  /** Relational runs are whole units (users+transactions+details), not a row stream. */
  unitRows?: (ctx: DatasetContext) => number;
  /** Load what the generator needs from the database (existing keys), insert reference data. Returns rows written. */
  setup(ctx: DatasetContext): Promise<number>;
  /** The next batch of about `rows` rows (never more than `rows` unless a unit cannot be split). */
  next(rows: number, ctx: DatasetContext): Batch;
  /** Replay (Olist --replay-speed): ms after the run's start when the next batch is due; null when all is written. */
  dueAtMs?(): number | null;
  /** A data-quality report at the end (relational: orphan counts). */
  report?(ctx: DatasetContext): Promise<Record<string, unknown>>;
}

export function batchRows(b: Batch): number {
  let n = 0;
  for (const op of b.ops) if (!(op.kind === "insert" && op.uncounted)) n += op.rows.length;
  return n;
}
