import type { Row } from "../../types.ts";
import { decodeRow, encodeRow } from "./row-codec.ts";
import { decodeState, encodeState } from "../state-codec.ts";
import type { LookupJoin, Pending } from "./lookup-join.ts";

// A lookup join's rows over the state budget: the least recently used move to the spill file,
// and a lookup reads them back (moved out of lookup-join.ts; functions taking the instance, so a
// lookup per row has no object between, as pane windows' helpers).

/**
 * The joined row for a key: from memory, else (once rows were spilled) from the spill file,
 * kept in memory again as a clean copy. A waiting row searches the file once per eviction round.
 */
export function lookupRow(j: LookupJoin, k: string, p: Pending | null): Row | undefined {
  let m = j.rows.get(k);
  if (m !== undefined) {
    if (j.cold !== null && j.cold.joinRows > 0) {
      j.rows.delete(k); // most recently used last: eviction takes from the front
      j.rows.set(k, m);
    }
    return m;
  }
  const cold = j.cold;
  if (cold === null || cold.joinRows === 0) return undefined;
  if (p) {
    if (p.coldRound === j.evictRound) return undefined;
    p.coldRound = j.evictRound;
  }
  const data = cold.getJoinRow(j.coldIndex, k);
  if (data === null) return undefined;
  m = decodeRow(decodeState(data))!;
  j.rows.set(k, m);
  j.clean.add(k);
  return m;
}

/**
 * Over the state budget: move the `n` least recently used rows to the spill file. A clean copy
 * (read back and unchanged) is only dropped; a changed one replaces the file's and is logged
 * for the next checkpoint as gone from memory.
 */
export function evictJoinRows(j: LookupJoin, n: number): number {
  const cold = j.cold;
  if (!cold || n <= 0 || j.rows.size === 0) return 0;
  const keys: string[] = [];
  for (const k of j.rows.keys()) {
    if (keys.length >= n) break;
    keys.push(k);
  }
  const out: [string, string][] = [];
  for (const k of keys) {
    const r = j.rows.get(k)!;
    j.rows.delete(k);
    if (j.clean.delete(k)) continue;
    out.push([k, encodeState(encodeRow(r))]);
    if (j.tracking) j.touchedKeys.add(k);
  }
  if (out.length) cold.putJoinRows(j.coldIndex, out);
  j.evictRound++;
  return keys.length;
}
