/**
 * One START_REPLICATION session on a postgres.js replication connection (CopyBoth stream).
 * Hands XLogData payloads to the reader one at a time; pauses the socket when the reader
 * falls behind (TCP backpressure holds the walsender). Answers keepalives that request a
 * reply at once and sends a standby status update every 10 s, always reporting the LSN the
 * engine confirmed (write = flush = apply), never the received one. Keepalives also go into
 * the message queue (tag 'k', which pgoutput never uses), in order with the data, so the
 * reader knows the server's sent position exactly after the messages before it.
 *
 * A walsender that asks for replies again and again for a position the engine cannot confirm
 * (its sinks are down) is waiting for us, as a fast shutdown does: the server could not stop
 * while the engine stayed connected. After RELEASE_AFTER_MS of that the session ends itself and
 * closes the connection (the source reconnects with backoff, from the slot's confirmed position).
 * Replies to such requests go out at most every REPLY_EVERY_MS while the position stands still:
 * answered at once, the walsender and the engine ping-ponged keepalives at full speed.
 */
import type { Duplex } from "node:stream";
import type { Pg } from "../../db/postgres-client.ts";
import { formatLsn, type Lsn } from "../../types.ts";
import { quoteIdent } from "./catalog.ts";
import { slotError } from "./slot.ts";

const STATUS_INTERVAL_MS = 10_000;
const RELEASE_AFTER_MS = 10_000;
const REPLY_EVERY_MS = 200;
const HIGH_WATER = 512;
/** Queue tag of a keepalive (the primary keepalive message as received: 'k', walEnd, time, reply flag). */
export const KEEPALIVE = 0x6b;

export interface StartOptions {
  slot: string;
  /** Streamed together: the main publication and, when some tables have no row identity, the inserts-only one. */
  publications: string[];
  protoVersion: number;
  messages: boolean;
  streaming: boolean;
  binary: boolean;
  /** Two-phase decoding (pgoutput proto 3+, PostgreSQL 15+): prepared transactions arrive at PREPARE. */
  twoPhase?: boolean;
}

export function startCommand(o: StartOptions, from: Lsn = 0n): string {
  const opts = [`proto_version '${o.protoVersion}'`, `publication_names '${o.publications.map(quoteIdent).join(",").replace(/'/g, "''")}'`];
  if (o.messages) opts.push(`messages 'true'`);
  if (o.streaming && o.protoVersion >= 2) opts.push(`streaming 'on'`);
  if (o.binary) opts.push(`binary 'true'`);
  if (o.twoPhase) opts.push(`two_phase 'on'`);
  return `START_REPLICATION SLOT ${quoteIdent(o.slot)} LOGICAL ${formatLsn(from)} (${opts.join(", ")})`;
}

/** postgres.js' CopyBoth Duplex with the cdc-engine patch's raw CopyData hook. */
type CopyBothStream = Duplex & { rawCopyData?: (x: Buffer) => boolean; resumeSocket(): void };

export class ReplicationSession {
  private queue: Buffer[] = [];
  private head = 0;
  private wake: (() => void) | null = null;
  private ended = false;
  private error: Error | null = null;
  private timer: ReturnType<typeof setInterval>;
  private walEnd = 0n;
  private lastXLogData: Buffer | null = null;
  private lastXLogAt = 0;
  private socketPaused = false;
  lastMessageAt = Date.now();
  private lastStatus = { at: 0, lsn: -1n };
  private replyTimer: ReturnType<typeof setTimeout> | null = null;
  /** Since when the server has been asking for a position we have not confirmed. */
  private awaitedSince: number | null = null;

  private constructor(
    private stream: CopyBothStream,
    private confirmed: () => Lsn,
    private release: () => void,
  ) {
    // What postgres.js received in the chunk that started the stream went into the Duplex before
    // this hook was set (as all of it would from an unpatched postgres.js): until that has flowed
    // out, later messages follow it there, in order.
    stream.rawCopyData = (x) => (stream.readableLength > 0 ? (stream.push(x.subarray(5)), true) : this.onMessage(x, 5));
    stream.on("data", (x: Buffer) => void this.onMessage(x, 0));
    stream.on("error", (e: Error) => this.finish(e));
    stream.on("end", () => this.finish(null));
    stream.on("close", () => this.finish(null));
    this.timer = setInterval(() => this.sendStatus(false), STATUS_INTERVAL_MS);
  }

  static async start(repl: Pg, o: StartOptions, confirmed: () => Lsn): Promise<ReplicationSession> {
    let stream: CopyBothStream;
    try {
      stream = (await repl.unsafe(startCommand(o)).writable()) as unknown as CopyBothStream;
    } catch (e) {
      throw slotError(e, o.slot);
    }
    const s = new ReplicationSession(stream, confirmed, () => void repl.end({ timeout: 0 }).catch(() => {}));
    s.sendStatus(false);
    return s;
  }

  /**
   * One replication message at `at` in `x`: from the patched postgres.js' CopyData (see patches/),
   * the CopyData message as it framed it ('d' and length first, at = 5): no Duplex push and one
   * view per WAL message instead of three. Returns false to pause the socket (the reader fell
   * behind). XLogData payloads stay views into the socket's chunks (Bun allocates each anew).
   */
  private onMessage(x: Buffer, at: number): boolean {
    this.lastMessageAt = Date.now();
    const tag = x[at];
    if (tag === 0x77 /* w */) {
      this.lastXLogData = x;
      this.lastXLogAt = at;
      this.queue.push(x.subarray(at + 25));
    } else if (tag === KEEPALIVE) {
      const end = x.readBigUInt64BE(at + 1);
      if (end > this.walEnd) this.walEnd = end;
      if (x[at + 17]) this.replyRequested(end);
      else this.awaitedSince = null;
      this.queue.push(Buffer.from(x.subarray(at, at + 18)));
    } else return true;
    this.wake?.();
    if (this.queue.length - this.head <= HIGH_WATER) return true;
    this.socketPaused = true;
    return false;
  }

  /** Last WAL position the server told us about (keepalive or XLogData end); for lag only. */
  get serverWalEnd(): Lsn {
    if (this.lastXLogData) {
      const end = this.lastXLogData.readBigUInt64BE(this.lastXLogAt + 9);
      if (end > this.walEnd) this.walEnd = end;
      this.lastXLogData = null;
    }
    return this.walEnd;
  }

  private replyRequested(end: Lsn): void {
    const now = Date.now();
    const lsn = this.confirmed();
    if (lsn >= end) this.awaitedSince = null;
    else if (this.awaitedSince === null) this.awaitedSince = now;
    else if (now - this.awaitedSince >= RELEASE_AFTER_MS) {
      const waited = Math.round((now - this.awaitedSince) / 1000);
      this.finish(
        new Error(
          `the server has waited ${waited} s for position ${formatLsn(end)}, which the sinks have not made durable (a shutdown waits for it): the connection is closed so that it can go on; reconnecting`,
        ),
      );
      this.release();
      return;
    }
    const since = now - this.lastStatus.at;
    if (lsn !== this.lastStatus.lsn || since >= REPLY_EVERY_MS) this.sendStatus(false);
    else
      this.replyTimer ??= setTimeout(() => {
        this.replyTimer = null;
        this.sendStatus(false);
      }, REPLY_EVERY_MS - since);
  }

  private finish(e: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.error = e;
    clearInterval(this.timer);
    if (this.replyTimer) clearTimeout(this.replyTimer);
    this.wake?.();
  }

  /** The next pgoutput message if one is queued (no await per message while the queue has them). */
  poll(): Buffer | undefined {
    if (this.head >= this.queue.length) return undefined;
    const b = this.queue[this.head++];
    if (this.head > 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.socketPaused && this.queue.length - this.head < HIGH_WATER / 2) this.resumeSocket();
    return b;
  }

  /** Next pgoutput message, or null when the session ended (check `failure`). */
  async next(): Promise<Buffer | null> {
    for (;;) {
      const b = this.poll();
      if (b) return b;
      if (this.ended) return null;
      if (this.socketPaused) this.resumeSocket();
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }

  private resumeSocket(): void {
    this.socketPaused = false;
    this.stream.resumeSocket();
  }

  get failure(): Error | null {
    return this.error;
  }

  get isEnded(): boolean {
    return this.ended && this.head >= this.queue.length;
  }

  /** Standby status update ('r'): write = flush = apply = the confirmed LSN. */
  sendStatus(replyRequested: boolean): void {
    if (this.ended) return;
    const lsn = this.confirmed();
    const b = Buffer.alloc(34);
    b[0] = 0x72;
    b.writeBigUInt64BE(lsn, 1);
    b.writeBigUInt64BE(lsn, 9);
    b.writeBigUInt64BE(lsn, 17);
    b.writeBigInt64BE(BigInt(Date.now() - 946_684_800_000) * 1000n, 25);
    b[33] = replyRequested ? 1 : 0;
    this.lastStatus = { at: Date.now(), lsn };
    try {
      this.stream.write(b);
    } catch {
      /* the stream is closing; the reader sees the end */
    }
  }

  /** Final status (the confirmed position), then CopyDone; waits for the server to end the stream. */
  async close(): Promise<void> {
    if (this.ended) return;
    clearInterval(this.timer);
    this.sendStatus(false);
    await new Promise<void>((r) => {
      const t = setTimeout(r, 2000);
      this.stream.once("close", () => (clearTimeout(t), r()));
      this.stream.once("end", () => (clearTimeout(t), r()));
      if (this.socketPaused) this.resumeSocket();
      this.stream.end();
    });
    this.finish(null);
  }
}
