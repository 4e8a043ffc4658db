import type { Change, Row } from "../../../types.ts";
import type { Compiled } from "../../../expr/compile.ts";
import type { AggSpec } from "./aggregates.ts";

export type RowId = string | number | bigint;

/** One source row's change after the stateless stages (join, where, select, transform). */
export interface RowChange {
  /** `after` is the new row (null for a delete or when filtered out). */
  after: Row | null;
  /**
   * Source identity of the new row and of the row it replaces (differs when a key changed):
   * the key value itself for a one-column integer key (cheap map keys), else a string.
   */
  id: RowId | null;
  prevId: RowId | null;
  /**
   * `id` is the row's key. Then an insert of an id already held is a replay (a resumed snapshot
   * read the row fresh, and the stream sends its insert again) and replaces it; without a key the
   * id is the row's content, and two equal rows are two rows.
   */
  keyed: boolean;
  /** Commit time of the transaction, µs since epoch. */
  commitUs: number;
  source: Change;
  /**
   * Output columns of `after` this update left unchanged but could not carry (TOASTed values the
   * source did not send): their values are the previous contribution's.
   */
  unchanged?: string[];
}

/** What a window needs to evaluate on a row: compiled for the current column types. */
export interface WindowPlan {
  /** Event-time column (evaluation form: epoch µs), null for commit time. */
  time: Compiled | null;
  keys: { name: string; fn: Compiled }[];
  aggs: AggSpec[];
  /** The output columns each part reads (keys[i], aggs[i]'s argument and weight, time). */
  reads?: { time: Set<string>; keys: Set<string>[]; args: Set<string>[]; weights: Set<string>[] };
}

export interface WindowSettings {
  kind: "tumbling" | "sliding" | "session" | "none";
  sizeUs: number;
  slideUs: number;
  gapUs: number;
  latenessUs: number;
  late: "update" | "dlq";
  emit: "close" | "change";
  retentionUs: number;
  idleTimeoutMs: number;
  /** Output column types of window_start/window_end. */
  timeKind: "timestamptz" | "timestamp";
  /** `append_only: true`: source rows are never updated or deleted; no per-row state is kept. */
  appendOnly?: boolean;
}
