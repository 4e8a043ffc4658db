import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { Sink } from "../sinks/sink.ts";
import { CdcError, errorMessage } from "../errors.ts";
import type { DlqStore, StoredDeadLetter } from "../dlq/store.ts";
import { emptyReplayResult, groupBySink, replayIntoSink, withoutSuperseded, writeReplay, type ReplayResult } from "../dlq/replay.ts";
import type { PipelineState } from "./pipeline-state.ts";
import type { Serial } from "./serial.ts";
import { formatLsn } from "../types.ts";

/**
 * While a replay writes to a sink (`sink name`) or runs a pipeline (`pipeline:name`), a rejection
 * from there is the replayed row's own: it is noted for the replay (the entry keeps its place in
 * the queue) instead of being queued again as a new dead letter.
 */
export class ReplayGate {
  private target: string | null = null;
  private rejection: string | null = null;

  /** True when `target` is being replayed: the error is kept for the replay, not dead-lettered. */
  intercept(target: string, error: string): boolean {
    if (this.target !== target) return false;
    this.rejection = error;
    return true;
  }

  /** The rejection noted since the last take (null: none). */
  take(): string | null {
    const r = this.rejection;
    this.rejection = null;
    return r;
  }

  async during<T>(target: string, fn: () => Promise<T>): Promise<T> {
    this.target = target;
    this.rejection = null;
    try {
      return await fn();
    } finally {
      this.target = null;
      this.rejection = null;
    }
  }
}

export interface DlqReplayerDeps {
  config: Config;
  pipelines: PipelineState[];
  sinks: Map<string, Sink>;
  dlq: DlqStore | null;
  serial: Serial;
  gate: ReplayGate;
  log: Logger;
  pipelineNamed(name: string): PipelineState;
  refreshDlqPending(): void;
}

export type ReplayOutcome = { replayed: number; failed: ReplayResult["failed"]; skipped: ReplayResult["skipped"]; superseded: { id: number; lsn: string }[] };

/**
 * DLQ replay through the engine's own sinks, between transactions: every writer of the sink
 * is flushed first, so postgres and sqlite (which rewrite the position they hold) race with
 * no batch of the engine. A record the sink rejects again stays in the queue (not a new row).
 */
export function dlqReplayer(d: DlqReplayerDeps): (pipeline?: string) => Promise<ReplayOutcome> {
  const { config, pipelines, sinks, gate } = d;

  /**
   * A row an operator rejected (transform, validate) goes through its pipeline again, as the
   * source change it was (after a fixed rule and a restart, it passes now), and the output is
   * written out of band to every sink of the pipeline. Stateful pipelines (windows, joins) are
   * skipped: feeding their state a row out of commit order would not survive a restart.
   */
  const throughPipeline = async (dlq: DlqStore, e: StoredDeadLetter, result: ReplayResult): Promise<void> => {
    const ps = pipelines.find((x) => x.runner.name === e.pipeline);
    if (!ps) return void result.skipped.push({ id: e.id, reason: `pipeline '${e.pipeline}' is not in this config` });
    if (!e.source) return void result.skipped.push({ id: e.id, reason: "no source change kept (queued by an older version)" });
    const pc = config.pipelines.find((x) => x.name === e.pipeline)!;
    if (pc.window || pc.join?.length || pc.aggregate || pc.group_by) return void result.skipped.push({ id: e.id, reason: "the pipeline keeps state (windows or joins): a replayed row would change it out of commit order" });
    if (ps.paused) return void result.failed.push({ id: e.id, error: `pipeline '${e.pipeline}' is paused; replay after resume` });
    const failing = ps.writers.map((w) => w.health()).find((h) => h);
    if (failing) return void result.failed.push({ id: e.id, error: `a sink of '${e.pipeline}' is failing (${failing.reason}); replay once it is back` });
    await gate.during(`pipeline:${e.pipeline}`, async () => {
      try {
        const records = await ps.runner.process({ lsn: e.lsn, endLsn: e.lsn, xid: 0, commitTime: 0n, changes: [e.source!] });
        const rejected = gate.take();
        if (rejected !== null) return void result.failed.push({ id: e.id, error: rejected });
        await Promise.all(ps.writers.map((w) => w.flush()));
        for (const [i, w] of ps.writers.entries()) {
          const recs = ps.renames[i] ? ps.renames[i]!(records) : records;
          if (recs.length) await writeReplay(sinks.get(w.sinkName)!, config.sinks[w.sinkName].type, e.pipeline, recs);
        }
        dlq.remove([e.id]);
        result.replayed++;
      } catch (err) {
        result.failed.push({ id: e.id, error: errorMessage(err) });
      }
    });
  };

  return async (pipeline) => {
    if (pipeline !== undefined) d.pipelineNamed(pipeline);
    const dlq = d.dlq;
    if (!dlq) throw new CdcError("conflict", "this runtime's dead letters are not kept in the DLQ store");
    return d.serial.run(async () => {
      const result = emptyReplayResult();
      const all = withoutSuperseded(dlq, dlq.list({ pipeline }), result);
      for (const e of all) if (e.stage === "operator") await throughPipeline(dlq, e, result);
      const bySink = groupBySink(config, all.filter((e) => e.stage !== "operator"), result);
      for (const [name, entries] of bySink) {
        const sink = sinks.get(name);
        if (!sink) {
          for (const e of entries) result.skipped.push({ id: e.id, reason: `no pipeline writes to sink '${name}' now` });
          continue;
        }
        const writers = pipelines.flatMap((ps) => ps.writers.filter((w) => w.sinkName === name));
        const failing = writers.map((w) => w.health()).find((h) => h);
        if (failing) {
          for (const e of entries) result.failed.push({ id: e.id, error: `sink ${name} is failing (${failing.reason}); replay once it is back` });
          continue;
        }
        await Promise.all(writers.map((w) => w.flush()));
        await gate.during(name, () => replayIntoSink(sink, config.sinks[name].type, entries, dlq, result, { take: () => gate.take() }));
      }
      d.refreshDlqPending();
      d.log.info({ pipeline, replayed: result.replayed, failed: result.failed.length, skipped: result.skipped.length, superseded: result.superseded.length }, "dead letters replayed");
      return { ...result, superseded: result.superseded.map((s) => ({ id: s.id, lsn: formatLsn(s.lsn) })) };
    });
  };
}
