import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { PipelineConfig } from "../config/pipeline-schema.ts";
import type { Sink } from "../sinks/sink.ts";
import type { DeadLetters } from "../dlq/dead-letters.ts";
import type { DlqStore } from "../dlq/store.ts";
import { sinkFactory } from "../sinks/index.ts";
import { CdcError } from "../errors.ts";
import { dlqPendingRows } from "../metrics/metrics.ts";
import { noteDeadLetter } from "../metrics/dead-tally.ts";
import { targetsOf } from "./pipeline-runner.ts";
import { fromTables, tableMatcher } from "../config/table-refs.ts";
import type { ReplayGate } from "./dlq-replayer.ts";
import { DeadLetterLog } from "./dead-letter-log.ts";

/**
 * Opens every sink some pipeline writes to, in config order, each with the targets of all
 * pipelines writing to it. A record a sink rejects goes to the dead-letter queue under the
 * pipeline whose batch held it (else one writing to that sink that reads the record's table),
 * unless it is a replayed record (`gate`). On a failure the sinks opened so far are closed.
 */
export async function openSinks(
  config: Config,
  ctx: { stateDir: string; log: Logger; ownDlq: DlqStore | null; dlq: DeadLetters; gate: ReplayGate },
): Promise<{ sinks: Map<string, Sink>; openOrder: string[]; deadLetterLog: DeadLetterLog }> {
  const { log, ownDlq, dlq, gate } = ctx;
  const deadLetterLog = new DeadLetterLog(log);
  const sinks = new Map<string, Sink>();
  const openOrder: string[] = [];
  try {
    for (const p of config.pipelines) {
      for (const t of targetsOf(p)) {
        if (sinks.has(t.sink)) continue;
        const sc = config.sinks[t.sink];
        const factory = sinkFactory(sc.type);
        if (!factory) throw new CdcError("sink_unknown", `unknown sink type '${sc.type}'`, { component: `sink:${t.sink}` });
        const sink = factory.create(sc.options);
        const targets = config.pipelines.flatMap((q) => targetsOf(q).filter((x) => x.sink === t.sink).map((x) => ({ pipeline: q.name, options: x.options })));
        await sink.open({
          name: t.sink,
          targets,
          stateDir: ctx.stateDir,
          log: log.child({ component: `sink:${t.sink}` }),
          deadLetter: (record, error, from) => {
            if (gate.intercept(t.sink, error)) return; // a replayed record rejected again: it keeps its queue entry
            // The pipeline whose batch held it; else (a sink that does not say) one writing to this sink that reads the record's source table.
            const writers = config.pipelines.filter((q) => targetsOf(q).some((x) => x.sink === t.sink));
            const pipeline = from ?? (writers.find((q) => pipelineReads(q, record.source.table)) ?? writers[0])?.name ?? "";
            const queued = ownDlq ? ownDlq.putRecord(pipeline, t.sink, record, error) : dlq.put({ pipeline, stage: t.sink, table: record.table.name, row: record.row, error, lsn: record.lsn });
            if (queued !== false) dlqPendingRows.inc({ pipeline });
            noteDeadLetter(t.sink, pipeline, record.op);
            deadLetterLog.note(t.sink, pipeline, record.table.name, error);
          },
        });
        sinks.set(t.sink, sink);
        openOrder.push(t.sink);
      }
    }
  } catch (e) {
    await Promise.all([...sinks.values()].map((s) => s.close().catch(() => {})));
    throw e;
  }
  return { sinks, openOrder, deadLetterLog };
}

function pipelineReads(p: PipelineConfig, table: string): boolean {
  return tableMatcher(fromTables(p))(table);
}
