import type { Logger } from "pino";
import { heapSize } from "bun:jsc";
import { gcRuns } from "../metrics/metrics.ts";

const CHECK_MS = 100;
/** Collections take at most ~1/(PAUSE_SHARE+1) of the time: the next waits 5× the last one's pause. */
const PAUSE_SHARE = 5;
const MAX_BACKOFF_MS = 60_000;

/**
 * Keeps the process' RSS near `state.gc_above` on a small host. JavaScriptCore sizes its heap
 * from the machine's RAM (on 24 GiB it lets a mirror's garbage pile up to ~250 MiB before
 * collecting); a full collection once RSS passes the limit keeps the same apply at ~175 MiB
 * at no measured cost in throughput (bench/lib/apply-wal.ts). Two brakes: the next collection
 * waits 5× the last one's pause (a mirror's collections take a few ms), and when what is alive is
 * itself over the limit (large window state) collecting cannot help, so the wait doubles up to a
 * minute until the live size drops. Only RSS is read on the timer (heapSize() walks the heap; it is read
 * once after each collection). 0 turns it off.
 */
export function startGcGovernor(limit: number, log: Logger): () => void {
  if (!limit) return () => {};
  let nextAt = 0;
  let backoff = 0;
  const timer = setInterval(() => {
    if (performance.now() < nextAt || process.memoryUsage.rss() <= limit) return;
    const t0 = performance.now();
    Bun.gc(true);
    const ms = performance.now() - t0;
    const live = heapSize();
    backoff = live > limit ? Math.min(MAX_BACKOFF_MS, backoff ? backoff * 2 : 1000) : 0;
    nextAt = performance.now() + Math.max(ms * PAUSE_SHARE, backoff);
    gcRuns.inc();
    log.debug({ ms: Math.round(ms), liveBytes: live, nextInMs: Math.round(nextAt - performance.now()) }, "full garbage collection (state.gc_above)");
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
