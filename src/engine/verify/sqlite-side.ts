import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Pg } from "../../db/postgres-client.ts";
import type { Column } from "../../types.ts";
import type { TypeDecoders } from "../../source/postgres/type-decoders.ts";
import { sqliteTableName } from "../../sinks/sqlite/sink.ts";
import { toSqliteValue } from "../../sinks/sqlite/values.ts";
import { canonicalSide } from "./canonical.ts";
import { boundValues, bytewiseRangeSafe, keyColumns, keyIndexes, sourceSide } from "./source-rows.ts";
import type { ChunkSide, Range, SinkSide, TablePlan } from "./types.ts";
import { isLockTimeout, lockBounded, lockedError } from "./lock-wait.ts";

const q = (s: string) => '"' + s.replace(/"/g, '""') + '"';
const stored = (v: unknown) => toSqliteValue(v);

/** A SQLite sink file, read-only (the engine may be writing it: WAL mode, each query sees one commit). */
export class SqliteSinkSide implements SinkSide {
  readonly bytewiseKeys = true;
  private db: Database | null = null;

  constructor(
    private path: string,
    private src: Pg,
    private types: TypeDecoders,
    private lockMs: number,
  ) {}

  private open(): Database | null {
    if (!this.db && existsSync(resolve(this.path))) {
      this.db = new Database(resolve(this.path), { readonly: true, safeIntegers: true });
      // A file another connection holds locked (not in WAL mode, or during recovery) answered
      // SQLITE_BUSY at once: wait as long as for a locked table elsewhere, then report it.
      this.db.run(`pragma busy_timeout = ${Math.round(this.lockMs)}`);
    }
    return this.db;
  }

  async position(pipeline: string, sink: string): Promise<bigint | null> {
    try {
      const r = this.open()?.query("select lsn from cdc_engine_offsets where pipeline = ? and sink = ?").get(pipeline, sink) as { lsn: string } | null;
      return r ? BigInt(r.lsn) : null;
    } catch (e) {
      if (isLockTimeout(e)) throw lockedError("cdc_engine_offsets", "sink", this.lockMs, e);
      return null;
    }
  }

  async columns(target: string): Promise<string[] | null> {
    const info = (await lockBounded(sqliteTableName(target), "sink", this.lockMs, async () => this.open()?.query(`pragma table_info(${q(sqliteTableName(target))})`).all() ?? [])) as { name: string }[];
    return info.length ? info.map((i) => i.name) : null;
  }

  rangeSafe(key: Column[]): boolean {
    return bytewiseRangeSafe(key);
  }

  sides(plan: TablePlan, sinkColumns: string[]): { source: ChunkSide; sink: ChunkSide } {
    const cols = plan.rel.columns.filter((c) => sinkColumns.includes(c.name));
    const keyCols = keyColumns(plan);
    const table = q(sqliteTableName(plan.target));
    const select = cols.map((c, i) => `${q(c.name)} as c${i}`).join(", ");
    const where = (r: Range): { sql: string; params: unknown[] } => {
      if (!plan.ranged) return { sql: "", params: [] };
      const lhs = keyCols.length === 1 ? q(keyCols[0].name) : `(${keyCols.map((c) => q(c.name)).join(", ")})`;
      const ph = keyCols.length === 1 ? "?" : `(${keyCols.map(() => "?").join(", ")})`;
      const parts: string[] = [];
      const params: unknown[] = [];
      if (r.lo) parts.push(`${lhs} > ${ph}`), params.push(...boundValues(r.lo, keyCols, this.types, stored));
      if (r.hi) parts.push(`${lhs} <= ${ph}`), params.push(...boundValues(r.hi, keyCols, this.types, stored));
      return { sql: parts.length ? `where ${parts.join(" and ")}` : "", params };
    };
    const sink = canonicalSide(cols, keyIndexes(plan, cols), async (r, each) => {
      const w = where(r);
      await lockBounded(sqliteTableName(plan.target), "sink", this.lockMs, async () => {
        const stmt = this.open()!.query(`select ${select} from ${table} ${w.sql}`);
        for (const row of stmt.iterate(...(w.params as never[]))) each(Object.values(row as Record<string, unknown>));
      });
    });
    return { source: sourceSide(this.src, plan, cols, this.types, stored), sink };
  }

  async close(): Promise<void> {
    this.db?.close();
  }
}
