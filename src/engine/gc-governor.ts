import type { Logger } from "pino";
import { heapSize } from "bun:jsc";
import { gcRuns } from "../metrics/metrics.ts";

/** Heap growth past the live size left by the last collection that is worth another one: at least this, */
const STEP = 16 * 1024 * 1024;
/** and at least this share of the live size (a collection's cost grows with what is alive). */
const GROWTH = 0.5;
const CHECK_MS = 250;

/**
 * Keeps the process' RSS near `state.gc_above` on a small host. JavaScriptCore sizes its heap
 * from the machine's RAM (on 24 GiB it lets a mirror's garbage pile up to ~250 MiB before
 * collecting); a full collection once RSS passes the limit keeps the same apply under ~200 MiB
 * at no measured cost in throughput (bench/lib/apply-wal.ts). A collection runs only when the
 * heap grew past what the last one left alive by STEP or half of it, so a large live state
 * (window state over the limit) is collected no more often than JavaScriptCore would itself.
 * 0 turns it off.
 */
export function startGcGovernor(limit: number, log: Logger): () => void {
  if (!limit) return () => {};
  let live = 0;
  const timer = setInterval(() => {
    if (process.memoryUsage.rss() <= limit || heapSize() < live + Math.max(STEP, live * GROWTH)) return;
    const t0 = performance.now();
    Bun.gc(true);
    live = heapSize();
    gcRuns.inc();
    log.debug({ ms: Math.round(performance.now() - t0), liveBytes: live }, "full garbage collection (state.gc_above)");
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
