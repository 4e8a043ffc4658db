import { parseDuration, unitless } from "../config/duration.ts";
import { usageError } from "../errors.ts";
import type { InsertMethod } from "./writer.ts";

/** Everything `runGenerator` takes. The CLI builds it from flags and env; tests pass it directly. */
export interface GeneratorOptions {
  url: string;
  dataset: string;
  /** Target schema (created by --init when missing). Default public. */
  schema?: string;
  init?: boolean;
  /** Rows per second; 0 = as fast as possible. Default: the dataset's rate, or unlimited with count/burst. */
  rate?: number;
  /** Stop after this many rows (inserts + updates + deletes). */
  count?: number;
  durationMs?: number;
  /** Insert this many rows at once first; then stop, unless a rate was given explicitly. */
  burst?: number;
  /** Fractions (0..1) of operations that update / delete existing rows. */
  updates?: number;
  deletes?: number;
  /** orders: fraction of invalid rows (NULL customer or negative price). */
  invalid?: number;
  /** orders: fraction of rows with untrimmed / miscased status. */
  dirty?: number;
  /** orders/engagement: fraction of late rows (event time up to lateByMs in the past; default 2 min). */
  late?: number;
  lateByMs?: number;
  /** Rows per transaction. */
  batch?: number;
  seed?: string;
  concurrency?: number;
  method?: InsertMethod;
  /** ecommerce: load the Olist CSV files from this directory instead of generating. */
  fromOlist?: string;
  /** With fromOlist: replay orders over time, N times faster than the real purchase timestamps. */
  replaySpeed?: number;
  /** relational: rows per run, repeat every intervalMs when continuous, `runs` times at most. */
  users?: number;
  transactions?: number;
  details?: number;
  continuous?: boolean;
  intervalMs?: number;
  runs?: number;
  /** "bar": progress bar on stderr; "json": one JSON stats line per interval on stdout; "none". */
  progress?: "bar" | "json" | "none";
  statsIntervalMs?: number;
  signal?: AbortSignal;
  /** Called with each stats line (also the final summary). */
  onStats?: (s: GeneratorStats) => void;
  /** Where JSON lines and the summary go (default process.stdout). */
  out?: (line: string) => void;
}

export interface GeneratorStats {
  event: "generate.stats" | "generate.summary";
  dataset: string;
  elapsed_s: number;
  rows: number;
  inserted: number;
  updated: number;
  deleted: number;
  transactions: number;
  /** Rows/s over the last interval (stats) or the whole run (summary). */
  rate: number;
  target_rate: number | null;
  setup_rows?: number;
  stopped_by?: string;
  quality?: Record<string, unknown>;
}

/** `500`, `500/s`, `200000/min`, `1.5k/s`, `max` (or 0) → rows per second (0 = unlimited). */
export function parseRate(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === "max" || t === "unlimited") return 0;
  const m = /^(\d+(?:\.\d+)?)(k)?\s*(?:\/\s*(s|sec|second|m|min|minute|h|hour))?$/.exec(t);
  if (!m) return null;
  const n = Number(m[1]) * (m[2] ? 1000 : 1);
  const per = m[3]?.[0] === "m" ? 60 : m[3]?.[0] === "h" ? 3600 : 1;
  return n / per;
}

export function parseFraction(name: string, text: string): number {
  const t = text.trim();
  const pct = t.endsWith("%");
  const n = Number(pct ? t.slice(0, -1) : t);
  const v = pct ? n / 100 : n;
  if (t === "" || !Number.isFinite(v) || v < 0 || v > 1) throw usageError("generate.flag", `--${name} '${text}' is not a fraction between 0 and 1 (e.g. 0.1 or 10%)`);
  return v;
}

export function parseCount(name: string, text: string, min = 0): number {
  const t = text.trim().replace(/_/g, "");
  const m = /^(\d+)(k|m)?$/i.exec(t);
  const n = m ? Number(m[1]) * (m[2] ? (m[2].toLowerCase() === "k" ? 1000 : 1_000_000) : 1) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw usageError("generate.flag", `--${name} '${text}' is not a whole number${min ? ` >= ${min}` : ""}`);
  return n;
}

export function parseDurationFlag(name: string, text: string): number {
  const bare = unitless(text); // as in the config
  if (bare !== undefined) throw usageError("generate.flag", `--${name} ${bare} has no unit: write ${bare}s or ${bare}m`);
  const ms = parseDuration(text);
  if (ms === null || ms <= 0) throw usageError("generate.flag", `--${name} '${text}' is not a duration (e.g. 30s, 5m, 1h)`);
  return ms;
}

/** The rate flag's value or the env's GENERATION_RATE (rows per minute, as in the seed). */
export function rateFromText(text: string, source: string): number {
  const r = parseRate(text);
  if (r === null) throw usageError("generate.flag", `${source} '${text}' is not a rate (e.g. 500, 500/s, 200000/min, max)`);
  return r;
}
