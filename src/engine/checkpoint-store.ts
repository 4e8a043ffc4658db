import { Database } from "bun:sqlite";
import { join, resolve } from "node:path";
import type { Lsn } from "../types.ts";
import { onStateFile, openStateDb, REBUILD_STATE } from "./state-file.ts";
import { decodeState, encodeState } from "./state-codec.ts";

export interface Checkpoint {
  id: number;
  lsn: Lsn;
  createdAt: number;
  /** pipeline name → state of each operator, in chain order. */
  state: Record<string, unknown[]>;
}

/** How a pipeline's state arrives from the runtime: its position and one entry per operator. */
interface PipelineState {
  lsn?: string | null;
  ops?: unknown[];
}
/** An operator entry the store keeps as a chain (see operator-runner's ChainLink). */
function isLink(v: unknown): v is { $chain: "full" | "delta"; state: unknown } {
  return typeof v === "object" && v !== null && ((v as { $chain?: unknown }).$chain === "full" || (v as { $chain?: unknown }).$chain === "delta");
}
const STORED = "stored";

/**
 * Checkpoints in `state.dir/checkpoints.db` (bun:sqlite, WAL mode). One checkpoint = the LSN
 * of a transaction boundary plus every operator's state at that boundary, written in one
 * SQLite transaction, so a crash leaves either the old or the new cut, never half of one.
 * Incremental operators hand over chain links: a full state, then only what changed. Links go
 * into op_chain; a full link drops the older links of that operator, so a checkpoint after a
 * small change writes a small row, and latest() returns the chain for restore() to replay.
 */
export class CheckpointStore {
  private db: Database;
  /** Characters of state written by the last save() (checkpoint row plus chain links). */
  lastWriteChars = 0;

  private readonly path: string;

  constructor(stateDir: string, private keep = 3) {
    this.path = join(resolve(stateDir), "checkpoints.db");
    this.db = openStateDb(this.path, REBUILD_STATE, { strict: true });
    this.guard(() => this.createTables());
  }

  /** `fn` on the file, its SQLite failure named (a damaged file: exit 2; a full or read-only dir: exit 1). */
  private guard<T>(fn: () => T): T {
    return onStateFile(this.path, REBUILD_STATE, fn);
  }

  private createTables(): void {
    this.db.run("pragma synchronous = full");
    this.db.run(`create table if not exists checkpoints (
      id integer primary key autoincrement,
      lsn text not null,
      created_at integer not null,
      state text not null
    )`);
    this.db.run(`create table if not exists op_chain (
      pipeline text not null,
      op integer not null,
      checkpoint_id integer not null,
      state text not null,
      primary key (pipeline, op, checkpoint_id)
    )`);
  }

  /**
   * Counts this start (durably, before anything is sent) and returns its number, 1 for the first.
   * The runtime numbers snapshot records from (starts - 1) · 2^32: every snapshot chunk carries one
   * LSN, and a snapshot resumed after a crash must not reuse the numbers of the run before.
   */
  countStart(): number {
    return this.guard(() => this.countStartIn());
  }

  private countStartIn(): number {
    this.db.run("create table if not exists starts (n integer not null)");
    return this.db.transaction(() => {
      const row = this.db.query("select n from starts").get() as { n: number } | null;
      const n = (row?.n ?? 0) + 1;
      if (row) this.db.run("update starts set n = ?", [n]);
      else this.db.run("insert into starts (n) values (?)", [n]);
      return n;
    })();
  }

  latest(): Checkpoint | null {
    return this.guard(() => this.latestIn());
  }

  private latestIn(): Checkpoint | null {
    const row = this.db.query("select id, lsn, created_at, state from checkpoints order by id desc limit 1").get() as
      | { id: number; lsn: string; created_at: number; state: string }
      | null;
    if (!row) return null;
    const state = decodeState(row.state) as Record<string, PipelineState>;
    const links = this.db.query("select state from op_chain where pipeline = ? and op = ? and checkpoint_id <= ? order by checkpoint_id");
    for (const [pipeline, ps] of Object.entries(state)) {
      ps.ops?.forEach((o, i) => {
        if ((o as { $chain?: unknown } | null)?.$chain !== STORED) return;
        ps.ops![i] = { $chain: (links.all(pipeline, i, row.id) as { state: string }[]).map((l) => decodeState(l.state)) };
      });
    }
    return { id: row.id, lsn: BigInt(row.lsn), createdAt: row.created_at, state: state as unknown as Record<string, unknown[]> };
  }

  /** Write a checkpoint and prune old ones in the same transaction. Never moves the LSN backwards. */
  save(lsn: Lsn, state: Record<string, unknown[]>, now = Date.now()): Checkpoint {
    // chain links are stored apart; the checkpoint row keeps a placeholder for them
    const links: [string, number, "full" | "delta", string][] = [];
    const top: Record<string, unknown> = {};
    for (const [pipeline, v] of Object.entries(state as unknown as Record<string, PipelineState>)) {
      if (!v || !Array.isArray(v.ops) || !v.ops.some(isLink)) {
        top[pipeline] = v;
        continue;
      }
      top[pipeline] = {
        ...v,
        ops: v.ops.map((o, i) => {
          if (!isLink(o)) return o;
          links.push([pipeline, i, o.$chain, encodeState(o.state)]);
          return { $chain: STORED };
        }),
      };
    }
    const text = encodeState(top);
    this.lastWriteChars = text.length + links.reduce((n, l) => n + l[3].length, 0);
    const tx = this.db.transaction(() => {
      const prev = this.db.query("select lsn from checkpoints order by id desc limit 1").get() as { lsn: string } | null;
      const at = prev && BigInt(prev.lsn) > lsn ? BigInt(prev.lsn) : lsn;
      const r = this.db.query("insert into checkpoints (lsn, created_at, state) values (?, ?, ?) returning id").get(at.toString(), now, text) as { id: number };
      for (const [pipeline, op, kind, s] of links) {
        if (kind === "full") this.db.query("delete from op_chain where pipeline = ? and op = ?").run(pipeline, op);
        this.db.query("insert into op_chain (pipeline, op, checkpoint_id, state) values (?, ?, ?, ?)").run(pipeline, op, r.id, s);
      }
      const kept = new Set(links.map((l) => l[0]));
      for (const { pipeline } of this.db.query("select distinct pipeline from op_chain").all() as { pipeline: string }[]) {
        if (!kept.has(pipeline)) this.db.query("delete from op_chain where pipeline = ?").run(pipeline);
      }
      this.db.query("delete from checkpoints where id <= ?").run(r.id - this.keep);
      return { id: r.id, lsn: at, createdAt: now, state };
    });
    return this.guard(tx);
  }

  count(): number {
    return (this.db.query("select count(*) as n from checkpoints").get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
