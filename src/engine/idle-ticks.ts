import type { OutputRecord } from "../sinks/sink.ts";
import type { Lsn } from "../types.ts";
import type { PipelineState } from "./pipeline-state.ts";
import type { Serial } from "./serial.ts";

/**
 * Output emitted on an idle tick (windows closing, join rows released) has no source transaction
 * of its own. It is stamped processedLsn + n: above everything the sinks hold, so their position
 * fences accept it, and still below the next commit LSN (a WAL record is longer than the few
 * bytes used here). Past MAX_TICKS_PER_LSN the output waits for the next transaction or heartbeat.
 */
const MAX_TICKS_PER_LSN = 16;

export interface IdleTicksDeps {
  pipelines: PipelineState[];
  serial: Serial;
  /** Idle tick that advances watermarks (ms). */
  tickMs: number;
  /** When the last transaction arrived (Date.now()). */
  lastTxnAt(): number;
  midTxn(): boolean;
  route(ps: PipelineState, records: OutputRecord[], lsn: Lsn, snapshot: boolean): Promise<unknown>;
  /** Re-counted from the store every 10 s. */
  refreshDlqPending(): void;
  fail(e: unknown): void;
}

/**
 * The idle tick: when no transaction came for `tickMs`, advance every running pipeline's
 * watermark to now (windows close, join rows waiting for a match go out) in the serial queue.
 * Returns the timer's stop.
 */
export function startIdleTicks(d: IdleTicksDeps): () => void {
  const { pipelines, serial, tickMs } = d;
  let lastDlqRefresh = Date.now();
  const tick = setInterval(() => {
    if (Date.now() - lastDlqRefresh >= 10_000) {
      lastDlqRefresh = Date.now();
      d.refreshDlqPending();
    }
    if (Date.now() - d.lastTxnAt() < tickMs || !serial.idle() || d.midTxn()) return;
    void serial
      .run(async () => {
        for (const ps of pipelines) {
          if (ps.paused) continue;
          if (ps.processedLsn === null) continue;
          if (ps.ticks.after !== ps.processedLsn) ps.ticks = { after: ps.processedLsn, n: 0 };
          if (ps.ticks.n >= MAX_TICKS_PER_LSN) continue;
          const lsn = ps.processedLsn + BigInt(ps.ticks.n + 1);
          const recs = ps.runner.onWatermark(Date.now(), lsn);
          if (!recs.length) continue;
          ps.ticks.n++;
          await d.route(ps, recs, lsn, true);
        }
      })
      .catch(d.fail);
  }, tickMs);
  return () => clearInterval(tick);
}
