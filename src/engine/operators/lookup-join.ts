import type { Change, Relation, Row } from "../../types.ts";
import type { OperatorContext } from "./operator.ts";
import type { RowChange, RowId } from "./window/types.ts";
import { valueKey } from "../../expr/values.ts";
import type { SpillStore } from "./spill/spill-store.ts";
import { evictJoinRows, lookupRow } from "./join-spill.ts";
import { applyDeltaTo, restoreTo, snapshotDeltaOf, snapshotOf } from "./join-state.ts";

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

export interface Pending {
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
  // The state is public for the helpers in join-spill.ts and join-state.ts (functions taking this
  // instance, no object between on the per-row path); nothing else touches it.
  rows = new Map<string, Row>();
  relation: Relation | null = null;
  queue: Pending[] = [];
  /** source row id → pending items for it */
  private waitingIds = new Map<RowId, number>();
  version = 0;
  tracking = false;
  needFull = false;
  touchedKeys = new Set<string>();
  /** rows moved to disk when over the state budget (null: never spills), and this join's index there */
  cold: SpillStore | null = null;
  coldIndex = 0;
  /** rows read back from disk and unchanged since: the file's copy is still theirs */
  clean = new Set<string>();
  evictRound = 0;

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
      if (from !== undefined && from !== null) prevKept = lookupRow(this, valueKey(from), null);
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
    const m = lookupRow(this, k, null);
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

  countWaitingIds(): void {
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
        const m = v === null || v === undefined ? null : lookupRow(this, valueKey(v), p);
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

  /** Over the state budget: move the `n` least recently used rows to the spill file (join-spill.ts). */
  evictRows(n: number): number {
    return evictJoinRows(this, n);
  }

  get size(): number {
    return this.rows.size;
  }

  get waiting(): number {
    return this.queue.length;
  }

  // checkpoints: join-state.ts
  snapshot(): unknown {
    return snapshotOf(this);
  }

  /** The next snapshotDelta() is a full one (the checkpoint store starts a new chain with it). */
  fullNext(): void {
    this.needFull = true;
  }

  /** Incremental checkpoint: full the first time, then only the join rows changed since (plus the small waiting queue). */
  snapshotDelta(): { full: unknown } | { delta: unknown } {
    return snapshotDeltaOf(this);
  }

  applyDelta(delta: unknown): void {
    applyDeltaTo(this, delta);
  }

  restore(state: unknown): void {
    restoreTo(this, state);
  }
}

function ids(rc: RowChange): RowId[] {
  const out: RowId[] = [];
  if (rc.prevId !== null) out.push(rc.prevId);
  if (rc.id !== null && rc.id !== rc.prevId) out.push(rc.id);
  return out;
}
