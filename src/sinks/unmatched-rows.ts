import type { OutputRecord, SinkContext } from "./sink.ts";
import { sinkRowsUnmatched } from "../metrics/metrics.ts";

/**
 * Updates and deletes addressed by their old row (OutputRecord.byOldRow) that found no equal row
 * in the sink. PostgreSQL's logical replication logs such a change and skips it (the copy was
 * changed by hand, or was not complete): so do the sinks, counted per table
 * (cdc_engine_sink_rows_unmatched_total) and logged once per batch and table, not silently.
 * Called after the batch committed, so a retried batch is not counted twice.
 */
export function reportUnmatched(ctx: SinkContext, pipeline: string, records: OutputRecord[]): void {
  if (!records.length) return;
  const byTable = new Map<string, { updates: number; deletes: number }>();
  for (const r of records) {
    let n = byTable.get(r.table.name);
    if (!n) byTable.set(r.table.name, (n = { updates: 0, deletes: 0 }));
    if (r.op === "delete") n.deletes++;
    else n.updates++;
  }
  for (const [table, n] of byTable) {
    if (n.updates) sinkRowsUnmatched.inc({ sink: ctx.name, pipeline, table, op: "update" }, n.updates);
    if (n.deletes) sinkRowsUnmatched.inc({ sink: ctx.name, pipeline, table, op: "delete" }, n.deletes);
    ctx.log.warn({ pipeline, table, updates: n.updates, deletes: n.deletes }, `${n.updates} update(s) and ${n.deletes} delete(s) of ${table} (no key, REPLICA IDENTITY FULL) found no row equal to their old row in the sink: skipped, as PostgreSQL's logical replication does`);
  }
}
