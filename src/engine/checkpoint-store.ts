import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Lsn } from "../types.ts";
import { CdcError } from "../errors.ts";
import { decodeState, encodeState } from "./state-codec.ts";

export interface Checkpoint {
  id: number;
  lsn: Lsn;
  createdAt: number;
  /** pipeline name → state of each operator, in chain order. */
  state: Record<string, unknown[]>;
}

/**
 * Checkpoints in `state.dir/checkpoints.db` (bun:sqlite, WAL mode). One checkpoint = the LSN
 * of a transaction boundary plus every operator's state at that boundary, written in one
 * SQLite transaction, so a crash leaves either the old or the new cut, never half of one.
 */
export class CheckpointStore {
  private db: Database;

  constructor(stateDir: string, private keep = 3) {
    const dir = resolve(stateDir);
    try {
      mkdirSync(dir, { recursive: true });
      this.db = new Database(join(dir, "checkpoints.db"), { create: true, strict: true });
    } catch (e) {
      throw new CdcError("checkpoint_open", `[checkpoint] cannot open ${join(dir, "checkpoints.db")}: ${(e as Error).message}`, { cause: e, component: "checkpoint" });
    }
    this.db.run("pragma journal_mode = wal");
    this.db.run("pragma synchronous = full");
    this.db.run(`create table if not exists checkpoints (
      id integer primary key autoincrement,
      lsn text not null,
      created_at integer not null,
      state text not null
    )`);
  }

  latest(): Checkpoint | null {
    const row = this.db.query("select id, lsn, created_at, state from checkpoints order by id desc limit 1").get() as
      | { id: number; lsn: string; created_at: number; state: string }
      | null;
    if (!row) return null;
    return { id: row.id, lsn: BigInt(row.lsn), createdAt: row.created_at, state: decodeState(row.state) as Record<string, unknown[]> };
  }

  /** Write a checkpoint and prune old ones in the same transaction. Never moves the LSN backwards. */
  save(lsn: Lsn, state: Record<string, unknown[]>, now = Date.now()): Checkpoint {
    const text = encodeState(state);
    const tx = this.db.transaction(() => {
      const prev = this.db.query("select lsn from checkpoints order by id desc limit 1").get() as { lsn: string } | null;
      const at = prev && BigInt(prev.lsn) > lsn ? BigInt(prev.lsn) : lsn;
      const r = this.db.query("insert into checkpoints (lsn, created_at, state) values (?, ?, ?) returning id").get(at.toString(), now, text) as { id: number };
      this.db.query("delete from checkpoints where id <= ?").run(r.id - this.keep);
      return { id: r.id, lsn: at, createdAt: now, state };
    });
    return tx();
  }

  count(): number {
    return (this.db.query("select count(*) as n from checkpoints").get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
