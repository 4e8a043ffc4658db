import type { Row } from "../../../types.ts";
import { aggregateFailure } from "./row-failure.ts";
import { formatTimestamp } from "../../../expr/time.ts";
import { EvalError, toDec, valueKey } from "../../../expr/values.ts";
import { cellText } from "./state-json.ts";
import { accAdd, newAcc } from "./aggregates.ts";
import type { RowChange, RowId } from "./types.ts";
import { admitLate } from "./late-rows.ts";
import { Contribution, type Group, NO_WEIGHTS } from "./pane-types.ts";
import { rowText, takeCold } from "./pane-contribs.ts";
import { markDirty } from "./pane-dirty.ts";
import { RetractOverflow, overflowReason } from "./sum-overflow.ts";
import type { UnchangedParts } from "./unchanged-parts.ts";
import type { PaneWindows } from "./pane-window.ts";

// A source row's contribution added to its group's pane, and taken back: the per-row work of
// pane windows (pane-window.ts decides what a change does). Functions taking the instance, as
// the other pane-*.ts helpers: no object between on the per-row path.

const SEP = "\u0001";

/** Adds a row's contribution to its group's pane; a row error, a NULL or infinite time, a late or overflowing row goes to the DLQ instead. */
export function addRow(w: PaneWindows, id: RowId, row: Row, commitUs: number, c: RowChange, prev?: { parts: UnchangedParts; old: Contribution }): void {
  const plan = w.plan;
  const keys = plan.keys;
  const aggs = plan.aggs;
  const single = w.single;
  const vals = single >= 0 ? null : new Array(aggs.length);
  const ws = w.weighted ? new Array(aggs.length) : NO_WEIGHTS;
  let one: unknown = null;
  let tv: unknown = 0;
  let kv: unknown = null;
  let kvs: unknown[] | null = null;
  // Everything is evaluated before any state changes: a row error (division by zero, a bad
  // cast, a NaN numeric) sends the row to the DLQ and the pipeline goes on.
  try {
    if (w.s.kind !== "none") tv = plan.time ? plan.time.fn(row) : commitUs;
    if (keys.length === 1) kv = prev?.parts.keys.has(0) ? prev.old.g.keys[0] : keys[0].fn.fn(row);
    else kvs = keys.map((k, i) => (prev?.parts.keys.has(i) ? prev.old.g.keys[i] : k.fn.fn(row)));
    for (let i = 0; i < aggs.length; i++) {
      const a = aggs[i];
      let v = prev?.parts.args.has(i) ? (single >= 0 ? prev.old.v : (prev.old.v as unknown[])[i]) : a.arg ? a.arg.fn(row) : null;
      // text into SUM/AVG, a TOP_K weight: converted here, so adding them below cannot fail
      if (typeof v === "string" && (a.kind === "sum" || a.kind === "avg")) v = toDec(v);
      if (vals) vals[i] = v;
      else if (i === single) one = v;
      if (a.weight && prev?.parts.weights.has(i)) ws[i] = prev.old.ws[i] ?? null;
      else if (a.weight) {
        const weight = a.weight.fn(row);
        ws[i] = weight === null || weight === undefined ? null : toDec(weight);
      }
    }
  } catch (e) {
    if (!(e instanceof EvalError)) throw e;
    w.ctx.reject({ row, reason: aggregateFailure(plan, row, e), source: c.source });
    return;
  }
  let t = 0;
  if (w.s.kind !== "none") {
    if (tv === null || tv === undefined) {
      w.ctx.reject({ row, reason: "window time column is NULL", source: c.source });
      return;
    }
    t = tv as number;
    if (!Number.isFinite(t)) {
      // an infinite event time would move the watermark to the end of time and close everything
      w.ctx.reject({ row, reason: `window time is ${formatTimestamp(t, true)}`, source: c.source });
      return;
    }
    if (t > w.maxEventUs) w.maxEventUs = t;
    w.idle.event();
    if (t < w.watermarkUs && !admitLate(t, w.watermarkUs, w.s, w.ctx, row, c.source)) return;
  }
  const ps = w.s.kind === "none" ? 0 : Math.floor(t / w.paneUs) * w.paneUs;
  if (ps + w.paneUs <= w.purgedBelowUs) {
    w.ctx.reject({ row, reason: `late row: its window's state was dropped after retention (event time ${formatTimestamp(t, true)})`, source: c.source });
    return;
  }
  let g: Group | undefined;
  if (kvs === null) {
    const v = kv;
    const mk = typeof v === "number" ? v : valueKey(v);
    g = w.groups.get(mk);
    if (!g) w.groups.set(mk, (g = { gk: valueKey(v), mk, keys: [v], panes: new Map(), emitted: new Set(), markPs: NaN, markEpoch: -1 }));
  } else {
    const gk = kvs.map(valueKey).join(SEP);
    g = w.groups.get(gk);
    if (!g) w.groups.set(gk, (g = { gk, mk: gk, keys: kvs, panes: new Map(), emitted: new Set(), markPs: NaN, markEpoch: -1 }));
  }
  let pane = g.panes.get(ps);
  // a pane that exists may overflow a float sum; a new one holds this row alone, which cannot
  const over = pane && w.floatSums ? w.floatSums.overflowing(pane.accs, vals, single, one, 1) : null;
  if (over) {
    w.ctx.reject({ row, reason: overflowReason(over, "add", w.s.kind === "none" ? "group" : "window"), source: c.source });
    return;
  }
  if (!pane) {
    pane = { rows: 0, accs: plan.aggs.map((a) => newAcc(a, w.s.appendOnly === true)) };
    g.panes.set(ps, pane);
    w.paneCount++;
  }
  pane.rows++;
  for (let i = 0; i < aggs.length; i++) {
    const a = aggs[i];
    const v = vals ? vals[i] : i === single ? one : null;
    if (a.weight) accAdd(a, pane.accs[i], v, 1, ws[i]);
    else accAdd(a, pane.accs[i], v, 1);
  }
  if (w.s.appendOnly) {
    if (w.tracking) w.touchPane(g, ps);
  } else {
    const added = new Contribution(g, ps, vals ?? one, ws);
    w.contrib.set(id, added);
    if (w.tracking) {
      w.rowLog.push(rowText(w, id, added));
      w.touchPane(g, ps);
    }
  }
  markDirty(w, g, ps);
}

/** Takes a row's contribution back; a RetractOverflow (nothing changed) when that would overflow a float sum. */
export function retractRow(w: PaneWindows, id: RowId): Contribution | undefined {
  let old = w.contrib.get(id);
  const warm = old !== undefined;
  if (!old && w.cold !== null && w.cold.contribs > 0) {
    // not in memory: moved to disk (or never kept); only an update or delete gets here
    old = takeCold(w, id);
  }
  if (!old) return undefined;
  const held = w.floatSums ? old.g.panes.get(old.ps) : undefined;
  const over = held ? w.floatSums!.overflowing(held.accs, w.single >= 0 ? null : (old.v as unknown[]), w.single, old.v, -1) : null;
  if (over) {
    if (!warm) {
      // read back from disk (and removed there): it stays, now in memory
      w.contrib.set(id, old);
      if (w.tracking) w.rowLog.push(rowText(w, id, old));
    }
    throw new RetractOverflow(overflowReason(over, "retract", w.s.kind === "none" ? "group" : "window"));
  }
  if (warm) w.contrib.delete(id);
  if (w.tracking) {
    w.rowLog.push(`[${cellText(id)}]`);
    w.touchPane(old.g, old.ps);
  }
  const pane = old.g.panes.get(old.ps);
  if (!pane) return; // purged: its windows are final at the sink
  pane.rows--;
  const aggs = w.plan.aggs;
  const vals = w.single >= 0 ? null : (old.v as unknown[]);
  for (let i = 0; i < aggs.length; i++) accAdd(aggs[i], pane.accs[i], vals ? vals[i] : i === w.single ? old.v : null, -1, old.ws[i] ?? null);
  if (pane.rows === 0) {
    old.g.panes.delete(old.ps);
    w.paneCount--;
  }
  markDirty(w, old.g, old.ps);
  return old;
}
