import type { Change, Relation, Row } from "../../types.ts";
import type { RowChange, RowId } from "./window/types.ts";
import { encodeRow } from "./row-codec.ts";

/**
 * A source change as the operators see it: the new row and the identities of the row before and
 * after (its key, or its whole content for a table without one), which joins and windows key by.
 */

const KEY_COLS = new WeakMap<Relation, { name: string }[]>();

function keyColumns(rel: Relation): { name: string }[] {
  let keys = KEY_COLS.get(rel);
  if (!keys) KEY_COLS.set(rel, (keys = rel.columns.filter((c) => c.isKey)));
  return keys;
}

/** A row's identity: its key (`keys`, the relation's key columns), or its whole content for a keyless table. */
function rowIdentity(keys: { name: string }[], row: Row | null | undefined): RowId | null {
  if (!row) return null;
  if (keys.length === 0) return JSON.stringify(encodeRow(row));
  if (keys.length === 1) {
    const v = row[keys[0].name];
    if (v === undefined || v === null) return null;
    // integer keys stay numbers: map keys without building a string per row
    if (typeof v === "number" && Number.isSafeInteger(v)) return v;
    if (typeof v === "bigint") return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
    return String(v);
  }
  const parts: string[] = [];
  for (const k of keys) {
    const v = row[k.name];
    if (v === undefined) return null;
    parts.push(typeof v === "bigint" ? v.toString() : String(v));
  }
  return parts.join("\u0001");
}

/** `multiTable`: the pipeline reads several tables, so identities carry the table name. */
export function toRowChange(ch: Change, commitUs: number, multiTable = false): RowChange {
  // The relation's key columns, looked up once per change (not once per identity taken).
  const keys = keyColumns(ch.relation);
  const after = ch.op === "delete" ? null : (ch.after ?? null);
  const id = after ? rowIdentity(keys, after) : null;
  let prevId: RowId | null = null;
  if (ch.op === "update" || ch.op === "delete") prevId = rowIdentity(keys, ch.before ?? null) ?? rowIdentity(keys, ch.key ?? null) ?? (ch.op === "update" ? id : null);
  const keyed = keys.length > 0;
  if (!multiTable) return { after, id, prevId, keyed, commitUs, source: ch };
  const table = ch.table + "\u0002";
  return { after, id: id === null ? null : table + String(id), prevId: prevId === null ? null : table + String(prevId), keyed, commitUs, source: ch };
}
