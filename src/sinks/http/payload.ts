import type { OutputRecord } from "../sink.ts";
import { recordId } from "../record-identity.ts";

const DEBEZIUM_OP: Record<string, string> = { insert: "c", update: "u", delete: "d", read: "r", truncate: "t" };

/** The JSON value sent for one record (serialised with toJsonText: bigint stays exact). */
export function payloadOf(r: OutputRecord, kind: "row" | "envelope", nowMs: number): unknown {
  if (kind === "row") return r.op === "delete" ? { ...r.row, __deleted: true } : r.row;
  const dot = r.source.table.indexOf(".");
  const op = r.op === "delete" ? "d" : r.op === "truncate" ? "t" : (DEBEZIUM_OP[r.source.op] ?? "u");
  return {
    before: r.before ?? (r.op === "delete" ? r.row : null),
    after: r.op === "delete" || r.op === "truncate" ? null : r.row,
    source: {
      lsn: r.lsn,
      txId: r.source.xid,
      ts_ms: r.commitTime / 1000n,
      schema: dot < 0 ? "public" : r.source.table.slice(0, dot),
      table: dot < 0 ? r.source.table : r.source.table.slice(dot + 1),
      index: r.index,
    },
    op,
    ts_ms: nowMs,
  };
}

/**
 * Stable key for a request, naming exactly the records it carries: `pipeline:id` of a lone
 * record, `pipeline:id-id` of a request's first and last (recordId: `lsn:index`, or a snapshot
 * row's content name). A request refused
 * with a 4xx is re-sent record by record; had its first record kept the request's key, a
 * receiver that stores the answer per key (Stripe does, 4xx included) would answer that record
 * with the cached refusal, or drop it as a duplicate.
 */
export function idempotencyKey(pipeline: string, records: OutputRecord[], snapshot = false): string {
  const first = recordId(records[0], snapshot);
  return records.length === 1 ? `${pipeline}:${first}` : `${pipeline}:${first}-${recordId(records[records.length - 1], snapshot)}`;
}
