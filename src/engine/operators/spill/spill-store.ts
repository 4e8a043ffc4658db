import { Database, type Statement } from "bun:sqlite";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { CdcError } from "../../../errors.ts";

/** What a checkpoint records about a pipeline's spill file: which file, and the epoch it was sealed at. */
export interface SpillInfo {
  gen: string;
  epoch: number;
  /** live rows at that epoch (contributions, join rows): a restore checks them */
  contribs: number;
  joinRows: number;
}

/**
 * Cold operator state of one pipeline in `state.dir/operator-state/<pipeline>.db` (bun:sqlite, WAL):
 * window contributions and join rows moved out of the heap when the pipeline is over its budget.
 *
 * Crash consistency: rows are versioned by checkpoint epoch. A write between two checkpoints belongs
 * to the open epoch E (`born = E`; a row taken back gets `died = E` instead of being deleted).
 * seal() — called while the checkpoint is cut, before the checkpoint store commits it — makes
 * everything so far durable and returns `{gen, epoch: E}`, which goes into the checkpoint; epoch
 * E + 1 opens. Restoring a checkpoint sealed at X rolls the file back to X (rows born after X are
 * deleted, rows that died after X live again), so the file equals what it was at the cut whatever
 * happened after it: spills past the checkpoint, a seal whose checkpoint was never committed,
 * kill -9 anywhere. Rows that died at or before X − 1 are dead in every cut a restore can ask for
 * (each seal's checkpoint is committed before the next seal, as the incremental chain already
 * needs), so they are deleted in the background, a few thousand at a time.
 * A start without a checkpoint (or from one without spilled state) empties the file.
 */
export class SpillStore {
  private db: Database | null = null;
  /** undefined: nothing restored (a fresh start empties the file); null: restored, nothing spilled */
  private restoreTo: SpillInfo | null | undefined = undefined;
  private gen = "";
  private epoch = 1;
  private compactThrough = 0;
  /** live rows (contributions, join rows per join): known without opening the file after a restore */
  contribs = 0;
  joinRows = 0;
  /** contributions and join rows read back from the file (tests, debugging) */
  contribHits = 0;
  joinHits = 0;
  private q: Record<string, Statement> = {};

  constructor(
    readonly path: string,
    private readonly pipeline: string,
  ) {}

  /** True once anything may live in the file (so lookups on a miss are worth doing). */
  get inUse(): boolean {
    return this.db !== null || (this.restoreTo !== undefined && this.restoreTo !== null);
  }

  /** The checkpoint's spill part, before the first use; the last call wins (a chain's links in order). */
  restoreFrom(info: SpillInfo | null): void {
    if (this.db) throw new Error("spill store: restore after use");
    // the rest (generation, epoch) is checked when the file is opened
    if (info && (info.contribs > 0 || info.joinRows > 0) && !existsSync(this.path)) throw this.lost(`${this.path} is missing`);
    this.restoreTo = info;
    this.contribs = info?.contribs ?? 0;
    this.joinRows = info?.joinRows ?? 0;
  }

  private open(): Database {
    if (this.db) return this.db;
    let info = this.restoreTo;
    if (info && !existsSync(this.path)) {
      if (info.contribs > 0 || info.joinRows > 0) throw this.lost(`${this.path} is missing`);
      info = null; // it held nothing at the checkpoint: start a new file
    }
    mkdirSync(dirname(this.path), { recursive: true });
    const db = new Database(this.path, { create: true, strict: true });
    db.run("pragma journal_mode = wal");
    db.run("pragma synchronous = normal");
    db.run("create table if not exists meta (k text primary key, v)");
    // id, g: no declared type, so a number stays a number and a string a string (row ids are either)
    db.run("create table if not exists contrib (rid integer primary key autoincrement, id not null, ps integer not null, g text not null, data text not null, born integer not null, died integer)");
    db.run("create index if not exists contrib_live on contrib(id) where died is null");
    db.run("create index if not exists contrib_ps on contrib(ps) where died is null");
    db.run("create index if not exists contrib_died on contrib(died) where died is not null");
    db.run("create table if not exists jrow (rid integer primary key autoincrement, j integer not null, k text not null, data text not null, born integer not null, died integer)");
    db.run("create index if not exists jrow_live on jrow(j, k) where died is null");
    db.run("create index if not exists jrow_died on jrow(died) where died is not null");
    const meta = (k: string) => (db.query("select v from meta where k = ?").get(k) as { v: unknown } | null)?.v;
    if (info) {
      const gen = meta("gen");
      const sealed = Number(meta("sealed") ?? 0);
      if (gen !== info.gen) throw this.lost(`${this.path} belongs to another run (${String(gen)}, the checkpoint's is ${info.gen})`);
      // compaction may have run up to sealed − 1: an older cut cannot be rebuilt
      if (sealed < info.epoch || sealed - 1 > info.epoch) throw this.lost(`${this.path} is at epoch ${sealed}, the checkpoint at ${info.epoch}`);
      db.transaction(() => {
        for (const t of ["contrib", "jrow"]) {
          const last = db.query(`select rid from ${t} where born <= ? order by rid desc limit 1`).get(info.epoch) as { rid: number } | null;
          db.query(`delete from ${t} where rid > ?`).run(last?.rid ?? 0);
          db.query(`update ${t} set died = null where died > ?`).run(info.epoch);
        }
        db.query("insert or replace into meta (k, v) values ('sealed', ?)").run(info.epoch);
      })();
      this.gen = info.gen;
      this.epoch = info.epoch + 1;
      this.compactThrough = info.epoch - 1;
      this.contribs = (db.query("select count(*) n from contrib where died is null").get() as { n: number }).n;
      this.joinRows = (db.query("select count(*) n from jrow where died is null").get() as { n: number }).n;
    } else {
      db.transaction(() => {
        db.run("delete from contrib");
        db.run("delete from jrow");
        this.gen = crypto.randomUUID();
        db.query("insert or replace into meta (k, v) values ('gen', ?)").run(this.gen);
        db.query("insert or replace into meta (k, v) values ('sealed', 0)").run();
      })();
      this.epoch = 1;
      this.contribs = 0;
      this.joinRows = 0;
    }
    this.db = db;
    this.q = {
      putContrib: db.query("insert into contrib (id, ps, g, data, born) values (?, ?, ?, ?, ?)"),
      getContrib: db.query("select rid, ps, g, data from contrib where id = ? and died is null"),
      kill: db.query("update contrib set died = ? where rid = ?"),
      purge: db.query("update contrib set died = ? where ps <= ? and died is null"),
      killJoin: db.query("update jrow set died = ? where j = ? and k = ? and died is null"),
      putJoin: db.query("insert into jrow (j, k, data, born) values (?, ?, ?, ?)"),
      getJoin: db.query("select data from jrow where j = ? and k = ? and died is null"),
    };
    return db;
  }

  private lost(why: string): CdcError {
    return new CdcError("state_spill_mismatch", `pipeline '${this.pipeline}': the checkpoint's spilled operator state cannot be read: ${why}; put that file back, or start over from an empty state.dir`, { component: "state" });
  }

  /** Move contributions out of memory: [id, pane start, group, data]. */
  putContribs(rows: [unknown, number, string, string][]): void {
    const db = this.open();
    const put = this.q.putContrib;
    const e = this.epoch;
    db.transaction(() => {
      for (const r of rows) put.run(r[0] as string, r[1], r[2], r[3], e);
    })();
    this.contribs += rows.length;
  }

  /** A spilled contribution, taken back (an update or delete of its row), or null. */
  takeContrib(id: unknown): { ps: number; g: string; data: string } | null {
    if (this.contribs === 0) return null;
    this.open();
    const r = this.q.getContrib.get(id as string) as { rid: number; ps: number; g: string; data: string } | null;
    if (!r) return null;
    this.q.kill.run(this.epoch, r.rid);
    this.contribs--;
    this.contribHits++;
    return r;
  }

  /** Contributions of panes at or before `lastPane` (dropped after retention). */
  purgeContribs(lastPane: number): void {
    if (this.contribs === 0) return;
    this.open();
    this.contribs -= this.q.purge.run(this.epoch, lastPane).changes;
  }

  /** TRUNCATE of the source table. */
  dropAllContribs(): void {
    if (this.contribs === 0) return;
    this.open().query("update contrib set died = ? where died is null").run(this.epoch);
    this.contribs = 0;
  }

  /** Join rows moved out of memory (replacing a spilled row of the same key). */
  putJoinRows(j: number, rows: [string, string][]): void {
    const db = this.open();
    const e = this.epoch;
    db.transaction(() => {
      for (const [k, data] of rows) {
        this.joinRows -= this.q.killJoin.run(e, j, k).changes;
        this.q.putJoin.run(j, k, data, e);
      }
    })();
    this.joinRows += rows.length;
  }

  getJoinRow(j: number, k: string): string | null {
    if (this.joinRows === 0) return null;
    this.open();
    const r = this.q.getJoin.get(j, k) as { data: string } | null;
    if (r) this.joinHits++;
    return r?.data ?? null;
  }

  /** The joined table's row is gone (deleted, key changed): its spilled copy too. */
  killJoinRow(j: number, k: string): void {
    if (this.joinRows === 0) return;
    this.open();
    this.joinRows -= this.q.killJoin.run(this.epoch, j, k).changes;
  }

  dropAllJoinRows(j: number): void {
    if (this.joinRows === 0) return;
    this.joinRows -= this.open().query("update jrow set died = ? where j = ? and died is null").run(this.epoch, j).changes;
  }

  /**
   * Part of a checkpoint cut: everything written so far is made durable (a synchronous commit
   * flushes the whole WAL) and belongs to the returned epoch; later writes belong to the next.
   * Null when nothing was ever spilled.
   */
  seal(): SpillInfo | null {
    if (!this.inUse) return null;
    const db = this.open();
    const sealed = this.epoch;
    db.run("pragma synchronous = full");
    try {
      db.query("insert or replace into meta (k, v) values ('sealed', ?)").run(sealed);
    } finally {
      db.run("pragma synchronous = normal");
    }
    this.epoch = sealed + 1;
    this.compactThrough = sealed - 1;
    return { gen: this.gen, epoch: sealed, contribs: this.contribs, joinRows: this.joinRows };
  }

  /** Background work between transactions: delete rows no restorable cut needs. Returns rows deleted. */
  compact(limit = 5000): number {
    if (!this.db || this.compactThrough <= 0) return 0;
    let n = 0;
    for (const t of ["contrib", "jrow"]) {
      n += this.db.query(`delete from ${t} where rid in (select rid from ${t} where died <= ? limit ?)`).run(this.compactThrough, limit).changes;
    }
    if (n === 0) this.compactThrough = 0; // nothing more until the next seal
    return n;
  }

  /** Live rows counted in the file itself (opens it: a restore's rollback happens here). */
  countLive(): { contribs: number; joinRows: number } {
    const db = this.open();
    const n = (t: string) => (db.query(`select count(*) n from ${t} where died is null`).get() as { n: number }).n;
    return { contribs: n("contrib"), joinRows: n("jrow") };
  }

  /** Bytes of the file and its WAL on disk. */
  bytesOnDisk(): number {
    if (!this.db) return 0;
    let n = 0;
    for (const f of [this.path, `${this.path}-wal`]) {
      try {
        n += statSync(f).size;
      } catch {
        /* not there yet */
      }
    }
    return n;
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}
