import type { Logger } from "pino";
import type { Sink } from "../sinks/sink.ts";
import type { Source } from "../source/source.ts";
import type { DlqStore } from "../dlq/store.ts";
import { formatLsn } from "../types.ts";
import { errorMessage } from "../errors.ts";
import { unlockStateDir } from "./state-lock.ts";
import type { CheckpointStore, Checkpoint } from "./checkpoint-store.ts";
import type { PipelineState } from "./pipeline-state.ts";
import type { Serial } from "./serial.ts";

export interface RuntimeShutdownDeps {
  pipelines: PipelineState[];
  sinks: Map<string, Sink>;
  serial: Serial;
  store: CheckpointStore;
  ownDlq: DlqStore | null;
  stateDir: string;
  log: Logger;
  /** Null until the runtime has created it. */
  source(): Source | null;
  checkpoint(): Checkpoint | null;
  /** Stop the checkpoint timer and the idle tick, and the checkpoint age gauge. */
  stopTimers(): void;
  takeCheckpoint(flush: boolean): Promise<void>;
  abandonCut(): void;
  noteError(message: string): void;
  /** After the sinks closed: what they sent to the DLQ during the stop is logged (DeadLetterLog.flush). */
  afterSinksClosed?(): void;
}

/**
 * The runtime's stop, once: a final checkpoint (on a clean stop) or a flush (after an error), then
 * the source, the sinks and the state dir closed. `done` resolves with the reason when it is over.
 */
export function runtimeShutdown(d: RuntimeShutdownDeps) {
  const { pipelines, sinks, serial, store, ownDlq, stateDir, log } = d;
  let resolveDone!: (e: Error | null) => void;
  const done = new Promise<Error | null>((r) => (resolveDone = r));
  let finished = false;
  const finish = (e: Error | null) => {
    if (finished) return;
    finished = true;
    resolveDone(e);
  };

  let stopping = false;
  let stopped: Promise<void> | null = null;
  let sinksClosed: Promise<unknown> | null = null;
  const closeSinks = () => (sinksClosed ??= Promise.all([...sinks.values()].map((s) => s.close().catch(() => {}))));
  const shutdown = (reason: Error | null): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      for (const ps of pipelines) ps.hold.release(); // a source held by a full pause hold lets go
      d.stopTimers();
      // The source stays connected until the final checkpoint is confirmed to it (onTxn ignores
      // what arrives meanwhile: it was never confirmed, so the slot sends it again after a restart).
      // A sink that stays down must not hold the stop forever.
      // Closing the sinks too: a write in flight inside a sink (BigQuery's retry of a refused
      // connection, a webhook's) was not ended by the writers' give-up, and the flush waited on
      // it for good (QA: serve still running 70 s after SIGTERM, past systemd's stop timeout).
      const giveUp = setTimeout(() => {
        log.warn("a sink has not taken the final batches in 15 s: stopping without them (not checkpointed: they are sent again after the restart)");
        pipelines.forEach((ps) => ps.writers.forEach((w) => w.giveUp()));
        d.abandonCut();
        void closeSinks();
      }, 15_000);
      try {
        await serial.run(async () => {
          if (reason === null) await d.takeCheckpoint(true);
          else await Promise.all(pipelines.flatMap((ps) => ps.writers.map((w) => w.flush().catch(() => {}))));
        });
      } catch (e) {
        reason ??= e as Error;
        d.noteError(errorMessage(e));
      } finally {
        clearTimeout(giveUp);
      }
      await d.source()?.stop().catch((e) => log.warn({ err: errorMessage(e) }, "source stop failed"));
      await closeSinks();
      d.afterSinksClosed?.();
      store.close();
      ownDlq?.close();
      unlockStateDir(stateDir);
      // spill files: a restart in-process opens them anew, so the old handles must not linger
      for (const ps of pipelines) ps.runner.close?.();
      // The error itself is logged where it ended the runtime ("runtime failed") or thrown to the caller.
      const checkpoint = d.checkpoint();
      log.info({ checkpoint: checkpoint ? formatLsn(checkpoint.lsn) : null }, reason ? "runtime stopped after an error" : "runtime stopped");
      finish(reason);
    })());

  return {
    shutdown,
    /** True from the first shutdown call on: what arrives from the source is ignored. */
    stopping: () => stopping,
    done,
  };
}
