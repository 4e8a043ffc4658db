/**
 * Before a slot created by a start that ended before its first checkpoint is dropped and made
 * again (slot-safety.ts), read what it holds since then for the rows that went away: deletes,
 * the old key of a key-changing update, truncates. The new snapshot cannot show them, and
 * the new slot never sends them, yet the first attempt may already have copied those rows into
 * a mirror's sink. Updates come too, each key's last one (its new row): a `where` pipeline
 * deletes a row an update moved out of its filter (QA: up to 3,020 such rows stayed in a filtered
 * target), which the new snapshot cannot do either. They are handed over once, before the new
 * snapshot, as a `cleanup` transaction that mirrors and row-wise pipelines apply (a window or
 * GROUP BY rebuilds its state from the new snapshot and must not see them).
 *
 * pg_logical_slot_peek_binary_changes decodes without moving the slot; the slot is dropped right
 * after. A delete committed between the peek and the new slot (milliseconds) is still missed.
 * The removals are saved in the state dir before the slot is dropped and kept until a checkpoint
 * after their hand-over is stored, so a second crash in between hands them over again.
 */
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import type { Change, Relation, Row } from "../../types.ts";
import { keyChanged, pick } from "../../row-key.ts";
import { DataDecoder, isDataMessage } from "./pgoutput.ts";
import { decodeRow, encodeRow } from "../../dlq/row-codec.ts";
import type { TypeDecoders } from "./type-decoders.ts";

/** Rows read per round trip from the peek. */
const CURSOR_ROWS = 2000;

/**
 * The removals the slot `slot` holds for the captured tables, as changes against the relations
 * the new start loaded (`relations`, by "schema.table"): delete changes keyed by each table's
 * key, and truncates. Tables without a key give no deletes (a mirror cannot address their rows).
 */
export async function gapRemovals(sql: Pg, slot: string, publication: string, relations: Map<string, Relation>, types: TypeDecoders, log: Logger): Promise<Change[]> {
  const started = performance.now();
  // A table without a key is copied whole again, and its rows cannot be addressed one by one:
  // what the earlier start copied goes first (it was copied twice before).
  const keyless = [...relations.values()].filter((r) => !r.columns.some((c) => c.isKey));
  const clear: Change[] = keyless.map((r) => ({ op: "truncate", table: r.table, relation: r, truncate: { cascade: false, restartIdentity: false } }));
  if (clear.length) log.warn({ slot, tables: keyless.map((r) => r.table) }, "tables without a key are copied again whole: what the start that ended early copied of them is cleared first in mirror sinks");
  let found: { changes: Change[]; messages: number };
  try {
    found = await peekRemovals(sql, slot, publication, relations, types);
  } catch (e) {
    // Best effort: without it the start goes on as before (the rows may stay behind).
    log.warn({ slot, err: (e as Error).message }, `cannot read the deletes held by slot ${slot} before recreating it; rows the earlier start copied and that were deleted since may stay in mirror sinks`);
    return clear;
  }
  const updates = found.changes.filter((c) => c.op === "update").length;
  const n = found.changes.length - updates;
  if (n || updates) log.warn({ slot, removals: n, updates, messages: found.messages, ms: Math.round(performance.now() - started) }, `the slot of the start that ended early holds ${n} deletes or truncates${updates ? ` and ${updates} updated rows` : ""}: they are applied before the snapshot is taken again, so rows that start copied (or an update moved out of a filter) do not stay behind`);
  return [...clear, ...found.changes.filter((c) => c.op !== "truncate" || !keyless.includes(c.relation))];
}

async function peekRemovals(sql: Pg, slot: string, publication: string, relations: Map<string, Relation>, types: TypeDecoders): Promise<{ changes: Change[]; messages: number }> {
  const decoder = new DataDecoder(types);
  const changes: (Change | null)[] = [];
  /** key → index in changes of its last change */
  const last = new Map<string, number>();
  const keyNames = new Map<Relation, string[]>();
  let messages = 0;
  const cursor = sql`select data from pg_logical_slot_peek_binary_changes(${slot}, null, null, 'proto_version', '1', 'publication_names', ${publication})`.cursor(CURSOR_ROWS);
  for await (const rows of cursor) {
    for (const { data } of rows as unknown as { data: Buffer }[]) {
      messages++;
      if (!isDataMessage(data[0])) continue;
      const r = decoder.decode(data, false);
      if (r?.kind === "truncate") {
        for (const c of r.changes) {
          const rel = relations.get(c.table);
          if (rel) changes.push({ ...c, relation: rel });
        }
        continue;
      }
      if (r?.kind !== "change") continue;
      const c = r.change;
      const rel = relations.get(c.table);
      const old = c.op === "delete" ? (c.before ?? c.key) : c.op === "update" ? c.before : null;
      if (!rel || (c.op === "delete" && !old)) continue;
      let cols = keyNames.get(rel);
      if (!cols) keyNames.set(rel, (cols = rel.columns.filter((k) => k.isKey).map((k) => k.name)));
      // No key to address the row by: nothing is handed over (the table is copied again whole).
      if (!cols.length) continue;
      const idOf = (k: Row) => c.table + "\u0000" + cols.map((n) => String(k[n])).join("\u0001");
      // Each key's last change wins; a later one takes the earlier one's place.
      const put = (id: string, ch: Change) => {
        const at = last.get(id);
        if (at !== undefined) changes[at] = null;
        last.set(id, changes.length);
        changes.push(ch);
      };
      const key = old ? pick(cols, old) : null;
      const moved = key !== null && !cols.some((k) => key[k] === undefined) && (c.op === "delete" || (c.after !== null && c.after !== undefined && keyChanged(cols, key, c.after)));
      if (moved) put(idOf(key), { op: "delete", table: c.table, relation: rel, key, before: null, after: null });
      if (c.op === "update" && c.after) {
        const newKey = pick(cols, c.after);
        if (cols.some((k) => newKey[k] === undefined)) continue;
        put(idOf(newKey), { op: "update", table: c.table, relation: rel, key: newKey, before: null, after: c.after, ...(c.unchangedToast?.length ? { unchangedToast: c.unchangedToast } : {}) });
      }
    }
  }
  return { changes: changes.filter((c) => c !== null), messages };
}

/** Removals as text for SnapshotState (keys in exact row JSON: bigint digits, bytea base64). */
export function encodeRemovals(changes: Change[]): string {
  return JSON.stringify(
    changes.map((c) =>
      c.op === "truncate"
        ? { table: c.table, truncate: c.truncate ?? null }
        : c.op === "update"
          ? { table: c.table, key: encodeRow(c.key ?? {}), after: encodeRow(c.after ?? {}), ...(c.unchangedToast?.length ? { unchanged: c.unchangedToast } : {}) }
          : { table: c.table, key: encodeRow(c.key ?? {}) },
    ),
  );
}

/** encodeRemovals' text against the relations of this start; tables no longer captured are left out. */
export function decodeRemovals(text: string, relations: Map<string, Relation>): Change[] {
  const out: Change[] = [];
  for (const r of JSON.parse(text) as { table: string; key?: string; after?: string; unchanged?: string[]; truncate?: Change["truncate"] | null }[]) {
    const rel = relations.get(r.table);
    if (!rel) continue;
    if (r.after !== undefined && r.key !== undefined) {
      out.push({ op: "update", table: r.table, relation: rel, key: decodeRow(r.key, rel.columns), before: null, after: decodeRow(r.after, rel.columns), ...(r.unchanged?.length ? { unchangedToast: r.unchanged } : {}) });
    } else if (r.key === undefined) out.push({ op: "truncate", table: r.table, relation: rel, truncate: r.truncate ?? { cascade: false, restartIdentity: false } });
    else out.push({ op: "delete", table: r.table, relation: rel, key: decodeRow(r.key, rel.columns), before: null, after: null });
  }
  return out;
}
