import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Health, OutputBatch, OutputRecord, OutputTable, Sink, SinkContext } from "../sink.ts";
import type { Column, Lsn } from "../../types.ts";
import type { SqliteSinkConfig } from "./config.ts";
import { CdcError } from "../../errors.ts";
import { toSqliteValue, sqliteType } from "./values.ts";

const q = (s: string) => '"' + s.replace(/"/g, '""') + '"';

/** Sink table name: `public.orders` → `orders`; other schemas keep `schema.table` as the name. */
export function sqliteTableName(name: string): string {
  return name.startsWith("public.") ? name.slice(7) : name;
}

/**
 * The SQLite sink: a local warehouse file (WAL mode). Each batch is applied in one SQLite
 * transaction, record by record in commit order with cached prepared statements, together
 * with the pipeline's position in `cdc_engine_offsets`.
 */
export class SqliteSink implements Sink {
  private db!: Database;
  private name = "sqlite";
  private positions = new Map<string, Lsn>();
  private tables = new Map<string, Set<string>>();
  private stmts = new Map<string, Statement>();

  constructor(private config: SqliteSinkConfig) {}

  async open(ctx: SinkContext): Promise<void> {
    this.name = ctx.name;
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
    const apply = this.db.transaction(() => {
      for (const r of batch.records) this.apply(r);
      this.stmt("offsets", "insert into cdc_engine_offsets (pipeline, sink, lsn, updated_at) values (?, ?, ?, ?) on conflict (pipeline, sink) do update set lsn = excluded.lsn, updated_at = excluded.updated_at")
        .run(batch.pipeline, this.name, batch.lsn.toString(), new Date().toISOString());
    });
    apply.immediate();
    this.positions.set(batch.pipeline, batch.lsn);
  }

  private apply(r: OutputRecord): void {
    const t = r.table;
    const name = sqliteTableName(t.name);
    this.ensureTable(name, t);
    if (r.op === "truncate") {
      this.db.run(`delete from ${q(name)}`);
      return;
    }
    if (r.op === "delete") {
      if (!t.key.length) return;
      this.stmt(`d\u0000${name}\u0000${t.key.join("\u0000")}`, `delete from ${q(name)} where ${t.key.map((k) => `${q(k)} is ?`).join(" and ")}`).run(
        ...t.key.map((k) => toSqliteValue(r.row[k])),
      );
      return;
    }
    const skip = new Set(r.unchangedToast ?? []);
    const cols = t.columns.map((c) => c.name).filter((c) => !skip.has(c));
    const sig = `u\u0000${name}\u0000${cols.join("\u0000")}\u0000${t.key.join("\u0000")}`;
    let text = `insert into ${q(name)} (${cols.map(q).join(", ")}) values (${cols.map(() => "?").join(", ")})`;
    if (t.key.length) {
      const set = cols.filter((c) => !t.key.includes(c));
      text += ` on conflict (${t.key.map(q).join(", ")}) do ` + (set.length ? `update set ${set.map((c) => `${q(c)} = excluded.${q(c)}`).join(", ")}` : "nothing");
    }
    this.stmt(sig, text).run(...cols.map((c) => toSqliteValue(r.row[c])));
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
      const info = this.db.query(`pragma table_info(${q(name)})`).all() as { name: string }[];
      if (info.length === 0) {
        const defs = t.columns.map((c: Column) => `${q(c.name)} ${sqliteType(c)}`);
        if (t.key.length) defs.push(`primary key (${t.key.map(q).join(", ")})`);
        this.db.run(`create table ${q(name)} (${defs.join(", ")})`);
        have = new Set(t.columns.map((c) => c.name));
      } else have = new Set(info.map((i) => i.name));
      this.tables.set(name, have);
    }
    for (const c of t.columns) {
      if (have.has(c.name)) continue;
      this.db.run(`alter table ${q(name)} add column ${q(c.name)} ${sqliteType(c)}`);
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
    this.db?.close();
  }
}
