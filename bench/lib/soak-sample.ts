/**
 * One soak sample of a running engine: /proc (RSS, peak, fds), every numeric series of /metrics and
 * every numeric leaf of /status, the state dir and log sizes, and the checkpoint's row counts.
 * Rows are long-format CSV (`t, engine, metric, value`) so a new metric needs no new column.
 */
import { Database } from "bun:sqlite";
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";

export interface SoakTarget {
  name: string;
  pid: number;
  port: number;
  stateDir: string;
  logFile: string;
}

export type Sample = Record<string, number>;

function procStatus(pid: number): Sample {
  const out: Sample = {};
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    for (const k of ["VmRSS", "VmHWM", "Threads"]) {
      const m = new RegExp(`${k}:\\s+(\\d+)`).exec(s);
      if (m) out[`proc:${k}`] = Number(m[1]) * (k === "Threads" ? 1 : 1024);
    }
    out["proc:fds"] = readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    // the process is gone: the sample says so by missing values
  }
  return out;
}

/** Bytes under a directory, by top-level entry (a spill or DLQ dir growing shows by name). */
export function dirBytes(dir: string, prefix = "state:"): Sample {
  const out: Sample = {};
  let total = 0;
  const walk = (p: string): number => {
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) return 0;
    if (!st.isDirectory()) return st.size;
    return readdirSync(p).reduce((n, e) => n + walk(join(p, e)), 0);
  };
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    const n = walk(join(dir, e));
    out[`${prefix}${e}`] = n;
    total += n;
  }
  out[`${prefix}total`] = total;
  return out;
}

/** Rows of each table of checkpoints.db (read-only; the engine writes it in WAL mode). */
function checkpointRows(stateDir: string): Sample {
  const out: Sample = {};
  const file = join(stateDir, "checkpoints.db");
  if (!existsSync(file)) return out;
  let db: Database | null = null;
  try {
    db = new Database(file, { readonly: true });
    const tables = db.query("select name from sqlite_master where type = 'table'").all() as { name: string }[];
    for (const { name } of tables) {
      const r = db.query(`select count(*) as n from "${name}"`).get() as { n: number };
      out[`ckpt_rows:${name}`] = r.n;
    }
  } catch {
    // busy or mid-checkpoint: skip this time
  } finally {
    db?.close();
  }
  return out;
}

/** Numeric series of a Prometheus text page, `m:name{labels}`, plus the series count. */
export function parseMetrics(text: string): Sample {
  const out: Sample = {};
  let series = 0;
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    series++;
    const i = line.lastIndexOf(" ");
    const v = Number(line.slice(i + 1));
    if (Number.isFinite(v)) out[`m:${line.slice(0, i)}`] = v;
  }
  out["metrics:series"] = series;
  out["metrics:bytes"] = text.length;
  return out;
}

function flatten(v: unknown, path: string, out: Sample): void {
  if (typeof v === "number") out[path] = v;
  else if (typeof v === "boolean") out[path] = v ? 1 : 0;
  else if (Array.isArray(v)) {
    out[`${path}.length`] = v.length;
    v.forEach((x, i) => flatten(x, `${path}[${i}]`, out));
  } else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) flatten(x, path ? `${path}.${k}` : k, out);
}

async function getText(url: string): Promise<string | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return await r.text();
  } catch {
    return null;
  }
}

export async function sampleEngine(t: SoakTarget): Promise<Sample> {
  const out: Sample = { ...procStatus(t.pid), ...dirBytes(t.stateDir), ...checkpointRows(t.stateDir) };
  const metrics = await getText(`http://127.0.0.1:${t.port}/metrics`);
  if (metrics) Object.assign(out, parseMetrics(metrics));
  const status = await getText(`http://127.0.0.1:${t.port}/status`);
  if (status) {
    out["status:bytes"] = status.length;
    try {
      flatten(JSON.parse(status), "s:", out);
    } catch {
      // not JSON: the byte count is kept
    }
  }
  out["log:bytes"] = statSync(t.logFile, { throwIfNoEntry: false })?.size ?? 0;
  return out;
}

export function csvRows(t: number, engine: string, s: Sample): string {
  return Object.entries(s)
    .map(([k, v]) => `${t},${engine},"${k.replaceAll('"', '""')}",${v}`)
    .join("\n");
}
