import type { Relation, Row } from "../types.ts";
import type { ColumnRef, Scope } from "./compile.ts";
import { type XType, T, fromRow, typeOfColumn } from "./types.ts";

export interface ScopeColumn {
  /** Name the value has in the row. */
  name: string;
  type: XType;
}

export interface ScopeTable {
  /** Names a qualified reference may use: "orders", "public.orders", an alias. */
  qualifiers: string[];
  /** Column name as referenced → how it sits in the row. Null: columns not known yet. */
  columns: Map<string, ScopeColumn> | null;
}

export function relationColumns(rel: Relation | null | undefined, rename: (c: string) => string = (c) => c): Map<string, ScopeColumn> | null {
  if (!rel) return null;
  return new Map(rel.columns.map((c) => [c.name, { name: rename(c.name), type: typeOfColumn(c) }]));
}

/** The row's value as it is (null when absent). */
function plain(name: string): (row: Row) => unknown {
  return (row) => {
    const v = row[name];
    return v === undefined ? null : v;
  };
}

function reader(col: ScopeColumn): ColumnRef {
  const k = col.type.kind;
  const name = col.name;
  if (k === "numeric" || k === "int8" || k === "timestamptz" || k === "timestamp" || k === "date") {
    return { type: col.type, get: (row: Row) => fromRow(k, row[name]), name };
  }
  if (col.type.oid === 1042) {
    // character(n): Postgres pads it, and its trailing spaces are not part of the value in an
    // expression (length(ch), ch = 'ab', ch LIKE, ch || 'x', upper(ch)). A bare select copies it padded,
    // and CONCAT prints it so (its output function's text).
    const padded = plain(name);
    return { type: col.type, get: (row: Row) => { const v = padded(row); return typeof v === "string" ? v.replace(/ +$/, "") : v; }, padded, name };
  }
  return { type: col.type, get: plain(name), name };
}

/**
 * Column resolution for one pipeline stage. The first table is the row's own; later ones are
 * joined tables whose columns were merged into the row. When a table's columns are not known
 * (no relation seen yet) its names resolve leniently, typed unknown, and are checked later.
 */
export function makeScope(tables: ScopeTable[], maps: Record<string, Map<string, string>>, extra: ScopeColumn[] = []): Scope {
  const extras = new Map(extra.map((c) => [c.name, c]));
  return {
    maps,
    column(name, table) {
      const x = extras.get(name);
      if (!table && x) return reader(x);
      const candidates = table ? tables.filter((t) => t.qualifiers.includes(table)) : tables;
      if (table && candidates.length === 0) return null;
      for (const t of candidates) {
        const c = t.columns?.get(name);
        if (c) return reader(c);
      }
      // Unknown tables' columns: the row's own first, then a joined table when qualified.
      const open = candidates.find((t) => t.columns === null);
      if (open) return reader({ name, type: T.unknown });
      return null;
    },
  };
}
