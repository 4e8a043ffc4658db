import type { OutputRecord, OutputTable } from "../sinks/sink.ts";
import type { Change, Relation, Row, Txn } from "../types.ts";
import { keyChanged, pick } from "../row-key.ts";

/**
 * Turns source changes into sink records for a mirror: the sink table has the source's
 * schema.table, columns and key (the primary key, also under REPLICA IDENTITY FULL, or the
 * replica identity index; `keyOverride` when the pipeline's `to:` names one). A table without a
 * key under REPLICA IDENTITY FULL sends its whole old row with each update and delete: those go
 * out as records that address one row equal to it (OutputRecord.byOldRow), as PostgreSQL's own
 * logical replication applies them. Other tables without a key (REPLICA IDENTITY NOTHING, or
 * DEFAULT without a primary key) send no old row: they stay append-only.
 */
export class MirrorMapper {
  private tables = new WeakMap<Relation, OutputTable>();

  constructor(private keyOverride: string[] | null = null) {}

  tableFor(rel: Relation): OutputTable {
    let t = this.tables.get(rel);
    if (!t) {
      const keyed = rel.replicaIdentity !== "n";
      const key = this.keyOverride ?? (keyed ? rel.columns.filter((c) => c.isKey).map((c) => c.name) : []);
      t = { name: rel.table, columns: rel.columns, key };
      this.tables.set(rel, t);
    }
    return t;
  }

  map(txn: Txn, tables: Set<string> | null): OutputRecord[] {
    const out: OutputRecord[] = [];
    const { lsn, commitTime, xid } = txn;
    // The records of one table and operation in a transaction share one (never modified) source
    // object: one object less per row for the collector.
    let last: OutputRecord["source"] = { table: "", op: "", xid };
    const sourceOf = (c: Change) => (last.table === c.table && last.op === c.op ? last : (last = { table: c.table, op: c.op, xid }));
    // One object literal per record (the apply bench profiled spreads of partial records at ~4 % of the engine's CPU).
    const push = (c: Change, op: OutputRecord["op"], table: OutputTable, row: Row, before?: Row | null, extra?: Partial<OutputRecord>) =>
      out.push({ op, table, row, ...(before !== undefined ? { before } : {}), ...extra, lsn, index: out.length, commitTime, source: sourceOf(c) });
    for (const c of txn.changes) {
      if (tables && !tables.has(c.table)) continue;
      const table = this.tableFor(c.relation);
      switch (c.op) {
        case "insert":
        case "read":
          if (c.after) out.push({ op: "upsert", table, row: c.after, wire: c.afterWire, lsn, index: out.length, commitTime, source: sourceOf(c) });
          break;
        case "update": {
          if (!c.after) break;
          if (table.key.length === 0) {
            if (c.before && c.relation.replicaIdentity === "f") push(c, "upsert", table, withOldToast(c.after, c.before, c.unchangedToast), c.before, BY_OLD_ROW);
            break;
          }
          // A changed primary key: the old row goes away first.
          if (c.before && keyChanged(table.key, c.before, c.after)) push(c, "delete", table, pick(table.key, c.before), c.before);
          push(c, "upsert", table, c.after, c.before ?? null, c.unchangedToast?.length ? { unchangedToast: c.unchangedToast } : c.afterWire ? { wire: c.afterWire } : undefined);
          break;
        }
        case "delete": {
          if (table.key.length === 0) {
            if (c.before && c.relation.replicaIdentity === "f") push(c, "delete", table, c.before, c.before, BY_OLD_ROW);
            break;
          }
          const row = c.key ?? c.before;
          if (row) push(c, "delete", table, pick(table.key, row), c.before ?? null);
          break;
        }
        case "truncate":
          push(c, "truncate", table, {}, undefined, { truncate: c.truncate ?? { cascade: false, restartIdentity: false } });
          break;
      }
    }
    return out;
  }
}

const BY_OLD_ROW: Partial<OutputRecord> = { byOldRow: true };

/**
 * The new row with its unchanged TOAST columns taken from the old one (a FULL old row is
 * complete): a row replaced whole needs every value, and no key lets a sink keep the stored ones.
 */
function withOldToast(after: Row, before: Row, unchanged: string[] | undefined): Row {
  if (!unchanged?.length) return after;
  const row = { ...after };
  for (const c of unchanged) row[c] = before[c];
  return row;
}
