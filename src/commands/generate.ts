import type { Command } from "./command.ts";
import { intFlagError, str } from "./command.ts";
import { usageError } from "../errors.ts";
import { runGenerator } from "../generator/runner.ts";
import { parseCount, parseDurationFlag, parseFraction, rateFromText, type GeneratorOptions } from "../generator/options.ts";
import type { InsertMethod } from "../generator/writer.ts";

const USAGE = `cdc-engine generate --dataset NAME [--url URL] [--init] [--rate N] [--count N | --duration D] [flags]
  --dataset NAME        ecommerce | engagement | orders | relational
  --url URL             target Postgres (or $DATABASE_URL / $PG_URL)
  --schema NAME         target schema (default public)
  --init                create the dataset's tables when missing (idempotent)
  --rate N              rows/s: 500, 500/s, 200000/min, max (default: the dataset's; $GENERATION_RATE is per minute)
  --count N             stop after N rows (without --rate: as fast as possible)
  --duration D          stop after D (30s, 5m, 1h)
  --burst N             insert N rows at once first, then stop (or go on at --rate); $BURST_MODE=true $BURST_COUNT=N
  --updates P           fraction of operations updating existing rows (0.2 or 20%)
  --deletes P           fraction of operations deleting existing rows
  --invalid P           orders: fraction of invalid rows (NULL customer_id or negative price)
  --dirty P             orders: fraction of rows with untrimmed / miscased status
  --late P              orders/engagement: fraction of late rows (event time in the past, out of order)
  --late-by D           how far back a late row may be (default 2m)
  --batch N             rows per transaction (default: rate/10, at most 1000; 5000 unpaced)
  --seed S              the same seed gives the same data (timestamps from a fixed virtual clock)
  --concurrency N       parallel writer connections (default 2 for unpaced inserts, else 1)
  --method M            auto | insert | copy (default auto: COPY from 1000 rows per statement)
  --from-olist DIR      ecommerce: load the real Olist CSV files from DIR
  --replay-speed N      with --from-olist: replay orders at their purchase times, N times faster
  --users N --transactions N --details N   relational: rows per run (default 10, 30, 100)
  --continuous          relational: repeat the run every --interval (default 10s), --runs N times at most
  --progress MODE       bar | json | none (default: bar on a terminal, json lines otherwise)
  --stats-interval D    JSON stats line interval (default 5s)`;

/** A count flag (10k and 1_000 allowed); said as every command says a bad whole number. */
function num(v: unknown, name: string, min = 0): number | undefined {
  if (typeof v !== "string") return undefined;
  try {
    return parseCount(name, v, min);
  } catch {
    throw intFlagError(name, v, min);
  }
}

/**
 * A URL the Postgres driver can take, or a usage error naming where it came from: the driver's
 * own "Invalid URL" named neither the flag nor the value, and exited 1 as if a restart could help.
 */
function pgUrl(url: string, from: string): void {
  let ok = false;
  try {
    ok = /^postgres(ql)?:$/.test(new URL(url).protocol);
  } catch {
    // not a URL at all
  }
  if (!ok) throw usageError("usage", `${from}: '${url.replace(/\/\/[^@/]*@/, "//…@")}' is not a postgres:// URL`);
}

/** Flags and env (flags win) into generator options. */
export function generateOptions(values: Record<string, unknown>, env: Record<string, string | undefined>): GeneratorOptions {
  const v = values as Record<string, string | boolean | undefined>;
  const dataset = str(v.dataset);
  if (!dataset) throw usageError("usage", `missing --dataset NAME (ecommerce, engagement, orders, relational)\nusage: ${USAGE.split("\n")[0]}`);
  const burstEnv = /^(1|true|yes|on)$/i.test(env.BURST_MODE ?? "");
  const burst = num(v.burst, "burst", 1) ?? (burstEnv ? parseCount("BURST_COUNT", env.BURST_COUNT || "100000", 1) : undefined);
  let rate: number | undefined;
  if (typeof v.rate === "string") rate = rateFromText(v.rate, "--rate");
  else if (env.GENERATION_RATE && burst === undefined && dataset !== "relational") rate = rateFromText(`${env.GENERATION_RATE}/min`, "GENERATION_RATE");
  const method = str(v.method);
  if (method && !["auto", "insert", "copy"].includes(method)) throw usageError("generate.flag", `--method '${method}' is not one of auto, insert, copy`);
  const progress = str(v.progress);
  if (progress && !["bar", "json", "none"].includes(progress)) throw usageError("generate.flag", `--progress '${progress}' is not one of bar, json, none`);
  const replay = str(v["replay-speed"]);
  const replaySpeed = replay === undefined ? undefined : Number(replay);
  if (replaySpeed !== undefined && !(replaySpeed > 0)) throw usageError("generate.flag", `--replay-speed '${replay}' is not a positive number`);
  const url = str(v.url) || env.DATABASE_URL || env.PG_URL || "";
  if (url) pgUrl(url, str(v.url) ? "--url" : env.DATABASE_URL ? "DATABASE_URL" : "PG_URL");
  return {
    url,
    dataset,
    schema: str(v.schema),
    init: v.init === true,
    rate,
    count: num(v.count, "count", 1),
    durationMs: typeof v.duration === "string" ? parseDurationFlag("duration", v.duration) : undefined,
    burst,
    updates: typeof v.updates === "string" ? parseFraction("updates", v.updates) : undefined,
    deletes: typeof v.deletes === "string" ? parseFraction("deletes", v.deletes) : undefined,
    invalid: typeof v.invalid === "string" ? parseFraction("invalid", v.invalid) : undefined,
    dirty: typeof v.dirty === "string" ? parseFraction("dirty", v.dirty) : undefined,
    late: typeof v.late === "string" ? parseFraction("late", v.late) : undefined,
    lateByMs: typeof v["late-by"] === "string" ? parseDurationFlag("late-by", v["late-by"]) : undefined,
    batch: num(v.batch, "batch", 1),
    seed: str(v.seed),
    concurrency: num(v.concurrency, "concurrency", 1),
    method: method as InsertMethod | undefined,
    fromOlist: str(v["from-olist"]),
    replaySpeed,
    users: num(v.users, "users"),
    transactions: num(v.transactions, "transactions"),
    details: num(v.details, "details"),
    continuous: v.continuous === true,
    intervalMs: typeof v.interval === "string" ? parseDurationFlag("interval", v.interval) : undefined,
    runs: num(v.runs, "runs", 1),
    progress: (progress as GeneratorOptions["progress"]) ?? (process.stderr.isTTY ? "bar" : "json"),
    statsIntervalMs: typeof v["stats-interval"] === "string" ? parseDurationFlag("stats-interval", v["stats-interval"]) : undefined,
  };
}

/** `cdc-engine generate`: realistic, rate-controlled test data for every scenario. */
export const generateCommand: Command = {
  name: "generate",
  summary: "write realistic test data into Postgres at a controlled rate (ecommerce, engagement, orders, relational)",
  usage: USAGE,
  options: {
    dataset: { type: "string", short: "d" },
    url: { type: "string" },
    schema: { type: "string" },
    init: { type: "boolean" },
    rate: { type: "string", short: "r" },
    count: { type: "string", short: "n" },
    duration: { type: "string" },
    burst: { type: "string" },
    updates: { type: "string" },
    deletes: { type: "string" },
    invalid: { type: "string" },
    dirty: { type: "string" },
    late: { type: "string" },
    "late-by": { type: "string" },
    batch: { type: "string" },
    seed: { type: "string" },
    concurrency: { type: "string" },
    method: { type: "string" },
    "from-olist": { type: "string" },
    "replay-speed": { type: "string" },
    users: { type: "string" },
    transactions: { type: "string" },
    details: { type: "string" },
    continuous: { type: "boolean" },
    interval: { type: "string" },
    runs: { type: "string" },
    progress: { type: "string" },
    "stats-interval": { type: "string" },
  },
  async run(args) {
    const opts = generateOptions(args.values, process.env);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    // SIGHUP too (a closed terminal or SSH session): its default ended the process at once, without the summary.
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
    for (const s of signals) process.on(s, onSignal);
    try {
      await runGenerator({ ...opts, signal: stop.signal });
      return 0;
    } finally {
      for (const s of signals) process.off(s, onSignal);
    }
  },
};
