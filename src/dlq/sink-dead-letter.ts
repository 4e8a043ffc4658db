import type { OutputRecord, SinkContext } from "../sinks/sink.ts";

/**
 * Hand a rejected record to the engine's dead-letter callback together with the pipeline it
 * came from: a sink serves several pipelines and the record does not name its pipeline.
 */
export function sinkDeadLetter(ctx: SinkContext, pipeline: string, record: OutputRecord, error: string): void {
  ctx.deadLetter(record, error, pipeline);
}
