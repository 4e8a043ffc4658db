/**
 * A fake walsender for the replication path without a server: pgoutput and CopyBoth messages
 * built by hand, and a socket (postgres.js' `socket` option) that answers the start-up and
 * START_REPLICATION and then delivers the stream in the chunks a test cuts it into, pausing
 * when postgres.js pauses it. What runs on it is the real code: the patched postgres.js framing,
 * ReplicationSession and StreamReader.
 */
import { EventEmitter } from "node:events";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import postgres from "postgres";
import type { Pg } from "../../src/db/postgres-client.ts";
import { ReplicationSession } from "../../src/source/postgres/replication.ts";
import { HEARTBEAT_PREFIX, StreamReader } from "../../src/source/postgres/stream-reader.ts";
import { TypeDecoders } from "../../src/source/postgres/type-decoders.ts";
import type { Txn } from "../../src/types.ts";

const i64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
};
const i32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const i16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const cstr = (s: string) => Buffer.from(`${s}\0`);
const tag = (t: string) => Buffer.from(t, "latin1");

/** A backend message: type, length, body. */
export function backend(type: string, body: Buffer): Buffer {
  return Buffer.concat([tag(type), i32(body.length + 4), body]);
}

export const RELID = 16384;
/** Relation public.blob (id text key, v text). */
export const relationMsg = () =>
  Buffer.concat([tag("R"), i32(RELID), cstr("public"), cstr("blob"), tag("d"), i16(2), Buffer.from([1]), cstr("id"), i32(25), i32(-1), Buffer.from([0]), cstr("v"), i32(25), i32(-1)]);
export const beginMsg = (finalLsn: bigint, xid: number) => Buffer.concat([tag("B"), i64(finalLsn), i64(0n), i32(xid)]);
export const commitMsg = (lsn: bigint, endLsn: bigint) => Buffer.concat([tag("C"), Buffer.from([0]), i64(lsn), i64(endLsn), i64(0n)]);
export function insertMsg(id: string, v: string): Buffer {
  const a = Buffer.from(id);
  const b = Buffer.from(v);
  return Buffer.concat([tag("I"), i32(RELID), tag("N"), i16(2), tag("t"), i32(a.length), a, tag("t"), i32(b.length), b]);
}
/** A non-transactional logical decoding message (pgoutput 'M'). */
export const logicalMsg = (lsn: bigint, prefix: string, content: string) => Buffer.concat([tag("M"), Buffer.from([0]), i64(lsn), cstr(prefix), i32(Buffer.byteLength(content)), Buffer.from(content)]);
/** CopyData holding an XLogData message. */
export const xlogData = (lsn: bigint, m: Buffer) => backend("d", Buffer.concat([tag("w"), i64(lsn), i64(lsn), i64(0n), m]));
/** CopyData holding a primary keepalive. */
export const keepaliveData = (walEnd: bigint, reply: boolean) => backend("d", Buffer.concat([tag("k"), i64(walEnd), i64(0n), Buffer.from([reply ? 1 : 0])]));

/** Rows of one transaction: [id, value]. */
export type Rows = [string, string][];

/**
 * What the server sends after START_REPLICATION: CopyBothResponse, each transaction as XLogData
 * (Begin, the Relation in the first, Inserts, Commit), a keepalive after every `keepaliveEvery`
 * messages (every other one asking for a reply), then the end of the stream (CopyDone,
 * CommandComplete, ReadyForQuery). `heartbeatAtCommit`: before each transaction, the engine's
 * heartbeat message as PostgreSQL sends it when its record comes right before the transaction's
 * commit record (a non-transactional message has the LSN where its record ends).
 */
export function walStream(txns: Rows[], keepaliveEvery = 0, heartbeatAtCommit = false): Buffer {
  const out: Buffer[] = [backend("W", Buffer.concat([Buffer.from([0]), i16(0)]))];
  let lsn = 0x1000000n;
  let n = 0;
  const push = (b: Buffer) => {
    out.push(b);
    if (keepaliveEvery && ++n % keepaliveEvery === 0) out.push(keepaliveData(lsn, n % (2 * keepaliveEvery) === 0));
  };
  let xid = 1000;
  for (const [i, rows] of txns.entries()) {
    const commit = lsn + 0x10000n;
    if (heartbeatAtCommit) push(xlogData(commit, logicalMsg(commit, HEARTBEAT_PREFIX, "s")));
    push(xlogData(lsn, beginMsg(commit, xid++)));
    if (i === 0) push(xlogData(lsn, relationMsg()));
    for (const [id, v] of rows) push(xlogData((lsn += 0x10n), insertMsg(id, v)));
    push(xlogData(commit, commitMsg(commit, commit + 0x30n)));
    lsn = commit + 0x100n;
  }
  out.push(backend("c", Buffer.alloc(0)), backend("C", cstr("COPY 0")), backend("Z", tag("I")));
  return Buffer.concat(out);
}

/** `bytes` cut at the given offsets; each chunk a buffer of its own, as a socket read is. */
export function cutAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    if (c <= at || c >= bytes.length) continue;
    chunks.push(Buffer.from(bytes.subarray(at, c)));
    at = c;
  }
  chunks.push(Buffer.from(bytes.subarray(at)));
  return chunks;
}

export interface FeedMode {
  /** Chunks a paused socket still delivers before it stops (reads already under way). */
  afterPause?: number;
  /** A macrotask between chunks every this many chunks (lets the reader run in between). */
  yieldEvery?: number;
}

/** The socket postgres.js gets: a fake server on the other end. */
export class FakeWalSocket extends EventEmitter {
  readyState = "open";
  paused = false;
  pauses = 0;
  /** Chunks delivered while paused (see FeedMode.afterPause). */
  whilePaused = 0;
  fed = false;
  private started = false;
  private closed = false;
  private waiters: (() => void)[] = [];
  private onPause: (() => void)[] = [];

  constructor(
    private chunks: Buffer[],
    private mode: FeedMode = {},
  ) {
    super();
  }

  setKeepAlive() {}
  setNoDelay() {}
  pause() {
    if (!this.paused) this.pauses++;
    this.paused = true;
    for (const f of this.onPause.splice(0)) f();
    return this;
  }
  resume() {
    this.paused = false;
    for (const f of this.waiters.splice(0)) f();
    return this;
  }
  /** Resolves once the socket is paused or everything was delivered. */
  pausedOrFed(): Promise<void> {
    return this.paused || this.fed ? Promise.resolve() : new Promise((r) => this.onPause.push(r));
  }
  write(b: Buffer | string, cb?: (e?: Error | null) => void) {
    const buf = Buffer.from(b as Buffer);
    setImmediate(() => this.fromClient(buf));
    if (cb) setImmediate(() => cb(null));
    return true;
  }
  end(b?: Buffer) {
    if (b) this.fromClient(Buffer.from(b));
    this.close();
    return this;
  }
  destroy() {
    this.close();
    return this;
  }
  private close() {
    if (this.closed) return;
    this.closed = true;
    this.readyState = "closed";
    this.fed = true;
    for (const f of this.onPause.splice(0)) f();
    setImmediate(() => this.emit("close", false));
  }
  private fromClient(b: Buffer) {
    if (this.closed) return;
    if (!this.started && b.readUInt32BE(4) === 196608) {
      this.started = true; // StartupMessage: AuthenticationOk, BackendKeyData, ReadyForQuery
      this.emit("data", Buffer.concat([backend("R", i32(0)), backend("K", Buffer.concat([i32(1), i32(2)])), backend("Z", tag("I"))]));
      return;
    }
    for (let at = 0; at < b.length; ) {
      const t = String.fromCharCode(b[at]);
      const len = b.readUInt32BE(at + 1);
      const body = b.subarray(at + 5, at + 1 + len);
      at += 1 + len;
      if (t === "Q" && body.toString().startsWith("START_REPLICATION")) void this.feed();
      else if (t === "X") this.close();
    }
  }
  private async feed() {
    let late = 0;
    for (let i = 0; i < this.chunks.length; i++) {
      if (this.closed) return;
      if (this.paused && late >= (this.mode.afterPause ?? 0)) await new Promise<void>((r) => this.waiters.push(r));
      if (this.paused) (late++, this.whilePaused++);
      else late = 0;
      this.emit("data", this.chunks[i]);
      if (this.mode.yieldEvery && i % this.mode.yieldEvery === 0) await new Promise((r) => setImmediate(r));
    }
    this.fed = true;
    for (const f of this.onPause.splice(0)) f();
    // The stream ended with the last read (CopyDone): a session still open now has lost or
    // misframed bytes and waits for ones that never come. Closing fails it instead of hanging.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    this.close();
  }
}

/**
 * Streams `chunks` through postgres.js, a ReplicationSession and a StreamReader until the stream
 * ends; the transactions with changes, parts of a large one joined. `stallEvery`: every that
 * many transactions the engine takes its time (until the socket is paused): the queue fills,
 * the session pauses the socket wherever it is in a frame, and resumes it as the reader drains.
 */
export async function streamThrough(chunks: Buffer[], mode: FeedMode = {}, stallEvery = 0): Promise<{ txns: Rows[]; socket: FakeWalSocket; handed: Txn[]; reader: StreamReader }> {
  const socket = new FakeWalSocket(chunks, mode);
  const sql = postgres({ socket: () => socket, max: 1, fetch_types: false, prepare: false, idle_timeout: null, max_lifetime: null, onnotice: () => {}, connection: { replication: "database" } } as never) as unknown as Pg;
  const txns: Rows[] = [];
  const handed: Txn[] = [];
  let n = 0;
  const reader = new StreamReader({
    types: new TypeDecoders(),
    known: new Map(),
    spillDir: mkdtempSync(join(tmpdir(), "cdc-fake-wal-")),
    memoryBudget: 64 << 20,
    heartbeatMs: 3_600_000,
    log: pino({ level: "silent" }),
    onTxn: async (t: Txn) => {
      handed.push(t);
      if (!t.changes.length) return;
      const rows = t.changes.map((c) => [String(c.after!.id), String(c.after!.v)] as [string, string]);
      if (t.part && t.part.index > 0) txns[txns.length - 1].push(...rows);
      else txns.push(rows);
      if (stallEvery && ++n % stallEvery === 0) await socket.pausedOrFed();
    },
  });
  const session = await ReplicationSession.start(sql, { slot: "s", publications: ["p"], protoVersion: 1, messages: false, streaming: false, binary: false }, () => 0n);
  try {
    await reader.consume(session);
  } finally {
    await sql.end({ timeout: 0 }).catch(() => {});
  }
  if (session.failure) throw new Error(`the stream did not end cleanly after ${txns.length} transactions (bytes lost or misframed?): ${session.failure.message}`);
  return { txns, socket, handed, reader };
}
