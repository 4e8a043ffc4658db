import type mysql from "mysql2/promise";
import type { Logger } from "pino";
import type { OutputRecord } from "../sink.ts";
import type { Column } from "../../types.ts";
import { q } from "./ddl.ts";
import type { Prepared } from "./prepare.ts";
import { columnType } from "./types.ts";

type Queryable = Pick<mysql.Connection, "query">;

/**
 * Delete, or replace with the new row, ONE row equal to the old row in every source column
 * (OutputRecord.byOldRow): `<=>` is NULL-safe equality, LIMIT 1 takes one of several equal rows
 * (they are the same value). A JSON column (json, jsonb, arrays) is compared as JSON on both
 * sides: MySQL compares a JSON column with a string parameter as a JSON string, never equal to
 * an object; MariaDB's JSON is text and gives both sides the same form. The batch's transaction
 * stores the position with it, so a replayed batch is skipped whole and never takes a second
 * duplicate. Returns whether a row matched (mysql2 connects with CLIENT_FOUND_ROWS: an update to
 * the same values counts).
 */
export async function applyByOldRow(c: Queryable, p: Prepared): Promise<boolean> {
  const byName = new Map(p.rec.table.columns.map((col) => [col.name, col]));
  const where = p.columns.map((n) => equal(n, byName.get(n))).join(" AND ") || "TRUE";
  const text =
    p.op === "delete"
      ? `DELETE FROM ${q(p.table)} WHERE ${where} LIMIT 1`
      : `UPDATE ${q(p.table)} SET ${p.columns.map((n) => `${q(n)} = ?`).join(", ")} WHERE ${where} LIMIT 1`;
  const [res] = await c.query(text, p.op === "delete" ? p.oldValues : [...p.values, ...p.oldValues!]);
  return (res as mysql.ResultSetHeader).affectedRows > 0;
}

function equal(name: string, c: Column | undefined): string {
  const type = c ? columnType(c, "mysql", false) : "";
  if (type === "JSON") return `JSON_EXTRACT(${q(name)}, '$') <=> JSON_EXTRACT(?, '$')`;
  // A CHAR(n) reads back without its trailing spaces, which a character(n) value has: under a NO PAD collation 'ab   ' never equalled it.
  if (type.startsWith("CHAR(")) return `${q(name)} <=> TRIM(TRAILING ' ' FROM ?)`;
  // An int8 or numeric comes as text, and a string compared with a number is compared as a double:
  // 9007199254740993 equalled ...992, and the other row could be taken. Cast to the column's type.
  if (type === "BIGINT") return `${q(name)} <=> CAST(? AS SIGNED)`;
  if (type.startsWith("DECIMAL(")) return `${q(name)} <=> CAST(? AS ${type})`;
  return `${q(name)} <=> ?`;
}

/**
 * StarRocks has no transaction to fence a delete of one of several equal rows with the position
 * (a replay would take a second one) and no DELETE ... LIMIT: a keyless FULL table stays
 * append-only there, as before (README); `warned` holds the tables already named in a warning.
 */
export function withoutOldRowRecords(records: OutputRecord[], warned: Set<string>, log: Logger): OutputRecord[] {
  if (!records.some((r) => r.byOldRow)) return records;
  for (const r of records) {
    if (!r.byOldRow || warned.has(r.table.name)) continue;
    warned.add(r.table.name);
    log.warn({ table: r.table.name }, `${r.table.name} has no key: its updates and deletes are not applied in StarRocks (append-only), only its inserts`);
  }
  return records.filter((r) => !r.byOldRow);
}
