import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

/** How long the names outlive the last snapshot request (ms): 7 days. */
const KEEP_MS = 7 * 24 * 3600 * 1000;

/**
 * The initial-snapshot records a webhook sink sent, by name (record-identity.ts: snapshot, table,
 * operation, content), in `state.dir/sink-<name>.snapshot-sent.sqlite`. A snapshot read again after
 * a kill -9 (taken again after a crash before the first checkpoint, or resumed after its last saved
 * key) cuts its requests differently as soon as one row before them changed, was deleted, or a
 * removal was handed over first: every request then had a new Idempotency-Key and a receiver that
 * de-duplicates by it stored the re-read rows twice. With this, a settled record (delivered or
 * dead-lettered) is not sent again, and one whose request got no answer goes out again under that
 * request's key, with only records of that request (so the receiver drops it, or stores it once).
 */
export class SnapshotSent {
  private db: Database | null = null;
  private readonly path: string;

  constructor(stateDir: string, sinkName: string) {
    mkdirSync(stateDir, { recursive: true });
    this.path = join(stateDir, `sink-${sinkName.replace(/[^A-Za-z0-9_-]/g, "_")}.snapshot-sent.sqlite`);
  }

  /** At the sink's start: the file of a snapshot whose last request is older than 7 days goes. */
  dropIfStale(): void {
    if (!existsSync(this.path)) return;
    let stale = false;
    try {
      const db = new Database(this.path);
      try {
        const at = (db.query("select at from meta where id = 1").get() as { at: number } | null)?.at;
        stale = at === undefined || Date.now() - at > KEEP_MS;
      } finally {
        db.close();
      }
    } catch {
      return; // unreadable: left as it is, the next snapshot batch opens it
    }
    if (stale) for (const f of [this.path, `${this.path}-wal`, `${this.path}-shm`]) rmSync(f, { force: true });
  }

  /**
   * The pipeline's snapshot is behind it (the sink stored a streamed batch's position): its names
   * go, and the file with the last of them. Only a crash before the engine's first checkpoint could
   * read that snapshot again (then rows can come twice, as before these names were kept); kept for
   * days, they cost ~50 bytes a snapshot row on disk.
   */
  forget(pipeline: string): void {
    if (!this.db && !existsSync(this.path)) return;
    const db = this.open();
    db.query("delete from sent where pipeline = ?").run(pipeline);
    if ((db.query("select count(*) as n from sent").get() as { n: number }).n > 0) return;
    this.close();
    for (const f of [this.path, `${this.path}-wal`, `${this.path}-shm`]) rmSync(f, { force: true });
  }

  private open(): Database {
    if (this.db) return this.db;
    const db = new Database(this.path, { create: true });
    db.exec("pragma journal_mode = wal; pragma synchronous = normal");
    db.exec("create table if not exists sent (pipeline text not null, name text not null, key text not null, primary key (pipeline, name)) without rowid");
    db.exec("create table if not exists meta (id integer primary key check (id = 1), at integer not null)");
    const at = (db.query("select at from meta where id = 1").get() as { at: number } | null)?.at;
    if (at !== undefined && Date.now() - at > KEEP_MS) db.exec("delete from sent");
    this.db = db;
    return db;
  }

  /** name → the key of the request it went out in, "" once settled; names never sent are absent. */
  lookup(pipeline: string, names: string[]): Map<string, string> {
    const db = this.open();
    const out = new Map<string, string>();
    const q = db.query("select key from sent where pipeline = ? and name = ?");
    for (const n of names) {
      const row = q.get(pipeline, n) as { key: string } | null;
      if (row) out.set(n, row.key);
    }
    return out;
  }

  /** Before a request goes out: its records' names under its key (kept if one was settled already). */
  sending(pipeline: string, names: string[], key: string): void {
    const db = this.open();
    const ins = db.query("insert into sent (pipeline, name, key) values (?, ?, ?) on conflict do update set key = excluded.key where sent.key <> ''");
    db.transaction(() => {
      for (const n of names) ins.run(pipeline, n, key);
      db.query("insert into meta (id, at) values (1, ?) on conflict do update set at = excluded.at").run(Date.now());
    })();
  }

  /** The request was answered (or its records dead-lettered): never sent again. */
  settled(pipeline: string, names: string[]): void {
    const db = this.open();
    const up = db.query("update sent set key = '' where pipeline = ? and name = ?");
    db.transaction(() => {
      for (const n of names) up.run(pipeline, n);
    })();
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}
