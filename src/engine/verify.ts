import type { Config } from "../config/schema.ts";
import type { Pg } from "../db/postgres-client.ts";
import type { PostgresSinkConfig } from "../sinks/postgres/config.ts";
import type { SqliteSinkConfig } from "../sinks/sqlite/config.ts";
import type { MysqlSinkConfig } from "../sinks/mysql/config.ts";
import type { Relation } from "../types.ts";
import { openSinkPg } from "../sinks/postgres/connect.ts";
import { qualified } from "../sinks/postgres/values.ts";
import { loadRelations, loadTypes } from "../source/postgres/catalog.ts";
import { TypeDecoders } from "../source/postgres/type-decoders.ts";
import { openSourcePg } from "../source/postgres/connections.ts";
import { usageError } from "../errors.ts";
import { targetsOf } from "./pipeline-runner.ts";
import { isMirror } from "./operators/index.ts";
import { chunkRanges, nudgedLsn, PostgresSinkSide, primaryKey, session, sourceTables } from "./verify/postgres-side.ts";
import { SqliteSinkSide } from "./verify/sqlite-side.ts";
import { MysqlSinkSide } from "./verify/mysql-side.ts";
import type { SinkSide, TablePlan, TableResult, VerifyOptions } from "./verify/types.ts";
import { DEFAULT_LOCK_WAIT_MS, isLockedError, isLockTimeout, lockedError, pgBounded } from "./verify/lock-wait.ts";

export type { TableResult, VerifyOptions } from "./verify/types.ts";

/**
 * Compares mirror pipelines' source and sink tables: row count and an order-independent
 * checksum per key range, so a large table is compared in chunks while writes continue. A
 * Postgres sink is checksummed in SQL on both sides; SQLite and MySQL sinks type values
 * differently, so there both sides' rows are read and turned into one canonical text per row
 * in TypeScript (verify/canonical.ts), with the sink's own write conversion applied to the
 * source's values. The sink is first given time to reach the source's current WAL position; a
 * chunk that differs is re-checked after the sink moved on, so changes still in flight are not
 * reported as differences. A table another session keeps locked past the lock timeout is reported
 * "locked, not compared" and the others are still compared.
 */
export async function verifyConfig(config: Config, opts: VerifyOptions = {}): Promise<TableResult[]> {
  const pipelines = config.pipelines.filter((p) => !opts.pipeline || p.name === opts.pipeline);
  if (opts.pipeline && pipelines.length === 0) throw usageError("unknown_pipeline", `${config.file}: no pipeline named '${opts.pipeline}'`);
  const lockMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_WAIT_MS;
  // One wait budget for the whole run, not per table: with the engine stopped, --wait 30 over 3
  // tables took 90 s in silence (QA). Time spent comparing does not count.
  const waitBudget = { ms: opts.waitMs ?? 30_000 };
  // Every statement of these sessions waits at most lockMs for a lock (catalog lookups too); the
  // table reads also set it per transaction, on whichever pooled connection they get.
  const bounded = { connection: { application_name: "cdc-engine", lock_timeout: `${lockMs}ms` } };
  const src = openSinkPg({ url: config.source.url, sslmode: config.source.sslmode, tls: config.source.tls, pool: 2 } as PostgresSinkConfig, 2, bounded);
  // The catalog through the source's own client settings (its array parameters; types as the stream sees them).
  const catalog = openSourcePg(config.source, 1);
  const results: TableResult[] = [];
  let types: TypeDecoders | null = null;
  const decoders = async () => (types ??= new TypeDecoders(await loadTypes(catalog)));
  try {
    await session(src);
    for (const p of pipelines) {
      if (!isMirror(p)) {
        if (opts.pipeline) throw usageError("verify_not_mirror", `${config.file}: pipeline '${p.name}' transforms its rows; verify compares mirror pipelines only`);
        continue;
      }
      for (const t of targetsOf(p)) {
        const sc = config.sinks[t.sink];
        const skip = (why: string) => results.push({ pipeline: p.name, sink: t.sink, table: "*", target: "*", sourceRows: 0, sinkRows: 0, equal: true, diffs: [], note: `skipped: ${why}` });
        let side: SinkSide;
        if (sc.type === "postgres") {
          const dst = openSinkPg(sc.options as PostgresSinkConfig, 2, bounded);
          side = new PostgresSinkSide(src, dst, (sc.options as PostgresSinkConfig).schema, lockMs);
          await session(dst).catch(async (e) => {
            await dst.end({ timeout: 2 });
            throw e;
          });
        } else if (sc.type === "sqlite") {
          side = new SqliteSinkSide((sc.options as SqliteSinkConfig).path, src, await decoders(), lockMs);
        } else if (sc.type === "mysql") {
          if ((sc.options as MysqlSinkConfig).dialect === "starrocks") {
            skip("verify does not compare the starrocks dialect");
            continue;
          }
          side = await MysqlSinkSide.open(sc.options as MysqlSinkConfig, t.sink, src, await decoders(), lockMs);
        } else {
          skip(`verify compares postgres, sqlite and mysql sinks (this one is ${sc.type})`);
          continue;
        }
        try {
          const tables = await sourceTables(src, p);
          const rels = await loadRelations(catalog, tables);
          const sideWait: SideWait = { reached: null };
          for (const table of tables) {
            const target = t.table && tables.length === 1 ? (t.table.includes(".") ? t.table : `public.${t.table}`) : table;
            opts.onProgress?.(`${p.name}: ${table} → ${t.sink}:${target}`);
            const at = { pipeline: p.name, sink: t.sink, table, target };
            results.push(await verifyTable(src, side, rels.get(table), at, opts, lockMs, waitBudget, sideWait).catch((e) => lockedResult(e, at, lockMs)));
          }
        } finally {
          await side.close();
        }
      }
    }
  } finally {
    await Promise.all([src.end({ timeout: 2 }), catalog.end({ timeout: 2 })]);
  }
  return results;
}

type Target = { pipeline: string; sink: string; table: string; target: string };

/** A table that stayed locked: reported as not compared (not as different), and verify goes on. */
function lockedResult(e: unknown, t: Target, lockMs: number): TableResult {
  // a statement bounded only by the session's lock_timeout (a catalog lookup) does not say which table
  const locked = isLockedError(e) ? e : isLockTimeout(e) ? lockedError(t.table, "source or sink", lockMs, e) : null;
  if (!locked) throw e;
  return { ...t, sourceRows: 0, sinkRows: 0, equal: false, locked: true, diffs: [], note: `locked, not compared: ${locked.message.replace(/^\[verify\] /, "")}` };
}

/** Waits until the sink's stored position reaches `lsn` (or the time runs out). */
async function waitForSink(side: SinkSide, t: Target, lsn: bigint, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    const pos = await side.position(t.pipeline, t.sink);
    if (pos !== null && pos >= lsn) return true;
    if (Date.now() >= until) return false;
    await Bun.sleep(200);
  }
}

/**
 * Whether the sink reached the source's position when its first table was compared. The wait is
 * made once per sink, not per table: each wait lasts up to the writer's position throttle (~1 s),
 * so 250 tables outran the whole --wait budget and every later table was noted as not reached.
 * A later table that differs still waits for the sink to pass the source's position (the re-check).
 */
type SideWait = { reached: boolean | null };

async function verifyTable(src: Pg, side: SinkSide, rel: Relation | undefined, t: Target, opts: VerifyOptions, lockMs: number, waitBudget: { ms: number }, sideWait: SideWait): Promise<TableResult> {
  const res: TableResult = { ...t, sourceRows: 0, sinkRows: 0, equal: true, diffs: [] };
  const recheckMs = Math.min(opts.waitMs ?? 30_000, 10_000);
  const maxDiffs = opts.maxDiffs ?? 10;
  if (!rel) return { ...res, equal: false, note: "source table not found" };
  // A table without columns is not captured (catalog.ts skipColumnless): nothing to compare.
  if (rel.columns.length === 0) return { ...res, note: "skipped: the table has no columns (not captured)" };
  const sinkColumns = await side.columns(t.target);
  if (!sinkColumns) {
    const [c] = await pgBounded(src, t.table, "source", lockMs, (tx) => tx.unsafe(`select count(*)::text as n from ${qualified(t.table)}`));
    return { ...res, sourceRows: Number(c.n), equal: Number(c.n) === 0, note: "sink table missing" };
  }
  const notes: string[] = [];
  const missing = rel.columns.filter((c) => !sinkColumns.includes(c.name)).map((c) => c.name);
  if (missing.length) {
    notes.push(`sink lacks columns: ${missing.join(", ")}`);
    res.equal = false;
  }
  const key = await primaryKey(src, t.table);
  const keyCols = key.map((k) => rel.columns.find((c) => c.name === k)!);
  const plan: TablePlan = { table: t.table, target: t.target, rel, key, ranged: key.length > 0 && side.rangeSafe(keyCols), lockMs };
  if (key.length && !plan.ranged) notes.push("compared in one pass (its key types do not order alike in the sink)");
  const { source, sink } = side.sides(plan, sinkColumns);
  if (sideWait.reached === null) {
    const lsn = await nudgedLsn(src);
    const waitStarted = Date.now();
    sideWait.reached = await waitForSink(side, t, lsn, waitBudget.ms);
    waitBudget.ms = Math.max(0, waitBudget.ms - (Date.now() - waitStarted));
  }
  if (!sideWait.reached) notes.push("sink position did not reach the source's current LSN in time");

  const ranges = plan.ranged ? await chunkRanges(src, t.table, key, opts.chunkRows ?? 50_000, lockMs, side.bytewiseKeys ? keyCols : undefined) : [{ lo: null, hi: null }];
  for (const r of ranges) {
    let attempt = 0;
    for (;;) {
      const [a, b] = await Promise.all([source.sum(r), sink.sum(r)]);
      if (a.n === b.n && a.sum === b.sum) {
        res.sourceRows += a.n;
        res.sinkRows += b.n;
        break;
      }
      if (attempt++ < 3) {
        // Writes may still be on their way: let the sink pass the source's current position, then look again.
        // Nudged: on an idle source the current LSN alone is passed only at the next heartbeat.
        await waitForSink(side, t, await nudgedLsn(src), recheckMs);
        continue;
      }
      res.sourceRows += a.n;
      res.sinkRows += b.n;
      res.equal = false;
      if (res.diffs.length < maxDiffs) {
        const [ma, mb] = await Promise.all([source.rows(r), sink.rows(r)]);
        res.diffs.push(...differingIds(ma, mb).slice(0, maxDiffs - res.diffs.length));
      }
      break;
    }
  }
  if (notes.length) res.note = notes.join("; ");
  return res;
}

/** Identities whose rows differ between the two sides (in either direction), first seen first. */
function differingIds(a: Map<string, number>, b: Map<string, number>): string[] {
  const out = new Set<string>();
  for (const [k, n] of a) if ((b.get(k) ?? 0) !== n) out.add(k.split("\u0000")[0]);
  for (const [k, n] of b) if ((a.get(k) ?? 0) !== n) out.add(k.split("\u0000")[0]);
  return [...out];
}
