import type mysql from "mysql2/promise";
import type { OutputRecord } from "../sink.ts";
import { isDataError } from "./connect.ts";
import { deleteSql, q, upsertSql } from "./ddl.ts";
import { nullKeyDeleteSql, nullKeyInsertSql, nullKeyUpdateParams, nullKeyUpdateSql } from "./null-key.ts";
import type { Prepared } from "./prepare.ts";
import type { Dialect } from "./types.ts";
import { applyByOldRow } from "./old-row.ts";

export type Queryable = Pick<mysql.Connection, "query">;
/** Which errors belong to a row (→ DLQ) rather than to the sink (→ retried). */
export type RowError = (e: unknown) => boolean;

export interface StatementLimits {
  dialect: Dialect;
  /** Rows per multi-row statement (the sink's batch_size). */
  batchSize: number;
  /** Bytes per statement: one must stay under the server's max_allowed_packet. */
  maxStatement: number;
}

/**
 * Consecutive records of the same table, op and columns go in one statement (order kept).
 * `unmatched` gets the records addressed by their old row that found none.
 */
export async function applyGroups(c: Queryable, prepared: Prepared[], o: StatementLimits, unmatched: OutputRecord[] = []): Promise<void> {
  let i = 0;
  while (i < prepared.length) {
    let j = i + 1;
    let bytes = prepared[i].bytes;
    // A record addressed by its old row is a statement of its own (old-row.ts).
    while (j < prepared.length && !prepared[i].oldValues && j - i < o.batchSize && prepared[j].group === prepared[i].group && bytes + prepared[j].bytes <= o.maxStatement) {
      bytes += prepared[j].bytes;
      j++;
    }
    await applyGroup(c, prepared.slice(i, j), o.dialect, unmatched);
    i = j;
  }
}

/** Each record alone (under a savepoint when in a transaction); a row's own error sends it to `dead`, any other is thrown. */
export async function applyOneByOne(c: Queryable, prepared: Prepared[], dead: [OutputRecord, string][], savepoints: boolean, dialect: Dialect, rowError: RowError = isDataError, unmatched: OutputRecord[] = []): Promise<void> {
  for (const p of prepared) {
    try {
      if (savepoints) await c.query("SAVEPOINT cdc_row");
      await applyGroup(c, [p], dialect, unmatched);
      if (savepoints) await c.query("RELEASE SAVEPOINT cdc_row");
    } catch (e) {
      if (!rowError(e)) throw e;
      if (savepoints) await c.query("ROLLBACK TO SAVEPOINT cdc_row");
      dead.push([p.rec, `${(e as Error).message}`]);
    }
  }
}

async function applyGroup(c: Queryable, group: Prepared[], dialect: Dialect, unmatched: OutputRecord[]): Promise<void> {
  const first = group[0];
  if (first.oldValues) {
    if (!(await applyByOldRow(c, first))) unmatched.push(first.rec);
  } else if (first.nullKey) {
    for (const p of group) await applyNullKey(c, p);
  } else if (first.op === "truncate") {
    await c.query(dialect === "mysql" ? `DELETE FROM ${q(first.table)}` : `TRUNCATE TABLE ${q(first.table)}`);
  } else if (first.op === "delete") {
    await c.query(deleteSql(first.table, first.key, group.length), group.flatMap((p) => p.keyValues));
  } else {
    await c.query(upsertSql(first.table, first.columns, group.length, first.key, dialect), group.flatMap((p) => p.values));
  }
}

/** A row whose key holds a NULL (see null-key.ts): update by key, insert when none matched; delete by key. */
async function applyNullKey(c: Queryable, p: Prepared): Promise<void> {
  if (p.op === "delete") {
    await c.query(nullKeyDeleteSql(p.table, p.key), p.keyValues);
    return;
  }
  const [res] = await c.query(nullKeyUpdateSql(p.table, p.columns, p.key), nullKeyUpdateParams(p.columns, p.values, p.key, p.keyValues));
  if ((res as mysql.ResultSetHeader).affectedRows === 0) await c.query(nullKeyInsertSql(p.table, p.columns), p.values);
}
