import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import type { Logger } from "pino";
import { PartsLostError, type Health, type OutputBatch, type OutputRecord, type Sink } from "../sinks/sink.ts";
import type { Lsn } from "../types.ts";
import { batchRows, rowsWritten, sinkRetries, sinkUp, commitToSinkSeconds } from "../metrics/metrics.ts";
import { takeDeadLetters } from "../metrics/dead-tally.ts";

export interface WriterOptions {
  batchSize: number;
  batchDelayMs: number;
  /** Queue bound: rows and (estimated) bytes waiting or in flight before add() waits. */
  maxRows: number;
  maxBytes: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Store the position with an empty batch when idle transactions pass (at most once per this many ms; 0 = never). */
  positionEveryMs?: number;
  /** An error not to retry in place: the returned error ends the runtime (shared-server.ts). */
  giveUp?: (e: unknown) => Error | null;
  /** A write attempt not ended after this long is reported (health down, a warning); default 30 s. */
  stuckWriteMs?: number;
  /** Told once when writes start failing (the runtime's recent errors in /status). */
  onFailing?: (message: string) => void;
  /** Told of every batch the sink took (its refused records are in the DLQ by then). */
  onWritten?: (records: readonly OutputRecord[]) => void;
}

/**
 * Batches one pipeline's output toward one sink. Records arrive whole source transaction by
 * whole transaction, so every batch ends on a transaction boundary and its LSN is a position
 * the sink may store. One write in flight at a time (keeps commit order); add() waits while
 * the queue is over its bound, which holds the engine and through it the source reader.
 * Failed writes are retried with exponential backoff until they succeed or stop() gives up.
 * A transaction larger than the source's memory budget arrives in parts: those are streamed to
 * the sink part by part (OutputBatch.part), never gathered, so memory stays flat.
 */
export class SinkWriter {
  private pending: OutputRecord[] = [];
  private pendingBytes = 0;
  private pendingLsn: Lsn | null = null;
  /** add() calls so far, and how many of them are durable in the sink (see holds()). */
  private given = 0;
  private durableGiven = 0;
  /** The queued records are snapshot chunks (or idle-tick output): see OutputBatch.snapshot. */
  private pendingSnapshot = false;
  /** pending[0, boundary) are whole transactions up to pendingLsn; the rest is an unfinished one. */
  private boundary = 0;
  private firstPendingAt = 0;
  private inflight: Promise<void> | null = null;
  private inflightRows = 0;
  private inflightBytes = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private waiters: (() => void)[] = [];
  private abort = new AbortController();
  /** Position stored in the sink at open: replayed transactions at or below it are skipped. */
  readonly startPosition: Lsn | null;
  /** Everything at or below this LSN is durable in the sink. */
  durable: Lsn | null;
  /** Last LSN handed to add() (written or not). */
  private seen: Lsn | null;
  lastError: string | null = null;
  failingSince: number | null = null;
  /** When the write attempt in flight began: one that waits this long is reported (health, a warning). */
  private attemptSince: number | null = null;
  written = 0;
  private lastWriteAt = 0;
  private fatal: Error | null = null;
  /** The large transaction being streamed in parts: its LSN and how many parts the sink got. */
  private parts: { lsn: Lsn; sent: number } | null = null;

  constructor(
    readonly sinkName: string,
    private sink: Sink,
    readonly pipeline: string,
    private opts: WriterOptions,
    private log: Logger,
    private onDurable: () => void,
  ) {
    this.startPosition = sink.position(pipeline);
    this.durable = this.startPosition;
    this.seen = this.startPosition;
  }

  /** Queue one source transaction's records (possibly none). Resolves when there is room again. */
  async add(records: OutputRecord[], lsn: Lsn, snapshot = false, complete = true): Promise<void> {
    if (this.fatal) throw this.fatal;
    this.given++;
    // Replay after a restart: the sink already has this transaction. Snapshot chunks are upserts, never skipped.
    if (!snapshot && this.startPosition !== null && lsn <= this.startPosition) return;
    if (!complete || this.parts?.lsn === lsn) return this.addPart(records, lsn, complete);
    const at = this.seen !== null && this.seen > lsn ? this.seen : lsn;
    this.seen = at;
    if (records.length === 0 && this.pending.length === 0 && !this.inflight) {
      const every = this.opts.positionEveryMs ?? 0;
      if (every > 0 && Date.now() - this.lastWriteAt >= every && (this.durable === null || at > this.durable)) {
        // Keep the sink's stored position near the source (verify and restarts read it) without a write per transaction.
        this.pendingLsn = at;
        this.start();
        return;
      }
      this.durable = at; // nothing of ours is outstanding: this position costs no write
      this.durableGiven = this.given;
      this.onDurable();
      return;
    }
    if (records.length && this.pending.length && this.pendingSnapshot !== snapshot) {
      // A batch is all snapshot chunks or all streamed transactions (OutputBatch.snapshot): the queued kind goes first.
      await this.flush();
    }
    if (records.length) this.pendingSnapshot = snapshot;
    if (this.pending.length === 0) this.firstPendingAt = Date.now();
    for (const r of records) {
      this.pending.push(r);
      this.pendingBytes += estimateBytes(r);
    }
    this.pendingLsn = at;
    this.boundary = this.pending.length;
    this.kick();
    while (this.pending.length + this.inflightRows > this.opts.maxRows || this.pendingBytes + this.inflightBytes > this.opts.maxBytes) {
      if (!this.inflight) break; // one transaction larger than the bound: it is written as one batch
      await new Promise<void>((r) => this.waiters.push(r));
      if (this.fatal) throw this.fatal;
    }
  }

  /**
   * One part of a transaction larger than the memory budget (the last one has last=true). The
   * first part sends what is queued first, on its own; then each part is written as it comes
   * and add() resolves once it is written. Empty parts are not sent; a transaction
   * whose only records are in its last part is an ordinary one.
   */
  private async addPart(records: OutputRecord[], lsn: Lsn, last: boolean): Promise<void> {
    if (this.parts?.lsn !== lsn) {
      await this.flush();
      this.parts = { lsn, sent: 0 };
    }
    const p = this.parts;
    if (!last && records.length === 0) return;
    if (last && p.sent === 0) {
      this.parts = null;
      return this.add(records, lsn);
    }
    while (this.inflight) await this.inflight;
    if (this.fatal) throw this.fatal;
    if (last) {
      this.parts = null;
      if (this.seen === null || lsn > this.seen) this.seen = lsn;
    }
    let bytes = 0;
    for (const r of records) bytes += estimateBytes(r);
    this.launch({ pipeline: this.pipeline, records, lsn, part: { index: p.sent++, last } }, bytes);
    // A part is written before the source decodes the next: with both alive, peak RSS was ~65 MiB
    // higher (bench/memory.ts, 1M rows: 333 → 266 MiB) at no measurable speed. The last part is
    // not awaited: with a sink transaction shared by several pipelines (sqlite), its commit may
    // wait for another pipeline's parts of this same transaction.
    if (last) return;
    await this.inflight;
    if (this.fatal) throw this.fatal;
  }

  /** A mark of what add() was given so far, for holds(). */
  mark(): number {
    return this.given;
  }

  /**
   * Everything add() was given up to `mark` is durable in the sink. Counted, not by LSN: all
   * chunks of a snapshot share one LSN, so a durable first chunk says nothing about the others.
   */
  holds(mark: number): boolean {
    // A batch that failed for good left the queue empty, yet none of it is in the sink: a
    // checkpoint cut at that moment was stored and confirmed past it, and the restart lost it.
    if (this.fatal) return this.durableGiven >= mark;
    return (this.pending.length === 0 && !this.inflight) || this.durableGiven >= mark;
  }

  /** LSN up to which this writer has nothing outstanding. */
  confirmable(): Lsn | null {
    return this.pending.length > 0 || this.inflight || this.fatal ? this.durable : this.seen;
  }

  /** Write everything queued; resolves when it is durable. */
  async flush(): Promise<void> {
    while (this.pendingLsn !== null || this.inflight) {
      if (this.fatal) throw this.fatal;
      if (!this.inflight) this.start();
      await this.inflight;
    }
    if (this.fatal) throw this.fatal;
  }

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

  queued(): number {
    return this.pending.length + this.inflightRows;
  }

  private kick(): void {
    if (this.inflight || this.pendingLsn === null) return;
    const waited = Date.now() - this.firstPendingAt;
    if (this.boundary >= this.opts.batchSize || waited >= this.opts.batchDelayMs) {
      this.start();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.kick();
      }, this.opts.batchDelayMs - waited);
    }
  }

  private start(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const lsn = this.pendingLsn!;
    const records = this.boundary === this.pending.length ? this.pending : this.pending.slice(0, this.boundary);
    this.pending = records === this.pending ? [] : this.pending.slice(this.boundary);
    let bytes = this.pendingBytes;
    if (this.pending.length) {
      const rest = this.pending.reduce((n, r) => n + estimateBytes(r), 0);
      bytes -= rest;
      this.pendingBytes = rest;
    } else this.pendingBytes = 0;
    this.pendingLsn = null;
    this.boundary = 0;
    this.launch({ pipeline: this.pipeline, records, lsn, ...(this.pendingSnapshot ? { snapshot: true } : {}) }, bytes);
  }

  /** Write one batch (with retries) as the one in flight. */
  private launch(batch: OutputBatch, bytes: number): void {
    // Everything given so far is in this batch or an earlier one (a batch takes all that is queued).
    const given = this.given;
    const { records, lsn } = batch;
    const partial = batch.part !== undefined && !batch.part.last;
    this.inflightRows = records.length;
    this.inflightBytes = bytes;
    this.inflight = this.writeWithRetry(batch)
      .then(() => {
        this.lastWriteAt = Date.now();
        if (records.length) {
          batchRows.observe({ sink: this.sinkName }, records.length);
          // Records the sink refused went to the dead-letter queue: not written.
          const dead = takeDeadLetters(this.sinkName, this.pipeline);
          this.opts.onWritten?.(records);
          const byOp: Record<string, number> = {};
          for (const r of records) byOp[r.op] = (byOp[r.op] ?? 0) + 1;
          for (const [op, all] of Object.entries(byOp)) {
            const n = Math.max(0, all - (dead[op] ?? 0));
            this.written += n;
            if (n) rowsWritten.inc({ sink: this.sinkName, pipeline: this.pipeline, op }, n);
          }
        }
        if (partial) return; // nothing durable before the last part
        this.durable = lsn;
        this.durableGiven = given;
        if (records.length) commitToSinkSeconds.observe({ sink: this.sinkName }, Math.max(0, Date.now() / 1000 - Number(records[records.length - 1].commitTime) / 1e6));
        this.onDurable();
      })
      .catch((e: Error) => {
        this.fatal = e;
      })
      .finally(() => {
        this.inflight = null;
        this.inflightRows = 0;
        this.inflightBytes = 0;
        const w = this.waiters;
        this.waiters = [];
        w.forEach((f) => f());
        if (!this.fatal) this.kick();
      });
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

  private async writeWithRetry(batch: OutputBatch): Promise<void> {
    // A lost open transaction cannot be retried part by part: the engine stops, the restart replays it.
    let gaveUp: Error | null = null;
    const policy = retry(handleWhen((e) => !(e instanceof PartsLostError) && !(gaveUp = this.opts.giveUp?.(e) ?? null)), {
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
}

/**
 * A write attempt that has not ended after this long is said: a lock held on a target table made
 * the sink wait up to its server's lock timeout (MariaDB: 50 s) with /health "up" and no log line.
 */
const STUCK_WRITE_MS = 30_000;

/** Rough size of a record in memory, for the byte bound (strings dominate). */
function estimateBytes(r: OutputRecord): number {
  // A row the source sent as text: its wire size says it without visiting every value.
  if (r.wire !== undefined) return 64 + 24 * r.table.columns.length + 3 * (r.wire.end - r.wire.at);
  let n = 64;
  const row = r.row;
  // for-in, not Object.values(): no array per record (this ran for every record of every writer, 5-9% of the engine's CPU in bench/latency.ts and bench/lib/apply-wal.ts).
  for (const k in row) {
    const v = row[k];
    if (typeof v === "string") n += v.length * 2 + 16;
    else if (v instanceof Uint8Array) n += v.byteLength + 16;
    else n += 16;
  }
  return n;
}
