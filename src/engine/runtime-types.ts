import type { HealthComponent } from "../api/health.ts";

/** What `serve` and the API see of a running engine. */
export interface Runtime {
  components(): HealthComponent[];
  /** JSON for /status: pipelines, positions, last checkpoint, snapshot progress, recent errors. */
  status(): Record<string, unknown>;
  /** Graceful stop: finish in-flight batches, final checkpoint, close connections. */
  stop(): Promise<void>;
  /** Resolves with null after stop(), or with the error that ended the run. */
  done: Promise<Error | null>;
}
