import type { Logger } from "pino";
import type { Txn } from "../types.ts";
import { formatLsn } from "../types.ts";
import { CdcError } from "../errors.ts";
import { pipelinePaused } from "../metrics/metrics.ts";
import type { PipelineState } from "./pipeline-state.ts";
import type { Serial } from "./serial.ts";

/**
 * Admin pause and resume of one pipeline, run in the runtime's serial queue so that they take
 * effect at a transaction boundary. A paused pipeline's transactions wait in its hold (see
 * PauseHold); resume processes them in order with `processTxn` before it takes new ones.
 */
export function pipelineAdmin(d: { pipelines: PipelineState[]; serial: Serial; log: Logger; processTxn(ps: PipelineState, txn: Txn): Promise<void> }) {
  const pipelineNamed = (name: string): PipelineState => {
    const ps = d.pipelines.find((x) => x.runner.name === name);
    if (!ps) throw new CdcError("unknown_pipeline", `unknown pipeline '${name}'`);
    return ps;
  };

  /** Hold a pipeline back from the next transaction boundary. */
  const pause = async (name: string) => {
    const ps = pipelineNamed(name);
    await d.serial.run(async () => {
      if (ps.paused) throw new CdcError("already_paused", `pipeline '${name}' is already paused${ps.paused === "config" ? " (paused: true in the config)" : ""}`);
      ps.paused = "admin";
      pipelinePaused.set({ pipeline: name }, 1);
      d.log.info({ pipeline: name, lsn: ps.processedLsn !== null ? formatLsn(ps.processedLsn) : null }, "pipeline paused");
    });
  };

  /** Process what the pipeline held back, in order, then let it take transactions again. */
  const resume = async (name: string) => {
    const ps = pipelineNamed(name);
    await d.serial.run(async () => {
      if (ps.paused === "config") throw new CdcError("conflict", `pipeline '${name}' is paused in the config: set paused: false and restart (it catches up from the slot)`);
      if (!ps.paused) throw new CdcError("not_paused", `pipeline '${name}' is not paused`);
      const held = ps.hold.drain();
      for (const txn of held) await d.processTxn(ps, txn);
      ps.paused = null;
      pipelinePaused.set({ pipeline: name }, 0);
      ps.hold.release();
      d.log.info({ pipeline: name, caughtUp: held.length }, "pipeline resumed");
    });
  };

  return { pipelineNamed, pause, resume };
}
