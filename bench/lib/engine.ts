/** The compiled cdc-engine run as a user runs it (`serve --config`), for the benches. */
import { mkdtempSync, openSync, closeSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { binaryPath } from "../../test/helpers/binary.ts";
import { freePort } from "../../test/helpers/postgres-server.ts";
import { vmHwm } from "./proc.ts";

export interface Engine {
  proc: Subprocess;
  port: number;
  dir: string;
  /** Peak RSS (VmHWM) seen so far; sampled every 250 ms and just before stop. */
  peak(): number | null;
  /** Rows written by all sinks (sum of `written` in /status). */
  rowsWritten(): Promise<number>;
  stop(): Promise<void>;
  log(): string;
  /** Rows the source read by snapshot in this process (from /status). */
  snapshotRows(): Promise<number>;
}

/** `body` is the YAML config without `api:` and `state:` (added here). */
/** The engine's JavaScriptCore settings as deploy/cdc-engine.service and the Dockerfile give them. */
export const UNIT_JSC_ENV = { BUN_JSC_useWarmUpMarkedBlocks: "0", BUN_JSC_forceRAMSize: "1073741824" };

/** The engine's environment as the unit and the image give it, unless this process sets a variable itself. */
export function engineEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  return { ...UNIT_JSC_ENV, ...process.env, ...extra };
}

export async function startEngine(body: string, opts: { stdout?: "null" | "log" } = {}): Promise<Engine> {
  const dir = mkdtempSync(join(tmpdir(), "cdc-bench-engine-"));
  const port = await freePort();
  const cfg = join(dir, "cdc.yaml");
  writeFileSync(cfg, `state: { dir: "${join(dir, "state")}", checkpoint_interval: 10s }\napi: { listen: "127.0.0.1:${port}" }\n${body}`);
  const bin = await binaryPath();
  const logPath = join(dir, "engine.log");
  const logFd = openSync(logPath, "a");
  // BENCH_ENGINE_PROFILE=DIR: the engine writes a CPU profile there when it stops (Bun's --cpu-prof).
  // BENCH_ENGINE_BUN_OPTIONS: extra Bun runtime flags for the engine only (e.g. --smol).
  const prof = process.env.BENCH_ENGINE_PROFILE;
  const bunOptions = [prof ? `--cpu-prof --cpu-prof-dir=${prof}` : "", process.env.BENCH_ENGINE_BUN_OPTIONS ?? ""].join(" ").trim();
  const env = engineEnv(bunOptions ? { BUN_OPTIONS: bunOptions } : {});
  const proc = Bun.spawn([bin, "serve", "--config", cfg], { cwd: dir, env, stdout: opts.stdout === "null" ? "ignore" : logFd, stderr: logFd });
  let peak: number | null = null;
  const sample = () => {
    const h = vmHwm(proc.pid);
    if (h != null) peak = Math.max(peak ?? 0, h);
  };
  const timer = setInterval(sample, 250);
  const engine: Engine = {
    proc,
    port,
    dir,
    peak: () => (sample(), peak),
    async rowsWritten() {
      // /status, not /metrics: a /metrics scrape costs the engine ~20 ms of main-thread time
      // (prom-client's default heap metrics → Bun's heapStats), which polling would add to the figure.
      const st = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { pipelines?: { sinks: { written: number }[] }[] };
      let n = 0;
      for (const p of st.pipelines ?? []) for (const s of p.sinks) n += s.written ?? 0;
      return n;
    },
    async stop() {
      sample();
      clearInterval(timer);
      proc.kill("SIGTERM");
      await proc.exited;
      closeSync(logFd);
    },
    log: () => readFileSync(logPath, "utf8"),
    async snapshotRows() {
      const st = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { source?: { snapshot?: { rowsDone: number }[] } };
      return (st.source?.snapshot ?? []).reduce((a, x) => a + (x.rowsDone ?? 0), 0);
    },
  };
  // Wait for the API (it listens once the runtime started: source connected, sinks opened).
  const until = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`cdc-engine exited ${proc.exitCode}: ${engine.log().slice(-2000)}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).status > 0) break;
    } catch {}
    if (Date.now() > until) throw new Error(`cdc-engine did not answer /health: ${engine.log().slice(-2000)}`);
    await Bun.sleep(50);
  }
  return engine;
}

export async function waitFor(fn: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > until) return false;
    await Bun.sleep(everyMs);
  }
  return true;
}

/**
 * First start of an engine: creates its slot and publication, then stops. The drain configs use
 * `snapshot: never`: a restarted engine whose only sink keeps no position (stdout) has no
 * checkpoint to resume from and would otherwise snapshot the table again, so a "drain the backlog"
 * figure would measure a snapshot (COPY) instead of decoding the WAL.
 */
export async function primeEngine(body: string, slotExists: () => Promise<boolean>): Promise<void> {
  const e = await startEngine(body, { stdout: "null" });
  try {
    if (!(await waitFor(slotExists, 60_000, 50))) throw new Error(`engine did not create its slot: ${e.log().slice(-1000)}`);
  } finally {
    await e.stop();
  }
}

/** Throws when the engine took its rows from a snapshot instead of the WAL (the bench would be void). */
export async function assertNoSnapshot(e: Engine): Promise<void> {
  const n = await e.snapshotRows();
  if (n > 1) throw new Error(`the engine snapshotted ${n} rows instead of streaming the WAL: the figure would be a snapshot's`);
}
