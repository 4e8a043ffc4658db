import type { OutputRecord } from "../sinks/sink.ts";
import type { Change, Lsn, Relation, Row } from "../types.ts";
import { pick } from "../row-key.ts";
import { REPLAY_LSN } from "./replay-lsn.ts";
import { encodeRow } from "./row-codec.ts";
import type { DlqStore, StoredDeadLetter } from "./store.ts";

interface Held {
  ids: number[];
  lsn: Lsn;
  /** The record's index in its transaction (sink rejections); -1 when unknown (operator rejections). */
  index: number;
}

/**
 * Dead letters that a newer change of the same key has made stale. A replay writes a row as it
 * was captured: once the source row changed again (or was deleted) and that change went to the
 * sink, replaying the old row would overwrite the newer value or bring a deleted row back. The
 * runtime shows this index what it hands to each sink (records) and to each pipeline (source
 * changes); an entry older than a handed-over record of the same pipeline, stage, table and key is
 * marked superseded in the store, and a replay drops it instead of writing it. Rows of tables
 * without a key are never superseded (each is a record of its own). Costs nothing while the queue
 * holds no keyed entry.
 */
export class SupersededLetters {
  /** Keys watched at most (~150 bytes each): past it, later entries are replayed as captured. */
  static readonly LIMIT = 100_000;
  /** pipeline → stage \0 table → key text → the entries queued for that key. */
  private scopes = new Map<string, Map<string, Map<string, Held>>>();
  private keys = 0;
  private overLimit = false;

  /** `onLimit`: told once when an entry goes unwatched for the limit. */
  constructor(private store: DlqStore, private onLimit: () => void = () => {}, private limit = SupersededLetters.LIMIT) {
    for (const e of store.pending()) this.track(e);
    store.onQueued = (e) => this.track(e);
  }

  /** Records handed to `sink` for `pipeline` (not replays). */
  records(pipeline: string, sink: string, records: readonly OutputRecord[]): void {
    const scopes = this.scopes.get(pipeline);
    if (!scopes || records.length === 0) return;
    // One SQLite transaction for the batch's marks (each markSuperseded its own was a commit per record).
    this.store.db.transaction(() => {
      for (const r of records) {
        if (r.lsn === REPLAY_LSN || r.table.key.length === 0) continue;
        this.supersede(pipeline, scopes, `${sink}\0${r.table.name}`, r.table.key, r.row, r.lsn, r.index);
      }
    })();
  }

  /** Source changes a pipeline is about to process (a newer version of a row an operator rejected). */
  changes(pipeline: string, changes: readonly Change[], lsn: Lsn): void {
    const scopes = this.scopes.get(pipeline);
    if (!scopes || lsn === REPLAY_LSN) return;
    for (const c of changes) {
      const name = `operator\0${c.table}`;
      const cols = scopes.has(name) ? keyColumns(c.relation) : null;
      const row = c.key ?? c.after ?? c.before;
      if (cols && row) this.supersede(pipeline, scopes, name, cols, row, lsn, -1);
    }
  }

  private track(e: StoredDeadLetter): void {
    let cols: string[] | null = null;
    let row: Row | null | undefined = null;
    if (e.stage === "operator") {
      if (e.source) (cols = keyColumns(e.source.relation)), (row = e.source.key ?? e.source.after ?? e.source.before);
    } else if (e.target && (e.op === "upsert" || e.op === "delete") && e.target.key.length) (cols = e.target.key), (row = e.row);
    if (!cols || !row) return;
    const name = `${e.stage}\0${e.table}`;
    const k = keyText(cols, row);
    const held = this.scopes.get(e.pipeline)?.get(name)?.get(k);
    const index = e.index ?? -1;
    if (held) {
      if (!newer(e.lsn, index, held)) return void held.ids.push(e.id);
      // A newer version of the key was refused too: the older entries are stale (its replay covers them).
      this.store.markSuperseded(held.ids, e.lsn);
      Object.assign(held, { ids: [e.id], lsn: e.lsn, index });
      return;
    }
    if (this.keys >= this.limit) {
      if (!this.overLimit) this.onLimit();
      this.overLimit = true;
      return;
    }
    let scopes = this.scopes.get(e.pipeline);
    if (!scopes) this.scopes.set(e.pipeline, (scopes = new Map()));
    let scope = scopes.get(name);
    if (!scope) scopes.set(name, (scope = new Map()));
    scope.set(k, { ids: [e.id], lsn: e.lsn, index });
    this.keys++;
  }

  /** `scopes`: the pipeline's; `name`: stage \0 table. The key text is made only when that scope holds entries. */
  private supersede(pipeline: string, scopes: Map<string, Map<string, Held>>, name: string, cols: string[], row: Row, lsn: Lsn, index: number): void {
    const scope = scopes.get(name);
    if (!scope) return;
    const key = keyText(cols, row);
    const held = scope.get(key);
    if (!held || !newer(lsn, index, held)) return;
    this.store.markSuperseded(held.ids, lsn);
    scope.delete(key);
    this.keys--;
    // Emptied scopes go, so that a pipeline whose entries are all superseded costs nothing again.
    if (scope.size === 0 && scopes.delete(name) && scopes.size === 0) this.scopes.delete(pipeline);
  }
}

/**
 * Whether (lsn, index) comes after the held entries. An operator rejection's index is unknown (-1),
 * so a change of its own transaction does not count: it may come before the rejected one.
 */
function newer(lsn: Lsn, index: number, held: Held): boolean {
  return lsn > held.lsn || (lsn === held.lsn && index >= 0 && held.index >= 0 && index > held.index);
}

function keyColumns(rel: Relation): string[] | null {
  if (rel.replicaIdentity === "n") return null;
  const cols = rel.columns.filter((c) => c.isKey).map((c) => c.name);
  return cols.length ? cols : null;
}

/** A key as text: exact JSON of the key columns (a bigint and a number with the same digits are one key). */
function keyText(cols: string[], row: Row): string {
  return encodeRow(pick(cols, row));
}
