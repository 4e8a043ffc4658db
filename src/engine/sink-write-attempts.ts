import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import type { Logger } from "pino";
import { PartsLostError, type Health, type OutputBatch, type Sink } from "../sinks/sink.ts";
import { sinkRetries, sinkUp } from "../metrics/metrics.ts";
import { isUsageError } from "../errors.ts";

export interface AttemptOptions {
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** An error not to retry in place: the returned error ends the runtime (shared-server.ts). */
  giveUp?: (e: unknown) => Error | null;
  /** A write attempt not ended after this long is reported (health down, a warning); default 30 s. */
  stuckWriteMs?: number;
  /** Told once when writes start failing (the runtime's recent errors in /status). */
  onFailing?: (message: string) => void;
}

/**
 * A write attempt that has not ended after this long is said: a lock held on a target table made
 * the sink wait up to its server's lock timeout (MariaDB: 50 s) with /health "up" and no log line.
 */
const STUCK_WRITE_MS = 30_000;

/**
 * One pipeline's writes to one sink, each retried with exponential backoff until it succeeds,
 * the error is one not to retry (giveUp, a lost open transaction) or stop() aborts. Keeps what
 * /health and /status say about those writes: failing since when, the last error, a stuck attempt.
 */
export class SinkWriteAttempts {
  lastError: string | null = null;
  failingSince: number | null = null;
  /** When the write attempt in flight began: one that waits this long is reported (health, a warning). */
  private attemptSince: number | null = null;
  private abort = new AbortController();

  constructor(
    private sinkName: string,
    private pipeline: string,
    private sink: Sink,
    private opts: AttemptOptions,
    private log: Logger,
  ) {}

  /** Stop retrying (a sink that stays down must not hold shutdown forever). */
  giveUp(): void {
    this.abort.abort();
  }

  health(): Health | null {
    if (this.failingSince !== null) {
      return { status: "down", reason: this.lastError ?? "write failing", details: { pipeline: this.pipeline, failingForSeconds: Math.round((Date.now() - this.failingSince) / 1000) } };
    }
    const waited = this.attemptSince === null ? 0 : Date.now() - this.attemptSince;
    if (waited >= (this.opts.stuckWriteMs ?? STUCK_WRITE_MS)) {
      return { status: "down", reason: `a write has waited ${Math.round(waited / 1000)} s for the sink (a lock on a target table, or a server that does not answer)`, details: { pipeline: this.pipeline, waitingForSeconds: Math.round(waited / 1000) } };
    }
    return null;
  }

  async write(batch: OutputBatch): Promise<void> {
    // A lost open transaction cannot be retried part by part: the engine stops, the restart replays it.
    let gaveUp: Error | null = null;
    // Nor is an error for the operator to decide (a usage error: e.g. a Redis sink that lost its data).
    const policy = retry(handleWhen((e) => !(e instanceof PartsLostError) && !isUsageError(e) && !(gaveUp = this.opts.giveUp?.(e) ?? null)), {
      maxAttempts: Number.MAX_SAFE_INTEGER,
      backoff: new ExponentialBackoff({ initialDelay: this.opts.retryInitialMs ?? 200, maxDelay: this.opts.retryMaxMs ?? 5000 }),
    });
    const sub = policy.onRetry((reason) => {
      const msg = "error" in reason ? String((reason.error as Error)?.message ?? reason.error) : "failed";
      if (this.failingSince === null) {
        this.failingSince = Date.now();
        this.opts.onFailing?.(`sink ${this.sinkName} (pipeline ${this.pipeline}): write failed, retrying: ${msg}`);
      }
      this.lastError = msg;
      sinkRetries.inc({ sink: this.sinkName });
      sinkUp.set({ sink: this.sinkName }, 0);
      this.log.warn({ sink: this.sinkName, pipeline: this.pipeline, attempt: reason.attempt, err: msg }, "sink write failed; retrying");
    });
    try {
      await policy.execute(() => this.attempt(batch), this.abort.signal).catch((e) => {
        throw gaveUp ?? e;
      });
      if (this.failingSince !== null) this.log.info({ sink: this.sinkName, pipeline: this.pipeline }, "sink is back; caught up");
      this.failingSince = null;
      this.lastError = null;
      sinkUp.set({ sink: this.sinkName }, 1);
    } finally {
      sub.dispose();
    }
  }

  private async attempt(batch: OutputBatch): Promise<void> {
    this.attemptSince = Date.now();
    const after = this.opts.stuckWriteMs ?? STUCK_WRITE_MS;
    const warn = setTimeout(() => {
      this.log.warn({ sink: this.sinkName, pipeline: this.pipeline, rows: batch.records.length }, `a write has waited ${after / 1000} s for sink ${this.sinkName} and goes on waiting (a lock on a target table, or a server that does not answer?)`);
    }, after);
    try {
      await this.sink.write(batch);
    } finally {
      clearTimeout(warn);
      this.attemptSince = null;
    }
  }
}
