import type { OutputRecord, OutputTable } from "../sinks/sink.ts";
import type { Change, Relation, Row, Txn } from "../types.ts";

/**
 * Turns source changes into sink records for a mirror: the sink table has the source's
 * schema.table, columns and key (the primary key, also under REPLICA IDENTITY FULL, or the
 * replica identity index; `keyOverride` when the pipeline's `to:` names one). Tables without
 * a key (no primary key, REPLICA IDENTITY NOTHING) are append-only: inserts append, updates and
 * deletes are not applied (they cannot be addressed without a key).
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
    const base = (c: Change) => ({ lsn: txn.lsn, commitTime: txn.commitTime, source: { table: c.table, op: c.op, xid: txn.xid } });
    for (const c of txn.changes) {
      if (tables && !tables.has(c.table)) continue;
      const table = this.tableFor(c.relation);
      const push = (r: Omit<OutputRecord, "index" | "lsn" | "commitTime" | "source">) => out.push({ ...r, ...base(c), index: out.length });
      switch (c.op) {
        case "insert":
        case "read":
          if (c.after) push({ op: "upsert", table, row: c.after });
          break;
        case "update": {
          if (!c.after || table.key.length === 0) break;
          // A changed primary key: the old row goes away first.
          if (c.before && keyChanged(table.key, c.before, c.after)) push({ op: "delete", table, row: pick(table.key, c.before), before: c.before });
          push({ op: "upsert", table, row: c.after, before: c.before ?? null, unchangedToast: c.unchangedToast?.length ? c.unchangedToast : undefined });
          break;
        }
        case "delete": {
          if (table.key.length === 0) break;
          const row = c.key ?? c.before;
          if (row) push({ op: "delete", table, row: pick(table.key, row), before: c.before ?? null });
          break;
        }
        case "truncate":
          push({ op: "truncate", table, row: {}, truncate: c.truncate ?? { cascade: false, restartIdentity: false } });
          break;
      }
    }
    return out;
  }
}

function pick(cols: string[], row: Row): Row {
  const o: Row = {};
  for (const c of cols) o[c] = row[c];
  return o;
}

function keyChanged(cols: string[], a: Row, b: Row): boolean {
  for (const c of cols) {
    if (!(c in a)) return false;
    const x = a[c];
    const y = b[c];
    if (x instanceof Uint8Array && y instanceof Uint8Array) {
      if (Buffer.compare(x, y) !== 0) return true;
    } else if (x !== y) return true;
  }
  return false;
}
