import { Database } from "bun:sqlite";
import { join } from "node:path";
import type { DeadLetter, DeadLetters } from "./dead-letters.ts";
import type { OutputRecord, OutputTable } from "../sinks/sink.ts";
import type { Change, Lsn, Row } from "../types.ts";
import { dlqRows } from "../metrics/metrics.ts";
import { decodeRow, encodeRow } from "./row-codec.ts";
import { toJsonText } from "../sinks/json.ts";
import { openStateDb } from "../engine/state-file.ts";

/** A stored dead letter, with what `dlq replay` needs to send it to its sink again. */
export interface StoredDeadLetter extends DeadLetter {
  id: number;
  /** "upsert" | "delete" for sink rejections; null for rows rejected before a sink. */
  op: string | null;
  /** Target table shape (columns with type OIDs, key) when a sink rejected the row. */
  target: OutputTable | null;
  /** The source change an operator (transform, validate) rejected, so a replay can run it through the pipeline again. */
  source: Change | null;
  /**
   * The record's index in its transaction and the commit time (µs), for a sink rejection: a
   * replay keeps the record's identity (HTTP Idempotency-Key, BigQuery insertId, envelope
   * source.index). Null in queues written by older versions.
   */
  index: number | null;
  commitTime: bigint | null;
  /** A newer change of the same key went to the sink (or pipeline) at this LSN: replay drops the entry (see superseded.ts). */
  supersededLsn: Lsn | null;
  /**
   * The old row an update or delete of a keyless REPLICA IDENTITY FULL table addresses
   * (OutputRecord.byOldRow): a replay deletes or replaces one row equal to it, as the record would have.
   */
  oldRow?: Row | null;
  /** A replay of this append began and did not finish: it may be in the sink (see replayIntoSink). */
  replayCut: boolean;
  createdAt: string;
}

export interface DeadLetterExtra {
  op?: string;
  target?: OutputTable;
  source?: Change;
  index?: number;
  commitTime?: bigint;
  oldRow?: Row;
}

/** What to do about a damaged dlq.sqlite (a new one is made where it was). */
const DLQ_REMEDY = "restore it from a backup, or move it away (with its -wal and -shm; the dead letters it held go with it) and start again";

/**
 * The dead-letter queue in SQLite under state.dir (dlq.sqlite, WAL mode). Rows are stored as
 * exact JSON (bigint digits); the LSN as its decimal text, since it can pass 2^53.
 */
export class DlqStore implements DeadLetters {
  readonly db: Database;
  /** Called with each entry as it is queued (SupersededLetters keeps its key). */
  onQueued: ((entry: StoredDeadLetter) => void) | null = null;

  constructor(stateDir: string) {
    this.db = openStateDb(join(stateDir, "dlq.sqlite"), DLQ_REMEDY);
    this.db.exec("PRAGMA busy_timeout = 5000;");
    this.db.exec(`CREATE TABLE IF NOT EXISTS dead_letters (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      pipeline TEXT NOT NULL,
      stage TEXT NOT NULL,
      table_name TEXT NOT NULL,
      op TEXT,
      row_json TEXT NOT NULL,
      target_json TEXT,
      error TEXT NOT NULL,
      lsn TEXT NOT NULL,
      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )`);
    this.db.exec("CREATE INDEX IF NOT EXISTS dead_letters_pipeline ON dead_letters (pipeline, id)");
    this.db.exec("CREATE INDEX IF NOT EXISTS dead_letters_lsn ON dead_letters (lsn)");
    // Added later: a queue written by an older version gets the column (NULL = no source change kept).
    const cols = this.db.query("PRAGMA table_info(dead_letters)").all() as { name: string }[];
    if (!cols.some((c) => c.name === "source_json")) this.db.exec("ALTER TABLE dead_letters ADD COLUMN source_json TEXT");
    if (!cols.some((c) => c.name === "record_index")) this.db.exec("ALTER TABLE dead_letters ADD COLUMN record_index INTEGER");
    if (!cols.some((c) => c.name === "commit_time")) this.db.exec("ALTER TABLE dead_letters ADD COLUMN commit_time TEXT");
    if (!cols.some((c) => c.name === "superseded_lsn")) this.db.exec("ALTER TABLE dead_letters ADD COLUMN superseded_lsn TEXT");
    if (!cols.some((c) => c.name === "replay_started")) this.db.exec("ALTER TABLE dead_letters ADD COLUMN replay_started INTEGER");
    if (!cols.some((c) => c.name === "old_row_json")) this.db.exec("ALTER TABLE dead_letters ADD COLUMN old_row_json TEXT");
    // put()'s "already queued?" lookup by record: with the lsn index alone it compared every entry
    // of the transaction (row JSON included), so a transaction of n refused rows took O(n²): 1,500
    // rows of 5 KB in one transaction, 6 s, holding the sink's writer and the others behind it.
    this.db.exec("CREATE INDEX IF NOT EXISTS dead_letters_record ON dead_letters (lsn, pipeline, stage, record_index)");
  }

  /**
   * Queues the entry, unless the same record is queued already: after a crash the slot sends again
   * what was not checkpointed, and a record refused before is refused again (QA: 15 changes two or
   * three times each after kills). The same record: pipeline, stage, table, LSN, index, row, error.
   */
  put(entry: DeadLetter & DeadLetterExtra): boolean {
    const row = encodeRow(entry.row);
    const lsn = entry.lsn.toString();
    const index = entry.index ?? null;
    const seen = this.db
      .query("SELECT 1 FROM dead_letters WHERE lsn = ? AND pipeline = ? AND stage = ? AND table_name = ? AND record_index IS ? AND error = ? AND row_json = ? LIMIT 1")
      .get(lsn, entry.pipeline, entry.stage, entry.table, index, entry.error, row);
    if (seen) return false;
    const { lastInsertRowid } = this.db
      .query("INSERT INTO dead_letters (pipeline, stage, table_name, op, row_json, target_json, error, lsn, source_json, record_index, commit_time, old_row_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .run(entry.pipeline, entry.stage, entry.table, entry.op ?? null, row, entry.target ? toJsonText(entry.target) : null, entry.error, lsn, entry.source ? encodeChange(entry.source) : null, index, entry.commitTime?.toString() ?? null, entry.oldRow ? encodeRow(entry.oldRow) : null);
    dlqRows.inc({ pipeline: entry.pipeline, stage: entry.stage });
    this.onQueued?.({
      ...entry,
      id: Number(lastInsertRowid),
      op: entry.op ?? null,
      target: entry.target ?? null,
      source: entry.source ?? null,
      index,
      commitTime: entry.commitTime ?? null,
      oldRow: entry.oldRow ?? null,
      supersededLsn: null,
      replayCut: false,
      createdAt: new Date().toISOString(),
    });
    return true;
  }

  /** A record a sink rejected: keeps the op and the table shape so replay can rebuild it. */
  putRecord(pipeline: string, sink: string, record: OutputRecord, error: string): boolean {
    return this.put({ pipeline, stage: sink, table: record.table.name, row: record.row, error, lsn: record.lsn, op: record.op, target: record.table, index: record.index, commitTime: record.commitTime, ...(record.byOldRow ? { oldRow: record.before ?? {} } : {}) });
  }

  /** SQLite's data_version: it changes when another connection (another process) commits to the file. */
  dataVersion(): number {
    return (this.db.query("PRAGMA data_version").get() as { data_version: number }).data_version;
  }

  count(pipeline?: string): number {
    const q = pipeline === undefined
      ? this.db.query("SELECT count(*) AS n FROM dead_letters").get()
      : this.db.query("SELECT count(*) AS n FROM dead_letters WHERE pipeline = ?").get(pipeline);
    return (q as { n: number }).n;
  }

  list(opts: { pipeline?: string; limit?: number } = {}): StoredDeadLetter[] {
    const where = opts.pipeline === undefined ? "" : "WHERE pipeline = $p";
    const rows = this.db
      .query(`SELECT * FROM dead_letters ${where} ORDER BY id LIMIT $limit`)
      .all({ $p: opts.pipeline ?? null, $limit: opts.limit ?? -1 } as Record<string, string | number | null>) as DbRow[];
    return rows.map(fromDb);
  }

  /** Marks entries made stale by a newer change of their key at `lsn` (see superseded.ts). */
  markSuperseded(ids: number[], lsn: Lsn): void {
    const mark = this.db.query("UPDATE dead_letters SET superseded_lsn = ? WHERE id = ? AND superseded_lsn IS NULL");
    this.db.transaction(() => {
      for (const id of ids) mark.run(lsn.toString(), id);
    })();
  }

  /** Entries not superseded yet, oldest first, read one at a time (the queue can be large). */
  *pending(): Generator<StoredDeadLetter> {
    for (const r of this.db.query("SELECT * FROM dead_letters WHERE superseded_lsn IS NULL ORDER BY id").iterate() as IterableIterator<DbRow>) yield fromDb(r);
  }

  /** Noted (synchronously, on disk) before a replay writes the entry, cleared when the sink refused it. */
  markReplayStarted(id: number, started: boolean): void {
    this.db.query("UPDATE dead_letters SET replay_started = ? WHERE id = ?").run(started ? 1 : null, id);
  }

  remove(ids: number[]): number {
    let n = 0;
    const del = this.db.query("DELETE FROM dead_letters WHERE id = ?");
    this.db.transaction(() => {
      for (const id of ids) n += del.run(id).changes;
    })();
    return n;
  }

  purge(opts: { pipeline?: string } = {}): number {
    return opts.pipeline === undefined
      ? this.db.query("DELETE FROM dead_letters").run().changes
      : this.db.query("DELETE FROM dead_letters WHERE pipeline = ?").run(opts.pipeline).changes;
  }

  close(): void {
    this.db.close();
  }
}

interface DbRow {
  id: number;
  pipeline: string;
  stage: string;
  table_name: string;
  op: string | null;
  row_json: string;
  target_json: string | null;
  error: string;
  lsn: string;
  created_at: string;
  source_json: string | null;
  record_index: number | null;
  commit_time: string | null;
  superseded_lsn: string | null;
  replay_started: number | null;
  old_row_json: string | null;
}

function fromDb(r: DbRow): StoredDeadLetter {
  const target = r.target_json ? (decodeRow(r.target_json) as unknown as OutputTable) : null;
  return {
    id: r.id,
    pipeline: r.pipeline,
    stage: r.stage,
    table: r.table_name,
    op: r.op,
    row: decodeRow(r.row_json, target?.columns),
    target,
    error: r.error,
    lsn: BigInt(r.lsn) as Lsn,
    createdAt: r.created_at,
    source: r.source_json ? decodeChange(r.source_json) : null,
    index: r.record_index ?? null,
    commitTime: r.commit_time === null || r.commit_time === undefined ? null : BigInt(r.commit_time),
    supersededLsn: r.superseded_lsn ? (BigInt(r.superseded_lsn) as Lsn) : null,
    replayCut: r.replay_started === 1,
    oldRow: r.old_row_json ? decodeRow(r.old_row_json, target?.columns) : null,
  };
}

/** A source change as text: its rows as exact row JSON (bigint digits, bytea base64) inside plain JSON. */
function encodeChange(c: Change): string {
  return JSON.stringify({
    op: c.op,
    table: c.table,
    relation: c.relation,
    key: c.key ? encodeRow(c.key) : null,
    before: c.before ? encodeRow(c.before) : null,
    after: c.after ? encodeRow(c.after) : null,
    unchangedToast: c.unchangedToast ?? null,
  });
}

function decodeChange(text: string): Change {
  const j = JSON.parse(text) as { op: Change["op"]; table: string; relation: Change["relation"]; key: string | null; before: string | null; after: string | null; unchangedToast: string[] | null };
  const cols = j.relation.columns;
  return {
    op: j.op,
    table: j.table,
    relation: j.relation,
    ...(j.key ? { key: decodeRow(j.key, cols) } : {}),
    before: j.before ? decodeRow(j.before, cols) : null,
    after: j.after ? decodeRow(j.after, cols) : null,
    ...(j.unchangedToast ? { unchangedToast: j.unchangedToast } : {}),
  };
}

/** The raw stored row text (exact JSON), for `dlq list`. */
export function rowText(entry: StoredDeadLetter): string {
  return encodeRow(entry.row);
}
