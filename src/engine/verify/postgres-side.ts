import type { PipelineConfig } from "../../config/pipeline-schema.ts";
import type { Pg } from "../../db/postgres-client.ts";
import type { Column } from "../../types.ts";
import { qi, qualified } from "../../sinks/postgres/values.ts";
import { fromTables } from "../../config/table-refs.ts";
import type { ChunkSide, Range, SinkSide, TablePlan } from "./types.ts";
import { isLockedError, pgBounded } from "./lock-wait.ts";
import { VERIFY_HEARTBEAT } from "../../source/postgres/stream-reader.ts";

/** Row text must not depend on the server's settings (the same ones the source's stream uses). */
export async function session(sql: Pg): Promise<void> {
  await sql.unsafe("select set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, MDY', false), set_config('extra_float_digits', '1', false), set_config('IntervalStyle', 'postgres', false)");
}

export async function sourceTables(sql: Pg, p: PipelineConfig): Promise<string[]> {
  const out: string[] = [];
  for (const ref of fromTables(p)) {
    const [schema, name] = [ref.slice(0, ref.indexOf(".")), ref.slice(ref.indexOf(".") + 1)];
    if (name === "*") {
      // As the source captures them (catalog.resolveTables): partitioned parents, not their partitions.
      const rows = await sql<{ t: string }[]>`select n.nspname || '.' || c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${schema} and c.relkind in ('r', 'p') and not c.relispartition order by c.relname`;
      out.push(...rows.map((r) => r.t));
    } else out.push(ref);
  }
  return [...new Set(out)];
}

export async function primaryKey(sql: Pg, table: string): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select a.attname as name from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
    where i.indrelid = to_regclass(${qualified(table)}) and i.indisprimary order by array_position(i.indkey, a.attnum)`;
  return rows.map((r) => r.name);
}

/** Columns as the stream carries them: generated columns are not sent (pgoutput before PostgreSQL 18), so the copy has none. */
export async function pgColumns(sql: Pg, table: string): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select attname as name from pg_attribute where attrelid = to_regclass(${qualified(table)}) and attnum > 0 and not attisdropped and attgenerated = '' order by attnum`;
  return rows.map((r) => r.name);
}

export async function currentLsn(src: Pg): Promise<bigint> {
  const [r] = await src.unsafe("select (pg_current_wal_lsn() - '0/0')::text as l");
  return BigInt(r.l as string);
}

/**
 * The source's current LSN, then a heartbeat message past it. On an idle source a sink's stored
 * position moves only with the engine's heartbeats (heartbeat_interval, 10 s by default), so the
 * wait for it took 10–17 s per run; a running engine takes this message at once (stream-reader.ts)
 * and stores its position. Best effort: without the right to emit one, the wait is as before.
 */
export async function nudgedLsn(src: Pg): Promise<bigint> {
  const lsn = await currentLsn(src);
  // A non-transactional message is not flushed by itself (the walsender sends only flushed WAL,
  // and it waited for the next commit); the second, transactional one commits, which flushes both.
  await src.unsafe(`select pg_logical_emit_message(false, '${VERIFY_HEARTBEAT}', ''), pg_logical_emit_message(true, 'cdc-engine-verify-flush', '')`).catch(() => {});
  return lsn;
}

/** Text-like key columns are ordered bytewise (COLLATE "C") when the sink orders them so (SQLite, MySQL's utf8mb4_bin). */
const COLLATABLE = new Set([25, 1043]);

/**
 * WHERE for a key range. `typed`: parameters cast to the key columns' types, text-like ones
 * compared under COLLATE "C" (then the source orders as SQLite/MySQL do); without it, as the
 * server's collation (a Postgres sink compares the same way).
 */
export function rangeWhere(key: string[], r: Range, typed?: Column[], firstParam = 1): { sql: string; params: string[] } {
  const col = (k: string, i: number) => (typed && COLLATABLE.has(typed[i].typeOid) ? `${qi(k)} collate "C"` : qi(k));
  const lhs = key.length === 1 ? col(key[0], 0) : `(${key.map(col).join(", ")})`;
  const parts: string[] = [];
  const params: string[] = [];
  const tuple = (vals: string[]) => {
    const ph = vals.map((v, i) => {
      params.push(v);
      const p = `$${firstParam + params.length - 1}`;
      if (!typed) return p;
      return COLLATABLE.has(typed[i].typeOid) ? `${p}::text collate "C"` : `${p}::${typed[i].typeName ?? "text"}`;
    });
    return key.length === 1 ? ph[0] : `(${ph.join(", ")})`;
  };
  if (r.lo) parts.push(`${lhs} > ${tuple(r.lo)}`);
  if (r.hi) parts.push(`${lhs} <= ${tuple(r.hi)}`);
  return { sql: parts.length ? `where ${parts.join(" and ")}` : "", params };
}

/** Key ranges of about `rows` rows each, walked on the source's key (in the sink's order when `typed`). */
export async function chunkRanges(src: Pg, table: string, key: string[], rows: number, lockMs: number, typed?: Column[]): Promise<Range[]> {
  const ranges: Range[] = [];
  let lo: string[] | null = null;
  const order = key.map((k, i) => (typed && COLLATABLE.has(typed[i].typeOid) ? `${qi(k)} collate "C"` : qi(k))).join(", ");
  for (;;) {
    const w = rangeWhere(key, { lo, hi: null }, typed);
    const r = await pgBounded(src, table, "source", lockMs, (tx) => tx.unsafe(`select ${key.map((k, i) => `${qi(k)}::text as k${i}`).join(", ")} from ${qualified(table)} ${w.sql} order by ${order} offset ${rows - 1} limit 1`, w.params));
    if (r.length === 0) {
      ranges.push({ lo, hi: null });
      return ranges;
    }
    const hi = key.map((_, i) => r[0][`k${i}`] as string);
    ranges.push({ lo, hi });
    lo = hi;
  }
}

/** A Postgres sink: both sides checksummed in SQL (sum of 60 bits of md5 over each row's text). */
export class PostgresSinkSide implements SinkSide {
  readonly bytewiseKeys = false;
  constructor(
    private src: Pg,
    private dst: Pg,
    private schema: string,
    private lockMs: number,
  ) {}

  async position(pipeline: string, sink: string): Promise<bigint | null> {
    try {
      const offsets = `${this.schema}.cdc_engine_offsets`;
      const r = await pgBounded(this.dst, offsets, "sink", this.lockMs, (tx) => tx.unsafe(`select lsn::text as lsn from ${qi(this.schema)}.cdc_engine_offsets where pipeline = $1 and sink = $2`, [pipeline, sink]));
      return r.length ? BigInt(r[0].lsn as string) : null;
    } catch (e) {
      if (isLockedError(e)) throw e; // not "no position": the table comparing now is reported locked
      return null;
    }
  }

  async columns(target: string): Promise<string[] | null> {
    const cols = await pgColumns(this.dst, target);
    return cols.length ? cols : null;
  }

  rangeSafe(): boolean {
    return true; // same kind of server: the key orders alike
  }

  sides(plan: TablePlan, sinkColumns: string[]): { source: ChunkSide; sink: ChunkSide } {
    const cols = plan.rel.columns.map((c) => c.name).filter((c) => sinkColumns.includes(c));
    return { source: md5Side(this.src, plan.table, cols, plan.key, "source", this.lockMs), sink: md5Side(this.dst, plan.target, cols, plan.key, "sink", this.lockMs) };
  }

  async close(): Promise<void> {
    await this.dst.end({ timeout: 2 });
  }
}

function md5Side(sql: Pg, table: string, cols: string[], key: string[], where: string, lockMs: number): ChunkSide {
  const row = `row(${cols.map(qi).join(", ")})::text`;
  return {
    async sum(r) {
      const w = rangeWhere(key, r);
      const hash = `('x' || substr(md5(${row}), 1, 15))::bit(60)::bigint`;
      const [x] = await pgBounded(sql, table, where, lockMs, (tx) => tx.unsafe(`select count(*)::text as n, coalesce(sum(${hash}::numeric), 0)::text as s from ${qualified(table)} ${w.sql}`, w.params));
      return { n: Number(x.n), sum: x.s as string };
    },
    async rows(r) {
      const w = rangeWhere(key, r);
      const id = key.length ? `row(${key.map(qi).join(", ")})::text` : row;
      const rows = await pgBounded(sql, table, where, lockMs, (tx) => tx.unsafe(`select ${id} as id, md5(${row}) as h from ${qualified(table)} ${w.sql}`, w.params));
      const m = new Map<string, number>();
      for (const x of rows) {
        const k = `${x.id}\u0000${x.h}`;
        m.set(k, (m.get(k) ?? 0) + 1);
      }
      return m;
    },
  };
}
