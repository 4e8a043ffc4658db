import type { Column, Relation } from "../../types.ts";

export interface TableResult {
  pipeline: string;
  sink: string;
  table: string;
  target: string;
  sourceRows: number;
  sinkRows: number;
  equal: boolean;
  /** First differing keys (or whole rows for tables without a key), as text. */
  diffs: string[];
  note?: string;
  /** The table stayed locked by another session past the lock timeout: not compared (note says where). */
  locked?: boolean;
}

export interface VerifyOptions {
  pipeline?: string;
  chunkRows?: number;
  maxDiffs?: number;
  /** How long to wait in all for the sinks to reach the source's current LSN (one budget for the run); a differing chunk's re-check waits up to min(this, 10 s) each time. */
  waitMs?: number;
  /** How long each read waits for a table another session has locked (default 30 s); then the table is reported locked. */
  lockTimeoutMs?: number;
  onProgress?(msg: string): void;
}

/** A key range of the source table, bounds as the source prints them (::text): lo exclusive, hi inclusive. */
export interface Range {
  lo: string[] | null;
  hi: string[] | null;
}

export interface ChunkSum {
  n: number;
  /** Order-independent checksum of the rows (a decimal number as text). */
  sum: string;
}

/** One side (source or sink) of a table's comparison, chunk by chunk. */
export interface ChunkSide {
  sum(r: Range): Promise<ChunkSum>;
  /** "identity\u0000row hash" → how many rows have it; identity is the key (or the row) as text. */
  rows(r: Range): Promise<Map<string, number>>;
}

/** What is compared for one source table. */
export interface TablePlan {
  /** Source "schema.table". */
  table: string;
  /** The sink's table, as the pipeline names it ("schema.table"; each sink maps it to its own name). */
  target: string;
  /** Source columns with their types (as the stream describes them). */
  rel: Relation;
  /** Source primary key; chunked by it when `ranged`. */
  key: string[];
  /** Key ranges select the same rows on both sides (key types that order alike); else one pass over the table. */
  ranged: boolean;
  /** How long each read waits for a lock (VerifyOptions.lockTimeoutMs). */
  lockMs: number;
}

/** A sink database as verify sees it: its stored positions and its copy of each table. */
export interface SinkSide {
  /** Text keys ordered bytewise (the source's ranges then use COLLATE "C"), as SQLite and MySQL's utf8mb4_bin do. */
  readonly bytewiseKeys: boolean;
  /** The position stored for (pipeline, sink) in the sink's cdc_engine_offsets, or null. */
  position(pipeline: string, sink: string): Promise<bigint | null>;
  /** Column names of the sink's table, or null when it does not exist. */
  columns(target: string): Promise<string[] | null>;
  /** Whether ranges over keys of these types hold the same rows in source and sink. */
  rangeSafe(key: Column[]): boolean;
  /** The two sides of a table, computed the same way so that their checksums compare. */
  sides(plan: TablePlan, sinkColumns: string[]): { source: ChunkSide; sink: ChunkSide };
  close(): Promise<void>;
}
