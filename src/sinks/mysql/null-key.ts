import { q } from "./ddl.ts";

/**
 * Rows whose key holds a NULL. A group_by or window key can be NULL, and SQL's GROUP BY makes
 * one group of the NULLs; a MySQL/MariaDB primary key cannot hold NULL, so such a target is
 * keyed by a UNIQUE key over nullable columns instead (NULL_KEY_INDEX, ddl.ts). A unique key
 * treats NULLs as distinct, so ON DUPLICATE KEY UPDATE never matches these rows and `k IN (…)`
 * never finds them: they are written one by one by the key compared with <=> (NULL-safe
 * equality), which uses the same index. They are rare (one NULL group per key), so a statement
 * per row is fine.
 */
export function hasNull(values: unknown[]): boolean {
  return values.some((v) => v === null || v === undefined);
}

const where = (key: string[]) => key.map((k) => `${q(k)} <=> ?`).join(" AND ");

/**
 * UPDATE of the row with this key; when it matched none (mysql2 connects with CLIENT_FOUND_ROWS,
 * so affectedRows counts matched rows, also unchanged ones) the row is inserted. A replay finds
 * the row and updates it to the same values: never a second row. Key columns are not set (their
 * values are the key); with nothing else to set the key is set to itself.
 */
export function nullKeyUpdateSql(table: string, columns: string[], key: string[]): string {
  const set = columns.filter((c) => !key.includes(c));
  const assignments = (set.length ? set : [key[0]]).map((c) => `${q(c)} = ?`);
  return `UPDATE ${q(table)} SET ${assignments.join(", ")} WHERE ${where(key)}`;
}

/** The parameters of nullKeyUpdateSql: the set columns' values, then the key's. */
export function nullKeyUpdateParams<T>(columns: string[], values: T[], key: string[], keyValues: T[]): T[] {
  const set = columns.map((c, i) => [c, values[i]] as const).filter(([c]) => !key.includes(c));
  return [...(set.length ? set.map(([, v]) => v) : [keyValues[0]]), ...keyValues];
}

export function nullKeyInsertSql(table: string, columns: string[]): string {
  return `INSERT INTO ${q(table)} (${columns.map(q).join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`;
}

export function nullKeyDeleteSql(table: string, key: string[]): string {
  return `DELETE FROM ${q(table)} WHERE ${where(key)}`;
}
