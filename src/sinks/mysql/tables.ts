import type mysql from "mysql2/promise";
import type { Logger } from "pino";
import type { OutputRecord, OutputTable } from "../sink.ts";
import type { Column } from "../../types.ts";
import { addColumnSql, createTableSql, type DdlOptions, MANAGED_COMMENT, NULL_KEY_INDEX, OFFSETS_TABLE, q, mysqlTableName } from "./ddl.ts";
import { columnType, keyBytesFor, toParam, type Dialect } from "./types.ts";
import { missingRowValue } from "../missing-value.ts";
import { mysqlWidensTo } from "./widen.ts";
import { TableOwners } from "../table-owners.ts";

/**
 * The server refused a name in the table's DDL, the same on every retry: 1059 an identifier too
 * long, 1060 two columns whose names differ only in case ("Mixed" and "mixed"), 1103 a table name
 * and 1166 a column name it cannot hold (one ending in a space). The write was retried for good,
 * holding every pipeline of the sink; now that table's records go to the DLQ with the reason.
 */
const NAME_ERRNOS = new Set([1059, 1060, 1103, 1166]);

/**
 * The server refused the table's shape, the same on every retry: 1070 too many key columns (MySQL 16, MariaDB 32),
 * 1071 a key longer than the index allows (four text key columns: 4 × VARCHAR(255) × 4 bytes),
 * 1117 more than 4096 columns, 1118 a row too large for InnoDB (in strict mode ~400 LONGTEXT
 * columns already are: each keeps a 20-byte pointer in a row of at most 8126 bytes; a 600-column
 * table was retried for good, holding every table of the sink), 1170 a BLOB/TEXT key (a bytea
 * key is LONGBLOB; a jsonb key is JSON, LONGTEXT in MariaDB), 3152 a JSON key (MySQL).
 */
const SHAPE_ERRNOS = new Set([1070, 1071, 1117, 1118, 1170, 3152]);

interface TableInfo {
  /** Column name (lower case) → COLUMN_TYPE as the target has it. */
  types: Map<string, string>;
  /** Columns declared NOT NULL (lower case): MODIFY COLUMN keeps that. */
  notNull: Set<string>;
}

/**
 * The target tables as the sink knows them (cached per table): created when missing, columns
 * added when the output has new ones, widened in tables the engine created.
 */
export class TargetTables {
  private readonly known = new Map<string, TableInfo>();
  /** Output tables whose column types were compared with the target's (once per table shape). */
  private readonly typesChecked = new WeakSet<OutputTable>();
  /** Target tables the engine created (MANAGED_COMMENT): only their columns are widened. */
  private readonly managed = new Set<string>();
  /** Tables whose other unique keys were warned about (warnOtherUniqueKeys). */
  private readonly uniqueWarned = new Set<string>();

  constructor(
    private readonly database: string,
    private readonly dialect: Dialect,
    private readonly log: Logger,
    private readonly ddlOpts: (tableName: string) => DdlOptions,
  ) {
    // A source table public.cdc_engine_offsets must not write into the sink's own positions.
    this.owners.claim(OFFSETS_TABLE, "the engine's positions");
  }

  private readonly owners = new TableOwners();
  /** Output table → why the server refused its target's DDL (NAME_ERRNOS, SHAPE_ERRNOS). */
  private readonly refusedNames = new Map<string, string>();

  /** Why this output table's rows cannot go to its target (another table's rows are there, or the server refused a name), or null. */
  clash(t: OutputTable): string | null {
    const refused = this.refusedNames.get(t.name);
    if (refused !== undefined) return refused;
    const name = mysqlTableName(t.name, this.dialect);
    const owner = this.owners.claim(name, t.name);
    if (owner === null) return null;
    return `${t.name} and ${owner} both map to target table ${name}, which holds the rows of ${owner}: mirror ${t.name} with a pipeline of its own and another to.table`;
  }

  /** Column types of a target table as last read, or undefined before it was. */
  types(table: string): Map<string, string> | undefined {
    return this.known.get(table)?.types;
  }

  /** Read a table's columns again (a column was widened or dropped by hand meanwhile); a table gone is created again by ensure(). */
  async reload(pool: mysql.Pool, table: string): Promise<void> {
    const info = await this.load(pool, table);
    if (info.types.size) this.known.set(table, info);
    else this.known.delete(table);
  }

  /** Read the columns of the records' tables again; whether ensure() would now add a column (or the table). */
  async reread(pool: mysql.Pool, records: OutputRecord[]): Promise<boolean> {
    let changed = false;
    for (const table of new Set(records.map((r) => r.table))) {
      const name = mysqlTableName(table.name, this.dialect);
      if (!table.columns.length) continue;
      await this.reload(pool, name);
      if (!this.known.has(name) || this.missing(table).length) changed = true;
    }
    return changed;
  }

  /** Create missing tables; add columns that appear in the output but not in the table. */
  async ensure(pool: mysql.Pool, records: OutputRecord[]): Promise<void> {
    for (const table of new Set(records.map((r) => r.table))) {
      if (this.clash(table)) continue; // its records go to the DLQ (prepare)
      try {
        await this.ensureOne(pool, table, records);
      } catch (e) {
        const errno = (e as { errno?: number }).errno;
        const name = errno !== undefined && NAME_ERRNOS.has(errno);
        if (!name && (errno === undefined || !SHAPE_ERRNOS.has(errno))) throw e;
        const target = `target table ${mysqlTableName(table.name, this.dialect)} of ${table.name}`;
        const reason = name
          ? `${target}: the server refused a name (${(e as Error).message}); rename the column in select: (… AS name) or set another to.table`
          : `${target}: the server refused the table's shape (${(e as Error).message}); keep fewer columns with a pipeline's select:, or create the table by hand`;
        this.log.warn({ table: table.name, reason }, "the server cannot hold this table: its records go to the dead-letter queue");
        this.refusedNames.set(table.name, reason);
      }
    }
  }

  /**
   * A column the source added with a constant default (Column.missing): the rows the table has
   * read that value, as the source's rows do, and so does a row of an older transaction written
   * later without the column: added with it as DEFAULT. A default the server refuses for the type
   * (a TEXT or JSON column before MySQL 8.0.13) fills the rows with an UPDATE instead.
   */
  private async addWithDefault(pool: mysql.Pool, name: string, c: Column, type: string): Promise<void> {
    const v = missingRowValue(c);
    const why = v === undefined ? `its type (${c.typeName ?? c.typeOid}) is not filled here` : this.dialect !== "mysql" ? "StarRocks is not filled" : null;
    if (why !== null) {
      await pool.query(addColumnSql(name, c.name, type));
      return this.log.warn({ table: name, column: c.name }, `the rows ${name} has keep ${c.name} empty, where the source's read its default (${why})`);
    }
    try {
      return void (await pool.query(`${addColumnSql(name, c.name, type)} DEFAULT ?`, [toParam(v, c)]));
    } catch (e) {
      this.log.info({ table: name, column: c.name, err: (e as Error).message }, "the column's default is refused; filling its rows instead");
    }
    await pool.query(addColumnSql(name, c.name, type));
    try {
      await pool.query(`UPDATE ${q(name)} SET ${q(c.name)} = ?`, [toParam(v, c)]);
    } catch (e) {
      this.log.warn({ table: name, column: c.name, err: (e as Error).message }, `the rows ${name} has keep ${c.name} empty: the source's default ${c.missing} was refused`);
    }
  }

  private async ensureOne(pool: mysql.Pool, table: OutputTable, records: OutputRecord[]): Promise<void> {
    const name = mysqlTableName(table.name, this.dialect);
    let info = this.known.get(name);
    if (!info) {
      if (!table.columns.length) return;
      const sample = records.find((r) => r.table === table && r.op === "upsert")?.row;
      await this.create(pool, table, sample);
      info = await this.load(pool, name);
      this.known.set(name, info);
    }
    for (const c of this.missing(table)) {
      const sample = records.find((r) => r.table === table && r.op === "upsert")?.row[c.name];
      this.log.info({ table: name, column: c.name }, "adding column");
      const type = columnType(c, this.dialect, false, sample);
      if (c.missing === undefined) await pool.query(addColumnSql(name, c.name, type));
      else await this.addWithDefault(pool, name, c, type);
      info.types.set(c.name.toLowerCase(), type);
    }
    if (this.dialect === "mysql" && this.managed.has(name) && !this.typesChecked.has(table)) {
      for (const [c, have, want] of this.widenings(table)) {
        this.log.info({ table: name, column: c.name, from: have, to: want }, "widening column (the source column was retyped)");
        await pool.query(`ALTER TABLE ${q(name)} MODIFY COLUMN ${q(c.name)} ${want} ${info.notNull.has(c.name.toLowerCase()) ? "NOT NULL" : "NULL"}`);
        info.types.set(c.name.toLowerCase(), want);
      }
      this.typesChecked.add(table);
    }
  }

  /**
   * A server that requires a primary key (MySQL 8 sql_require_primary_key: 3750; MariaDB
   * innodb_force_primary_key: 1173) refuses the UNIQUE-keyed table of a key that may be NULL, and
   * the create was retried for good: it gets a primary key then, and the NULL group goes to the DLQ.
   */
  private async create(pool: mysql.Pool, table: OutputTable, sample: Record<string, unknown> | undefined): Promise<void> {
    try {
      await pool.query(createTableSql(table, sample, this.ddlOpts(table.name)));
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
      if (!table.nullableKey || (errno !== 3750 && errno !== 1173)) throw e;
      this.log.warn({ table: table.name, reason: (e as Error).message }, "the server requires a primary key: the table gets one, and a NULL group key goes to the dead-letter queue");
      await pool.query(createTableSql({ ...table, nullableKey: false }, sample, this.ddlOpts(table.name)));
    }
  }

  /** The output table's columns its target (as last read) does not have. */
  missing(t: OutputTable): Column[] {
    const types = this.types(mysqlTableName(t.name, this.dialect));
    return types ? t.columns.filter((c) => !types.has(c.name.toLowerCase())) : [];
  }

  /** A source column retyped to a wider type (int → bigint): the target column to widen too. */
  widenings(t: OutputTable): [Column, string, string][] {
    const name = mysqlTableName(t.name, this.dialect);
    const types = this.types(name);
    if (this.dialect !== "mysql" || !types || !this.managed.has(name) || this.typesChecked.has(t)) return [];
    const keys = new Set(t.key);
    const keyBytes = keyBytesFor(t.columns, t.key, "mysql");
    const out: [Column, string, string][] = [];
    for (const c of t.columns) {
      const have = types.get(c.name.toLowerCase());
      if (have === undefined || c.typeOid === 0) continue;
      const want = columnType(c, "mysql", keys.has(c.name), undefined, keyBytes);
      if (mysqlWidensTo(have, want)) out.push([c, have, want]);
    }
    return out;
  }

  /** ensure() would alter one of the `touched` tables (add or widen a column). */
  altersAny(records: OutputRecord[], touched: Set<string>): boolean {
    for (const table of new Set(records.map((r) => r.table))) {
      if (!touched.has(mysqlTableName(table.name, this.dialect))) continue;
      if (this.missing(table).length || this.widenings(table).length) return true;
    }
    return false;
  }

  /** Notes whether the engine created the table. */
  private async load(pool: mysql.Pool, table: string): Promise<TableInfo> {
    const [rows] = await pool.query("SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t, IS_NULLABLE AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", [this.database, table]);
    const [tables] = await pool.query("SELECT TABLE_COMMENT AS c FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", [this.database, table]);
    if ((tables as { c: string | Buffer | null }[]).some((r) => String(r.c ?? "") === MANAGED_COMMENT)) this.managed.add(table);
    await this.warnOtherUniqueKeys(pool, table);
    const cols = rows as { c: string; t: string | Buffer; n: string }[];
    return { types: new Map(cols.map((r) => [r.c.toLowerCase(), String(r.t)])), notNull: new Set(cols.filter((r) => r.n === "NO").map((r) => r.c.toLowerCase())) };
  }

  /**
   * INSERT … ON DUPLICATE KEY UPDATE takes a conflict on any unique key for one on the primary key:
   * with another unique index on a target table (a user's), a row whose value there matches a
   * different row updates that row instead of failing. Said once per table; not refused, since such
   * an index can mirror a constraint the source has too. The engine's own key of a table whose key
   * may be NULL (NULL_KEY_INDEX, in place of a primary key) is not such an index.
   */
  private async warnOtherUniqueKeys(pool: mysql.Pool, table: string): Promise<void> {
    if (this.dialect !== "mysql" || this.uniqueWarned.has(table)) return;
    this.uniqueWarned.add(table);
    const [rows] = await pool
      .query("SELECT DISTINCT INDEX_NAME AS i FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 AND INDEX_NAME NOT IN ('PRIMARY', ?)", [this.database, table, NULL_KEY_INDEX])
      .catch(() => [[]]);
    const names = (rows as { i: string }[]).map((r) => String(r.i));
    if (names.length)
      this.log.warn(
        { table, indexes: names },
        `table ${table} has unique key(s) besides its primary key (${names.join(", ")}): an upsert whose value there matches another row updates that row instead of failing (MySQL's ON DUPLICATE KEY UPDATE); drop them or make sure the source enforces the same uniqueness`,
      );
  }
}
