/**
 * Snapshot progress in a SQLite file under the state dir (bun:sqlite): which slot we created
 * (and its consistent point), and per table the last key handed to the engine and whether it
 * is done, so a crash mid-snapshot resumes after the last key instead of starting over; and the
 * removals found in a slot before it was recreated, until they are durable.
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import type { Lsn } from "../../types.ts";
import type { ReadRange } from "./resumed-reads.ts";
import { openStateDb, REBUILD_STATE } from "../../engine/state-file.ts";

export interface TableProgress {
  table: string;
  lastKey: string[] | null;
  rowsDone: number;
  rowsTotal: number;
  done: boolean;
}

export class SnapshotState {
  private db: Database;

  constructor(stateDir: string) {
    this.db = openStateDb(join(stateDir, "source-snapshot.sqlite"), REBUILD_STATE);
    this.db.run(`create table if not exists slot_info (slot text primary key, consistent_point text not null, snapshot_wanted integer not null)`);
    // Added later: the initial snapshot's name (see generation()); NULL in older state dirs.
    const cols = this.db.query("pragma table_info(slot_info)").all() as { name: string }[];
    if (!cols.some((c) => c.name === "generation")) this.db.run("alter table slot_info add column generation text");
    // Removals read from a slot before it was recreated (gap-deletes.ts), kept until a checkpoint
    // after their hand-over is stored: a crash before that hands them over again.
    this.db.run(`create table if not exists pending_removals (slot text primary key, changes text not null)`);
    // Tables added after the slot was made, read in a temporary slot's snapshot: the stream drops
    // their changes committed before since_lsn (added-tables.ts).
    this.db.run(`create table if not exists added_since (slot text not null, tbl text not null, since_lsn text not null, primary key (slot, tbl))`);
    // Tables whose interrupted snapshot was read on after a key in a temporary slot's snapshot:
    // the stream drops their changes to keys above it committed before since_lsn (resumed-reads.ts).
    this.db.run(`create table if not exists resumed_reads (slot text not null, tbl text not null, after_key text, since_lsn text not null, primary key (slot, tbl, since_lsn))`);
    // The inserts-only publication existed when this state dir made the slot (inserts-publication.ts).
    this.db.run(`create table if not exists inserts_publication (slot text primary key, publication text not null)`);
    // The greatest key of a table the snapshot ever handed to the engine, written before the chunk
    // goes: the sinks may hold rows up to it though the saved progress is behind (resumed-reads.ts).
    this.db.run(`create table if not exists snapshot_handed (slot text not null, tbl text not null, last_key text not null, primary key (slot, tbl))`);
    this.db.run(`create table if not exists snapshot_progress (
      slot text not null, tbl text not null, last_key text, rows_done integer not null default 0,
      rows_total integer not null default 0, done integer not null default 0, primary key (slot, tbl))`);
  }

  /** The consistent point of the slot we created, if this state dir created it. */
  slot(slot: string): { consistentPoint: Lsn; snapshotWanted: boolean; generation: Lsn } | null {
    const r = this.db.query(`select consistent_point, snapshot_wanted, generation from slot_info where slot = ?`).get(slot) as { consistent_point: string; snapshot_wanted: number; generation: string | null } | null;
    return r ? { consistentPoint: BigInt(r.consistent_point), snapshotWanted: r.snapshot_wanted === 1, generation: BigInt(r.generation ?? r.consistent_point) } : null;
  }

  /**
   * A new slot: forget the previous snapshot's progress. `generation` names its initial snapshot
   * (Txn.snapshotOf): the new consistent point, or the name of the snapshot this one takes again.
   */
  resetSlot(slot: string, consistentPoint: Lsn, snapshotWanted: boolean, generation: Lsn = consistentPoint): void {
    this.db.transaction(() => {
      this.db.run(`delete from snapshot_progress where slot = ?`, [slot]);
      this.db.run(`delete from snapshot_handed where slot = ?`, [slot]);
      this.db.run(`delete from added_since where slot = ?`, [slot]);
      this.db.run(`delete from resumed_reads where slot = ?`, [slot]);
      this.db.run(`delete from inserts_publication where slot = ?`, [slot]);
      this.db.run(`insert or replace into slot_info (slot, consistent_point, snapshot_wanted, generation) values (?, ?, ?, ?)`, [slot, consistentPoint.toString(), snapshotWanted ? 1 : 0, generation.toString()]);
    })();
  }

  /** The inserts-only publication that existed when this state dir made the slot, if any. */
  insertsPublication(slot: string): string | null {
    const r = this.db.query(`select publication from inserts_publication where slot = ?`).get(slot) as { publication: string } | null;
    return r?.publication ?? null;
  }

  markInsertsPublication(slot: string, publication: string): void {
    this.db.run(`insert or replace into inserts_publication (slot, publication) values (?, ?)`, [slot, publication]);
  }

  forgetSlot(slot: string): void {
    this.db.transaction(() => {
      this.db.run(`delete from snapshot_progress where slot = ?`, [slot]);
      this.db.run(`delete from snapshot_handed where slot = ?`, [slot]);
      this.db.run(`delete from slot_info where slot = ?`, [slot]);
      this.db.run(`delete from pending_removals where slot = ?`, [slot]);
      this.db.run(`delete from added_since where slot = ?`, [slot]);
      this.db.run(`delete from resumed_reads where slot = ?`, [slot]);
    })();
  }

  /** Added tables → the consistent point of the snapshot they were read in (see added-tables.ts). */
  addedSince(slot: string): Map<string, Lsn> {
    const rows = this.db.query(`select tbl, since_lsn from added_since where slot = ?`).all(slot) as { tbl: string; since_lsn: string }[];
    return new Map(rows.map((r) => [r.tbl, BigInt(r.since_lsn)]));
  }

  setAddedSince(slot: string, tables: string[], since: Lsn): void {
    this.db.transaction(() => {
      for (const t of tables) this.db.run(`insert or replace into added_since (slot, tbl, since_lsn) values (?, ?, ?)`, [slot, t, since.toString()]);
    })();
  }

  /** Added tables' and resumed reads' entries the stream has passed (the slot is confirmed at or past them) are not needed again. */
  dropPassedReads(slot: string, confirmed: Lsn): void {
    for (const [t, s] of this.addedSince(slot)) if (s <= confirmed) this.db.run(`delete from added_since where slot = ? and tbl = ?`, [slot, t]);
    for (const [t, ranges] of this.resumedReads(slot)) {
      for (const r of ranges) if (r.since <= confirmed) this.db.run(`delete from resumed_reads where slot = ? and tbl = ? and since_lsn = ?`, [slot, t, r.since.toString()]);
    }
  }

  /** Resumed reads by table (resumed-reads.ts). */
  resumedReads(slot: string): Map<string, ReadRange[]> {
    const rows = this.db.query(`select tbl, after_key, since_lsn from resumed_reads where slot = ?`).all(slot) as { tbl: string; after_key: string | null; since_lsn: string }[];
    const out = new Map<string, ReadRange[]>();
    for (const r of rows) (out.get(r.tbl) ?? out.set(r.tbl, []).get(r.tbl)!).push({ afterKey: r.after_key === null ? null : (JSON.parse(r.after_key) as string[]), since: BigInt(r.since_lsn) });
    return out;
  }

  addResumedReads(slot: string, reads: { table: string; afterKey: string[] | null }[], since: Lsn): void {
    this.db.transaction(() => {
      for (const r of reads) this.db.run(`insert or replace into resumed_reads (slot, tbl, after_key, since_lsn) values (?, ?, ?, ?)`, [slot, r.table, r.afterKey ? JSON.stringify(r.afterKey) : null, since.toString()]);
    })();
  }

  /** The removals not yet known durable in the sinks (gap-deletes.ts encodes them). */
  removals(slot: string): string | null {
    const r = this.db.query(`select changes from pending_removals where slot = ?`).get(slot) as { changes: string } | null;
    return r?.changes ?? null;
  }

  setRemovals(slot: string, changes: string | null): void {
    if (changes === null) this.db.run(`delete from pending_removals where slot = ?`, [slot]);
    else this.db.run(`insert or replace into pending_removals (slot, changes) values (?, ?)`, [slot, changes]);
  }

  /** The greatest key of `table` the snapshot handed to the engine (see snapshot_handed), or null. */
  handedKey(slot: string, table: string): string[] | null {
    const r = this.db.query(`select last_key from snapshot_handed where slot = ? and tbl = ?`).get(slot, table) as { last_key: string } | null;
    return r ? (JSON.parse(r.last_key) as string[]) : null;
  }

  setHandedKey(slot: string, table: string, key: string[]): void {
    this.db.run(`insert or replace into snapshot_handed (slot, tbl, last_key) values (?, ?, ?)`, [slot, table, JSON.stringify(key)]);
  }

  progress(slot: string): Map<string, TableProgress> {
    const rows = this.db.query(`select tbl, last_key, rows_done, rows_total, done from snapshot_progress where slot = ?`).all(slot) as {
      tbl: string;
      last_key: string | null;
      rows_done: number;
      rows_total: number;
      done: number;
    }[];
    return new Map(rows.map((r) => [r.tbl, { table: r.tbl, lastKey: r.last_key ? JSON.parse(r.last_key) : null, rowsDone: r.rows_done, rowsTotal: r.rows_total, done: r.done === 1 }]));
  }

  save(slot: string, p: TableProgress): void {
    this.db.run(
      `insert or replace into snapshot_progress (slot, tbl, last_key, rows_done, rows_total, done) values (?, ?, ?, ?, ?, ?)`,
      [slot, p.table, p.lastKey ? JSON.stringify(p.lastKey) : null, p.rowsDone, p.rowsTotal, p.done ? 1 : 0],
    );
  }

  close(): void {
    this.db.close();
  }
}
