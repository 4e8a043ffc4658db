/**
 * A snapshot resumed after a crash (its exported snapshot died with the first start) reads each
 * unfinished table on from its last saved key K, in a temporary slot's snapshot at S, as tables
 * added later are read (added-tables.ts). The slot still replays every change since its own start,
 * so a change to a row above K that committed before S came twice: in the read and from the
 * stream. A mirror converged (upserts), but a webhook or BigQuery change log got the row twice
 * (its insert after its read). The stream now drops such changes: a change with commit LSN < S to
 * a key the read at S covers and the earlier start never handed over (the range starts at the
 * greatest key it handed, snapshot.ts notes it: the sinks may hold rows up to it, and a delete
 * of one of them must still come). An update across K becomes the half the read does not hold: a
 * delete of the old key, or an insert of the new one. Each resume adds a range (K, S) per table,
 * kept in the state dir until the stream passes S; a key belongs to the range with the greatest
 * K below it (keys up to the first K were read in the slot's own snapshot).
 *
 * Keys compare as Postgres orders them in the read (`(key) > (K)`): in JS for integer and uuid
 * keys, by a query for the rest (only for changes in the window before S).
 */
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import { formatLsn, type Change, type Lsn, type Relation, type Row, type Txn } from "../../types.ts";
import { arrayLiteral, toPgText } from "../../sinks/postgres/values.ts";
import { orderKey } from "./catalog.ts";
import { keyOf } from "./pgoutput.ts";
import type { SnapshotState, TableProgress } from "./snapshot-state.ts";

export interface ReadRange {
  /** The read covers keys above this (Postgres' text of each key column), every key when null. */
  afterKey: string[] | null;
  /** The consistent point of the snapshot it was read in. */
  since: Lsn;
}

/** For each key, whether it is above `after` in Postgres' order of the key columns. */
export type KeysAbove = (keys: string[][], after: string[]) => Promise<boolean[]>;

export interface TableRanges {
  keyCols: string[];
  above: KeysAbove;
  /** Ascending by since (and so by afterKey: each resume starts after the last). */
  ranges: ReadRange[];
}

/** Tables whose slot snapshot a crash left unfinished: read on in a new snapshot at this start. */
export function resumedTables(tables: string[], progress: Map<string, TableProgress>): string[] {
  return tables.filter((t) => {
    const p = progress.get(t);
    return p !== undefined && !p.done;
  });
}

/**
 * At a start that reads on the resumed tables in a temporary slot's snapshot at `since` (null when
 * none could be made: read fresh, as before, and the rows changed meanwhile may come twice):
 * their ranges are saved before the read, so a crash during it keeps them.
 */
export function saveResumedReads(state: SnapshotState, slot: string, resumed: string[], progress: Map<string, TableProgress>, since: Lsn | null, log: Logger): void {
  if (!resumed.length) return;
  if (since === null) {
    log.warn({ tables: resumed }, "could not make a temporary slot for the interrupted snapshot: reading on fresh (a change log may get the rows changed meanwhile twice)");
    return;
  }
  // The stream drops changes only to keys the earlier start never handed over: up to the greatest
  // one it did, the sinks may hold that start's rows (past the saved key, not yet checkpointed),
  // and a row deleted meanwhile stayed there (QA: kill -9 mid-snapshot, 299 of 301 deletes lost).
  // Its changes are applied on top of the read: the last one before the read is the row as read.
  state.addResumedReads(slot, resumed.map((t) => ({ table: t, afterKey: state.handedKey(slot, t) ?? progress.get(t)!.lastKey })), since);
  log.info({ tables: resumed, consistentPoint: formatLsn(since) }, "interrupted snapshot read on in the snapshot of a temporary slot: the stream drops the changes it holds (keys after the last saved one, committed before it)");
}

/** The stream's onTxn with the ranges' filter in front, or onTxn itself when none is left. */
export async function dropReadAgain(onTxn: (t: Txn) => Promise<void>, saved: Map<string, ReadRange[]>, sql: Pg, relations: Map<string, Relation>, log: Logger): Promise<(t: Txn) => Promise<void>> {
  const tables = new Map<string, TableRanges>();
  for (const [table, ranges] of saved) {
    const rel = relations.get(table);
    const keyCols = rel ? await orderKey(sql, table) : [];
    if (!rel || !keyCols.length) continue; // a keyless table is read whole again (added-tables.ts says so)
    const types = keyCols.map((k) => rel.columns.find((c) => c.name === k)?.typeName ?? "text");
    tables.set(table, { keyCols, above: keysAbove(sql, types), ranges: [...ranges].sort((a, b) => (a.since < b.since ? -1 : 1)) });
  }
  if (!tables.size) return onTxn;
  let last: Lsn = 0n;
  for (const t of tables.values()) for (const r of t.ranges) if (r.since > last) last = r.since;
  return async (t) => {
    if (t.snapshot || t.lsn >= last) return onTxn(t);
    const changes = await filterChanges(t, tables, log);
    return onTxn(changes === t.changes ? t : { ...t, changes });
  };
}

/** The transaction's changes without those the resumed reads hold (the same array when none). */
export async function filterChanges(t: Txn, tables: Map<string, TableRanges>, log: Logger): Promise<Change[]> {
  if (!t.changes.some((c) => tables.has(c.table))) return t.changes;
  // Per table, every key the transaction touches, judged in one go.
  const judged = new Map<Change, { old: boolean; now: boolean }>();
  const byTable = new Map<string, Change[]>();
  for (const c of t.changes) if (tables.has(c.table) && c.op !== "truncate") (byTable.get(c.table) ?? byTable.set(c.table, []).get(c.table)!).push(c);
  for (const [table, cs] of byTable) {
    const tr = tables.get(table)!;
    const keys: (string[] | null)[] = [];
    for (const c of cs) keys.push(keyText(oldRow(c), tr.keyCols), keyText(c.op === "delete" ? null : (c.after ?? null), tr.keyCols));
    const held = await readHolds(tr, keys, t.lsn);
    cs.forEach((c, i) => judged.set(c, { old: held[2 * i], now: held[2 * i + 1] }));
  }
  const out: Change[] = [];
  let same = true; // every change kept as it was
  for (const c of t.changes) {
    if (!tables.has(c.table)) {
      out.push(c);
    } else if (c.op === "truncate") {
      // What the truncate removed is gone from the read too, but not from what the earlier start
      // sent below K; applied after the read, it would remove the read's rows instead.
      if (tables.get(c.table)!.ranges.some((r) => t.lsn < r.since)) {
        log.warn({ table: c.table, lsn: t.lsn.toString() }, `a TRUNCATE of ${c.table} committed while the snapshot was interrupted is not applied (the snapshot read after it holds its effect); rows sent before the interruption may stay in the sinks: run with --resnapshot to read the table again`);
      } else out.push(c);
    } else {
      const j = judged.get(c)!;
      if (c.op === "insert") {
        if (!j.now) out.push(c);
      } else if (c.op === "delete") {
        if (!j.old) out.push(c);
      } else if (!j.old && !j.now) {
        out.push(c);
      } else if (!j.old && j.now) {
        // Moved into the read: the row the earlier start sent under its old key goes.
        out.push({ op: "delete", table: c.table, relation: c.relation, key: keyOf(c.relation, c.before!), before: c.before ?? null, after: null });
        same = false;
      } else if (j.old && !j.now) {
        // Moved out of the read to a key it does not cover: only the stream has it.
        if (c.unchangedToast?.length) {
          out.push(c);
        } else {
          out.push({ op: "insert", table: c.table, relation: c.relation, key: c.key, before: null, after: c.after, ...(c.afterWire ? { afterWire: c.afterWire } : {}) });
          same = false;
        }
      }
    }
  }
  return same && out.length === t.changes.length ? t.changes : out;
}

/** Whether each key lies in a range read in a snapshot that already holds a change at `lsn`. */
async function readHolds(tr: TableRanges, keys: (string[] | null)[], lsn: Lsn): Promise<boolean[]> {
  const held = keys.map(() => false);
  const open = keys.map((k) => k !== null);
  // From the last range down: a key belongs to the one with the greatest K below it.
  for (let r = tr.ranges.length - 1; r >= 0 && open.some(Boolean); r--) {
    const range = tr.ranges[r];
    const idx = keys.flatMap((k, i) => (open[i] ? [i] : []));
    const above = range.afterKey === null ? idx.map(() => true) : await tr.above(idx.map((i) => keys[i]!), range.afterKey);
    idx.forEach((i, n) => {
      if (!above[n]) return;
      open[i] = false;
      held[i] = lsn < range.since;
    });
  }
  return held;
}

function oldRow(c: Change): Row | null {
  if (c.op === "insert") return null;
  if (c.op === "delete") return c.key ?? c.before ?? null;
  return c.before ?? c.after ?? null; // an update without an old tuple kept its key
}

/** A row's key columns as Postgres' input text, null when one cannot be judged (absent or NULL). */
export function keyText(row: Row | null, cols: string[]): string[] | null {
  if (!row) return null;
  const out: string[] = [];
  for (const col of cols) {
    const v = toPgText(row[col]);
    if (v === null) return null;
    out.push(v);
  }
  return out;
}

const INTEGER = new Set(["smallint", "integer", "bigint"]);

/** The comparison the resumed read's `where (key) > ($1, ...)` makes, for these key column types. */
export function keysAbove(sql: Pg, types: string[]): KeysAbove {
  const base = types.map((t) => t.replace(/\(.*\)$/, ""));
  if (base.every((t) => INTEGER.has(t) || t === "uuid")) {
    // uuid text is fixed-width lowercase hex: its string order is Postgres' byte order.
    const conv = base.map((t) => (t === "uuid" ? (s: string) => s.toLowerCase() : (s: string) => BigInt(s)));
    return async (keys, after) => {
      const k0 = after.map((s, i) => conv[i](s));
      return keys.map((k) => {
        for (let i = 0; i < k.length; i++) {
          const v = conv[i](k[i]);
          if (v !== k0[i]) return v > k0[i];
        }
        return false;
      });
    };
  }
  const cols = types.map((_, i) => `c${i}`);
  const q = `select array_agg(u.i::int) as i from unnest(${types.map((_, i) => `$${i + 1}::text[]`).join(", ")}) with ordinality as u(${cols.join(", ")}, i) where (${cols.map((c, i) => `u.${c}::${types[i]}`).join(", ")}) > (${types.map((t, i) => `$${types.length + i + 1}::${t}`).join(", ")})`;
  return async (keys, after) => {
    if (!keys.length) return [];
    const params = [...types.map((_, i) => arrayLiteral(keys.map((k) => k[i]))), ...after];
    const [row] = await sql.unsafe(q, params);
    const hit = new Set<number>((row?.i as number[] | null) ?? []);
    return keys.map((_, i) => hit.has(i + 1));
  };
}
