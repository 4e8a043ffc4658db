/**
 * Turns the pgoutput message stream into committed transactions: buffers each open
 * transaction's data messages (spilling past the memory budget), keeps streamed in-progress
 * transactions on disk until Stream Commit (dropped on Stream Abort), decodes at commit in
 * order, and hands over transactions larger than the budget in parts. Idle progress: a
 * heartbeat message or an empty commit becomes an empty Txn, at most about twice per
 * heartbeat interval; so does a keepalive whose WAL end is past the last hand-over when no
 * transaction is in flight (see keepalive()). Two-phase: a prepared transaction's changes are
 * kept (spilled like any large one) from PREPARE until COMMIT PREPARED, when they are handed
 * over at the commit's position, or dropped at ROLLBACK PREPARED.
 */
import type { Logger } from "pino";
import { CdcError } from "../../errors.ts";
import { changesRead, spilledTxns, txnsRead } from "../../metrics/metrics.ts";
import { formatLsn, type Change, type Lsn, type Relation, type Txn } from "../../types.ts";
import { relationChanged } from "./catalog.ts";
import { lookUpMissingValues } from "./missing-values.ts";
import { DataDecoder, decodeControl, isDataMessage, relationTypes, streamedXid } from "./pgoutput.ts";
import { KEEPALIVE } from "./replication.ts";
import { TxnBuffer } from "./txn-buffer.ts";
import { PreparedHolds } from "./prepared-holds.ts";
import { movedWithoutToast } from "./toast-reselect.ts";
import type { TypeDecoders } from "./type-decoders.ts";

export const HEARTBEAT_PREFIX = "cdc-engine-heartbeat";
/** `verify` asks for the sinks' positions now: handed over without the heartbeat's coalescing. */
export const VERIFY_HEARTBEAT = `${HEARTBEAT_PREFIX}:verify`;
/** Keepalives that do not ask for a reply (the walsender sends one each time it waits for WAL) become idle progress at most this often. */
const KEEPALIVE_PROGRESS_MS = 1000;
/** Idle-progress LSNs remembered for confirm(); older ones report the LSN itself (merely conservative). */
const MAX_PROGRESS_LSNS = 1024;

/** Something that yields pgoutput messages (a ReplicationSession, or a test/bench feeder). */
export interface MessageSource {
  next(): Promise<Buffer | null>;
  /** A message already queued, without an await (undefined when none is). */
  poll?(): Buffer | undefined;
}

export interface StreamReaderOptions {
  types: TypeDecoders;
  /** Relations as the catalog described them at start (by relation id), to detect schema changes. */
  known: Map<number, Relation>;
  spillDir: string;
  memoryBudget: number;
  heartbeatMs: number;
  log: Logger;
  /** Where the stream starts (the slot's confirmed position): no idle progress at or below it. */
  startLsn?: Lsn;
  onTxn(txn: Txn): Promise<void>;
  onSchemaChange?(relation: Relation): void;
  /** Re-read pg_type (a Relation message names a type created after start). */
  refreshTypes?(): Promise<void>;
  /** format_type() of each (type oid, typmod): the type names of columns added or retyped while streaming. */
  formatTypes?(cols: { oid: number; mod: number }[]): Promise<string[]>;
  /** The missing values (missing-values.ts) of some columns of a table, by name. */
  missingValues?(relId: number, names: string[]): Promise<Map<string, string | null>>;
  /** The stream carries binary values: a Relation with a column we cannot decode in binary stops it (source_binary_unsupported). */
  binary?(): boolean;
  /** Fills in the unchanged TOAST values of rows an update moved to a new key (toast-reselect.ts). */
  reselect?(changes: Change[]): Promise<void>;
  /** Tables whose every update lacking unchanged TOAST values is filled in too (SourceStartOptions.reselectToast). */
  reselectAll?(table: string): boolean;
}

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
  private decoder: DataDecoder;
  private open: OpenTxn | null = null;
  private streams = new Map<number, TxnBuffer>();
  private prepared = new Map<number, PreparedTxn>();
  private lastHandover = 0;
  private lastCommitTime = 0n;
  lastLsn: Lsn | null = null;
  /** LSNs of empty Txns made from keepalives and heartbeat messages (server's sent position - 1), oldest first; see flushPositionFor(). */
  private progressLsns: Lsn[] = [];
  /** Set when onTxn threw: the source ends with this error instead of reconnecting. */
  engineError: Error | null = null;
  /** Raw bytes kept in memory per transaction before spilling: decoded rows are ~10x their wire size. */
  private rawBudget: number;
  /** Estimated decoded bytes per part handed over from a spilled transaction. */
  private partBudget: number;

  constructor(private o: StreamReaderOptions) {
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
        await this.keepalive(m.readBigUInt64BE(1), m[17] === 1);
        continue;
      }
      if (isDataMessage(m[0])) {
        if (m[0] === 0x52 && this.o.binary?.()) await this.checkBinary(m, inStream !== null);
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
            await this.deliver(t.buf, { lsn: c.commitLsn, endLsn: c.endLsn, xid: t.xid, commitTime: c.commitTime }, false);
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
            await this.deliver(b, { lsn: c.commitLsn, endLsn: c.endLsn, xid: c.xid, commitTime: c.commitTime }, true);
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
              const changed = r?.kind === "relation" ? await this.noteRelation(r.relation) : null;
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
            await this.deliver(p.buf, { lsn: c.commitLsn, endLsn: c.endLsn, xid: c.xid, commitTime: c.commitTime }, p.streamed, p.schemaChanges);
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
          // that committed just then. Idle progress at the message's LSN made deliver() take that
          // transaction for one handed over already and drop it whole, its Relation messages too
          // (stream.test.ts "values larger than a socket read": 41 txns, 1 change). So one before it,
          // as for a keepalive's walEnd; confirmed, it reports the message's LSN (flushPositionFor).
          if (!c.transactional && c.prefix.startsWith(HEARTBEAT_PREFIX)) await this.idle(c.lsn - 1n, c.lsn, true, c.prefix === VERIFY_HEARTBEAT);
          break;
      }
    }
  }

  /**
   * In binary mode every column of a table must have a binary decoder. Checked when the Relation
   * message arrives, before anything of its transaction is handed over, so the source can
   * reconnect in text mode and the server sends that transaction again.
   */
  private async checkBinary(m: Buffer, hasXid: boolean): Promise<void> {
    const rel = relationTypes(m, hasXid);
    if (this.o.refreshTypes && rel.columns.some((c) => !this.o.types.has(c.typeOid))) await this.o.refreshTypes();
    const bad = rel.columns.find((c) => !this.o.types.hasBinary(c.typeOid));
    if (bad) {
      throw new CdcError("source_binary_unsupported", `column ${rel.table}.${bad.name} (type oid ${bad.typeOid}) has no binary decoder`, { component: "source" });
    }
  }

  /** A Relation/Type message outside a transaction (or in a prepared one); the relation when it changed. */
  private async decodeLoose(m: Buffer): Promise<Relation | null> {
    const r = this.decoder.decode(m, false);
    return r?.kind === "relation" ? this.noteRelation(r.relation) : null;
  }

  private async noteRelation(rel: Relation): Promise<Relation | null> {
    if (this.o.refreshTypes && rel.columns.some((c) => !this.o.types.has(c.typeOid))) await this.o.refreshTypes();
    const prev = this.o.known.get(rel.id);
    if (prev) {
      for (const c of rel.columns) {
        const same = prev.columns.find((p) => p.name === c.name && p.typeOid === c.typeOid && p.typeMod === c.typeMod);
        c.typeName = same?.typeName;
        if (same?.missing !== undefined) c.missing = same.missing;
      }
    }
    // A column added or retyped while streaming: its exact type, as the catalog names it. Without
    // it a sink created numeric(10,2) as numeric, varchar(5) as varchar, and inet, enums or an
    // int8[] as text (where the array's text then differed from the source's).
    const unnamed = rel.columns.filter((c) => c.typeName === undefined);
    if (unnamed.length && this.o.formatTypes) {
      try {
        const names = await this.o.formatTypes(unnamed.map((c) => ({ oid: c.typeOid, mod: c.typeMod })));
        unnamed.forEach((c, i) => (c.typeName = names[i] ?? undefined));
      } catch (e) {
        this.o.log.warn({ table: rel.table, err: (e as Error).message }, `cannot look up the types of new columns of ${rel.table}; sinks fall back to a type by OID`);
      }
    }
    if (prev && this.o.missingValues) {
      const lost = await lookUpMissingValues(rel, prev, this.o.missingValues).catch((e) => {
        this.o.log.warn({ table: rel.table, err: (e as Error).message }, `cannot look up the defaults of new columns of ${rel.table}; a sink adds them empty to the rows it has`);
        return [];
      });
      if (lost.length) this.o.log.warn({ table: rel.table, columns: lost }, `new columns ${lost.join(", ")} of ${rel.table} have a default the table's rows got in a rewrite (a volatile default such as now() or a serial, or a rewrite since), which logical decoding does not send: the rows copied before keep them empty; serve --resnapshot reads the table again`);
    }
    // REPLICA IDENTITY FULL flags every column as identity; the row's key is still its primary key
    // (otherwise every update looks like a key change). Without a primary key the whole row stays the identity.
    const pk = prev && rel.replicaIdentity === "f" ? new Set(prev.columns.filter((c) => c.isKey).map((c) => c.name)) : null;
    // No primary key (pk empty): the row has no key at all; sinks treat the table as keyless and `before` carries the whole old row.
    if (pk && pk.size < rel.columns.length) for (const c of rel.columns) c.isKey = pk.has(c.name);
    const changed = relationChanged(prev, rel);
    this.o.known.set(rel.id, rel);
    if (!changed) return null;
    this.o.log.info({ table: rel.table, columns: rel.columns.map((c) => c.name) }, `schema change on ${rel.table}`);
    this.o.onSchemaChange?.(rel);
    return rel;
  }

  private async deliver(buf: TxnBuffer, head: { lsn: Lsn; endLsn: Lsn; xid: number; commitTime: bigint }, streamed: boolean, applied: Relation[] = []): Promise<void> {
    // After a reconnect the server resends everything after the slot's confirmed position, which
    // is behind what this process already handed over (the engine confirms only durable
    // positions). Those commits are in commit order, so every one at or below the last hand-over
    // was handed over already: passing it on again doubled rows of tables without a key.
    // Its Relation messages are not decoded either: they are older than (or equal to) what the
    // decoder already holds, and the server sends any later version again before using it.
    if (this.lastLsn !== null && head.lsn <= this.lastLsn) return;
    const big = streamed || buf.spilled;
    if (buf.spilled) spilledTxns.inc();
    let changes: Change[] = [];
    let schemaChanges: Relation[] | undefined = applied.length ? [...applied] : undefined;
    let partBytes = 0;
    let part = 0;
    let moved: Change[] = [];
    for (const m of buf.messages()) {
      if (streamed && buf.abortedSubxids.size && m[0] !== 0x52 && m[0] !== 0x59 && buf.abortedSubxids.has(streamedXid(m))) continue;
      // A spilled transaction's messages are views into a reused read block: no wire tuples from those.
      const r = this.decoder.decode(m, streamed, !buf.spilled);
      if (!r) continue;
      if (r.kind === "change") {
        changes.push(r.change);
        if (this.o.reselect && (movedWithoutToast(r.change) || (r.change.unchangedToast?.length && this.o.reselectAll?.(r.change.table)))) moved.push(r.change);
      }
      else if (r.kind === "truncate") changes.push(...r.changes);
      else if (r.kind === "relation") {
        const changed = await this.noteRelation(r.relation);
        if (changed) (schemaChanges ??= []).push(changed);
      }
      // Estimated decoded size: JS objects per row and per value cost far more than the wire bytes.
      partBytes += m.length * 8 + 256;
      if (big && partBytes > this.partBudget) {
        if (moved.length) await this.o.reselect!(moved);
        moved = [];
        await this.handover({ ...head, changes, ...(schemaChanges ? { schemaChanges } : {}), part: { index: part++, last: false } });
        changes = [];
        schemaChanges = undefined;
        partBytes = 0;
        // The parts handed over are garbage now: a full collection every second part keeps RSS flat
        // on huge transactions (a 3M-row synthetic run: 130 MiB, vs 213 MiB with a non-blocking hint
        // every 4th part, and no slower: the live heap is small, the garbage is what costs).
        if (part % 2 === 0) Bun.gc(true);
      }
    }
    if (!changes.length && !schemaChanges && part === 0) return this.idle(head.lsn, head.endLsn);
    if (moved.length) await this.o.reselect!(moved);
    await this.handover({ ...head, changes, ...(schemaChanges ? { schemaChanges } : {}), ...(part ? { part: { index: part, last: true } } : {}) });
  }

  /**
   * A keepalive reports the server's sent position (walEnd): every transaction that commits
   * before it was sent ahead of it, every later one commits at or after it. When nothing is in
   * flight, an empty Txn at walEnd - 1 lets the engine confirm up to there (flushPositionFor
   * reports walEnd for it). Without this the slot's flush position stays at the last commit we
   * received, and a smart/fast shutdown of the server waits for it to reach the sent position
   * forever. walEnd - 1, not walEnd: a commit record may start exactly at walEnd, and a
   * position stored at a commit's own LSN would skip that commit on replay.
   */
  private async keepalive(walEnd: Lsn, replyRequested: boolean): Promise<void> {
    if (this.open || this.streams.size) return; // a transaction is in flight: its commit confirms
    const lsn = walEnd - 1n;
    const floor = this.lastLsn ?? this.o.startLsn ?? -1n;
    // Already handed over as idle progress, but now the server waits for it (shutdown): say so again, at most once a second.
    const again = replyRequested && lsn === this.lastLsn && this.progressLsns.at(-1) === lsn && Date.now() - this.lastHandover >= KEEPALIVE_PROGRESS_MS;
    if (lsn <= floor && !again) return;
    // The walsender asks for a reply when it waits for us (shutdown, timeout): answer at once.
    if (!replyRequested && Date.now() - this.lastHandover < KEEPALIVE_PROGRESS_MS) return;
    if (!again) this.progressLsns.push(lsn);
    if (this.progressLsns.length > MAX_PROGRESS_LSNS) this.progressLsns.shift();
    await this.handover({ lsn, endLsn: walEnd, xid: 0, commitTime: BigInt(Date.now()) * 1000n, changes: [], ...(replyRequested ? { awaited: true } : {}) });
  }

  /**
   * The flush position to report when the engine confirms `lsn`: one past a keepalive's or a
   * heartbeat message's empty Txn (the server's sent position, which nothing commits before),
   * else the LSN itself.
   * Forgets progress LSNs up to `lsn`.
   */
  flushPositionFor(lsn: Lsn): Lsn {
    let out = lsn;
    let n = 0;
    while (n < this.progressLsns.length && this.progressLsns[n] <= lsn) {
      if (this.progressLsns[n] === lsn) out = lsn + 1n;
      n++;
    }
    if (n) this.progressLsns.splice(0, n);
    return out;
  }

  /**
   * Empty Txn for idle progress, coalesced to about two per heartbeat interval. `sentUpTo`: `lsn`
   * is one before a position the server has sent everything before (a heartbeat message's), which
   * flushPositionFor reports when the engine confirms `lsn`.
   */
  private async idle(lsn: Lsn, endLsn: Lsn = lsn, sentUpTo = false, now = false): Promise<void> {
    if (this.lastLsn !== null && lsn <= this.lastLsn) return;
    if (!now && Date.now() - this.lastHandover < this.o.heartbeatMs / 2) return;
    if (sentUpTo) {
      this.progressLsns.push(lsn);
      if (this.progressLsns.length > MAX_PROGRESS_LSNS) this.progressLsns.shift();
    }
    await this.handover({ lsn, endLsn, xid: 0, commitTime: BigInt(Date.now()) * 1000n, changes: [] });
  }

  private async handover(txn: Txn): Promise<void> {
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
