import type { Relation } from "../../types.ts";
import { decodeValue, encodeValue } from "../../expr/values.ts";
import { decodeRow, encodeRow } from "./row-codec.ts";
import type { LookupJoin } from "./lookup-join.ts";

// A lookup join's checkpoints, whole and incremental, and their restore (moved out of
// lookup-join.ts, as pane-state.ts is for pane windows).

/** The whole state: the joined rows in memory, the relation and the waiting queue. */
export function snapshotOf(j: LookupJoin): unknown {
  return {
    rows: [...j.rows].map(([k, r]) => [k, encodeRow(r)]),
    relation: j.relation,
    queue: j.queue.map((p) => ({
      deadline: p.deadline,
      key: p.key,
      rc: { after: encodeRow(p.rc.after), id: encodeValue(p.rc.id), prevId: encodeValue(p.rc.prevId), commitUs: p.rc.commitUs, source: { ...p.rc.source, before: encodeRow(p.rc.source.before), after: encodeRow(p.rc.source.after), key: encodeRow(p.rc.source.key), afterWire: undefined } },
    })),
  };
}

/** Incremental checkpoint: full the first time, then only the join rows changed since (plus the small waiting queue). */
export function snapshotDeltaOf(j: LookupJoin): { full: unknown } | { delta: unknown } {
  if (!j.tracking || j.needFull) {
    j.tracking = true;
    j.needFull = false;
    j.touchedKeys.clear();
    return { full: j.snapshot() };
  }
  const full = j.snapshot() as { relation: unknown; queue: unknown };
  const rows = [...j.touchedKeys].map((k) => [k, j.rows.has(k) ? encodeRow(j.rows.get(k)!) : null]);
  j.touchedKeys.clear();
  return { delta: { rows, relation: j.relation, queue: full.queue } };
}

/** Apply one snapshotDeltaOf() delta: the rows changed, then the relation and queue whole. */
export function applyDeltaTo(j: LookupJoin, delta: unknown): void {
  const d = delta as { rows: [string, unknown][]; relation: Relation | null; queue: unknown[] };
  for (const [k, r] of d.rows) {
    if (r === null) j.rows.delete(k);
    else j.rows.set(k, decodeRow(r)!);
  }
  const rows = j.rows;
  j.restore({ rows: [], relation: d.relation, queue: d.queue });
  j.rows = rows;
}

export function restoreTo(j: LookupJoin, state: unknown): void {
  const s = state as { rows: [string, unknown][]; relation: Relation | null; queue: { deadline: number; key: string | null; rc: any }[] };
  j.rows = new Map(s.rows.map(([k, r]) => [k, decodeRow(r)!]));
  j.clean.clear();
  j.relation = s.relation;
  j.version++;
  j.queue = s.queue.map((p) => ({
    deadline: p.deadline,
    key: p.key,
    coldRound: -1,
    rc: { ...p.rc, id: decodeValue(p.rc.id), prevId: decodeValue(p.rc.prevId), after: decodeRow(p.rc.after), source: { ...p.rc.source, before: decodeRow(p.rc.source.before), after: decodeRow(p.rc.source.after), key: decodeRow(p.rc.source.key) ?? undefined } },
  }));
  j.countWaitingIds();
}
