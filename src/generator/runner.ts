import { Faker, base, en, pt_BR } from "@faker-js/faker";
import postgres from "postgres";
import { openPg, redactUrl, type Pg } from "../db/postgres-client.ts";
import { CdcError, usageError } from "../errors.ts";
import { SEEDED_BASE_MS, VirtualClock, WallClock } from "./clock.ts";
import { batchRows, type Dataset, type DatasetContext } from "./dataset.ts";
import { DATASETS } from "./datasets/index.ts";
import { olistDataset } from "./olist.ts";
import type { GeneratorOptions, GeneratorStats } from "./options.ts";
import { Rng, seedNumber } from "./random.ts";
import { createReporter } from "./reporter.ts";
import { prepareSchema } from "./schema.ts";
import { quoteIdent } from "../source/postgres/catalog.ts";
import { writeWithRetry } from "./write-retry.ts";

/** Timestamps stay the text the generator made: postgres.js would turn them into a JS Date (milliseconds, local time). */
const passThroughDates = {
  to: 1184,
  from: [1082, 1114, 1184],
  serialize: (x: unknown) => (x instanceof Date ? x.toISOString() : String(x)),
  parse: (x: string) => x,
};

function openGeneratorPg(url: string, schema: string, max: number): Pg {
  return openPg(url, {
    max,
    extra: {
      types: { bigint: postgres.BigInt, date: passThroughDates },
      // synchronous_commit off: test data need not wait for each WAL flush (committed rows are
      // still visible and decoded in commit order; only a server crash could lose the last ones).
      // search_path is a list of identifiers: quoted, so "Sales Data" or "Staging" is that schema
      // (bare, Postgres refused the first at connect time and folded the second to staging).
      connection: { application_name: "cdc-engine generate", search_path: quoteIdent(schema), synchronous_commit: "off" },
    },
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function checkOptions(o: GeneratorOptions): void {
  const frac = (name: string, v?: number) => {
    if (v !== undefined && !(v >= 0 && v <= 1)) throw usageError("generate.flag", `--${name} ${v} is not a fraction between 0 and 1`);
  };
  frac("updates", o.updates);
  frac("deletes", o.deletes);
  frac("invalid", o.invalid);
  frac("dirty", o.dirty);
  frac("late", o.late);
  if (o.late && o.dataset !== "orders" && o.dataset !== "engagement") throw usageError("generate.flag", `--late applies to the orders and engagement datasets only`);
  if ((o.updates ?? 0) + (o.deletes ?? 0) > 1) throw usageError("generate.flag", `--updates plus --deletes is more than 1`);
  if (o.rate !== undefined && !(o.rate >= 0 && Number.isFinite(o.rate))) throw usageError("generate.flag", `--rate ${o.rate} is not a rate`);
  if (o.fromOlist && o.dataset !== "ecommerce") throw usageError("generate.flag", `--from-olist loads the ecommerce dataset, not ${o.dataset}`);
  if (o.replaySpeed !== undefined && !o.fromOlist) throw usageError("generate.flag", `--replay-speed needs --from-olist DIR`);
  if ((o.invalid || o.dirty) && o.dataset !== "orders") throw usageError("generate.flag", `--invalid and --dirty apply to the orders dataset only`);
  if (o.dataset === "relational" && (o.rate !== undefined || o.burst !== undefined)) throw usageError("generate.flag", `the relational dataset writes whole runs (--users/--transactions/--details) every --interval; --rate and --burst do not apply`);
  if (o.dataset !== "relational" && (o.continuous || o.runs !== undefined || o.users !== undefined || o.transactions !== undefined || o.details !== undefined)) throw usageError("generate.flag", `--continuous, --runs, --users, --transactions and --details apply to the relational dataset only`);
  if (!o.url) throw usageError("generate.url", `no database: give --url or set DATABASE_URL / PG_URL`);
}

/**
 * Generate (or load) a dataset into Postgres at a controlled rate. Resolves with the final
 * summary; throws CdcError (usage → exit 2, runtime → exit 1).
 */
export async function runGenerator(opts: GeneratorOptions): Promise<GeneratorStats> {
  const factory = DATASETS[opts.dataset];
  if (!factory) throw usageError("generate.dataset", `unknown dataset '${opts.dataset}' (one of: ${Object.keys(DATASETS).join(", ")})`);
  checkOptions(opts);
  const ds: Dataset = opts.fromOlist ? olistDataset(opts.fromOlist, opts.replaySpeed) : factory();
  const schema = opts.schema ?? "public";
  const bounded = opts.count !== undefined || opts.burst !== undefined || !!opts.fromOlist;
  const rate = opts.rate ?? (bounded ? 0 : ds.defaultRate);
  // Unpaced, two writers keep both the generator and Postgres busy (bench: ~1.5x on 2 cores).
  let concurrency = Math.max(1, opts.concurrency ?? (rate === 0 && opts.seed === undefined && !ds.unitRows && !opts.replaySpeed && !opts.updates && !opts.deletes ? 2 : 1));
  const notes: string[] = [];
  if (opts.seed !== undefined && concurrency > 1) {
    concurrency = 1; // several writers would commit in a timing-dependent order (and number BIGSERIALs so)
    notes.push("--seed writes with one connection so that seeded runs are identical");
  }
  const out = opts.out ?? ((l: string) => process.stdout.write(l + "\n"));
  for (const n of notes) process.stderr.write(`cdc-engine generate: ${n}\n`);

  const sql = openGeneratorPg(opts.url, schema, concurrency + 1);
  try {
    try {
      await sql`select 1`;
    } catch (e) {
      throw new CdcError("generate.connect", `cannot connect to ${redactUrl(opts.url)}: ${(e as Error).message}`, { cause: e, component: "generate" });
    }
    await prepareSchema(sql, ds, schema, opts.init ?? false);

    const seed = opts.seed !== undefined ? seedNumber(opts.seed) : (crypto.getRandomValues(new Uint32Array(1))[0] ?? 1);
    const faker = new Faker({ locale: ds.fakerLocale === "pt_BR" ? [pt_BR, en, base] : [en, base] });
    faker.seed(seed);
    const ctx: DatasetContext = {
      sql,
      rng: new Rng(seed),
      faker,
      clock: opts.seed !== undefined ? new VirtualClock(SEEDED_BASE_MS, rate || 1000) : new WallClock(),
      updates: opts.updates ?? 0,
      deletes: opts.deletes ?? 0,
      invalid: opts.invalid ?? 0,
      dirty: opts.dirty ?? 0,
      late: opts.late ?? 0,
      lateByUs: (opts.lateByMs ?? 120_000) * 1000,
      counts: { ...(opts.users !== undefined && { users: opts.users }), ...(opts.transactions !== undefined && { transactions: opts.transactions }), ...(opts.details !== undefined && { details: opts.details }) },
    };
    const setupRows = await ds.setup(ctx);
    return await loop(ds, ctx, opts, { rate, concurrency, setupRows, out });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

interface LoopParams {
  rate: number;
  concurrency: number;
  setupRows: number;
  out: (line: string) => void;
}

async function loop(ds: Dataset, ctx: DatasetContext, opts: GeneratorOptions, p: LoopParams): Promise<GeneratorStats> {
  const started = performance.now();
  const endAt = opts.durationMs ? started + opts.durationMs : Infinity;
  const signal = opts.signal;
  const unitMode = !!ds.unitRows; // relational: whole runs on an interval
  const runs = opts.runs ?? (opts.continuous ? Infinity : 1);
  const interval = opts.intervalMs ?? 10_000;
  const count = opts.count ?? Infinity;
  const burst = opts.burst ?? 0;
  // After a burst: stop, unless a rate was asked for explicitly (then resume at it).
  const afterBurstStops = burst > 0 && opts.rate === undefined;
  const batchSize = (paced: boolean) => opts.batch ?? (paced && p.rate > 0 ? Math.min(1000, Math.max(1, Math.ceil(p.rate / 10))) : 5000);
  const expected = Number.isFinite(count) ? count : unitMode && Number.isFinite(runs) ? runs * ds.unitRows!(ctx) : afterBurstStops ? burst : opts.durationMs && p.rate ? Math.round((p.rate * opts.durationMs) / 1000) : null;
  const reporter = createReporter(opts.progress ?? "json", p.out, opts.onStats);
  reporter.start(expected);

  const totals = { rows: 0, inserted: 0, updated: 0, deleted: 0, transactions: 0 };
  let dispatched = 0;
  let stoppedBy = "count";
  let failure: unknown = null;
  const inflight = new Set<Promise<void>>();
  let lastRows = 0;
  let lastAt = started;

  const stats = (event: GeneratorStats["event"]): GeneratorStats => {
    const now = performance.now();
    const elapsed = (now - started) / 1000;
    const s: GeneratorStats = {
      event,
      dataset: ds.name,
      elapsed_s: Math.round(elapsed * 1000) / 1000,
      ...totals,
      rate: event === "generate.summary" ? (elapsed > 0 ? totals.rows / elapsed : 0) : (totals.rows - lastRows) / Math.max(0.001, (now - lastAt) / 1000),
      target_rate: p.rate > 0 && !unitMode ? Math.round(p.rate * 1000) / 1000 : null,
    };
    s.rate = Math.round(s.rate * 10) / 10;
    lastRows = totals.rows;
    lastAt = now;
    return s;
  };
  const barTimer = setInterval(() => reporter.update(totals.rows, totals.rows / Math.max(0.001, (performance.now() - started) / 1000)), 200);
  const statsTimer = setInterval(() => reporter.interval(stats("generate.stats")), opts.statsIntervalMs ?? 5000);

  // The next batch is generated while the previous one is being written (CPU and database
  // overlap), except in seeded runs: there a batch sees exactly the keys committed before it.
  const dispatch = async (n: number) => {
    if (ctx.clock.virtual) await Promise.all(inflight);
    const batch = ds.next(n, ctx);
    const rows = batchRows(batch);
    if (rows === 0) return 0;
    while (inflight.size >= p.concurrency) await Promise.race(inflight);
    dispatched += rows;
    const job = writeWithRetry(ctx.sql, batch, opts.method ?? "auto").then(
      (returned) => {
        batch.onCommit?.(returned);
        for (const op of batch.ops) totals[op.kind === "insert" ? "inserted" : op.kind === "update" ? "updated" : "deleted"] += op.rows.length;
        totals.rows += rows;
        totals.transactions++;
      },
      (e) => {
        failure ??= e;
      },
    );
    inflight.add(job);
    job.finally(() => inflight.delete(job));
    return rows;
  };
  const halted = () => {
    if (failure) return "error";
    if (signal?.aborted) return "signal";
    if (performance.now() >= endAt) return "duration";
    if (dispatched >= count) return "count";
    return null;
  };

  try {
    if (unitMode) {
      for (let run = 0; run < runs; run++) {
        const h = halted();
        if (h) {
          stoppedBy = h;
          break;
        }
        if (run > 0) await sleep(Math.min(interval, endAt - performance.now()), signal);
        if (halted()) {
          stoppedBy = halted()!;
          break;
        }
        await dispatch(Infinity);
        await Promise.all(inflight);
        stoppedBy = "runs";
      }
    } else {
      // Burst first: as fast as the database takes it.
      while (dispatched < burst && !halted()) {
        if ((await dispatch(Math.min(batchSize(false), burst - dispatched, count - dispatched))) === 0) break;
      }
      stoppedBy = "burst";
      if (!afterBurstStops || burst === 0) {
        const paceFrom = performance.now();
        const paceBase = dispatched;
        for (;;) {
          const h = halted();
          if (h) {
            stoppedBy = h;
            break;
          }
          const due = ds.dueAtMs?.();
          if (due === null) {
            stoppedBy = "done";
            break;
          }
          // The schedule is absolute (row k at start + k / rate), so a slow moment is caught up
          // and the rate over a minute holds; a replay follows the data's own timestamps.
          const target = due !== undefined ? started + due : p.rate > 0 ? paceFrom + ((dispatched - paceBase) / p.rate) * 1000 : 0;
          const now = performance.now();
          if (target > now) {
            await sleep(Math.min(target, endAt) - now, signal);
            continue; // re-check the stop conditions after sleeping
          }
          if ((await dispatch(Math.min(batchSize(p.rate > 0 || due !== undefined), count - dispatched))) === 0) {
            stoppedBy = "done";
            break;
          }
        }
      }
    }
    await Promise.all(inflight);
  } finally {
    clearInterval(barTimer);
    clearInterval(statsTimer);
  }
  if (failure) {
    const msg = (failure as Error).message;
    reporter.finish({ ...stats("generate.summary"), stopped_by: "error" });
    throw new CdcError("generate.write_failed", `writing failed after ${totals.rows} rows were committed (the failed transaction was rolled back): ${msg}`, { cause: failure, component: "generate" });
  }
  const summary: GeneratorStats = { ...stats("generate.summary"), setup_rows: p.setupRows, stopped_by: stoppedBy };
  if (ds.report) summary.quality = await ds.report(ctx);
  reporter.finish(summary);
  return summary;
}
