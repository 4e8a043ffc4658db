import type { OutputRecord, SinkContext } from "../sinks/sink.ts";

/**
 * Hand a rejected record to the engine's dead-letter callback together with the pipeline it
 * came from. SinkContext.deadLetter declares (record, error); a sink serves several pipelines
 * and the record does not name its pipeline, so the pipeline goes along as a third argument
 * that an engine callback declared as (record, error, pipeline?) receives.
 */
export function sinkDeadLetter(ctx: SinkContext, pipeline: string, record: OutputRecord, error: string): void {
  (ctx.deadLetter as (record: OutputRecord, error: string, pipeline: string) => void)(record, error, pipeline);
}
