import type { OutputBatch, SinkContext } from "../sink.ts";
import { sinkDeadLetter } from "../../dlq/sink-dead-letter.ts";
import { OFFSETS_TABLE } from "./ddl.ts";

/**
 * The batch without records for the sink's own positions table. A source table
 * `public.cdc_engine_offsets` (a database that is itself another engine's sink, mirrored with
 * `public.*`) was upserted into `<schema>.cdc_engine_offsets`: its rows sat beside the sink's
 * positions, and one with the same (pipeline, sink) replaced this sink's position, so a restart
 * skipped or replayed by the other engine's LSN. Those records go to the DLQ instead.
 */
export function withoutOwnTable(batch: OutputBatch, schema: string, ctx: SinkContext): OutputBatch {
  const own = `${schema}.${OFFSETS_TABLE}`;
  const target = (name: string) => (name.includes(".") ? name : `${schema}.${name}`);
  if (!batch.records.some((r) => target(r.table.name) === own)) return batch;
  const records = batch.records.filter((r) => {
    if (target(r.table.name) !== own) return true;
    sinkDeadLetter(ctx, batch.pipeline, r, `${r.table.name} maps to ${own}, the sink's own positions table: send it through a pipeline of its own with another to.table`);
    return false;
  });
  return { ...batch, records };
}
