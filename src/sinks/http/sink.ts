import { createHmac } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen, type CircuitBreakerPolicy } from "cockatiel";
import type { Health, OutputBatch, OutputRecord, Sink, SinkContext } from "../sink.ts";
import type { Lsn } from "../../types.ts";
import { CdcError } from "../../errors.ts";
import { toJsonText } from "../json.ts";
import { breakerState, sinkRetries, sinkUp } from "../../metrics/metrics.ts";
import { unseenRecords } from "../position-fence.ts";
import { sinkDeadLetter } from "../../dlq/sink-dead-letter.ts";
import type { HttpSinkConfig } from "./config.ts";
import { AttemptsExhaustedError, HttpSendError, parseRetryAfter } from "./errors.ts";
import { idempotencyKey, payloadOf } from "./payload.ts";
import { BatchProgress, LocalPositions } from "./local-positions.ts";
import { SnapshotSent } from "./snapshot-sent.ts";
import { recordId } from "../record-identity.ts";

/** A Retry-After beyond this is treated as this (a receiver asking for hours is not waited on blindly). */
const MAX_RETRY_AFTER_MS = 300_000;
const BREAKER_GAUGE: Record<number, number> = { [CircuitState.Closed]: 0, [CircuitState.HalfOpen]: 1, [CircuitState.Open]: 2, [CircuitState.Isolated]: 2 };

/**
 * Webhook sink: JSON to a URL, in order, with an Idempotency-Key per request derived from
 * (pipeline, LSN, index of its first and last record) so a resend is recognisable. Retries with
 * exponential backoff and jitter on 5xx/429/408/network errors (Retry-After honoured), and the
 * DLQ after retry.max_attempts failed sends or on any other 4xx (a rejected multi-record
 * request is retried record by record first, so only the records the receiver refuses end up
 * there). A consecutive-failure circuit breaker (cockatiel) stops sending to a receiver that is
 * down: while it is open, write() fails without sending and without spending attempts, and the
 * engine's writer retries the batch (backpressure) until a half-open probe gets through.
 * close() aborts the request in flight; its records are sent again, under the same key, after a restart.
 */
export class HttpSink implements Sink {
  private ctx!: SinkContext;
  private positions!: LocalPositions;
  private progress!: BatchProgress;
  /** Names of the snapshot records sent (opened with the first snapshot batch). */
  private snapshotSent: SnapshotSent | null = null;
  /** Pipelines this sink has stored a streamed batch for since it opened (their snapshot names are gone). */
  private readonly streaming = new Set<string>();
  private readonly payloads = new Map<string, "row" | "envelope">();
  /** Aborted by close(): the request in flight and the wait before a retry end at once. */
  private readonly closing = new AbortController();
  private readonly writes = new Set<Promise<void>>();
  /** Counted failed sends of each request not settled yet, by key: they add up across write() calls. */
  private readonly failedSends = new Map<string, number>();
  private readonly breaker: CircuitBreakerPolicy;
  private lastError: string | null = null;

  constructor(private readonly config: HttpSinkConfig) {
    this.breaker = circuitBreaker(handleWhen((e) => e instanceof HttpSendError && e.retryable), {
      halfOpenAfter: config.breaker.half_open_after,
      breaker: new ConsecutiveBreaker(config.breaker.failures),
    });
    this.breaker.onStateChange((s) => {
      breakerState.set({ sink: this.ctx.name }, BREAKER_GAUGE[s] ?? 0);
      sinkUp.set({ sink: this.ctx.name }, s === CircuitState.Closed ? 1 : 0);
      this.ctx.log.warn({ state: CircuitState[s] }, "circuit breaker state changed");
    });
  }

  /** Exponential backoff with jitter after the n-th counted failure; never sooner than Retry-After. */
  private delay(err: HttpSendError, n: number): number {
    const base = Math.min(this.config.retry.max_delay, this.config.retry.initial_delay * 2 ** Math.max(0, n - 1));
    const jittered = base / 2 + Math.random() * (base / 2);
    return err.retryAfterMs !== undefined ? Math.max(jittered, Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS)) : jittered;
  }

  async open(ctx: SinkContext): Promise<void> {
    this.ctx = ctx;
    this.positions = new LocalPositions(ctx.stateDir, ctx.name);
    this.progress = new BatchProgress(ctx.stateDir, ctx.name);
    new SnapshotSent(ctx.stateDir, ctx.name).dropIfStale();
    for (const t of ctx.targets) this.payloads.set(t.pipeline, (t.options.payload as "row" | "envelope" | undefined) ?? this.config.payload);
    breakerState.set({ sink: ctx.name }, 0);
    sinkUp.set({ sink: ctx.name }, 1);
  }

  position(pipeline: string): Lsn | null {
    return this.positions.get(pipeline);
  }

  async write(batch: OutputBatch): Promise<void> {
    if (this.closing.signal.aborted) throw this.stopped();
    const w: Promise<void> = this.writeBatch(batch).finally(() => this.writes.delete(w));
    this.writes.add(w);
    return w;
  }

  private async writeBatch(batch: OutputBatch): Promise<void> {
    const unseen = unseenRecords(batch, this.positions.get(batch.pipeline));
    if (!unseen) return;
    // Records are unique by (lsn, index) only outside the parts of a large transaction (each part
    // counts from 0), and a DLQ replay is not a batch of the stream: no progress for those.
    const track = !unseen.replay && !batch.part;
    // A truncate goes out as an envelope's `op: "t"` (a receiver mirroring the table must empty it
    // too); a row payload has no shape for it (no table name, no row), so it is left out there.
    const envelope = (this.payloads.get(batch.pipeline) ?? this.config.payload) === "envelope";
    const records = unseen.records.filter((r) => (envelope || r.op !== "truncate") && !(track && this.progress.done(batch.pipeline, r)));
    // A request left unanswered goes out again as it was (same records, same key), however this batch is cut.
    // (Not when batch_size was lowered since: with batch_size 1 the body is one object, not an array.)
    let first = track ? this.progress.unansweredLength(batch.pipeline, records) : 0;
    if (first > this.config.batch_size) first = 0;
    // Snapshot records are skipped or re-sent by name (SnapshotSent): a re-read after a crash
    // gives them new (lsn, index) and cuts its requests differently.
    const byName = track && batch.snapshot === true ? this.snapshotNames(batch.pipeline, records) : null;
    let todo = records;
    if (byName) {
      first = 0;
      todo = [];
      const again = new Map<string, OutputRecord[]>(); // request key → its records read again
      for (const r of records) {
        const name = byName.names.get(r);
        const k = name === undefined ? undefined : byName.known.get(name);
        if (k === undefined) todo.push(r);
        else if (k !== "") {
          const list = again.get(k);
          if (list) list.push(r);
          else again.set(k, [r]);
        }
      }
      for (const [key, chunk] of again) {
        await this.deliver(batch.pipeline, chunk, track, true, key);
        this.snapshotSent!.settled(batch.pipeline, chunk.map((r) => byName.names.get(r)!));
      }
    }
    let last: OutputRecord | undefined; // of the request before, delivered or dead-lettered
    for (let i = 0; i < todo.length; ) {
      const chunk = todo.slice(i, i + (first || this.config.batch_size));
      first = 0;
      if (track) this.progress.sending(batch.pipeline, last, chunk[0], chunk[chunk.length - 1]);
      const names = byName ? chunk.flatMap((r) => byName.names.get(r) ?? []) : null;
      // The key is computed once (a snapshot record's name is a digest of its row).
      const key = idempotencyKey(batch.pipeline, chunk, batch.snapshot === true);
      if (names?.length) this.snapshotSent!.sending(batch.pipeline, names, key);
      await this.deliver(batch.pipeline, chunk, track, batch.snapshot === true, key);
      if (names?.length) this.snapshotSent!.settled(batch.pipeline, names);
      last = chunk[chunk.length - 1];
      i += chunk.length;
    }
    if (unseen.store) this.positions.set(batch.pipeline, batch.lsn);
    if (unseen.store && !batch.snapshot && !this.streaming.has(batch.pipeline)) {
      this.streaming.add(batch.pipeline);
      (this.snapshotSent ?? new SnapshotSent(this.ctx.stateDir, this.ctx.name)).forget(batch.pipeline);
    }
    // Not cleared by a batch that ends before the mark: the next one must still skip through it.
    if (track) this.progress.passed(batch.pipeline, this.positions.get(batch.pipeline) ?? batch.lsn);
  }

  /**
   * Each initial-snapshot record's name, and what SnapshotSent knows of those names. Output of
   * idle ticks (also `snapshot` batches) carries no snapshot: not recorded, it would fill the file.
   */
  private snapshotNames(pipeline: string, records: OutputRecord[]): { names: Map<OutputRecord, string>; known: Map<string, string> } | null {
    if (!records.some((r) => r.snapshotOf !== undefined)) return null;
    this.snapshotSent ??= new SnapshotSent(this.ctx.stateDir, this.ctx.name);
    const names = new Map(records.filter((r) => r.snapshotOf !== undefined).map((r) => [r, recordId(r, true)]));
    return { names, known: this.snapshotSent.lookup(pipeline, [...names.values()]) };
  }

  private async deliver(pipeline: string, chunk: OutputRecord[], track: boolean, snapshot: boolean, key = idempotencyKey(pipeline, chunk, snapshot)): Promise<void> {
    try {
      await this.sendUntilSettled(pipeline, chunk, key);
      this.failedSends.delete(key);
      this.lastError = null;
      return;
    } catch (e) {
      if (this.closing.signal.aborted || e instanceof BrokenCircuitError) {
        // Neither delivered nor refused, so not dead-lettered: the batch is written again (by the
        // writer's retry, or after a restart), and this request with it, as it was (progress.sending).
        if (this.closing.signal.aborted) throw this.stopped();
        throw new CdcError("http_circuit_open", `circuit open (last failure: ${this.lastError ?? "?"}); waiting for the receiver: nothing is sent until a probe ${this.config.breaker.half_open_after} ms after the circuit opened`, { component: `sink:${this.ctx.name}` });
      }
      this.failedSends.delete(key);
      if (e instanceof HttpSendError && !e.retryable && chunk.length > 1) {
        // Find the record(s) the receiver refuses; the others are delivered on their own. Each
        // settled record is marked done, so a resend after a crash does not send the refused
        // request again nor dead-letter its records twice.
        let prev: OutputRecord | undefined;
        for (const r of chunk) {
          if (track) this.progress.sending(pipeline, prev, r, r);
          await this.deliver(pipeline, [r], false, snapshot);
          prev = r;
        }
        return;
      }
      if (!(e instanceof HttpSendError) && !(e instanceof AttemptsExhaustedError)) throw e;
      this.lastError = e.message;
      for (const r of chunk) sinkDeadLetter(this.ctx, pipeline, r, e.message);
    }
  }

  /**
   * Sends one request until the receiver takes it. Throws AttemptsExhaustedError after
   * max_attempts counted failed sends, HttpSendError on a final answer (4xx), BrokenCircuitError
   * while the circuit is open. Not cockatiel's retry(): it counts every error it handles as an
   * attempt, the open circuit's refusals included (a receiver down for seconds filled the DLQ
   * with records it never refused), and its waits cannot be cut short by close().
   */
  private async sendUntilSettled(pipeline: string, chunk: OutputRecord[], key: string): Promise<void> {
    const signal = this.closing.signal;
    for (;;) {
      try {
        return await this.breaker.execute(() => this.send(pipeline, chunk, key), signal);
      } catch (e) {
        if (!(e instanceof HttpSendError) || !e.retryable || signal.aborted) throw e;
        const n = (this.failedSends.get(key) ?? 0) + (e.counted ? 1 : 0);
        this.failedSends.set(key, n);
        if (n >= this.config.retry.max_attempts) throw new AttemptsExhaustedError(e, n);
        if (this.breaker.state === CircuitState.Open) throw new BrokenCircuitError(); // this failure opened it
        sinkRetries.inc({ sink: this.ctx.name });
        await sleep(this.delay(e, n), undefined, { signal });
      }
    }
  }

  private stopped(): Error {
    return new CdcError("sink_stopped", "stopped before the receiver answered; not dead-lettered: the records are sent again (same Idempotency-Key) after a restart", { component: `sink:${this.ctx?.name ?? "http"}` });
  }

  private async send(pipeline: string, chunk: OutputRecord[], key: string): Promise<void> {
    // The breaker runs a half-open probe in this state: one that gets no answer is not counted.
    const probe = this.breaker.state === CircuitState.HalfOpen;
    const kind = this.payloads.get(pipeline) ?? this.config.payload;
    const now = Date.now();
    const body = this.config.batch_size === 1 ? toJsonText(payloadOf(chunk[0], kind, now)) : toJsonText(chunk.map((r) => payloadOf(r, kind, now)));
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "cdc-engine",
      ...this.config.headers,
      [this.config.idempotency_header]: key,
    };
    if (this.config.hmac_secret) headers[this.config.hmac_header] = "sha256=" + createHmac("sha256", this.config.hmac_secret).update(body).digest("hex");
    let res: Response;
    try {
      res = await fetch(this.config.url, {
        method: this.config.method,
        body,
        headers,
        signal: AbortSignal.any([AbortSignal.timeout(this.config.timeout), this.closing.signal]),
      });
    } catch (e) {
      if (this.closing.signal.aborted) throw e; // close(): no failure of the receiver's, the breaker does not count it
      const err = e as Error;
      const what = err.name === "TimeoutError" ? `no answer within ${this.config.timeout}ms` : err.message;
      this.lastError = what;
      throw new HttpSendError(`${this.config.method} ${redact(this.config.url)}: ${what}`, true, undefined, undefined, !probe);
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

  /** Aborts the request in flight (or the wait before a retry) and returns once every write() has ended. */
  async close(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled(this.writes);
    this.snapshotSent?.close();
    this.snapshotSent = null;
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
