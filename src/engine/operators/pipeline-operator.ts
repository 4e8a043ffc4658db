import type { Change, Relation, Row, Txn } from "../../types.ts";
import type { Emit, Operator, OperatorContext } from "./operator.ts";
import type { LookupJoin } from "./lookup-join.ts";
import { PaneWindows } from "./window/pane-window.ts";
import { SessionWindows } from "./window/session-window.ts";
import type { RowChange, WindowSettings } from "./window/types.ts";
import { CdcError } from "../../errors.ts";
import { layoutTag, sameLayout } from "./state-layout.ts";
import { toRowChange } from "./row-change.ts";
import type { SpillInfo } from "./spill/spill-store.ts";
import { StateKeeper } from "./spill/state-keeper.ts";
import type { PipelinePlan } from "./pipeline-plan.ts";
import { compileShape, type Shape } from "./pipeline-shape.ts";

/**
 * A whole pipeline as one operator: for each change of the pipeline's own tables,
 * lookup joins → where/validate/select → transform → window/aggregate (or straight out as
 * keyed upserts/deletes). Changes of joined tables only update join state.
 * Expressions are compiled per column shape (the source relation and the joined tables'
 * relations), once, when a shape is first seen, so column types drive exact arithmetic.
 */
export class PipelineOperator implements Operator {
  private readonly own: Set<string>;
  private readonly joinByTable = new Map<string, LookupJoin>();
  private shapes = new Map<Relation, Shape>();
  private readonly windows: PaneWindows | SessionWindows | null;
  private emit: Emit = () => {};
  private readonly state: StateKeeper;

  constructor(
    private readonly p: PipelinePlan,
    private readonly ctx: OperatorContext,
  ) {
    this.own = new Set(p.tables);
    for (const j of p.joins) this.joinByTable.set(j.spec.table, j);
    if (p.aggregates) {
      const s = p.window ?? noWindow(p.appendOnly === true);
      this.windows = s.kind === "session" ? new SessionWindows(s, ctx) : new PaneWindows(s, ctx);
    } else this.windows = null;
    this.state = new StateKeeper(p.name, p.stateBudget ?? null, p.stateDir, this.windows, p.joins);
  }

  /** Compile (or reuse) the stages for a source relation and the joined tables' current relations. */
  shapeFor(rel: Relation): Shape {
    if (this.p.joins.length === 0) {
      const hit = this.shapes.get(rel);
      if (hit) return hit;
    }
    const versions = this.p.joins.map((j) => j.shapeVersion);
    const cached = this.shapes.get(rel);
    if (cached && cached.versions.every((v, i) => v === versions[i])) return cached;
    const shape = this.compileShape(rel, versions);
    this.shapes.set(rel, shape);
    if (shape.plan && this.windows) this.windows.setPlan(shape.plan);
    return shape;
  }

  /** The stages for a source relation and the joined tables' relations (given, or their current ones), compiled anew (pipeline-shape.ts). */
  compileShape(rel: Relation | null, versions: number[], joinRelations?: (Relation | null)[]): Shape {
    return compileShape(this.p, rel, versions, joinRelations);
  }

  process(txn: Txn, emit: Emit): void {
    this.emit = emit;
    const commitUs = Number(txn.commitTime);
    let joinsChanged = false;
    const hasJoins = this.joinByTable.size > 0;
    for (const ch of txn.changes) {
      const j = hasJoins ? this.joinByTable.get(ch.table) : undefined;
      if (j) {
        if (j.applyTableChange(ch)) joinsChanged = true;
        if (!this.own.has(ch.table)) continue;
      }
      if (!this.own.has(ch.table)) continue;
      if (ch.op === "truncate") {
        this.truncate(ch, emit);
        continue;
      }
      this.enter(toRowChange(ch, commitUs, this.own.size > 1));
    }
    if (joinsChanged || this.p.joins.length) for (const j of this.p.joins) this.releaseJoin(j, commitUs);
    this.windows?.endTxn(emit);
    this.state.afterTxn();
  }

  onWatermark(wallClockMs: number, emit: Emit): void {
    this.emit = emit;
    for (const j of this.p.joins) this.releaseJoin(j, wallClockMs * 1000);
    this.windows?.onWallClock(wallClockMs, emit);
    this.state.onIdle();
  }

  hasWaiting(): boolean {
    return this.p.joins.some((j) => j.waiting > 0);
  }

  knowRelations(relations: Relation[]): void {
    for (const j of this.p.joins) {
      const rel = relations.find((r) => r.table === j.spec.table);
      if (rel) j.knowRelation(rel);
    }
  }

  /** Sizes of the state, for memory watching (cdc_engine_operator_state_entries): in memory, and moved to disk. */
  stats(): Record<string, number> {
    return this.state.stats();
  }

  /** Close the spill file (the engine's exit closes it too; SQLite's WAL makes either safe). */
  close(): void {
    this.state.close();
  }

  private releaseJoin(j: LookupJoin, nowUs: number): void {
    const idx = this.p.joins.indexOf(j);
    j.release(nowUs, (rc) => this.afterJoin(idx + 1, rc));
  }

  private enter(rc: RowChange): void {
    this.afterJoin(0, rc);
  }

  private afterJoin(i: number, rc: RowChange): void {
    if (i < this.p.joins.length) return this.p.joins[i].accept(rc, (r) => this.afterJoin(i + 1, r));
    this.downstream(rc);
  }

  private downstream(rc: RowChange): void {
    const shape = this.shapeFor(rc.source.relation);
    let out: Row | null = null;
    // An update under REPLICA IDENTITY DEFAULT leaves unchanged TOASTed values (> 2 kB) out of its
    // new row. An output computed from them alone is unchanged too: the sink keeps its value, a
    // window takes it from the row's previous contribution. Read with other columns, it cannot
    // be computed: the change goes to the DLQ and the target keeps the previous version.
    let unchanged: string[] | undefined;
    const toast = rc.source.op === "update" && rc.after ? rc.source.unchangedToast : undefined;
    if (toast?.length) {
      if (shape.stage.identity) unchanged = [...toast];
      else {
        const u = shape.stage.unchangedOutputs(toast);
        if (u.conflict !== null) return this.rejectUnchanged(rc, toast, u.conflict);
        unchanged = u.columns;
      }
    }
    if (rc.after) {
      if (shape.stage.identity) out = rc.after;
      else {
        const r = shape.stage.apply(rc.after);
        if ("rejected" in r) return this.rejectChange(rc, shape, r.rejected);
        if ("row" in r) out = r.row;
      }
      if (out && this.p.transform) {
        try {
          out = checkTransformResult(this.p.transform(out, { op: "upsert", table: rc.source.table, pipeline: this.p.name }));
        } catch (e) {
          return this.rejectChange(rc, shape, `transform failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
    if (this.windows) {
      rc.after = out; // rc is this pipeline's own object
      if (out && unchanged?.length) rc.unchanged = unchanged;
      this.windows.apply(rc);
      return;
    }
    if (out) {
      this.emit({ op: "upsert", row: out, source: rc.source, ...(unchanged?.length ? { unchangedToast: unchanged } : {}) });
      // a key change leaves the old key behind: delete it
      if (rc.prevId !== null && rc.id !== null && rc.prevId !== rc.id) this.emitDelete(rc, shape);
      return;
    }
    // deleted, or no longer passing WHERE: remove the row from the target
    if (rc.source.op === "insert" || rc.source.op === "read") return;
    this.emitDelete(rc, shape);
  }

  /**
   * The new version of a row goes to the DLQ. The version it replaces is no longer the source's
   * either: a window takes its contribution back, a keyed target loses the row (as when an update
   * stops passing `where`), so the target holds exactly the source rows that pass.
   */
  private rejectChange(rc: RowChange, shape: Shape, reason: string): void {
    this.ctx.reject({ row: rc.after!, reason, source: rc.source });
    if (this.windows) this.windows.apply({ ...rc, after: null, id: null });
    else if (rc.source.op === "update") this.emitDelete(rc, shape);
  }

  /** The update needs a TOASTed value the source did not send: to the DLQ; the target and windows keep the previous version. */
  private rejectUnchanged(rc: RowChange, toast: readonly string[], text: string): void {
    const reason = `'${text}' reads ${toast.join(", ")}, unchanged by this update and not sent by the source (TOASTed values under REPLICA IDENTITY DEFAULT): set REPLICA IDENTITY FULL on ${rc.source.table}`;
    this.ctx.reject({ row: rc.after!, reason, source: rc.source });
  }

  private emitDelete(rc: RowChange, shape: Shape): void {
    const ch = rc.source;
    const before = ch.op === "delete" ? (ch.before ?? ch.key ?? null) : (ch.before ?? ch.key ?? ch.after ?? null);
    if (!before) return;
    let row: Row | null = shape.stage.projectOnly(before);
    if (this.p.transform && row) {
      try {
        row = checkTransformResult(this.p.transform(row, { op: "delete", table: ch.table, pipeline: this.p.name }));
      } catch {
        /* the key columns are what matter for a delete */
      }
    }
    if (row) this.emit({ op: "delete", row, source: ch });
  }

  private truncate(ch: Change, emit: Emit): void {
    // Rows of the emptied table that wait for a joined row go too: let out later, they reached
    // the sink after its truncate (lookup-join.ts dropWaiting).
    for (const j of this.p.joins) j.dropWaiting(ch.table);
    if (this.windows) this.windows.truncate(emit);
    else emit({ op: "truncate", row: {}, source: ch });
  }

  /** The state in memory, whole. Rows spilled to disk are not in it: only snapshotDelta() is a checkpoint then. */
  snapshot(): unknown {
    const spilled = this.state.spill ? this.state.spill.contribs + this.state.spill.joinRows : 0;
    return { v: 1, joins: this.p.joins.map((j) => j.snapshot()), windows: this.windows?.snapshot() ?? null, ...(spilled ? { spilled } : {}), ...this.shapeTag() };
  }

  private shapeTag(): { aggs?: string } {
    return layoutTag(this.p);
  }

  /**
   * Incremental checkpoint: each part (join tables, windows) is either {full} or {delta}.
   * Restore by calling restore() with the last full snapshot or delta chain in order.
   */
  snapshotDelta(): unknown {
    const joins = this.p.joins.map((j) => j.snapshotDelta());
    const windows = this.windows?.snapshotDelta() ?? null;
    // the spill file's epoch of this cut: what it holds now is made durable before the checkpoint commits
    return { v: 1, inc: true, joins, windows, spill: this.state.seal(), ...this.shapeTag() };
  }

  /** The next snapshotDelta() is full in every part: a chain of deltas may start over from it. */
  fullNext(): void {
    for (const j of this.p.joins) j.fullNext();
    this.windows?.fullNext();
  }

  restore(state: unknown): void {
    const inc = state as { inc?: boolean; joins: ({ full?: unknown; delta?: unknown })[]; windows: { full?: unknown; delta?: unknown } | null; spill?: SpillInfo | null; spilled?: number; aggs?: string };
    const now = this.shapeTag().aggs;
    if (inc.aggs !== undefined && now !== undefined && !sameLayout(inc.aggs, now)) {
      throw new CdcError("state_config_mismatch", `pipeline '${this.p.name}': its aggregates, group key or window changed since the checkpoint (was ${inc.aggs}; now ${now}): the stored state cannot be carried over. Put the config back, or run it as a new pipeline (another name), or start over with serve --resnapshot`, { kind: "usage", component: "state" });
    }
    if (inc.spilled) throw new CdcError("state_spill_mismatch", `pipeline '${this.p.name}': a whole snapshot() does not hold the ${inc.spilled} entries spilled to disk; restore from the checkpoint chain (snapshotDelta)`, { component: "state" });
    // each link of a chain names the spill file's epoch; the last one wins, applied on first use
    this.state.restoreFrom(inc.spill);
    if (inc.inc) {
      this.p.joins.forEach((j, i) => {
        const part = inc.joins[i];
        if (part?.full !== undefined) j.restore(part.full);
        else if (part?.delta !== undefined) j.applyDelta(part.delta);
      });
      if (this.windows && inc.windows) {
        if (!this.windows.hasPlan()) this.windows.setPlan(this.compileShape(null, this.p.joins.map(() => 0)).plan!);
        if (inc.windows.full !== undefined) this.windows.restore(inc.windows.full);
        else this.windows.applyDelta(inc.windows.delta);
      }
      return;
    }
    const s = state as { joins: unknown[]; windows: unknown };
    this.p.joins.forEach((j, i) => s.joins[i] && j.restore(s.joins[i]));
    if (this.windows && s.windows) {
      if (!this.windows.hasPlan()) this.windows.setPlan(this.compileShape(null, this.p.joins.map(() => 0)).plan!);
      this.windows.restore(s.windows);
    }
  }
}

/** A transform module's answer: a row object, or null/undefined to drop the row. */
function checkTransformResult(out: unknown): Row | null {
  if (out === null || out === undefined) return null;
  if (typeof out !== "object" || Array.isArray(out) || out instanceof Uint8Array) throw new Error(`transform must return a row object or null, not ${Array.isArray(out) ? "an array" : typeof out}`);
  if (typeof (out as { then?: unknown }).then === "function") throw new Error("transform returned a Promise: it must be synchronous (not async)");
  return out as Row;
}

function noWindow(appendOnly = false): WindowSettings {
  return { kind: "none", sizeUs: 1, slideUs: 1, gapUs: 0, latenessUs: 0, late: "update", emit: "change", retentionUs: 0, idleTimeoutMs: 0, timeKind: "timestamptz", appendOnly };
}
