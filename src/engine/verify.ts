import type { Config } from "../config/schema.ts";
import type { PipelineConfig } from "../config/pipeline-schema.ts";
import type { Pg } from "../db/postgres-client.ts";
import type { PostgresSinkConfig } from "../sinks/postgres/config.ts";
import { openSinkPg } from "../sinks/postgres/connect.ts";
import { qi, qualified } from "../sinks/postgres/values.ts";
import { usageError } from "../errors.ts";
import { qualify, targetsOf } from "./pipeline-runner.ts";
import { isMirror } from "./operators/index.ts";

export interface TableResult {
  pipeline: string;
  sink: string;
  table: string;
  target: string;
  sourceRows: number;
  sinkRows: number;
  equal: boolean;
  /** First differing keys (or whole rows for tables without a key), as text. */
  diffs: string[];
  note?: string;
}

export interface VerifyOptions {
  pipeline?: string;
  chunkRows?: number;
  maxDiffs?: number;
  /** How long to wait for the sink to reach the source's current LSN, and to re-check a differing chunk. */
  waitMs?: number;
  onProgress?(msg: string): void;
}

/**
 * Compares mirror pipelines' source and sink tables: row count and an order-independent
 * checksum (sum of a 60-bit slice of md5 over each row's text) per key range, so a large table
 * is compared in chunks while writes continue. The sink is first given time to reach the
 * source's current WAL position; a chunk that differs is re-checked after the sink moved on,
 * so changes still in flight are not reported as differences.
 */
export async function verifyConfig(config: Config, opts: VerifyOptions = {}): Promise<TableResult[]> {
  const pipelines = config.pipelines.filter((p) => !opts.pipeline || p.name === opts.pipeline);
  if (opts.pipeline && pipelines.length === 0) throw usageError("unknown_pipeline", `${config.file}: no pipeline named '${opts.pipeline}'`);
  const src = openSinkPg({ url: config.source.url, sslmode: config.source.sslmode, tls: config.source.tls, pool: 2 } as PostgresSinkConfig);
  const results: TableResult[] = [];
  try {
    await session(src);
    for (const p of pipelines) {
      if (!isMirror(p)) {
        if (opts.pipeline) throw usageError("verify_not_mirror", `${config.file}: pipeline '${p.name}' transforms its rows; verify compares mirror pipelines only`);
        continue;
      }
      for (const t of targetsOf(p)) {
        const sc = config.sinks[t.sink];
        if (sc.type !== "postgres") {
          results.push({ pipeline: p.name, sink: t.sink, table: "*", target: "*", sourceRows: 0, sinkRows: 0, equal: true, diffs: [], note: `skipped: verify compares postgres sinks (this one is ${sc.type})` });
          continue;
        }
        const sinkCfg = sc.options as PostgresSinkConfig;
        const dst = openSinkPg(sinkCfg, 2);
        try {
          await session(dst);
          const tables = await sourceTables(src, p);
          for (const table of tables) {
            const target = t.table && tables.length === 1 ? (t.table.includes(".") ? t.table : `public.${t.table}`) : table;
            opts.onProgress?.(`${p.name}: ${table} → ${t.sink}:${target}`);
            results.push(await verifyTable(src, dst, { pipeline: p.name, sink: t.sink, table, target, offsetsSchema: sinkCfg.schema }, opts));
          }
        } finally {
          await dst.end({ timeout: 2 });
        }
      }
    }
  } finally {
    await src.end({ timeout: 2 });
  }
  return results;
}

async function session(sql: Pg): Promise<void> {
  // Row text must not depend on the server's settings.
  await sql.unsafe("select set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, MDY', false), set_config('extra_float_digits', '1', false)");
}

async function sourceTables(sql: Pg, p: PipelineConfig): Promise<string[]> {
  const out: string[] = [];
  for (const ref of (Array.isArray(p.from) ? p.from : [p.from]).map(qualify)) {
    const [schema, name] = [ref.slice(0, ref.indexOf(".")), ref.slice(ref.indexOf(".") + 1)];
    if (name === "*") {
      const rows = await sql<{ t: string }[]>`select table_schema || '.' || table_name as t from information_schema.tables where table_schema = ${schema} and table_type = 'BASE TABLE' order by table_name`;
      out.push(...rows.map((r) => r.t));
    } else out.push(ref);
  }
  return [...new Set(out)];
}

async function primaryKey(sql: Pg, table: string): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select a.attname as name from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
    where i.indrelid = to_regclass(${qualified(table)}) and i.indisprimary order by array_position(i.indkey, a.attnum)`;
  return rows.map((r) => r.name);
}

async function columns(sql: Pg, table: string): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select attname as name from pg_attribute where attrelid = to_regclass(${qualified(table)}) and attnum > 0 and not attisdropped order by attnum`;
  return rows.map((r) => r.name);
}

async function sinkPosition(dst: Pg, schema: string, pipeline: string, sink: string): Promise<bigint | null> {
  try {
    const r = await dst.unsafe(`select lsn::text as lsn from ${qi(schema)}.cdc_engine_offsets where pipeline = $1 and sink = $2`, [pipeline, sink]);
    return r.length ? BigInt(r[0].lsn as string) : null;
  } catch {
    return null;
  }
}

async function currentLsn(src: Pg): Promise<bigint> {
  const [r] = await src.unsafe("select (pg_current_wal_lsn() - '0/0')::text as l");
  return BigInt(r.l as string);
}

/** Waits until the sink's stored position reaches `lsn` (or the time runs out). */
async function waitForSink(dst: Pg, t: { offsetsSchema: string; pipeline: string; sink: string }, lsn: bigint, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    const pos = await sinkPosition(dst, t.offsetsSchema, t.pipeline, t.sink);
    if (pos !== null && pos >= lsn) return true;
    if (Date.now() >= until) return false;
    await Bun.sleep(200);
  }
}

interface Range {
  lo: string[] | null; // exclusive
  hi: string[] | null; // inclusive
}

async function verifyTable(
  src: Pg,
  dst: Pg,
  t: { pipeline: string; sink: string; table: string; target: string; offsetsSchema: string },
  opts: VerifyOptions,
): Promise<TableResult> {
  const res: TableResult = { pipeline: t.pipeline, sink: t.sink, table: t.table, target: t.target, sourceRows: 0, sinkRows: 0, equal: true, diffs: [] };
  const waitMs = opts.waitMs ?? 30_000;
  const maxDiffs = opts.maxDiffs ?? 10;
  const cols = await columns(src, t.table);
  if (cols.length === 0) return { ...res, equal: false, note: "source table not found" };
  const dcols = await columns(dst, t.target);
  if (dcols.length === 0) {
    const [c] = await src.unsafe(`select count(*)::text as n from ${qualified(t.table)}`);
    return { ...res, sourceRows: Number(c.n), equal: Number(c.n) === 0, note: "sink table missing" };
  }
  const missing = cols.filter((c) => !dcols.includes(c));
  if (missing.length) res.note = `sink lacks columns: ${missing.join(", ")}`;
  const key = await primaryKey(src, t.table);
  const reached = await waitForSink(dst, t, await currentLsn(src), waitMs);
  if (!reached) res.note = [res.note, "sink position did not reach the source's current LSN in time"].filter(Boolean).join("; ");

  const ranges = key.length ? await chunkRanges(src, t.table, key, opts.chunkRows ?? 50_000) : [{ lo: null, hi: null }];
  for (const r of ranges) {
    let attempt = 0;
    for (;;) {
      const [a, b] = await Promise.all([chunkSum(src, t.table, cols, key, r), chunkSum(dst, t.target, cols, key, r)]);
      if (a.n === b.n && a.sum === b.sum) {
        res.sourceRows += a.n;
        res.sinkRows += b.n;
        break;
      }
      if (attempt++ < 3) {
        // Writes may still be on their way: let the sink pass the source's current position, then look again.
        await waitForSink(dst, t, await currentLsn(src), Math.min(waitMs, 10_000));
        continue;
      }
      res.sourceRows += a.n;
      res.sinkRows += b.n;
      res.equal = false;
      if (res.diffs.length < maxDiffs) res.diffs.push(...(await chunkDiff(src, dst, t, cols, key, r, maxDiffs - res.diffs.length)));
      break;
    }
  }
  return res;
}

function rangeWhere(key: string[], r: Range, firstParam = 1): { sql: string; params: string[] } {
  const lhs = key.length === 1 ? qi(key[0]) : `(${key.map(qi).join(", ")})`;
  const parts: string[] = [];
  const params: string[] = [];
  const tuple = (vals: string[]) => {
    const ph = vals.map((v) => {
      params.push(v);
      return `$${firstParam + params.length - 1}`;
    });
    return key.length === 1 ? ph[0] : `(${ph.join(", ")})`;
  };
  if (r.lo) parts.push(`${lhs} > ${tuple(r.lo)}`);
  if (r.hi) parts.push(`${lhs} <= ${tuple(r.hi)}`);
  return { sql: parts.length ? `where ${parts.join(" and ")}` : "", params };
}

/** Key ranges of about `rows` rows each, walked on the source's primary key index. */
async function chunkRanges(src: Pg, table: string, key: string[], rows: number): Promise<Range[]> {
  const ranges: Range[] = [];
  let lo: string[] | null = null;
  const order = key.map(qi).join(", ");
  for (;;) {
    const w = rangeWhere(key, { lo, hi: null });
    const r = await src.unsafe(`select ${key.map((k, i) => `${qi(k)}::text as k${i}`).join(", ")} from ${qualified(table)} ${w.sql} order by ${order} offset ${rows - 1} limit 1`, w.params);
    if (r.length === 0) {
      ranges.push({ lo, hi: null });
      return ranges;
    }
    const hi = key.map((_, i) => r[0][`k${i}`] as string);
    ranges.push({ lo, hi });
    lo = hi;
  }
}

function rowHash(cols: string[]): string {
  return `('x' || substr(md5(row(${cols.map(qi).join(", ")})::text), 1, 15))::bit(60)::bigint`;
}

async function chunkSum(sql: Pg, table: string, cols: string[], key: string[], r: Range): Promise<{ n: number; sum: string }> {
  const w = rangeWhere(key, r);
  const [row] = await sql.unsafe(`select count(*)::text as n, coalesce(sum(${rowHash(cols)}::numeric), 0)::text as s from ${qualified(table)} ${w.sql}`, w.params);
  return { n: Number(row.n), sum: row.s as string };
}

/** The keys (or rows, without a key) whose content differs between the two sides in a range. */
async function chunkDiff(src: Pg, dst: Pg, t: { table: string; target: string }, cols: string[], key: string[], r: Range, max: number): Promise<string[]> {
  const w = rangeWhere(key, r);
  const id = key.length ? `row(${key.map(qi).join(", ")})::text` : `row(${cols.map(qi).join(", ")})::text`;
  const q = (table: string) => `select ${id} as id, md5(row(${cols.map(qi).join(", ")})::text) as h from ${qualified(table)} ${w.sql}`;
  const [a, b] = await Promise.all([src.unsafe(q(t.table), w.params), dst.unsafe(q(t.target), w.params)]);
  const count = (rows: readonly Record<string, unknown>[]) => {
    const m = new Map<string, number>();
    for (const x of rows) {
      const k = `${x.id}\u0000${x.h}`;
      m.set(k, (m.get(k) ?? 0) + 1);
    }
    return m;
  };
  const ma = count(a);
  const mb = count(b);
  const out = new Set<string>();
  for (const [k, n] of ma) if ((mb.get(k) ?? 0) !== n) out.add(k.split("\u0000")[0]);
  for (const [k, n] of mb) if ((ma.get(k) ?? 0) !== n) out.add(k.split("\u0000")[0]);
  return [...out].slice(0, max);
}
