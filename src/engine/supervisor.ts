import { ExponentialBackoff, noJitterGenerator, type IBackoff } from "cockatiel";
import type { Logger } from "pino";
import type { Runtime, LeaderboardEntry } from "./runtime-types.ts";
import type { HealthComponent } from "../api/health.ts";
import { CdcError, errorCodes, errorMessage, isUsageError } from "../errors.ts";
import { PartsLostError } from "../sinks/sink.ts";
import { runtimeRestarts } from "../metrics/metrics.ts";

export interface SupervisorOptions {
  /** Start a runtime from the last checkpoint; `restart` is false only for the first start. */
  start(restart: boolean): Promise<Runtime>;
  log: Logger;
  /** Backoff before a restart: initialMs, doubling, up to maxMs (default 1 s → 30 s). */
  initialMs?: number;
  maxMs?: number;
  /** A runtime that ran this long before failing starts the backoff over (default 60 s). */
  settleMs?: number;
}

/** The runtime `serve` and the API see: forwards to the current one, reports restarts. */
export interface Supervised extends Runtime {
  restarts(): number;
}

/** Lost-connection symptoms, from the drivers (postgres.js, mysql2, node) and servers (SQLSTATE). */
const TRANSIENT_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "EAI_AGAIN", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "PROTOCOL_CONNECTION_LOST", "slot_active"]);

/** How long stop() waits for a runtime still being started. */
const STOP_WAIT_MS = 10_000;

function isTransient(e: unknown): boolean {
  return errorCodes(e).some((code) => TRANSIENT_CODES.has(code) || /^08|^57P0[123]$|^53300$/.test(code));
}

/**
 * Whether a runtime that ended with `e` is started again in-process: for a sink's lost open
 * transaction (PartsLostError: the restart replays the whole source transaction), and for a lost
 * connection or a slot still held by the old walsender. The runtime was up, so the config works:
 * a connection cut while it still started up or read the initial snapshot (a failover, a
 * terminated backend) is retried with backoff from the checkpoint and the snapshot's saved
 * progress, as Kafka Connect retries a failed task, instead of ending the process (before, only
 * systemd's restart brought it back). Never for a usage error, lost changes (slot_lost) or
 * anything else: that ends the process.
 */
export function restartable(e: unknown): boolean {
  if (isUsageError(e)) return false;
  if (e instanceof PartsLostError || (e as { code?: unknown })?.code === "sink_parts_lost") return true;
  return isTransient(e);
}

/**
 * Runs the engine and restarts it in-process after a recoverable failure, as a supervisor
 * restarting the process would (DESIGN.md "Exactly-once"): the failed runtime has already
 * shut down; a new one loads the last checkpoint (operator state, LSN), the slot resends what
 * was not confirmed and each sink skips what it holds. The first start fails as before (a
 * config that never worked is not retried). Resolves once the first runtime is up.
 */
export async function supervise(opts: SupervisorOptions): Promise<Supervised> {
  const { log } = opts;
  const factory = new ExponentialBackoff({ generator: noJitterGenerator, initialDelay: opts.initialMs ?? 1000, maxDelay: opts.maxMs ?? 30_000 });
  const settleMs = opts.settleMs ?? 60_000;
  let current: Runtime | null = await opts.start(false);
  let last: Runtime = current;
  let restarts = 0;
  let lastRestart: { at: string; reason: string } | null = null;
  /** Set between a failure and the next runtime being up. */
  let restarting: { attempt: number; reason: string; nextStartAt: number | null } | null = null;
  /** Errors of runtimes that ended, so /status keeps the reason of a restart. */
  const errors: { at: string; message: string }[] = [];
  const note = (message: string) => {
    errors.push({ at: new Date().toISOString(), message });
    if (errors.length > 20) errors.shift();
  };
  let stopping = false;
  const wake = new AbortController();
  let resolveDone!: (e: Error | null) => void;
  const done = new Promise<Error | null>((r) => (resolveDone = r));

  const runtimeErrors = (rt: Runtime): { at: string; message: string }[] => {
    try {
      const e = rt.status().errors;
      return Array.isArray(e) ? (e as { at: string; message: string }[]) : [];
    } catch {
      return [];
    }
  };

  void (async () => {
    let rt: Runtime = current!;
    let since = Date.now();
    let backoff: IBackoff<unknown> | null = null;
    // Counts restarts until one runs settleMs, like the backoff: a runtime that comes up and fails
    // again at once is the same loop (each of its lines said attempt 1 while restarts counted on).
    let attempts = 0;
    for (let first = true; ; first = false) {
      let failure = await rt.done;
      for (const x of runtimeErrors(rt)) if (!errors.some((y) => y.at === x.at && y.message === x.message)) errors.push(x);
      errors.splice(0, Math.max(0, errors.length - 20));
      current = null;
      if (failure === null || stopping) return resolveDone(failure);
      if (Date.now() - since >= settleMs) (backoff = null), (attempts = 0); // it ran long enough: not a restart loop
      if (first && restarts === 0 && (failure as { code?: unknown }).code === "source_unreachable") {
        // the first start never reached the source (wrong host or port, server down): a config
        // that never worked exits, as a sink that cannot be reached at start does
        log.error({ err: errorMessage(failure) }, "the source could not be reached at start; exiting");
        return resolveDone(failure);
      }
      // Back off and start again until a runtime is up, a failure is not restartable, or stop().
      for (;;) {
        const attempt = ++attempts;
        if (!restartable(failure)) {
          // The runtime logged the failure ("runtime failed") and the CLI prints it on exit: not a third time.
          log.error({ code: (failure as { code?: unknown }).code }, "the runtime's failure (above) is not restartable: stopping");
          return resolveDone(failure);
        }
        backoff = (backoff ?? factory).next(undefined);
        restarting = { attempt, reason: errorMessage(failure), nextStartAt: Date.now() + backoff.duration };
        log.warn({ err: restarting.reason, attempt, delayMs: backoff.duration }, "restarting the runtime from the last checkpoint");
        await sleep(backoff.duration, wake.signal);
        if (stopping) return resolveDone(null);
        restarting.nextStartAt = null;
        try {
          rt = await opts.start(true);
        } catch (e) {
          failure = e as Error;
          note(`restart attempt ${attempt} failed: ${errorMessage(e)}`);
          log.warn({ err: errorMessage(e), attempt }, "runtime restart failed");
          if (stopping) return resolveDone(null);
          continue;
        }
        if (stopping) {
          await rt.stop(); // SIGTERM came while it was starting
          return resolveDone(null);
        }
        since = Date.now();
        current = last = rt;
        restarts++;
        runtimeRestarts.inc();
        lastRestart = { at: new Date().toISOString(), reason: restarting.reason };
        note(`runtime restarted (attempt ${attempt}) after: ${restarting.reason}`);
        log.info({ attempt, restarts }, "runtime restarted");
        restarting = null;
        break;
      }
    }
  })();

  const busy = (): never => {
    throw new CdcError("conflict", `the engine is restarting (attempt ${restarting?.attempt ?? 0}, after: ${restarting?.reason ?? "a failure"}); try again once it runs`);
  };
  const restartingHealth = (): HealthComponent => ({
    name: "engine",
    health: () => {
      const r = restarting;
      if (!r) return { status: "down" as const, reason: "stopped" };
      const when = r.nextStartAt === null ? "starting now" : `next start in ${Math.max(0, Math.ceil((r.nextStartAt - Date.now()) / 1000))} s`;
      return { status: "down" as const, reason: `restarting (attempt ${r.attempt}, ${when}) after: ${r.reason}`, details: { restarts, attempt: r.attempt } };
    },
  });
  const engineState = () => ({
    state: stopping ? "stopping" : restarting ? "restarting" : "running",
    restarts,
    ...(lastRestart ? { lastRestart } : {}),
    ...(restarting ? { restarting: { attempt: restarting.attempt, reason: restarting.reason, nextStartAt: restarting.nextStartAt ? new Date(restarting.nextStartAt).toISOString() : null } } : {}),
  });

  return {
    restarts: () => restarts,
    components: () => {
      // While restarting: the same component names (per-component checks keep working), all down.
      if (!current) return [...last.components().map((c) => ({ name: c.name, health: () => ({ status: "down" as const, reason: "the engine is restarting" }) })), restartingHealth()];
      const list = current.components();
      if (restarts === 0) return list;
      return [...list, { name: "engine", health: () => ({ status: "up" as const, details: { restarts, ...(lastRestart ? { lastRestart } : {}) } }) }];
    },
    status: () => {
      // While restarting: what the last runtime showed, marked as such.
      let base: Record<string, unknown> = {};
      try {
        base = (current ?? last).status();
      } catch {
        base = {};
      }
      const own = current ? runtimeErrors(current) : [];
      return { ...base, engine: engineState(), errors: [...errors, ...own.filter((x) => !errors.some((y) => y.at === x.at && y.message === x.message))].slice(-20) };
    },
    stop: async () => {
      stopping = true;
      wake.abort();
      await current?.stop();
      // A start in progress is stopped as soon as it is up; one that hangs (a sink that does not
      // answer) has not read anything yet, so the process may go without it.
      await Promise.race([done, Bun.sleep(STOP_WAIT_MS)]);
    },
    done,
    pause: async (name) => (current?.pause ? current.pause(name) : busy()),
    resume: async (name) => (current?.resume ? current.resume(name) : busy()),
    checkpoint: async () => (current?.checkpoint ? current.checkpoint() : busy()),
    replayDlq: async (pipeline) => (current?.replayDlq ? current.replayDlq(pipeline) : busy()),
    get leaderboard(): (() => LeaderboardEntry[] | null | Promise<LeaderboardEntry[] | null>) | undefined {
      const rt = current;
      return rt?.leaderboard ? () => rt.leaderboard!() : undefined;
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
