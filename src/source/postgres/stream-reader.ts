/**
 * Turns the pgoutput message stream into committed transactions: buffers each open
 * transaction's data messages (spilling past the memory budget), keeps streamed in-progress
 * transactions on disk until Stream Commit (dropped on Stream Abort), decodes at commit in
 * order, and hands over transactions larger than the budget in parts. Idle progress: a
 * heartbeat message or an empty commit becomes an empty Txn, at most about twice per
 * heartbeat interval; so does a keepalive whose WAL end is past the last hand-over when no
 * transaction is in flight (see keepaliveProgress()). Two-phase: a prepared transaction's changes are
 * kept (spilled like any large one) from PREPARE until COMMIT PREPARED, when they are handed
 * over at the commit's position, or dropped at ROLLBACK PREPARED.
 */
import { CdcError } from "../../errors.ts";
import { changesRead, txnsRead } from "../../metrics/metrics.ts";
import { formatLsn, type Lsn, type Relation, type Txn } from "../../types.ts";
import { DataDecoder, decodeControl, isDataMessage } from "./pgoutput.ts";
import { KEEPALIVE } from "./replication.ts";
import { TxnBuffer } from "./txn-buffer.ts";
import { PreparedHolds } from "./prepared-holds.ts";
import type { MessageSource, StreamReaderOptions } from "./stream-reader-options.ts";
import { checkBinary, noteRelation } from "./stream-relations.ts";
import { flushPositionFor, idleProgress, keepaliveProgress } from "./idle-progress.ts";
import { deliverTxn } from "./txn-delivery.ts";

export type { MessageSource, StreamReaderOptions };

export const HEARTBEAT_PREFIX = "cdc-engine-heartbeat";
/** `verify` asks for the sinks' positions now: handed over without the heartbeat's coalescing. */
export const VERIFY_HEARTBEAT = `${HEARTBEAT_PREFIX}:verify`;

interface OpenTxn {
  xid: number;
  commitTime: bigint;
  buf: TxnBuffer;
  /** Set between Begin Prepare and Prepare: schema changes its Relation messages made. */
  prepared?: Relation[];
}

/** A transaction prepared for two-phase commit, waiting for COMMIT/ROLLBACK PREPARED. */
interface PreparedTxn {
  gid: string;
  /** LSN of the PREPARE record: the slot must not be confirmed past it (see oldestPreparedLsn). */
  prepareLsn: Lsn;
  buf: TxnBuffer;
  /** Its changes came in stream blocks (each data message carries the xid). */
  streamed: boolean;
  schemaChanges: Relation[];
}

export class StreamReader {
  // Public for the helpers in txn-delivery.ts and idle-progress.ts (functions taking this reader,
  // no object between on the per-message path); nothing else touches them.
  decoder: DataDecoder;
  open: OpenTxn | null = null;
  streams = new Map<number, TxnBuffer>();
  private prepared = new Map<number, PreparedTxn>();
  lastHandover = 0;
  private lastCommitTime = 0n;
  lastLsn: Lsn | null = null;
  /** LSNs of empty Txns made from keepalives and heartbeat messages (server's sent position - 1), oldest first; see flushPositionFor(). */
  progressLsns: Lsn[] = [];
  /** Set when onTxn threw: the source ends with this error instead of reconnecting. */
  engineError: Error | null = null;
  /** Raw bytes kept in memory per transaction before spilling: decoded rows are ~10x their wire size. */
  private rawBudget: number;
  /** Estimated decoded bytes per part handed over from a spilled transaction. */
  partBudget: number;

  constructor(readonly o: StreamReaderOptions) {
    this.decoder = new DataDecoder(o.types);
    this.rawBudget = Math.max(1024, Math.floor(o.memoryBudget / 16));
    this.partBudget = Math.max(64 * 1024, Math.floor(o.memoryBudget / 4));
  }

  lagSeconds(): number {
    if (!this.lastCommitTime) return 0;
    return Math.max(0, Date.now() / 1000 - Number(this.lastCommitTime / 1000n) / 1000);
  }

  /** Forget open transactions (after a disconnect the server resends them whole). */
  reset(): void {
    this.open?.buf.discard();
    this.open = null;
    for (const b of this.streams.values()) b.discard();
    this.streams.clear();
    for (const p of this.prepared.values()) p.buf.discard();
    this.prepared.clear();
  }

  /**
   * Where the slot may be confirmed while two-phase transactions are around (prepared-holds.ts).
   * Kept across reset(): after a reconnect the server sends the held PREPAREs again.
   */
  readonly holds = new PreparedHolds();

  /** No hand-over after this (the source is stopping). */
  halt(): void {
    this.halted = true;
  }
  private halted = false;

  async consume(src: MessageSource): Promise<void> {
    let inStream: number | null = null;
    for (;;) {
      const m = src.poll?.() ?? (await src.next());
      if (!m || this.halted) return;
      if (m[0] === KEEPALIVE) {
        await keepaliveProgress(this, m.readBigUInt64BE(1), m[17] === 1);
        continue;
      }
      if (isDataMessage(m[0])) {
        if (m[0] === 0x52 && this.o.binary?.()) await checkBinary(this.o, m, inStream !== null);
        if (inStream !== null) this.streams.get(inStream)!.add(m);
        else if (this.open?.prepared && (m[0] === 0x52 || m[0] === 0x59)) {
          // pgoutput sends a Relation once per session (outside streams): the transactions that
          // commit before this prepared one use it too, so it applies now, not at COMMIT PREPARED.
          // The prepared transaction's tables are locked until then, so their columns stay as they are.
          const changed = await this.decodeLoose(m);
          if (changed) this.open.prepared.push(changed);
        } else if (this.open) this.open.buf.add(m);
        else if (m[0] === 0x52 || m[0] === 0x59) await this.decodeLoose(m);
        else throw outOfStep(`a change ('${String.fromCharCode(m[0])}') outside any transaction`);
        continue;
      }
      const c = decodeControl(m, inStream !== null);
      if (!c) continue;
      switch (c.type) {
        case "begin":
          if (this.open) throw outOfStep(`Begin of transaction ${c.xid} while transaction ${this.open.xid} is open (its Commit never came)`);
          this.open = { xid: c.xid, commitTime: c.commitTime, buf: new TxnBuffer(this.o.spillDir, `txn-${c.xid}`, this.rawBudget) };
          break;
        case "commit": {
          const t = this.open;
          if (!t) throw outOfStep(`Commit at ${formatLsn(c.commitLsn)} without its Begin`);
          this.open = null;
          try {
            await deliverTxn(this, t.buf, { lsn: c.commitLsn, endLsn: c.endLsn, xid: t.xid, commitTime: c.commitTime }, false);
          } finally {
            t.buf.discard();
          }
          break;
        }
        case "stream_start":
          inStream = c.xid;
          if (!this.streams.has(c.xid)) this.streams.set(c.xid, new TxnBuffer(this.o.spillDir, `stream-${c.xid}`, 0));
          break;
        case "stream_stop":
          inStream = null;
          break;
        case "stream_commit": {
          const b = this.streams.get(c.xid);
          this.streams.delete(c.xid);
          if (!b) break;
          try {
            await deliverTxn(this, b, { lsn: c.commitLsn, endLsn: c.endLsn, xid: c.xid, commitTime: c.commitTime }, true);
          } finally {
            b.discard();
          }
          break;
        }
        case "stream_abort": {
          const b = this.streams.get(c.xid);
          if (!b) break;
          if (c.subxid === c.xid || c.subxid === 0) {
            b.discard();
            this.streams.delete(c.xid);
          } else b.abortedSubxids.add(c.subxid);
          break;
        }
        case "begin_prepare":
          if (this.open) throw outOfStep(`Begin Prepare of transaction ${c.xid} while transaction ${this.open.xid} is open (its Commit never came)`);
          this.open = { xid: c.xid, commitTime: c.prepareTime, buf: new TxnBuffer(this.o.spillDir, `prepared-${c.xid}`, this.rawBudget), prepared: [] };
          break;
        case "prepare": {
          let buf: TxnBuffer | undefined;
          let schemaChanges: Relation[] = [];
          if (c.streamed) {
            buf = this.streams.get(c.xid);
            this.streams.delete(c.xid);
            // The server counts the Relation messages of a streamed transaction as sent once it is
            // prepared (as at Stream Commit): later transactions rely on them, so they apply now.
            if (buf) for (const m of buf.messages()) if (m[0] === 0x52 || m[0] === 0x59) {
              const r = this.decoder.decode(m, true);
              const changed = r?.kind === "relation" ? await noteRelation(this.o, r.relation) : null;
              if (changed) schemaChanges.push(changed);
            }
          } else {
            buf = this.open?.buf;
            schemaChanges = this.open?.prepared ?? [];
            this.open = null;
          }
          buf ??= new TxnBuffer(this.o.spillDir, `prepared-${c.xid}`, this.rawBudget);
          this.prepared.set(c.xid, { gid: c.gid, prepareLsn: c.prepareLsn, buf, streamed: c.streamed, schemaChanges });
          this.holds.prepared(c.xid, c.prepareLsn);
          break;
        }
        case "commit_prepared": {
          const p = this.prepared.get(c.xid);
          this.holds.committed(c.xid, c.commitLsn);
          if (!p) {
            // The slot is held at every PREPARE whose commit it has not passed (PreparedHolds), so the server sends the changes again: this is a bug or a slot someone else advanced.
            throw new CdcError("prepared_lost", `COMMIT PREPARED '${c.gid}' (xid ${c.xid}) arrived without its PREPARE: its changes are lost. Start with --resnapshot`, { component: "source" });
          }
          this.prepared.delete(c.xid);
          try {
            await deliverTxn(this, p.buf, { lsn: c.commitLsn, endLsn: c.endLsn, xid: c.xid, commitTime: c.commitTime }, p.streamed, p.schemaChanges);
          } finally {
            p.buf.discard();
          }
          break;
        }
        case "rollback_prepared":
          this.prepared.get(c.xid)?.buf.discard();
          this.prepared.delete(c.xid);
          this.holds.rolledBack(c.xid);
          break;
        case "message":
          // PostgreSQL gives a non-transactional message the LSN where its record ends, which is where
          // the next record starts: the commit record of the transaction sent right after it, when
          // that committed just then. Idle progress at the message's LSN made deliverTxn() take that
          // transaction for one handed over already and drop it whole, its Relation messages too
          // (stream.test.ts "values larger than a socket read": 41 txns, 1 change). So one before it,
          // as for a keepalive's walEnd; confirmed, it reports the message's LSN (flushPositionFor).
          if (!c.transactional && c.prefix.startsWith(HEARTBEAT_PREFIX)) await idleProgress(this, c.lsn - 1n, c.lsn, true, c.prefix === VERIFY_HEARTBEAT);
          break;
      }
    }
  }


  /** A Relation/Type message outside a transaction (or in a prepared one); the relation when it changed. */
  private async decodeLoose(m: Buffer): Promise<Relation | null> {
    const r = this.decoder.decode(m, false);
    return r?.kind === "relation" ? noteRelation(this.o, r.relation) : null;
  }

  /**
   * The flush position to report when the engine confirms `lsn`: one past an idle-progress empty
   * Txn's LSN, else the LSN itself (idle-progress.ts). Forgets progress LSNs up to `lsn`.
   */
  flushPositionFor(lsn: Lsn): Lsn {
    return flushPositionFor(this.progressLsns, lsn);
  }

  /** Every Txn leaves the reader here (txn-delivery.ts, idle-progress.ts), unless it is halted. */
  async handover(txn: Txn): Promise<void> {
    if (this.halted) return;
    this.lastHandover = Date.now();
    this.lastLsn = txn.lsn;
    this.lastCommitTime = txn.commitTime;
    if (!txn.part || txn.part.last) txnsRead.inc();
    // Counted by runs of one table and operation (a string key per change was 3 % of the apply profile).
    const changes = txn.changes;
    for (let i = 0; i < changes.length; ) {
      const { table, op } = changes[i];
      let j = i + 1;
      while (j < changes.length && changes[j].op === op && changes[j].table === table) j++;
      changesRead.inc({ table, op }, j - i);
      i = j;
    }
    try {
      await this.o.onTxn(txn);
    } catch (e) {
      // The engine failed: not a stream problem, so no reconnect (see PostgresSource.streamLoop).
      this.engineError = e instanceof Error ? e : new Error(String(e));
      throw this.engineError;
    }
  }
}

/**
 * A message out of place in the stream (bytes lost or misframed on the way, or a reader bug): the
 * session fails and reconnects, and the server sends again from the confirmed position. Handled
 * as it came, the transaction around it was dropped without a word.
 */
function outOfStep(what: string): Error {
  return new Error(`pgoutput stream out of step: ${what}; reconnecting`);
}
