import { createHash } from "node:crypto";
import type { OutputTable } from "../sink.ts";
import { columnType, keyBytesFor, type Dialect } from "./types.ts";

export const OFFSETS_TABLE = "cdc_engine_offsets";

export function q(ident: string): string {
  return "`" + ident.replaceAll("`", "``") + "`";
}

/** "public.orders" → "orders"; "sales.orders" → "sales_orders"; a bare name stays. */
export function targetTableName(name: string): string {
  const dot = name.indexOf(".");
  if (dot < 0) return name;
  const schema = name.slice(0, dot);
  return schema === "public" ? name.slice(dot + 1) : `${schema}_${name.slice(dot + 1)}`;
}

/**
 * The table name in a MySQL/MariaDB target: targetTableName, cut to the server's 64 characters
 * with a digest of the whole source name when longer (a schema and a table name of Postgres's
 * 63 each made a name the server refused, "Incorrect table name", retried for good). StarRocks
 * allows longer names: kept there.
 */
export function mysqlTableName(name: string, dialect: Dialect): string {
  const t = targetTableName(name);
  const chars = [...t];
  if (dialect !== "mysql" || chars.length <= 64) return t;
  return `${chars.slice(0, 55).join("")}_${createHash("sha1").update(name).digest("hex").slice(0, 8)}`;
}

export interface DdlOptions {
  dialect: Dialect;
  /** MySQL/MariaDB: the tables' collation (default utf8mb4_bin; a NO PAD one when the server has it, see NO_PAD_COLLATIONS). */
  collation?: string;
  buckets?: number;
  replicationNum?: number;
}

/** The unique key of a table whose key may hold NULL (see null-key.ts), in place of its primary key. */
export const NULL_KEY_INDEX = "cdc_engine_key";

/**
 * CREATE TABLE for an output table; StarRocks: Primary Key table, key columns first. A computed
 * key (group_by, window.key: OutputTable.nullableKey) may be NULL: in MySQL/MariaDB its columns
 * are nullable under a UNIQUE key (a primary key cannot hold NULL); StarRocks' Primary Key table
 * cannot either, and the sink sends such rows to the DLQ there.
 */
export function createTableSql(table: OutputTable, sample: Record<string, unknown> | undefined, o: DdlOptions): string {
  const name = q(mysqlTableName(table.name, o.dialect));
  const keys = new Set(table.key);
  const nullable = o.dialect === "mysql" && table.nullableKey === true;
  const cols = o.dialect === "starrocks" ? [...table.columns].sort((a, b) => Number(keys.has(b.name)) - Number(keys.has(a.name))) : table.columns;
  const keyBytes = keyBytesFor(table.columns, table.key, o.dialect);
  const defs = cols.map((c) => `${q(c.name)} ${columnType(c, o.dialect, keys.has(c.name), sample?.[c.name], keyBytes)}${keys.has(c.name) && !nullable ? " NOT NULL" : " NULL"}`);
  const keyList = table.key.map(q).join(", ");
  if (o.dialect === "mysql") {
    const pk = !table.key.length ? "" : nullable ? `, UNIQUE KEY ${q(NULL_KEY_INDEX)} (${keyList})` : `, PRIMARY KEY (${keyList})`;
    return `CREATE TABLE IF NOT EXISTS ${name} (${defs.join(", ")}${pk}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${o.collation ?? "utf8mb4_bin"} COMMENT=${MANAGED_COMMENT_SQL}`;
  }
  const dist = table.key.length ? keyList : q(cols[0].name);
  const model = table.key.length ? `PRIMARY KEY (${keyList})` : `DUPLICATE KEY (${dist})`;
  return `CREATE TABLE IF NOT EXISTS ${name} (${defs.join(", ")}) ${model} DISTRIBUTED BY HASH(${dist})${o.buckets ? ` BUCKETS ${o.buckets}` : ""}${props(o)}`;
}

/**
 * The comment on tables the engine created: only their columns follow a source retype (see
 * widen.ts); a table the user created keeps its types (a narrower column there is a choice, and
 * the values it refuses go to the dead-letter queue).
 */
export const MANAGED_COMMENT = "created by cdc-engine";
const MANAGED_COMMENT_SQL = `'${MANAGED_COMMENT}'`;

/**
 * Binary collations that do not pad: utf8mb4_bin is a PAD SPACE collation, so a key 'k ' equalled
 * 'k' and the rows of 'k', 'k ' and 'k  ' (three in Postgres) were upserted into one. MariaDB
 * 10.2+ has utf8mb4_nopad_bin, MySQL 8 utf8mb4_0900_bin; a server with neither keeps utf8mb4_bin.
 */
export const NO_PAD_COLLATIONS = ["utf8mb4_nopad_bin", "utf8mb4_0900_bin"];

export function addColumnSql(table: string, column: string, type: string): string {
  return `ALTER TABLE ${q(table)} ADD COLUMN ${q(column)} ${type} NULL`;
}

export function offsetsTableSql(o: DdlOptions): string {
  if (o.dialect === "mysql") {
    return `CREATE TABLE IF NOT EXISTS ${OFFSETS_TABLE} (pipeline VARCHAR(191) NOT NULL, sink VARCHAR(191) NOT NULL, lsn BIGINT UNSIGNED NOT NULL, updated_at DATETIME(6) NOT NULL, PRIMARY KEY (pipeline, sink)) ENGINE=InnoDB`;
  }
  return `CREATE TABLE IF NOT EXISTS ${OFFSETS_TABLE} (pipeline VARCHAR(191) NOT NULL, sink VARCHAR(191) NOT NULL, lsn LARGEINT NOT NULL, updated_at DATETIME NULL) PRIMARY KEY (pipeline, sink) DISTRIBUTED BY HASH(pipeline) BUCKETS 1${props(o)}`;
}

/** Position upsert: never moves backwards on MySQL; on StarRocks a Primary Key upsert written after the rows. */
export function offsetUpsertSql(dialect: Dialect): string {
  return dialect === "mysql"
    ? `INSERT INTO ${OFFSETS_TABLE} (pipeline, sink, lsn, updated_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE lsn = GREATEST(lsn, VALUES(lsn)), updated_at = VALUES(updated_at)`
    : `INSERT INTO ${OFFSETS_TABLE} (pipeline, sink, lsn, updated_at) VALUES (?, ?, ?, UTC_TIMESTAMP())`;
}

function props(o: DdlOptions): string {
  return o.replicationNum ? ` PROPERTIES ("replication_num" = "${o.replicationNum}")` : "";
}

/**
 * Multi-row upsert. MySQL/MariaDB: INSERT ... ON DUPLICATE KEY UPDATE (VALUES() works on
 * both); StarRocks: a plain INSERT into a Primary Key table replaces the row by key.
 */
export function upsertSql(table: string, columns: string[], rows: number, key: string[], dialect: Dialect): string {
  const tuple = `(${columns.map(() => "?").join(", ")})`;
  let sql = `INSERT INTO ${q(table)} (${columns.map(q).join(", ")}) VALUES ${Array(rows).fill(tuple).join(", ")}`;
  if (dialect === "mysql" && key.length) {
    const set = columns.filter((c) => !key.includes(c));
    const assignments = (set.length ? set : key).map((c) => `${q(c)} = VALUES(${q(c)})`);
    sql += ` ON DUPLICATE KEY UPDATE ${assignments.join(", ")}`;
  }
  return sql;
}

/** DELETE by key for a group of rows (OR of key equalities: StarRocks has no row-constructor IN). */
export function deleteSql(table: string, key: string[], rows: number): string {
  const one = key.length === 1 ? `${q(key[0])} = ?` : `(${key.map((k) => `${q(k)} = ?`).join(" AND ")})`;
  if (key.length === 1) return `DELETE FROM ${q(table)} WHERE ${q(key[0])} IN (${Array(rows).fill("?").join(", ")})`;
  return `DELETE FROM ${q(table)} WHERE ${Array(rows).fill(one).join(" OR ")}`;
}
