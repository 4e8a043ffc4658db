/**
 * A checkpoint cut waiting to be stored. The operator state is snapshotted at a transaction
 * boundary (the consistent cut) and the pipeline goes on at once; the cut is stored only once
 * every writer holds what it was given up to that boundary, which the writers reach by their own
 * batching. Flushing every writer first (as before) held all transactions back for the longest
 * batch delay at each checkpoint: ~100 ms of commit→sink latency every interval (bench/latency.ts).
 *
 * One cut at a time: the operators' incremental deltas and the spill file's epochs are chained
 * cut after cut, so a later cut is never taken before the earlier one is stored.
 */
export class PendingCut {
  private inFlight: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private abandoned = false;

  get busy(): boolean {
    return this.inFlight !== null;
  }

  /** A writer's durable position moved: the cut may be storable now. */
  progress(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Store the cut with `save` once `ready()` (checked after each progress()); resolves when stored or given up. */
  start(ready: () => boolean, save: () => void): Promise<void> {
    const job = (async () => {
      while (!ready()) {
        if (this.abandoned) return;
        await new Promise<void>((r) => (this.wake = r));
      }
      if (!this.abandoned) save();
    })();
    this.inFlight = job.finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** Resolves when no cut is waiting. */
  settled(): Promise<void> {
    return this.inFlight ?? Promise.resolve();
  }

  /** Stop waiting (the engine stops and its writers gave up): the cut is not stored. */
  abandon(): void {
    this.abandoned = true;
    this.progress();
  }
}
