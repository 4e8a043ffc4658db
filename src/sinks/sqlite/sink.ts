import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { PartsLostError, type Health, type OutputBatch, type OutputRecord, type OutputTable, type Sink, type SinkContext } from "../sink.ts";
import type { Column, Lsn } from "../../types.ts";
import type { SqliteSinkConfig } from "./config.ts";
import { CdcError } from "../../errors.ts";
import { toSqliteValue, sqliteType, sqliteLiteral } from "./values.ts";
import { missingRowValue } from "../missing-value.ts";
import { isSqliteDataError, tableShapeError } from "./errors.ts";
import { sinkDeadLetter } from "../../dlq/sink-dead-letter.ts";
import { TableOwners } from "../table-owners.ts";
import { reportUnmatched } from "../unmatched-rows.ts";

const q = (s: string) => '"' + s.replace(/"/g, '""') + '"';

/** Sink table name: `public.orders` → `orders`; other schemas keep `schema.table` as the name. */
export function sqliteTableName(name: string): string {
  return name.startsWith("public.") ? name.slice(7) : name;
}

/**
 * The SQLite sink: a local warehouse file (WAL mode). Each batch is applied in one SQLite
 * transaction, record by record in commit order with cached prepared statements, together
 * with the pipeline's position in `cdc_engine_offsets`. A record SQLite refuses for its values
 * (constraint, datatype mismatch) goes to the dead-letter queue and the rest is written.
 *
 * The parts of a large source transaction (OutputBatch.part) go into one open SQLite
 * transaction committed with the last part. SQLite has one writer per file, so that open
 * transaction is shared: whatever else is written meanwhile (other pipelines' batches and
 * parts) joins it, and their write() resolves when it commits, once no pipeline is between
 * parts any more.
 */
export class SqliteSink implements Sink {
  private db!: Database;
  private name = "sqlite";
  private positions = new Map<string, Lsn>();
  private tables = new Map<string, Set<string>>();
  /** Per table: its INTEGER PRIMARY KEY column (the rowid), which cannot hold a NULL key; null when it has none. */
  private rowidKeys = new Map<string, string | null>();
  private stmts = new Map<string, Statement>();
  private ctx!: SinkContext;
  /** The open SQLite transaction while some pipeline is between the parts of a large transaction. */
  private openTxn: OpenTxn | null = null;
  /**
   * `a.b` (schema a) and `public."a.b"` are both SQLite table "a.b", and SQLite folds ASCII case
   * ("Orders" is "orders"); a source table `cdc_engine_offsets` would write into the positions.
   * Their rows were mixed: the first output table written owns the name (TableOwners), as in the
   * mysql and bigquery sinks.
   */
  private readonly owners = new TableOwners();

  constructor(private config: SqliteSinkConfig) {}

  async open(ctx: SinkContext): Promise<void> {
    this.name = ctx.name;
    this.ctx = ctx;
    this.owners.claim("cdc_engine_offsets", "the engine's positions"); // a source table of that name must not write there
    const path = resolve(this.config.path);
    try {
      mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path, { create: true, safeIntegers: true });
      this.db.run("pragma journal_mode = wal");
      this.db.run("pragma synchronous = full");
      this.db.run("pragma busy_timeout = 5000");
      this.db.run("create table if not exists cdc_engine_offsets (pipeline text not null, sink text not null, lsn text not null, updated_at text not null, primary key (pipeline, sink))");
    } catch (e) {
      throw new CdcError("sink_open", `cannot open ${path}: ${(e as Error).message}`, { cause: e, component: `sink:${this.name}` });
    }
    for (const r of this.db.query("select pipeline, lsn from cdc_engine_offsets where sink = ?").all(this.name) as { pipeline: string; lsn: string }[]) {
      this.positions.set(r.pipeline, BigInt(r.lsn));
    }
  }

  position(pipeline: string): Lsn | null {
    return this.positions.get(pipeline) ?? null;
  }

  async write(batch: OutputBatch): Promise<void> {
    const partial = batch.part !== undefined && !batch.part.last;
    if (batch.part && batch.part.index > 0 && !this.openTxn?.between.has(batch.pipeline)) throw new PartsLostError(this.name, batch.pipeline, batch.lsn);
    if (!this.openTxn) {
      this.db.run("begin immediate");
      this.openTxn = { between: new Set(), positions: new Map(), dead: [], unmatched: [], waiters: [] };
    }
    const tx = this.openTxn;
    try {
      for (const r of batch.records) {
        const clash = this.clash(r.table.name);
        if (clash) {
          tx.dead.push([batch.pipeline, r, clash]);
          continue;
        }
        try {
          if (this.apply(r) === "unmatched") tx.unmatched.push([batch.pipeline, r]);
        } catch (e) {
          // A failed statement is backed out alone (ON CONFLICT ABORT): the transaction goes on.
          if (!isSqliteDataError(e)) throw e;
          tx.dead.push([batch.pipeline, r, (e as Error).message]);
        }
      }
      if (!partial) {
        this.stmt("offsets", "insert into cdc_engine_offsets (pipeline, sink, lsn, updated_at) values (?, ?, ?, ?) on conflict (pipeline, sink) do update set lsn = excluded.lsn, updated_at = excluded.updated_at")
          .run(batch.pipeline, this.name, batch.lsn.toString(), new Date().toISOString());
      }
    } catch (e) {
      this.rollback(e);
      throw e;
    }
    if (partial) {
      tx.between.add(batch.pipeline);
      return;
    }
    tx.between.delete(batch.pipeline);
    tx.positions.set(batch.pipeline, batch.lsn);
    if (tx.between.size > 0) return new Promise<void>((resolve, reject) => tx.waiters.push({ resolve, reject }));
    this.commit();
  }

  /** Why an output table's records cannot go to its SQLite table (another output table owns it), or null. */
  private clash(output: string): string | null {
    const name = sqliteTableName(output);
    const owner = this.owners.claim(name.replace(/[A-Z]/g, (c) => c.toLowerCase()), output);
    if (owner === null) return null;
    return `${output} and ${owner} both map to SQLite table ${name} (SQLite ignores ASCII case), which holds the rows of ${owner}: send ${output} through a pipeline of its own with another to.table`;
  }

  private commit(): void {
    const tx = this.openTxn!;
    try {
      this.db.run("commit");
    } catch (e) {
      this.rollback(e);
      throw e;
    }
    this.openTxn = null;
    for (const [p, l] of tx.positions) this.positions.set(p, l);
    for (const [p, r, reason] of tx.dead) sinkDeadLetter(this.ctx, p, r, reason);
    for (const p of new Set(tx.unmatched.map(([p]) => p))) reportUnmatched(this.ctx, p, tx.unmatched.filter(([q]) => q === p).map(([, r]) => r));
    for (const w of tx.waiters) w.resolve();
  }

  /** Undo the open transaction: the writes that joined it fail (and are retried by their writers). */
  private rollback(cause: unknown): void {
    const tx = this.openTxn;
    this.openTxn = null;
    try {
      if (this.db.inTransaction) this.db.run("rollback");
    } catch {}
    // Tables created in the transaction are gone again.
    this.tables.clear();
    this.rowidKeys.clear();
    this.stmts.clear();
    for (const w of tx?.waiters ?? []) w.reject(cause instanceof Error ? cause : new Error(String(cause)));
  }

  private apply(r: OutputRecord): "unmatched" | void {
    const t = r.table;
    const name = sqliteTableName(t.name);
    this.ensureTable(name, t);
    if (r.op === "truncate") {
      this.db.run(`delete from ${q(name)}`);
      return;
    }
    if (r.byOldRow) return this.applyByOldRow(name, r) === 0 ? "unmatched" : undefined;
    if (r.op === "delete") {
      if (!t.key.length) return;
      this.shapedStmt(name, t.key, `d\u0000${name}\u0000${t.key.join("\u0000")}`, `delete from ${q(name)} where ${t.key.map((k) => `${q(k)} is ?`).join(" and ")}`).run(
        ...t.key.map((k) => toSqliteValue(r.row[k])),
      );
      return;
    }
    const nullKey = t.key.find((k) => r.row[k] === null || r.row[k] === undefined);
    // SQLite lets NULL into a key (an INTEGER PRIMARY KEY even takes the next rowid), and ON
    // CONFLICT never matches it: every upsert of that row would add one more. A source's key is
    // refused instead; a computed one (group_by, window.key) has one group of NULLs, as in SQL.
    if (nullKey !== undefined && !t.nullableKey) throw notNull(`NOT NULL constraint failed: key column ${name}.${nullKey} is NULL`);
    if (nullKey !== undefined && this.rowidKeys.get(name)) {
      throw notNull(`NOT NULL constraint failed: key column ${name}.${nullKey} is NULL, and the table's INTEGER PRIMARY KEY ${this.rowidKeys.get(name)} is its rowid, which cannot be NULL (a table made by an earlier version: drop it, and the engine makes it with a UNIQUE key that holds the NULL group)`);
    }
    const skip = new Set(r.unchangedToast ?? []);
    const cols = t.columns.map((c) => c.name).filter((c) => !skip.has(c));
    const sig = `u\u0000${name}\u0000${cols.join("\u0000")}\u0000${t.key.join("\u0000")}`;
    let text = `insert into ${q(name)} (${cols.map(q).join(", ")}) values (${cols.map(() => "?").join(", ")})`;
    if (t.key.length) {
      const set = cols.filter((c) => !t.key.includes(c));
      text += ` on conflict (${t.key.map(q).join(", ")}) do ` + (set.length ? `update set ${set.map((c) => `${q(c)} = excluded.${q(c)}`).join(", ")}` : "nothing");
    }
    if (nullKey !== undefined && this.updateNullKey(name, t.key, cols, r) > 0) return;
    this.shapedStmt(name, t.key, sig, text).run(...cols.map((c) => toSqliteValue(r.row[c])));
  }

  /**
   * The row of a key holding a NULL, updated by the key compared with IS (ON CONFLICT never
   * matches a NULL); returns the rows it matched, 0 when the row is to be inserted. A replay
   * updates the same row again: never a second one.
   */
  private updateNullKey(name: string, key: string[], cols: string[], r: OutputRecord): number {
    const set = cols.filter((c) => !key.includes(c));
    const assignments = set.length ? set.map((c) => `${q(c)} = ?`) : [`${q(key[0])} = ${q(key[0])}`];
    const sig = `n\u0000${name}\u0000${set.join("\u0000")}\u0000${key.join("\u0000")}`;
    const text = `update ${q(name)} set ${assignments.join(", ")} where ${key.map((k) => `${q(k)} is ?`).join(" and ")}`;
    return Number(this.shapedStmt(name, key, sig, text).run(...[...set, ...key].map((c) => toSqliteValue(r.row[c]))).changes);
  }

  /**
   * Delete, or replace with the new row, ONE row equal to the old row in every source column
   * (IS: NULL equals NULL), by rowid (OutputRecord.byOldRow). Returns the rows changed (0: none
   * was equal). The batch's transaction holds the position too: a replay never takes a second duplicate.
   */
  private applyByOldRow(name: string, r: OutputRecord): number {
    const cols = r.table.columns.map((c) => c.name);
    const one = `(select rowid from ${q(name)} where ${cols.length ? cols.map((c) => `${q(c)} is ?`).join(" and ") : "true"} limit 1)`;
    const before = r.before ?? {};
    const old = cols.map((c) => toSqliteValue(before[c]));
    const sig = `o\u0000${name}\u0000${r.op}\u0000${cols.join("\u0000")}`;
    if (r.op === "delete") return Number(this.shapedStmt(name, [], sig, `delete from ${q(name)} where rowid = ${one}`).run(...old).changes);
    const text = `update ${q(name)} set ${cols.map((c) => `${q(c)} = ?`).join(", ")} where rowid = ${one}`;
    return Number(this.shapedStmt(name, [], sig, text).run(...cols.map((c) => toSqliteValue(r.row[c])), ...old).changes);
  }

  /** A row statement on a target table; one the table's shape does not allow is refused as a data error (DLQ), not retried. */
  private shapedStmt(table: string, key: string[], sig: string, text: string): Statement {
    try {
      return this.stmt(sig, text);
    } catch (e) {
      throw tableShapeError(e, table, key) ?? e;
    }
  }

  private stmt(key: string, text: string): Statement {
    let s = this.stmts.get(key);
    if (!s) this.stmts.set(key, (s = this.db.prepare(text)));
    return s;
  }

  /** Create the table from the output table's columns and key, or add the columns it lacks. */
  private ensureTable(name: string, t: OutputTable): void {
    let have = this.tables.get(name);
    if (!have) {
      // table_xinfo: table_info leaves out generated columns, and adding one again failed (retried forever).
      const info = this.db.query(`pragma table_xinfo(${q(name)})`).all() as { name: string; type: string; pk: number | bigint }[];
      if (info.length === 0) {
        const defs = t.columns.map((c: Column) => `${q(c.name)} ${sqliteType(c)}`);
        // A computed key may hold NULL: a UNIQUE key, since a single integer primary key would be
        // the rowid (NULL becomes the next number). ON CONFLICT infers it like a primary key.
        if (t.key.length) defs.push(`${t.nullableKey ? "unique" : "primary key"} (${t.key.map(q).join(", ")})`);
        this.db.run(`create table ${q(name)} (${defs.join(", ")})`);
        have = new Set(t.columns.map((c) => c.name));
        this.rowidKeys.set(name, null);
      } else {
        have = new Set(info.map((i) => i.name));
        const pk = info.filter((i) => Number(i.pk) > 0);
        this.rowidKeys.set(name, pk.length === 1 && pk[0].type.toUpperCase() === "INTEGER" ? pk[0].name : null);
      }
      this.tables.set(name, have);
    }
    for (const c of t.columns) {
      if (have.has(c.name)) continue;
      // The rows it has read the source's default for a column added with one (Column.missing),
      // and so does a row of an older transaction written later without the column.
      const fill = missingRowValue(c);
      this.db.run(`alter table ${q(name)} add column ${q(c.name)} ${sqliteType(c)}${fill !== undefined ? ` default ${sqliteLiteral(toSqliteValue(fill))}` : ""}`);
      if (fill === undefined && c.missing !== undefined) this.ctx.log.warn({ table: name, column: c.name }, `the rows ${name} has keep ${c.name} empty, where the source's read its default (type ${c.typeName ?? c.typeOid} is not filled here)`);
      have.add(c.name);
      for (const k of [...this.stmts.keys()]) if (k.includes(`\u0000${name}\u0000`)) this.stmts.delete(k);
    }
  }

  async health(): Promise<Health> {
    try {
      this.db.query("select 1").get();
      return { status: "up", details: { file: resolve(this.config.path) } };
    } catch (e) {
      return { status: "down", reason: (e as Error).message };
    }
  }

  async close(): Promise<void> {
    if (this.openTxn) this.rollback(new Error("sink closed"));
    this.db?.close();
  }
}

function notNull(message: string): Error {
  return Object.assign(new Error(message), { code: "SQLITE_CONSTRAINT_NOTNULL" });
}

interface OpenTxn {
  /** Pipelines that wrote a part of a large transaction and not yet its last part. */
  between: Set<string>;
  /** Positions written in this transaction, applied to `positions` at commit. */
  positions: Map<string, Lsn>;
  /** Records refused for their values: sent to the dead-letter queue once the transaction commits. */
  dead: [string, OutputRecord, string][];
  /** Records addressed by their old row that found none (per pipeline): reported once the transaction commits. */
  unmatched: [string, OutputRecord][];
  /** Writes that finished and wait for the commit. */
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
}
