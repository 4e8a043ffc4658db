import type { OutputRecord } from "../sink.ts";
import { qi, toPgText } from "./values.ts";

/**
 * Deletes by a key with a NULL in it. A group_by or window key can be NULL (SQL's GROUP BY makes
 * one group of the NULLs), and such a target is keyed by a UNIQUE NULLS NOT DISTINCT constraint
 * (ddl.ts); `(k) in (...)` never matches a NULL, so these rows get `k is null` instead. They are
 * rare (one NULL group per key), so one statement per row is fine; each still uses the index.
 */
export function hasNullKey(r: OutputRecord, key: string[]): boolean {
  for (const k of key) if (r.row[k] === null || r.row[k] === undefined) return true;
  return false;
}

export function nullKeyDelete(target: string, key: string[], r: OutputRecord): { text: string; params: (string | null)[]; rows: number } {
  const params: (string | null)[] = [];
  const conds = key.map((k) => {
    const v = toPgText(r.row[k]);
    if (v === null) return `${qi(k)} is null`;
    params.push(v);
    return `${qi(k)} = $${params.length}`;
  });
  return { text: `delete from ${target} where ${conds.join(" and ")}`, params, rows: 1 };
}
