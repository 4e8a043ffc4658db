/**
 * pgoutput protocol (versions 1-4) message decoding. Control messages (Begin, Commit, Stream
 * Start/Stop/Commit/Abort, Message, Origin, and with two_phase Begin Prepare, Prepare, Commit
 * Prepared, Rollback Prepared, Stream Prepare) are read when they arrive; data messages
 * (Relation, Type, Insert, Update, Delete, Truncate) are kept raw in the transaction buffer
 * and decoded at commit, in order, so a Relation message mid-transaction applies exactly to
 * the changes after it and an aborted streamed transaction is never decoded at all.
 */
import type { Change, Column, Relation, Row, WireTuple } from "../../types.ts";
import { CdcError } from "../../errors.ts";
import type { BinaryDecoder } from "./binary-decoders.ts";
import type { TypeDecoders } from "./type-decoders.ts";

/** Microseconds between the Unix epoch and the Postgres epoch (2000-01-01). */
export const PG_EPOCH_MICROS = 946_684_800_000_000n;

export type ControlMessage =
  | { type: "begin"; finalLsn: bigint; commitTime: bigint; xid: number }
  | { type: "commit"; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { type: "message"; xid?: number; transactional: boolean; lsn: bigint; prefix: string; content: Buffer }
  | { type: "stream_start"; xid: number; first: boolean }
  | { type: "stream_stop" }
  | { type: "stream_commit"; xid: number; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { type: "stream_abort"; xid: number; subxid: number }
  | { type: "origin"; lsn: bigint; name: string }
  | { type: "begin_prepare"; prepareLsn: bigint; endLsn: bigint; prepareTime: bigint; xid: number; gid: string }
  /** Prepare and Stream Prepare (`streamed`: the changes came in stream blocks). */
  | { type: "prepare"; prepareLsn: bigint; endLsn: bigint; prepareTime: bigint; xid: number; gid: string; streamed: boolean }
  | { type: "commit_prepared"; commitLsn: bigint; endLsn: bigint; commitTime: bigint; xid: number; gid: string }
  | { type: "rollback_prepared"; prepareEndLsn: bigint; rollbackEndLsn: bigint; xid: number; gid: string };

/** Data messages: kept raw until commit. */
export function isDataMessage(b: number): boolean {
  return b === 0x52 /* R */ || b === 0x59 /* Y */ || b === 0x49 /* I */ || b === 0x55 /* U */ || b === 0x44 /* D */ || b === 0x54 /* T */;
}

function cstr(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  return [buf.toString("utf8", at, end), end + 1];
}

/** Decode a control message, or null for a data message / one we ignore. `inStream`: between Stream Start and Stop. */
export function decodeControl(buf: Buffer, inStream: boolean): ControlMessage | null {
  switch (buf[0]) {
    case 0x42: // B
      return { type: "begin", finalLsn: buf.readBigUInt64BE(1), commitTime: buf.readBigInt64BE(9) + PG_EPOCH_MICROS, xid: buf.readUInt32BE(17) };
    case 0x43: // C: flags, commit lsn, end lsn, ts
      return { type: "commit", commitLsn: buf.readBigUInt64BE(2), endLsn: buf.readBigUInt64BE(10), commitTime: buf.readBigInt64BE(18) + PG_EPOCH_MICROS };
    case 0x4d: {
      // M: [xid] flags lsn prefix len content
      let i = 1;
      let xid: number | undefined;
      if (inStream) (xid = buf.readUInt32BE(1)), (i = 5);
      const transactional = (buf[i] & 1) === 1;
      const lsn = buf.readBigUInt64BE(i + 1);
      const [prefix, next] = cstr(buf, i + 9);
      const len = buf.readUInt32BE(next);
      return { type: "message", xid, transactional, lsn, prefix, content: buf.subarray(next + 4, next + 4 + len) };
    }
    case 0x53: // S
      return { type: "stream_start", xid: buf.readUInt32BE(1), first: buf[5] === 1 };
    case 0x45: // E
      return { type: "stream_stop" };
    case 0x63: // c: xid flags commit-lsn end-lsn ts
      return {
        type: "stream_commit",
        xid: buf.readUInt32BE(1),
        commitLsn: buf.readBigUInt64BE(6),
        endLsn: buf.readBigUInt64BE(14),
        commitTime: buf.readBigInt64BE(22) + PG_EPOCH_MICROS,
      };
    case 0x41: // A: xid subxid [abort lsn, ts with streaming=parallel]
      return { type: "stream_abort", xid: buf.readUInt32BE(1), subxid: buf.readUInt32BE(5) };
    case 0x4f: // O
      return { type: "origin", lsn: buf.readBigUInt64BE(1), name: cstr(buf, 9)[0] };
    case 0x62: // b: prepare lsn, end lsn, prepare ts, xid, gid
      return { type: "begin_prepare", prepareLsn: buf.readBigUInt64BE(1), endLsn: buf.readBigUInt64BE(9), prepareTime: buf.readBigInt64BE(17) + PG_EPOCH_MICROS, xid: buf.readUInt32BE(25), gid: cstr(buf, 29)[0] };
    case 0x50: // P: flags, prepare lsn, end lsn, prepare ts, xid, gid
    case 0x70: // p (Stream Prepare): same layout
      return {
        type: "prepare",
        prepareLsn: buf.readBigUInt64BE(2),
        endLsn: buf.readBigUInt64BE(10),
        prepareTime: buf.readBigInt64BE(18) + PG_EPOCH_MICROS,
        xid: buf.readUInt32BE(26),
        gid: cstr(buf, 30)[0],
        streamed: buf[0] === 0x70,
      };
    case 0x4b: // K: flags, commit lsn, end lsn, commit ts, xid, gid
      return { type: "commit_prepared", commitLsn: buf.readBigUInt64BE(2), endLsn: buf.readBigUInt64BE(10), commitTime: buf.readBigInt64BE(18) + PG_EPOCH_MICROS, xid: buf.readUInt32BE(26), gid: cstr(buf, 30)[0] };
    case 0x72: // r: flags, prepare end lsn, rollback end lsn, prepare ts, rollback ts, xid, gid
      return { type: "rollback_prepared", prepareEndLsn: buf.readBigUInt64BE(2), rollbackEndLsn: buf.readBigUInt64BE(10), xid: buf.readUInt32BE(34), gid: cstr(buf, 38)[0] };
    default:
      return null;
  }
}

/** Table name and column type OIDs of a Relation message, without touching the relation map. */
export function relationTypes(buf: Buffer, hasXid: boolean): { table: string; columns: { name: string; typeOid: number }[] } {
  const [schema, n] = cstr(buf, (hasXid ? 5 : 1) + 4);
  const [name, n2] = cstr(buf, n);
  const ncols = buf.readUInt16BE(n2 + 1);
  let p = n2 + 3;
  const columns: { name: string; typeOid: number }[] = [];
  for (let c = 0; c < ncols; c++) {
    const [colName, q] = cstr(buf, p + 1);
    columns.push({ name: colName, typeOid: buf.readUInt32BE(q) });
    p = q + 8;
  }
  return { table: `${schema || "pg_catalog"}.${name}`, columns };
}

/** The xid a data message carries when it was sent inside a stream block. */
export function streamedXid(buf: Buffer): number {
  return buf.readUInt32BE(1);
}

export type DataResult =
  | { kind: "relation"; relation: Relation }
  | { kind: "type"; oid: number; name: string }
  | { kind: "change"; change: Change }
  | { kind: "truncate"; changes: Change[] };

/** Decodes data messages against the relation map (which Relation messages update). */
export class DataDecoder {
  readonly relations = new Map<number, Relation>();
  /** Column decoders per relation (text and binary format), built when its Relation message arrives. */
  private decoders = new WeakMap<Relation, ((t: string) => unknown)[]>();
  private binDecoders = new WeakMap<Relation, (BinaryDecoder | null)[]>();
  /** The last tuple()'s unchanged-TOAST columns, end offset and wire form (see tuple). */
  private unchanged: string[] | undefined;
  private end = 0;
  private wire: WireTuple | undefined;
  private keepWire = false;

  constructor(private types: TypeDecoders) {}

  /**
   * `keepWire`: `buf` stays valid after this call (not a view into a reused read block), so an
   * insert's or update's new tuple may be handed on as sent (Change.afterWire).
   */
  decode(buf: Buffer, hasXid: boolean, keepWire = false): DataResult | null {
    this.keepWire = keepWire;
    const tag = buf[0];
    let i = hasXid ? 5 : 1;
    switch (tag) {
      case 0x52:
        return { kind: "relation", relation: this.relation(buf, i) };
      case 0x59: {
        const oid = buf.readUInt32BE(i);
        const [ns, n] = cstr(buf, i + 4);
        return { kind: "type", oid, name: `${ns}.${cstr(buf, n)[0]}` };
      }
      case 0x49: {
        const rel = this.rel(buf.readUInt32BE(i));
        const row = this.tuple(buf, i + 5, rel);
        const change: Change = { op: "insert", table: rel.table, relation: rel, key: keyOf(rel, row), after: row, afterWire: this.wire };
        // Set only when present, not spread: a spread of {} per row was ~2 % of the apply profile.
        if (this.unchanged) change.unchangedToast = this.unchanged;
        return { kind: "change", change };
      }
      case 0x55: {
        const rel = this.rel(buf.readUInt32BE(i));
        i += 4;
        let before: Row | null = null;
        if (buf[i] === 0x4b /* K */ || buf[i] === 0x4f /* O */) {
          const keyOnly = buf[i] === 0x4b;
          const old = this.tuple(buf, i + 1, rel);
          before = keyOnly ? keyOf(rel, old) : old;
          i = this.end;
        }
        const row = this.tuple(buf, i + 1, rel);
        const wire = this.wire;
        let toast = this.unchanged;
        if (toast && before) {
          // REPLICA IDENTITY FULL sent the old value: the unchanged column is known after all.
          toast = toast.filter((c) => {
            if (before![c] === undefined) return true;
            row[c] = before![c];
            return false;
          });
          if (!toast.length) toast = undefined;
        }
        const change: Change = { op: "update", table: rel.table, relation: rel, key: keyOf(rel, row), before, after: row, afterWire: wire };
        if (toast) change.unchangedToast = toast;
        return { kind: "change", change };
      }
      case 0x44: {
        const rel = this.rel(buf.readUInt32BE(i));
        i += 4;
        const keyOnly = buf[i] === 0x4b;
        const row = this.tuple(buf, i + 1, rel);
        const before = keyOnly ? keyOf(rel, row) : row;
        return { kind: "change", change: { op: "delete", table: rel.table, relation: rel, key: keyOf(rel, row), before, after: null } };
      }
      case 0x54: {
        const n = buf.readUInt32BE(i);
        const flags = buf[i + 4];
        const truncate = { cascade: (flags & 1) === 1, restartIdentity: (flags & 2) === 2 };
        const changes: Change[] = [];
        for (let k = 0; k < n; k++) {
          const rel = this.rel(buf.readUInt32BE(i + 5 + 4 * k));
          changes.push({ op: "truncate", table: rel.table, relation: rel, truncate });
        }
        return { kind: "truncate", changes };
      }
      default:
        return null;
    }
  }

  private rel(id: number): Relation {
    const r = this.relations.get(id);
    if (!r) throw new Error(`pgoutput: change for relation ${id} before its Relation message`);
    return r;
  }

  private relation(buf: Buffer, i: number): Relation {
    const id = buf.readUInt32BE(i);
    let [schema, n] = cstr(buf, i + 4);
    const [name, n2] = cstr(buf, n);
    schema ||= "pg_catalog";
    const replicaIdentity = String.fromCharCode(buf[n2]);
    const ncols = buf.readUInt16BE(n2 + 1);
    let p = n2 + 3;
    const columns: Column[] = [];
    for (let c = 0; c < ncols; c++) {
      const flags = buf[p];
      const [colName, q] = cstr(buf, p + 1);
      const typeOid = buf.readUInt32BE(q);
      const typeMod = buf.readInt32BE(q + 4);
      p = q + 8;
      columns.push({ name: colName, typeOid, typeMod, isKey: (flags & 1) === 1 });
    }
    const relation: Relation = { id, schema, name, table: `${schema}.${name}`, replicaIdentity, columns };
    this.relations.set(id, relation);
    return relation;
  }

  /**
   * One tuple: the row, with the unchanged-TOAST columns, the end offset and whether every column
   * came as text or NULL left in fields (no object per tuple for them). Text values of a tuple
   * are read with one utf8 decode of its whole region when that maps byte for byte (ASCII, the
   * common case), then cut by offset: a native decode per value was ~7 % of the apply profile.
   */
  private tuple(buf: Buffer, i: number, rel: Relation): Row {
    const n = buf.readUInt16BE(i);
    i += 2;
    const start = i;
    const row: Row = newRow(rel);
    let unchanged: string[] | undefined;
    const cols = rel.columns;
    let dec = this.decoders.get(rel);
    if (!dec) {
      dec = cols.map((c) => this.types.decoder(c.typeOid));
      this.decoders.set(rel, dec);
    }
    let end = i;
    let text = true;
    for (let c = 0; c < n; c++) {
      const kind = buf[end++];
      if (kind === 0x74 /* t */) end += 4 + buf.readUInt32BE(end);
      else if (kind === 0x62 /* b */) (end += 4 + buf.readUInt32BE(end)), (text = false);
      else if (kind !== 0x6e /* n */) text = false;
    }
    const region = text ? buf.toString("utf8", start, end) : "";
    const sliced = text && region.length === end - start;
    for (let c = 0; c < n; c++) {
      const kind = buf[i++];
      const col = cols[c];
      if (kind === 0x74 /* t */) {
        const len = buf.readUInt32BE(i);
        const from = i + 4;
        row[col.name] = dec[c](sliced ? region.substring(from - start, from - start + len) : buf.toString("utf8", from, from + len));
        i = from + len;
      } else if (kind === 0x6e /* n */) row[col.name] = null;
      else if (kind === 0x75 /* u */) (unchanged ??= []).push(col.name);
      else if (kind === 0x62 /* b */) {
        let bin = this.binDecoders.get(rel);
        if (!bin) {
          bin = cols.map((c) => this.types.binaryDecoder(c.typeOid));
          this.binDecoders.set(rel, bin);
        }
        const len = buf.readUInt32BE(i);
        const d = bin[c];
        // The source asks for binary only when every column has a decoder (StreamReader checks each Relation).
        if (!d) throw new CdcError("source_binary_unsupported", `column ${rel.table}.${col.name} (type oid ${col.typeOid}) has no binary decoder`, { component: "source" });
        row[col.name] = d(buf, i + 4, i + 4 + len);
        i += 4 + len;
      }
    }
    this.unchanged = unchanged;
    this.end = end;
    this.wire = text && this.keepWire ? { buf, at: start - 2, end } : undefined;
    return row;
  }
}

/**
 * An empty row for a tuple of `rel`. A column named `__proto__` cannot be assigned on a plain
 * object (the assignment sets the prototype, or is ignored for a string): its value was lost,
 * and reading it gave Object.prototype (`{}` in the sinks). Such a table's rows have no prototype.
 */
export function newRow(rel: Relation): Row {
  // Consecutive rows mostly share one relation: a pointer compare, not a WeakMap lookup per row
  // (that lookup, twice per row with keyOf, was ~2 % of the decode profile).
  if (rel !== lastRel) {
    let proto = protoTables.get(rel);
    if (proto === undefined) protoTables.set(rel, (proto = rel.columns.some((c) => c.name === "__proto__")));
    lastRel = rel;
    lastProto = proto;
  }
  return lastProto ? (Object.create(null) as Row) : {};
}
const protoTables = new WeakMap<Relation, boolean>();
let lastRel: Relation | null = null;
let lastProto = false;

export function keyOf(rel: Relation, row: Row): Row {
  const key: Row = newRow(rel);
  let any = false;
  for (const c of rel.columns) if (c.isKey) (key[c.name] = row[c.name]), (any = true);
  return any ? key : row;
}
