import type { OutputRecord } from "../sink.ts";
import type { RedisTarget } from "./config.ts";

/**
 * Which records of one batch still change a hash or string key, given the records after them.
 * A GROUP BY upserts its group's whole row after every source transaction (content_stats: the
 * hot items of the leaderboard in nearly every one), so a batch of 100 ms held thousands of
 * writes of the same few hundred keys, each an HSET of every field and a PEXPIRE; only the last
 * one decides what Redis ends with. A record is dropped when a later record of the same key makes
 * its commands irrelevant:
 *  - string: any later SET or DEL (both replace the whole value, and a SET resets the TTL), except
 *    a SET with unchanged-TOAST columns, which takes them from the value before it (toast-merge.ts);
 *  - hash: a later DEL, or a later upsert of the same fields without unchanged-TOAST columns
 *    (HSET of every non-NULL field and HDEL of every NULL one: the fields end as that record says
 *    whatever came before; an earlier DEL is kept, since it also removed fields outside them;
 *    an earlier upsert with unchanged TOAST columns writes a part of those fields: dropped).
 * Sorted sets and streams are left as they are (members and entries accumulate, and a replaced
 * leaderboard's order matters). A truncate is never dropped nor drops anything: it goes to the DLQ.
 * A dropped record whose command Redis would have refused (WRONGTYPE) is not dead-lettered: the
 * kept record of the same key is, with the same error, and it is the one that holds the value.
 *
 * `keyOf` renders the record's key (it may throw for the record: such records are kept, so the
 * caller sees the error). Returns the kept records in their order.
 */
export function lastWrites(records: readonly OutputRecord[], t: RedisTarget, keyOf: (r: OutputRecord) => string | null): OutputRecord[] {
  if (records.length < 2 || (t.type !== "hash" && t.type !== "string")) return records as OutputRecord[];
  /** per key, what the later records already decide: every field and the TTL ("all"), or these fields */
  const decided = new Map<string, "all" | readonly string[]>();
  const keep: boolean[] = new Array(records.length);
  let dropped = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    keep[i] = true;
    if (r.op === "truncate") continue;
    const key = keyOf(r);
    if (key === null) continue;
    const later = decided.get(key);
    if (later === "all") {
      keep[i] = false;
      dropped++;
      continue;
    }
    if (r.op === "delete" || (t.type === "string" && !r.unchangedToast?.length)) {
      decided.set(key, "all");
      continue;
    }
    // a string SET with unchanged TOAST columns takes them from the value before it: decides nothing
    if (t.type === "string") continue;
    const fields = t.fields ?? fieldsOf(r.table);
    if (later !== undefined && sameFields(later, fields)) {
      keep[i] = false; // writes (a part of) the fields a later record writes
      dropped++;
      continue;
    }
    // with unchanged TOAST columns it leaves some fields as they were: decides nothing
    if (later === undefined && !r.unchangedToast?.length) decided.set(key, fields);
  }
  return dropped === 0 ? (records as OutputRecord[]) : records.filter((_r, i) => keep[i]);
}

const names = new WeakMap<OutputRecord["table"], string[]>();
/** The output table's column names, once per table object (records of a batch share it). */
function fieldsOf(table: OutputRecord["table"]): string[] {
  let n = names.get(table);
  if (!n) names.set(table, (n = table.columns.map((c) => c.name)));
  return n;
}

function sameFields(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
