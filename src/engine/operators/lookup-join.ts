import type { Change, Relation, Row } from "../../types.ts";
import type { OperatorContext } from "./operator.ts";
import type { RowChange, RowId } from "./window/types.ts";
import { decodeValue, encodeValue, valueKey } from "../../expr/values.ts";
import { decodeRow, encodeRow } from "./row-codec.ts";
import { decodeState, encodeState } from "../state-codec.ts";
import type { SpillStore } from "./spill/spill-store.ts";

export interface JoinSpec {
  /** "schema.table" of the joined table */
  table: string;
  /** Names a qualified reference may use for the joined table. */
  qualifiers: string[];
  /** Column of the incoming row, and of the joined table, that must be equal. */
  leftColumn: string;
  rightColumn: string;
  /** Joined columns to add (null: all), and the prefix for their names in the row. */
  columns: string[] | null;
  prefix: string;
  waitUs: number;
}

interface Pending {
  rc: RowChange;
  deadline: number;
  key: string | null;
  /** eviction round when the spill file was last searched for its key (rows only get there by eviction) */
  coldRound: number;
}

/**
 * Lookup join against another captured table. The joined table's rows are keyed state, fed by
 * the same CDC stream (so a change to it affects later rows, never earlier ones). A row whose
 * match is missing waits until its deadline (commit time + wait, or the wall clock on an idle
 * source), then goes on with NULLs and is counted as a join miss. Changes to a row that has
 * something waiting queue behind it, so each source row stays in commit order.
 */
export class LookupJoin {
  private rows = new Map<string, Row>();
  relation: Relation | null = null;
  private queue: Pending[] = [];
  /** source row id → pending items for it */
  private waitingIds = new Map<RowId, number>();
  private version = 0;
  private tracking = false;
  private needFull = false;
  private touchedKeys = new Set<string>();
  /** rows moved to disk when over the state budget (null: never spills), and this join's index there */
  private cold: SpillStore | null = null;
  private coldIndex = 0;
  /** rows read back from disk and unchanged since: the file's copy is still theirs */
  private clean = new Set<string>();
  private evictRound = 0;

  constructor(
    readonly spec: JoinSpec,
    private readonly ctx: OperatorContext,
  ) {}

  setCold(store: SpillStore | null, index: number): void {
    this.cold = store;
    this.coldIndex = index;
  }

  /** Bumped when the joined table's relation changes (column types for the compiler). */
  get shapeVersion(): number {
    return this.version;
  }

  /**
   * The joined table's columns from the catalog at start, when none came with a change or the
   * checkpoint: a joined column was typed text until the table's first change (QA: BigQuery made
   * an int column STRING and refused every later row).
   */
  knowRelation(rel: Relation): void {
    if (this.relation) return;
    this.relation = rel;
    this.version++;
  }

  /** A change of the joined table: update state. Returns true when waiting rows may now match. */
  applyTableChange(ch: Change): boolean {
    if (ch.relation && ch.relation !== this.relation) {
      this.relation = ch.relation;
      this.version++;
    }
    if (ch.op === "truncate") {
      this.rows.clear();
      this.clean.clear();
      this.cold?.dropAllJoinRows(this.coldIndex);
      this.needFull = true;
      return false;
    }
    const col = this.spec.rightColumn;
    // An update that left TOASTed columns unchanged (REPLICA IDENTITY DEFAULT) does not carry
    // them: they keep the values the joined row had (they became NULL for every later match).
    let prevKept: Row | undefined;
    if (ch.op === "update" && ch.unchangedToast?.length && ch.after) {
      const oldV = (ch.before ?? ch.key)?.[col];
      const from = oldV === undefined || oldV === null ? ch.after[col] : oldV;
      if (from !== undefined && from !== null) prevKept = this.lookup(valueKey(from), null);
    }
    if (ch.op === "delete" || ch.op === "update") {
      const old = ch.before ?? ch.key ?? null;
      if (old && old[col] !== undefined && (ch.op === "delete" || (ch.after && valueKey(ch.after[col]) !== valueKey(old[col])))) {
        const k = valueKey(old[col]);
        this.rows.delete(k);
        this.clean.delete(k);
        this.cold?.killJoinRow(this.coldIndex, k);
        if (this.tracking) this.touchedKeys.add(k);
      }
    }
    if ((ch.op === "insert" || ch.op === "update" || ch.op === "read") && ch.after) {
      const v = ch.after[col];
      if (v === null || v === undefined) return false;
      const kept = this.project(ch.after);
      if (prevKept) {
        for (const c of ch.unchangedToast!) {
          if (this.spec.columns && !this.spec.columns.includes(c)) continue;
          if (c in prevKept) kept[c] = prevKept[c];
        }
      }
      const k = valueKey(v);
      // a row that can be spilled again keeps least-recently-used order: a change is a use
      if (this.clean.delete(k) || this.spilling()) this.rows.delete(k);
      this.rows.set(k, kept);
      if (this.tracking) this.touchedKeys.add(k);
      return this.queue.length > 0;
    }
    return false;
  }

  private project(row: Row): Row {
    if (!this.spec.columns) return { ...row };
    const out: Row = {};
    for (const c of this.spec.columns) out[c] = row[c] ?? null;
    return out;
  }

  private merge(row: Row, match: Row | null): Row {
    const out: Row = { ...row };
    const cols = this.spec.columns ?? (match ? Object.keys(match) : (this.relation?.columns.map((c) => c.name) ?? []));
    for (const c of cols) {
      const name = this.spec.prefix + c;
      // with all columns joined, the row's own columns win (its key, usually)
      if (!this.spec.columns && name in row) continue;
      out[name] = match ? (match[c] ?? null) : null;
    }
    return out;
  }

  /** A row of the pipeline's own table: enrich now, or park it until a match or its deadline. */
  accept(rc: RowChange, next: (rc: RowChange) => void): void {
    const id = rc.prevId ?? rc.id;
    if (id !== null && this.waitingIds.has(id)) return this.park(rc, null);
    if (!rc.after) return next(rc);
    const v = rc.after[this.spec.leftColumn];
    if (v === null || v === undefined) return next({ ...rc, after: this.merge(rc.after, null) });
    const k = valueKey(v);
    const m = this.lookup(k, null);
    if (m) return next({ ...rc, after: this.merge(rc.after, m) });
    if (this.spec.waitUs <= 0) {
      this.ctx.count("join_misses");
      return next({ ...rc, after: this.merge(rc.after, null) });
    }
    this.park(rc, k);
  }

  private park(rc: RowChange, key: string | null): void {
    const k = key ?? (rc.after ? valueKey(rc.after[this.spec.leftColumn]) : null);
    // with a key, accept() has just searched the spill file for it; a row queued behind another has not
    this.queue.push({ rc, deadline: rc.commitUs + this.spec.waitUs, key: k, coldRound: key !== null ? this.evictRound : -1 });
    for (const id of ids(rc)) this.waitingIds.set(id, (this.waitingIds.get(id) ?? 0) + 1);
  }

  /**
   * A table of the pipeline's own (`table`, the probe side) was truncated: its rows waiting here
   * are gone with it. Released later (on their match or deadline) they reached the sink after
   * the truncate and brought back rows of an emptied table. Dropped, they are no join misses;
   * rows of the pipeline's other tables keep waiting, and so does anything parked after the
   * truncate (call this where the truncate falls in the transaction). The checkpoint's queue is
   * this one, so a restart does not bring them back either. Returns how many were dropped.
   */
  dropWaiting(table: string): number {
    if (this.queue.length === 0) return 0;
    const keep = this.queue.filter((p) => p.rc.source.table !== table);
    const dropped = this.queue.length - keep.length;
    if (dropped > 0) {
      this.queue = keep;
      this.countWaitingIds();
    }
    return dropped;
  }

  private countWaitingIds(): void {
    this.waitingIds.clear();
    for (const p of this.queue) for (const id of ids(p.rc)) this.waitingIds.set(id, (this.waitingIds.get(id) ?? 0) + 1);
  }

  /** Release what matched or expired by `nowUs`, keeping each source row's order. */
  release(nowUs: number, next: (rc: RowChange) => void): void {
    if (this.queue.length === 0) return;
    const blocked = new Set<RowId>();
    const keep: Pending[] = [];
    for (const p of this.queue) {
      const pid = ids(p.rc);
      if (pid.some((i) => blocked.has(i))) {
        keep.push(p);
        continue;
      }
      let out: RowChange | null = null;
      if (!p.rc.after) out = p.rc;
      else {
        const v = p.rc.after[this.spec.leftColumn];
        const m = v === null || v === undefined ? null : this.lookup(valueKey(v), p);
        if (m || v === null || v === undefined) out = { ...p.rc, after: this.merge(p.rc.after, m ?? null) };
        else if (p.deadline <= nowUs) {
          this.ctx.count("join_misses");
          out = { ...p.rc, after: this.merge(p.rc.after, null) };
        }
      }
      if (out) {
        for (const i of pid) {
          const n = (this.waitingIds.get(i) ?? 1) - 1;
          if (n <= 0) this.waitingIds.delete(i);
          else this.waitingIds.set(i, n);
        }
        next(out);
      } else {
        keep.push(p);
        for (const i of pid) blocked.add(i);
      }
    }
    this.queue = keep;
  }

  private spilling(): boolean {
    return this.cold !== null && this.cold.joinRows > 0;
  }

  /**
   * The joined row for a key: from memory, else (once rows were spilled) from the spill file,
   * kept in memory again as a clean copy. A waiting row searches the file once per eviction round.
   */
  private lookup(k: string, p: Pending | null): Row | undefined {
    let m = this.rows.get(k);
    if (m !== undefined) {
      if (this.cold !== null && this.cold.joinRows > 0) {
        this.rows.delete(k); // most recently used last: eviction takes from the front
        this.rows.set(k, m);
      }
      return m;
    }
    const cold = this.cold;
    if (cold === null || cold.joinRows === 0) return undefined;
    if (p) {
      if (p.coldRound === this.evictRound) return undefined;
      p.coldRound = this.evictRound;
    }
    const data = cold.getJoinRow(this.coldIndex, k);
    if (data === null) return undefined;
    m = decodeRow(decodeState(data))!;
    this.rows.set(k, m);
    this.clean.add(k);
    return m;
  }

  /**
   * Over the state budget: move the `n` least recently used rows to the spill file. A clean copy
   * (read back and unchanged) is only dropped; a changed one replaces the file's and is logged
   * for the next checkpoint as gone from memory.
   */
  evictRows(n: number): number {
    const cold = this.cold;
    if (!cold || n <= 0 || this.rows.size === 0) return 0;
    const keys: string[] = [];
    for (const k of this.rows.keys()) {
      if (keys.length >= n) break;
      keys.push(k);
    }
    const out: [string, string][] = [];
    for (const k of keys) {
      const r = this.rows.get(k)!;
      this.rows.delete(k);
      if (this.clean.delete(k)) continue;
      out.push([k, encodeState(encodeRow(r))]);
      if (this.tracking) this.touchedKeys.add(k);
    }
    if (out.length) cold.putJoinRows(this.coldIndex, out);
    this.evictRound++;
    return keys.length;
  }

  get size(): number {
    return this.rows.size;
  }

  get waiting(): number {
    return this.queue.length;
  }

  snapshot(): unknown {
    return {
      rows: [...this.rows].map(([k, r]) => [k, encodeRow(r)]),
      relation: this.relation,
      queue: this.queue.map((p) => ({
        deadline: p.deadline,
        key: p.key,
        rc: { after: encodeRow(p.rc.after), id: encodeValue(p.rc.id), prevId: encodeValue(p.rc.prevId), commitUs: p.rc.commitUs, source: { ...p.rc.source, before: encodeRow(p.rc.source.before), after: encodeRow(p.rc.source.after), key: encodeRow(p.rc.source.key), afterWire: undefined } },
      })),
    };
  }

  /** The next snapshotDelta() is a full one (the checkpoint store starts a new chain with it). */
  fullNext(): void {
    this.needFull = true;
  }

  /** Incremental checkpoint: full the first time, then only the join rows changed since (plus the small waiting queue). */
  snapshotDelta(): { full: unknown } | { delta: unknown } {
    if (!this.tracking || this.needFull) {
      this.tracking = true;
      this.needFull = false;
      this.touchedKeys.clear();
      return { full: this.snapshot() };
    }
    const full = this.snapshot() as { relation: unknown; queue: unknown };
    const rows = [...this.touchedKeys].map((k) => [k, this.rows.has(k) ? encodeRow(this.rows.get(k)!) : null]);
    this.touchedKeys.clear();
    return { delta: { rows, relation: this.relation, queue: full.queue } };
  }

  applyDelta(delta: unknown): void {
    const d = delta as { rows: [string, unknown][]; relation: Relation | null; queue: unknown[] };
    for (const [k, r] of d.rows) {
      if (r === null) this.rows.delete(k);
      else this.rows.set(k, decodeRow(r)!);
    }
    const rows = this.rows;
    this.restore({ rows: [], relation: d.relation, queue: d.queue });
    this.rows = rows;
  }

  restore(state: unknown): void {
    const s = state as { rows: [string, unknown][]; relation: Relation | null; queue: { deadline: number; key: string | null; rc: any }[] };
    this.rows = new Map(s.rows.map(([k, r]) => [k, decodeRow(r)!]));
    this.clean.clear();
    this.relation = s.relation;
    this.version++;
    this.queue = s.queue.map((p) => ({
      deadline: p.deadline,
      key: p.key,
      coldRound: -1,
      rc: { ...p.rc, id: decodeValue(p.rc.id), prevId: decodeValue(p.rc.prevId), after: decodeRow(p.rc.after), source: { ...p.rc.source, before: decodeRow(p.rc.source.before), after: decodeRow(p.rc.source.after), key: decodeRow(p.rc.source.key) ?? undefined } },
    }));
    this.countWaitingIds();
  }
}

function ids(rc: RowChange): RowId[] {
  const out: RowId[] = [];
  if (rc.prevId !== null) out.push(rc.prevId);
  if (rc.id !== null && rc.id !== rc.prevId) out.push(rc.id);
  return out;
}
