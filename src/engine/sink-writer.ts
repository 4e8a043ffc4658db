import type { Logger } from "pino";
import type { Health, OutputBatch, OutputRecord, Sink } from "../sinks/sink.ts";
import type { Lsn } from "../types.ts";
import { batchRows, rowsWritten, commitToSinkSeconds } from "../metrics/metrics.ts";
import { takeDeadLetters } from "../metrics/dead-tally.ts";
import { SinkWriteAttempts, type AttemptOptions } from "./sink-write-attempts.ts";
import { recordBytes } from "./record-bytes.ts";

export interface WriterOptions extends AttemptOptions {
  batchSize: number;
  batchDelayMs: number;
  /** Queue bound: rows and (estimated) bytes waiting or in flight before add() waits. */
  maxRows: number;
  maxBytes: number;
  /** Store the position with an empty batch when idle transactions pass (at most once per this many ms; 0 = never). */
  positionEveryMs?: number;
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
  /** A position write put off (positionEveryMs), and the last position the sink stored. */
  private positionTimer: ReturnType<typeof setTimeout> | null = null;
  private stored: Lsn | null;
  private waiters: (() => void)[] = [];
  private attempts: SinkWriteAttempts;
  /** Position stored in the sink at open: replayed transactions at or below it are skipped. */
  readonly startPosition: Lsn | null;
  /** Everything at or below this LSN is durable in the sink. */
  durable: Lsn | null;
  /** Last LSN handed to add() (written or not). */
  private seen: Lsn | null;
  written = 0;
  private lastWriteAt = 0;
  private fatal: Error | null = null;
  /** The large transaction being streamed in parts: its LSN and how many parts the sink got. */
  private parts: { lsn: Lsn; sent: number } | null = null;

  constructor(
    readonly sinkName: string,
    sink: Sink,
    readonly pipeline: string,
    private opts: WriterOptions,
    log: Logger,
    private onDurable: () => void,
  ) {
    this.attempts = new SinkWriteAttempts(sinkName, pipeline, sink, opts, log);
    this.startPosition = sink.position(pipeline);
    this.durable = this.startPosition;
    this.stored = this.startPosition;
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
      if (every > 0 && (this.durable === null || at > this.durable)) {
        // Keep the sink's stored position near the source (verify and restarts read it) without a write per transaction.
        const since = Date.now() - this.lastWriteAt;
        if (since >= every) {
          this.pendingLsn = at;
          this.start();
          return;
        }
        // Written later, not dropped: on an idle source the next chance was the next heartbeat (10 s).
        this.positionTimer ??= setTimeout(() => this.writePosition(), every - since);
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
      this.pendingBytes += recordBytes(r);
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
    for (const r of records) bytes += recordBytes(r);
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

  /** A position write put off by positionEveryMs: now, when nothing else is queued or in flight. */
  private writePosition(): void {
    this.positionTimer = null;
    if (this.fatal || this.seen === null || (this.stored !== null && this.seen <= this.stored)) return;
    // a batch queued or in flight stores its own position; what came after it is tried again later
    if (this.pendingLsn !== null || this.inflight) return void (this.positionTimer = setTimeout(() => this.writePosition(), this.opts.positionEveryMs ?? 1000));
    this.pendingLsn = this.seen;
    this.start();
  }

  /** Write everything queued (and a position put off); resolves when it is durable. */
  async flush(): Promise<void> {
    if (this.positionTimer) {
      clearTimeout(this.positionTimer);
      this.positionTimer = null;
      if (!this.fatal && this.pendingLsn === null && this.seen !== null && (this.stored === null || this.seen > this.stored)) this.pendingLsn = this.seen;
    }
    while (this.pendingLsn !== null || this.inflight) {
      if (this.fatal) throw this.fatal;
      if (!this.inflight) this.start();
      await this.inflight;
    }
    if (this.fatal) throw this.fatal;
  }

  /** Stop retrying (a sink that stays down must not hold shutdown forever). */
  giveUp(): void {
    if (this.positionTimer) clearTimeout(this.positionTimer);
    this.positionTimer = null;
    this.attempts.giveUp();
  }

  health(): Health | null {
    return this.attempts.health();
  }

  /** The last write error while writes are failing (/status). */
  get lastError(): string | null {
    return this.attempts.lastError;
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
      const rest = this.pending.reduce((n, r) => n + recordBytes(r), 0);
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
    this.inflight = this.attempts.write(batch)
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
        this.stored = lsn;
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
}
