import type mysql from "mysql2/promise";
import type { OutputRecord } from "../sink.ts";
import type { Column } from "../../types.ts";
import { mysqlTableName } from "./ddl.ts";
import { hasNull } from "./null-key.ts";
import type { TargetTables } from "./tables.ts";
import { decimalMisfit, decimalOf, type Dialect, toParam, ValueError } from "./types.ts";

export type Param = ReturnType<typeof toParam>;

/** One record as the values of its statement row. */
export interface Prepared {
  rec: OutputRecord;
  table: string;
  op: OutputRecord["op"];
  columns: string[];
  values: Param[];
  key: string[];
  keyValues: Param[];
  /** The key holds a NULL: written by the key compared with <=> (null-key.ts). */
  nullKey: boolean;
  /** Addressed by its old row (OutputRecord.byOldRow): the old row's values, in `columns` order (old-row.ts). */
  oldValues?: Param[];
  /** Rows in one group share table, op and column list. */
  group: string;
  /** Rough size of the row in the SQL text. */
  bytes: number;
}

/**
 * Records → statement rows for the target tables as the sink knows them. A record that cannot be
 * written (a value the column cannot hold, a refused or shared table name) is the record's
 * problem, not the sink's: it goes to `dead` with the reason and the rest is written.
 */
export class RowPreparer {
  constructor(
    private readonly tables: TargetTables,
    private readonly dialect: Dialect,
    /** The server's max_allowed_packet: a larger row is refused before it is sent (it would drop the connection). */
    private readonly maxPacket: () => number,
  ) {}

  /** Prepared statements of the records whose values fit; the others go to `dead` with the reason. */
  all(records: OutputRecord[], dead: [OutputRecord, string][], misfits?: Set<string>): Prepared[] {
    const prepared: Prepared[] = [];
    for (const rec of records) {
      try {
        const clash = this.tables.clash(rec.table);
        if (clash) throw new ValueError(clash);
        prepared.push(this.one(rec));
      } catch (e) {
        if (!(e instanceof ValueError)) throw e;
        if (e instanceof DecimalMisfit) misfits?.add(e.table);
        dead.push([rec, e.message]);
      }
    }
    return prepared;
  }

  /**
   * all(); when a decimal did not fit a column's DECIMAL(p,s) as cached, that table's column
   * types are read again (the user may have widened the column since) and the records prepared again.
   */
  async fresh(pool: mysql.Pool, records: OutputRecord[], dead: [OutputRecord, string][]): Promise<Prepared[]> {
    const misfits = new Set<string>();
    const first: [OutputRecord, string][] = [];
    const prepared = this.all(records, first, misfits);
    if (!misfits.size) {
      dead.push(...first);
      return prepared;
    }
    for (const t of misfits) await this.tables.reload(pool, t);
    return this.all(records, dead);
  }

  private one(rec: OutputRecord): Prepared {
    const table = mysqlTableName(rec.table.name, this.dialect);
    const byName = new Map(rec.table.columns.map((c) => [c.name, c]));
    if (rec.op === "truncate") return { rec, table, op: "truncate", columns: [], values: [], key: [], keyValues: [], nullKey: false, group: `${table}|truncate`, bytes: 0 };
    const key = rec.table.key;
    const keyValues = key.map((k) => toParam(rec.row[k], byName.get(k)));
    const nullKey = hasNull(keyValues);
    if (nullKey && this.dialect === "starrocks") {
      const k = key.find((_, i) => keyValues[i] === null || keyValues[i] === undefined);
      throw new ValueError(`${table}: key column ${k} is NULL, and a StarRocks Primary Key table cannot hold a NULL key (use COALESCE in select:)`);
    }
    if (rec.byOldRow) return this.byOldRow(rec, table, byName);
    const run = nullKey ? "|null" : "";
    if (rec.op === "delete") {
      if (!key.length) throw new ValueError(`delete on ${table}, which has no key`);
      return { rec, table, op: "delete", columns: [], values: [], key, keyValues, nullKey, group: `${table}|delete${run}`, bytes: paramBytes(keyValues) };
    }
    const skip = new Set(rec.unchangedToast ?? []);
    const columns = rec.table.columns.map((c) => c.name).filter((n) => !skip.has(n));
    const values = columns.map((n) => toParam(rec.row[n], byName.get(n)));
    this.checkDecimals(table, columns, values);
    const size = rawBytes(values);
    const maxPacket = this.maxPacket();
    if (size > maxPacket - 4096) throw new ValueError(`row is ${size} bytes, more than the server's max_allowed_packet (${maxPacket})`);
    return { rec, table, op: "upsert", columns, values, key, keyValues, nullKey, group: `${table}|upsert${run}|${columns.join(",")}`, bytes: paramBytes(values) };
  }

  /** A record addressed by its old row: every source column, the new values (upsert) and the old ones; a statement of its own (applyGroups). */
  private byOldRow(rec: OutputRecord, table: string, byName: Map<string, Column>): Prepared {
    const columns = rec.table.columns.map((c) => c.name);
    const before = rec.before ?? {};
    const oldValues = columns.map((n) => oldParam(before[n], byName.get(n)));
    const values = rec.op === "upsert" ? columns.map((n) => toParam(rec.row[n], byName.get(n))) : [];
    if (rec.op === "upsert") this.checkDecimals(table, columns, values);
    const bytes = paramBytes(values) + paramBytes(oldValues);
    if (bytes / 2 > this.maxPacket() - 4096) throw new ValueError(`row is about ${bytes >> 1} bytes with its old row, more than the server's max_allowed_packet (${this.maxPacket()})`);
    return { rec, table, op: rec.op, columns, values, key: [], keyValues: [], nullKey: false, oldValues, group: `${table}|old`, bytes };
  }

  /**
   * A decimal value with more digits than the target column's DECIMAL(p,s) (an unconstrained
   * numeric is DECIMAL(65,30); a user's table may be narrower) is refused here: the server would
   * round extra fractional digits silently (a Note, even in strict mode).
   */
  private checkDecimals(table: string, columns: string[], values: Param[]): void {
    const types = this.tables.types(table);
    if (!types) return;
    for (let i = 0; i < columns.length; i++) {
      const v = values[i];
      if (typeof v !== "string") continue;
      const type = types.get(columns[i].toLowerCase());
      const d = type === undefined ? null : decimalOf(type);
      if (!d) continue;
      const why = decimalMisfit(v, d, columns[i]);
      if (why) throw new DecimalMisfit(why, table);
    }
  }
}

/** A decimal with more digits than its target column's DECIMAL(p,s) as the sink knows it. */
class DecimalMisfit extends ValueError {
  constructor(
    message: string,
    readonly table: string,
  ) {
    super(message);
  }
}

/**
 * An old row's value as the stored one compares with it: a real is stored as FLOAT, whose value
 * read as a double is the float's own (0.1 → 0.10000000149011612), not the double of its text.
 */
function oldParam(v: unknown, c: Column | undefined): Param {
  const p = toParam(v, c);
  return typeof p === "number" && c?.typeOid === FLOAT4 ? Math.fround(p) : p;
}
const FLOAT4 = 700;

function paramBytes(values: Param[]): number {
  let n = 8;
  // Escaped text can grow (quotes, backslashes; bytes as hex): count generously.
  for (const v of values) n += v === null ? 4 : typeof v === "string" ? v.length * 2 + 4 : Buffer.isBuffer(v) ? v.length * 2 + 4 : 24;
  return n;
}

function rawBytes(values: Param[]): number {
  let n = 0;
  for (const v of values) n += typeof v === "string" ? Buffer.byteLength(v) : Buffer.isBuffer(v) ? v.length * 2 : 8;
  return n;
}
