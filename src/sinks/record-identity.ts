import { createHash } from "node:crypto";
import type { OutputRecord } from "./sink.ts";
import { toJsonText } from "./json.ts";

/**
 * A record's name for receivers that drop what they have seen (HTTP Idempotency-Key, BigQuery
 * insertId). A streamed record is `lsn:index`: after a crash the slot sends its transaction again,
 * whole and in the same order. An initial-snapshot record is named by what it is: every chunk
 * carries the snapshot's LSN, and a snapshot resumed after a crash reads the rows after its last
 * saved key again, fresh, so the numbering differs from the run before (rows inserted or deleted
 * in between; the runtime numbers each run's snapshot records above the last run's). Numbered by
 * position, a re-read row's name could be another row's, and the receiver dropped that row as a
 * duplicate (QA: a resumed snapshot started again at index 0 and lost 21,000 rows). The name is
 * the snapshot (Txn.snapshotOf: one name across a slot made again after a crash before the first
 * checkpoint), the output table, the operation and the row's content: a row read again unchanged
 * is the same record; a changed one (or a GROUP BY group's next value) is a new one. A keyless table's rows
 * keep lsn:index, as two equal rows are two records there: sent again after a resume, not lost.
 */
export function recordId(r: OutputRecord, snapshot: boolean): string {
  if (!snapshot || r.table.key.length === 0) return `${r.lsn}:${r.index}`;
  const digest = createHash("sha1").update(r.table.name).update("\0").update(r.op).update("\0").update(toJsonText(r.row)).digest("base64url");
  return `${r.snapshotOf ?? r.lsn}:r${digest}`;
}
