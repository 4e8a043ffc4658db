import { createHmac } from "node:crypto";
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, DelegateBackoff, circuitBreaker, handleWhen, retry, wrap, type CircuitBreakerPolicy, type IRetryBackoffContext } from "cockatiel";
import type { Health, OutputBatch, OutputRecord, Sink, SinkContext } from "../sink.ts";
import type { Lsn } from "../../types.ts";
import { toJsonText } from "../json.ts";
import { breakerState, sinkRetries, sinkUp } from "../../metrics/metrics.ts";
import { unseenRecords } from "../position-fence.ts";
import { sinkDeadLetter } from "../../dlq/sink-dead-letter.ts";
import type { HttpSinkConfig } from "./config.ts";
import { HttpSendError, parseRetryAfter } from "./errors.ts";
import { idempotencyKey, payloadOf } from "./payload.ts";
import { BatchProgress, LocalPositions } from "./local-positions.ts";

/** A Retry-After beyond this is treated as this (a receiver asking for hours is not waited on blindly). */
const MAX_RETRY_AFTER_MS = 300_000;
const BREAKER_GAUGE: Record<number, number> = { [CircuitState.Closed]: 0, [CircuitState.HalfOpen]: 1, [CircuitState.Open]: 2, [CircuitState.Isolated]: 2 };

/**
 * Webhook sink: JSON to a URL, in order, with an Idempotency-Key per request derived from
 * (pipeline, LSN, index of the first record) so a resend is recognisable. Retries with
 * exponential backoff and full jitter on 5xx/429/network errors (Retry-After honoured), a
 * consecutive-failure circuit breaker (cockatiel), and the DLQ after the last attempt or on
 * any other 4xx (a rejected multi-record request is retried record by record first, so only
 * the records the receiver refuses end up there).
 */
export class HttpSink implements Sink {
  private ctx!: SinkContext;
  private positions!: LocalPositions;
  private progress!: BatchProgress;
  private readonly payloads = new Map<string, "row" | "envelope">();
  private readonly abort = new AbortController();
  private readonly breaker: CircuitBreakerPolicy;
  private readonly policy: ReturnType<typeof wrap>;
  private lastError: string | null = null;

  constructor(private readonly config: HttpSinkConfig) {
    const retryable = (e: unknown) => (e instanceof HttpSendError && e.retryable) || e instanceof BrokenCircuitError;
    this.breaker = circuitBreaker(handleWhen((e) => e instanceof HttpSendError && e.retryable), {
      halfOpenAfter: config.breaker.half_open_after,
      breaker: new ConsecutiveBreaker(config.breaker.failures),
    });
    const r = retry(handleWhen(retryable), {
      maxAttempts: config.retry.max_attempts - 1,
      backoff: new DelegateBackoff((ctx: IRetryBackoffContext<unknown>) => this.delay(ctx)),
    });
    r.onRetry(() => sinkRetries.inc({ sink: this.ctx.name }));
    this.breaker.onStateChange((s) => {
      breakerState.set({ sink: this.ctx.name }, BREAKER_GAUGE[s] ?? 0);
      sinkUp.set({ sink: this.ctx.name }, s === CircuitState.Closed ? 1 : 0);
      this.ctx.log.warn({ state: CircuitState[s] }, "circuit breaker state changed");
    });
    this.policy = wrap(r, this.breaker);
  }

  /** Exponential backoff with full jitter; never sooner than Retry-After; an open circuit waits for its half-open probe. */
  private delay(ctx: IRetryBackoffContext<unknown>): number {
    const err = "error" in ctx.result ? ctx.result.error : undefined;
    const base = Math.min(this.config.retry.max_delay, this.config.retry.initial_delay * 2 ** (ctx.attempt - 1));
    const jittered = base / 2 + Math.random() * (base / 2);
    if (err instanceof BrokenCircuitError) return Math.max(jittered, this.config.breaker.half_open_after);
    if (err instanceof HttpSendError && err.retryAfterMs !== undefined) return Math.max(jittered, Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS));
    return jittered;
  }

  async open(ctx: SinkContext): Promise<void> {
    this.ctx = ctx;
    this.positions = new LocalPositions(ctx.stateDir, ctx.name);
    this.progress = new BatchProgress(ctx.stateDir, ctx.name);
    for (const t of ctx.targets) this.payloads.set(t.pipeline, (t.options.payload as "row" | "envelope" | undefined) ?? this.config.payload);
    breakerState.set({ sink: ctx.name }, 0);
    sinkUp.set({ sink: ctx.name }, 1);
  }

  position(pipeline: string): Lsn | null {
    return this.positions.get(pipeline);
  }

  async write(batch: OutputBatch): Promise<void> {
    const unseen = unseenRecords(batch, this.positions.get(batch.pipeline));
    if (!unseen) return;
    // Records are unique by (lsn, index) only outside the parts of a large transaction (each part
    // counts from 0), and a DLQ replay is not a batch of the stream: no progress for those.
    const track = !unseen.replay && !batch.part;
    const records = unseen.records.filter((r) => r.op !== "truncate" && !(track && this.progress.done(batch.pipeline, r)));
    for (let i = 0; i < records.length; i += this.config.batch_size) {
      const chunk = records.slice(i, i + this.config.batch_size);
      await this.deliver(batch.pipeline, chunk);
      if (track && i + chunk.length < records.length) this.progress.mark(batch.pipeline, chunk[chunk.length - 1]);
    }
    if (unseen.store) this.positions.set(batch.pipeline, batch.lsn);
    if (track) this.progress.clear(batch.pipeline);
  }

  private async deliver(pipeline: string, chunk: OutputRecord[]): Promise<void> {
    try {
      await this.policy.execute(() => this.send(pipeline, chunk), this.abort.signal);
      this.lastError = null;
    } catch (e) {
      if (this.abort.signal.aborted) throw e;
      const msg = e instanceof BrokenCircuitError ? `circuit open: ${this.lastError ?? "too many failures"}` : (e as Error).message;
      this.lastError = msg;
      if (e instanceof HttpSendError && !e.retryable && chunk.length > 1) {
        // Find the record(s) the receiver refuses; the others are delivered on their own.
        for (const r of chunk) await this.deliver(pipeline, [r]);
        return;
      }
      if (!(e instanceof HttpSendError) && !(e instanceof BrokenCircuitError)) throw e;
      for (const r of chunk) sinkDeadLetter(this.ctx, pipeline, r, `${msg}${e instanceof HttpSendError && e.retryable ? ` (after ${this.config.retry.max_attempts} attempts)` : ""}`);
    }
  }

  private async send(pipeline: string, chunk: OutputRecord[]): Promise<void> {
    const kind = this.payloads.get(pipeline) ?? this.config.payload;
    const now = Date.now();
    const body = this.config.batch_size === 1 ? toJsonText(payloadOf(chunk[0], kind, now)) : toJsonText(chunk.map((r) => payloadOf(r, kind, now)));
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "cdc-engine",
      ...this.config.headers,
      [this.config.idempotency_header]: idempotencyKey(pipeline, chunk),
    };
    if (this.config.hmac_secret) headers[this.config.hmac_header] = "sha256=" + createHmac("sha256", this.config.hmac_secret).update(body).digest("hex");
    let res: Response;
    try {
      res = await fetch(this.config.url, {
        method: this.config.method,
        body,
        headers,
        signal: AbortSignal.any([AbortSignal.timeout(this.config.timeout), this.abort.signal]),
      });
    } catch (e) {
      const err = e as Error;
      const what = err.name === "TimeoutError" ? `no answer within ${this.config.timeout}ms` : err.message;
      this.lastError = what;
      throw new HttpSendError(`${this.config.method} ${redact(this.config.url)}: ${what}`, true);
    }
    const text = await res.text().catch(() => "");
    if (res.ok) return;
    const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
    const msg = `${this.config.method} ${redact(this.config.url)}: HTTP ${res.status}${text ? ": " + text.slice(0, 200).replace(/\s+/g, " ") : ""}`;
    this.lastError = msg;
    throw new HttpSendError(msg, retryable, res.status, parseRetryAfter(res.headers.get("retry-after")));
  }

  async health(): Promise<Health> {
    const s = this.breaker.state;
    if (s === CircuitState.Open || s === CircuitState.Isolated) return { status: "down", reason: `circuit open: ${this.lastError ?? ""}` };
    if (s === CircuitState.HalfOpen) return { status: "degraded", reason: "circuit half-open: probing" };
    if (this.lastError) return { status: "degraded", reason: this.lastError };
    return { status: "up" };
  }

  async close(): Promise<void> {
    this.abort.abort();
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    u.search = u.search ? "?…" : "";
    return u.toString();
  } catch {
    return "(url)";
  }
}
