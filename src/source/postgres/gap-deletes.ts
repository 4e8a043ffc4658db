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
import { clearingTruncate, formatLsn, parseLsn, type Change, type Lsn, type Relation, type Row } from "../../types.ts";
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
export async function gapRemovals(sql: Pg, slot: string, publication: string, relations: Map<string, Relation>, types: TypeDecoders, log: Logger, into = new GapChanges()): Promise<Change[]> {
  const started = performance.now();
  const keyless = keylessOf(relations);
  if (keyless.length) log.warn({ slot, tables: keyless.map((r) => r.table) }, "tables without a key are copied again whole: what the start that ended early copied of them is cleared first in mirror sinks");
  try {
    await peekRemovals(sql, slot, publication, relations, types, into);
  } catch (e) {
    // Best effort: without it the start goes on as before (the rows may stay behind).
    log.warn({ slot, err: (e as Error).message }, `cannot read the deletes held by slot ${slot} before recreating it; rows the earlier start copied and that were deleted since may stay in mirror sinks`);
    return handOver(relations, new GapChanges());
  }
  const all = into.changes();
  const updates = all.filter((c) => c.op === "update").length;
  const n = all.length - updates;
  if (n || updates) log.warn({ slot, removals: n, updates, messages: into.messages, ms: Math.round(performance.now() - started) }, `the slot of the start that ended early holds ${n} deletes or truncates${updates ? ` and ${updates} updated rows` : ""}: they are applied before the snapshot is taken again, so rows that start copied (or an update moved out of a filter) do not stay behind`);
  return handOver(relations, into);
}

const keylessOf = (relations: Map<string, Relation>) => [...relations.values()].filter((r) => !r.columns.some((c) => c.isKey));

/**
 * What is handed over: a table without a key is copied whole again, and its rows cannot be
 * addressed one by one, so what the earlier start copied goes first (it was copied twice before);
 * then each keyed row's last change.
 */
export function handOver(relations: Map<string, Relation>, gap: GapChanges): Change[] {
  const keyless = keylessOf(relations);
  const clear = keyless.map(clearingTruncate);
  return [...clear, ...gap.changes().filter((c) => c.op !== "truncate" || !keyless.includes(c.relation))];
}

/**
 * Each key's last change (a later one takes an earlier one's place), truncates in order, and the
 * commit (as the peek reports it) of the last transaction taken: a second read, of the temporary
 * slot made before the first (GapWatch), takes only the transactions after it.
 */
export class GapChanges {
  private readonly list: (Change | null)[] = [];
  private readonly last = new Map<string, number>();
  lastCommit: Lsn | null = null;
  messages = 0;

  put(id: string | null, ch: Change): void {
    if (id !== null) {
      const at = this.last.get(id);
      if (at !== undefined) this.list[at] = null;
      this.last.set(id, this.list.length);
    }
    this.list.push(ch);
  }

  changes(): Change[] {
    return this.list.filter((c) => c !== null);
  }
}

async function peekRemovals(sql: Pg, slot: string, publication: string, relations: Map<string, Relation>, types: TypeDecoders, into = new GapChanges(), upto: Lsn | null = null): Promise<GapChanges> {
  const decoder = new DataDecoder(types);
  const keyNames = new Map<Relation, string[]>();
  const after = into.lastCommit;
  let txn: [string | null, Change][] = [];
  const cursor = sql`select lsn::text as lsn, data from pg_logical_slot_peek_binary_changes(${slot}, ${upto === null ? null : formatLsn(upto)}::pg_lsn, null, 'proto_version', '1', 'publication_names', ${publication})`.cursor(CURSOR_ROWS);
  for await (const rows of cursor) {
    for (const { lsn, data } of rows as unknown as { lsn: string; data: Buffer }[]) {
      into.messages++;
      if (data[0] === 0x42) txn = []; // Begin
      if (data[0] === 0x43) {
        // Commit: the transaction's changes are taken, unless the first read had it already
        const at = parseLsn(lsn);
        if (after === null || at > after) for (const [id, ch] of txn) into.put(id, ch);
        if (into.lastCommit === null || at > into.lastCommit) into.lastCommit = at;
        txn = [];
        continue;
      }
      if (!isDataMessage(data[0])) continue;
      const r = decoder.decode(data, false);
      if (r?.kind === "truncate") {
        for (const c of r.changes) {
          const rel = relations.get(c.table);
          if (rel) txn.push([null, { ...c, relation: rel }]);
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
      const key = old ? pick(cols, old) : null;
      const moved = key !== null && !cols.some((k) => key[k] === undefined) && (c.op === "delete" || (c.after !== null && c.after !== undefined && keyChanged(cols, key, c.after)));
      if (moved) txn.push([idOf(key), { op: "delete", table: c.table, relation: rel, key, before: null, after: null }]);
      if (c.op === "update" && c.after) {
        const newKey = pick(cols, c.after);
        if (cols.some((k) => newKey[k] === undefined)) continue;
        txn.push([idOf(newKey), { op: "update", table: c.table, relation: rel, key: newKey, before: null, after: c.after, ...(c.unchangedToast?.length ? { unchangedToast: c.unchangedToast } : {}) }]);
      }
    }
  }
  return into;
}

/**
 * A temporary logical slot made before the old slot is read. What commits between that read and
 * the new slot's consistent point is in neither (the old slot is dropped, the new one starts
 * after it): deletes committed there stayed in every sink (QA: 52–99 rows per such crash under a
 * busy workload; the new slot waits for running transactions). Read up to that point, then
 * dropped with its session.
 */
export class GapWatch {
  private constructor(private readonly sql: Pg, private readonly name: string) {}

  /** Null when the server refuses (no slot left, no rights): the start goes on as before, with a warning. */
  static async open(open: () => Pg, log: Logger): Promise<GapWatch | null> {
    const sql = open();
    const name = `cdc_gap_${process.pid}_${Date.now().toString(36)}`;
    try {
      await sql`select pg_create_logical_replication_slot(${name}, 'pgoutput', true)`;
      return new GapWatch(sql, name);
    } catch (e) {
      log.warn({ err: (e as Error).message }, "cannot make a temporary slot to watch the re-creation of the slot; a delete committed while it is made may stay in the sinks");
      await sql.end({ timeout: 1 }).catch(() => {});
      return null;
    }
  }

  /** Adds to `into` the removals and updates of transactions after `into.lastCommit` that commit before `upto`. */
  async read(into: GapChanges, upto: Lsn, publication: string, relations: Map<string, Relation>, types: TypeDecoders): Promise<void> {
    await peekRemovals(this.sql, this.name, publication, relations, types, into, upto);
  }

  async close(): Promise<void> {
    await this.sql`select pg_drop_replication_slot(${this.name})`.catch(() => {});
    await this.sql.end({ timeout: 1 }).catch(() => {});
  }
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
