import { decodeValue } from "../../../expr/values.ts";
import { cellText, encodeCell, stateToJson, unwrapState } from "./state-json.ts";
import type { RowId } from "./types.ts";

export interface SessionEv {
  t: number;
  vals: unknown[];
  ws: unknown[];
}
export interface SessionGroup {
  keys: unknown[];
  events: Map<RowId, SessionEv>;
  /** "start|end" → signature of what the sink holds */
  emitted: Map<string, string>;
}
export interface SessionState {
  groups: Map<string, SessionGroup>;
  where: Map<RowId, string>;
  pending: Set<string>;
}

/**
 * What changed in session-window state since the previous incremental checkpoint: events added
 * (logged as JSON text when they arrive, as pane windows do) and taken back, in order; the groups
 * created, dropped or whose emitted sessions changed (only those sessions); pending-set changes.
 * A one-row change gives a delta of a few hundred bytes whatever the number of keys and events.
 */
export class SessionLog {
  private rows: string[] = [];
  /** group key → emitted session keys changed (a new group is listed with none, for its key values) */
  private groups = new Map<string, Set<string>>();
  private pending = new Set<string>();

  added(id: RowId, gk: string, e: SessionEv): void {
    let vals = "";
    for (let i = 0; i < e.vals.length; i++) vals += (i ? "," : "") + cellText(e.vals[i]);
    let ws = "";
    for (let i = 0; i < e.ws.length; i++) ws += (i ? "," : "") + cellText(e.ws[i]);
    this.rows.push(`[${cellText(id)},${JSON.stringify(gk)},${e.t},[${vals}],[${ws}]]`);
  }
  removed(id: RowId): void {
    this.rows.push(`[${cellText(id)}]`);
  }
  group(gk: string): void {
    if (!this.groups.has(gk)) this.groups.set(gk, new Set());
  }
  emitted(gk: string, sessionKey: string): void {
    let s = this.groups.get(gk);
    if (!s) this.groups.set(gk, (s = new Set()));
    s.add(sessionKey);
  }
  pendingChanged(gk: string): void {
    this.pending.add(gk);
  }
  clear(): void {
    this.rows = [];
    this.groups.clear();
    this.pending.clear();
  }

  /** The delta as JSON text; clears the log. */
  take(wm: number | null, max: number | null, st: SessionState): string {
    const groups = [...this.groups].map(([gk, keys]) => {
      const g = st.groups.get(gk);
      if (!g) return [gk, null, []];
      return [gk, g.keys.map(encodeCell), [...keys].map((k) => [k, g.emitted.get(k) ?? null])];
    });
    const pending = [...this.pending].map((gk) => [gk, st.pending.has(gk) ? 1 : 0]);
    const head = stateToJson({ v: 1, kind: "session", wm, max, groups, pending });
    const json = `${head.slice(0, -1)},"rows":[${this.rows.join(",")}]}`;
    this.clear();
    return json;
  }
}

/** Apply one delta (SessionLog.take) to restored state: groups, then the row log in order, then drops. */
export function applySessionDelta(delta: unknown, st: SessionState): { wm: number | null; max: number | null } {
  const d = unwrapState(delta) as { wm: number | null; max: number | null; groups: [string, unknown[] | null, [string, string | null][]][]; pending: [string, number][]; rows: [unknown, string?, number?, unknown[]?, unknown[]?][] };
  const gone: string[] = [];
  const group = (gk: string) => {
    let g = st.groups.get(gk);
    if (!g) st.groups.set(gk, (g = { keys: [], events: new Map(), emitted: new Map() }));
    return g;
  };
  for (const [gk, keys, emitted] of d.groups) {
    if (keys === null) {
      gone.push(gk);
      continue;
    }
    const g = group(gk);
    g.keys = keys.map(decodeValue);
    for (const [k, sig] of emitted) {
      if (sig === null) g.emitted.delete(k);
      else g.emitted.set(k, sig);
    }
  }
  for (const r of d.rows) {
    const id = decodeValue(r[0]) as RowId;
    if (r.length === 1) {
      const gk = st.where.get(id);
      if (gk !== undefined) {
        st.where.delete(id);
        st.groups.get(gk)?.events.delete(id);
      }
      continue;
    }
    const gk = r[1]!;
    group(gk).events.set(id, { t: r[2]!, vals: r[3]!.map(decodeValue), ws: r[4]!.map(decodeValue) });
    st.where.set(id, gk);
  }
  for (const gk of gone) {
    const g = st.groups.get(gk);
    if (g) for (const id of g.events.keys()) st.where.delete(id);
    st.groups.delete(gk);
  }
  for (const [gk, on] of d.pending) {
    if (on) st.pending.add(gk);
    else st.pending.delete(gk);
  }
  return { wm: d.wm, max: d.max };
}
