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

  // Optional, used by the admin API and the dashboard (src/api/). A missing member makes the
  // matching endpoint answer 501. Throw CdcError("unknown_pipeline", ...) for a name not configured.
  /**
   * Hold a pipeline back from the next transaction boundary: its transactions wait in a bounded
   * hold (the source is held once it is full), its sinks and the slot stay at the pause point;
   * resume processes the hold in order. CdcError codes: unknown_pipeline, already_paused, not_paused, conflict.
   */
  pause?(pipeline: string): Promise<void> | void;
  resume?(pipeline: string): Promise<void> | void;
  /** Take a checkpoint now; resolves with what was written. */
  checkpoint?(): Promise<{ lsn?: string | bigint; durationMs?: number } | void>;
  /** Re-send dead-lettered rows (of one pipeline, or all) through their sinks. */
  replayDlq?(pipeline?: string): Promise<{ replayed: number; [detail: string]: unknown }>;
  /** The engagement scenario's top content (Redis sorted set top_engagement:10min), when it runs. */
  leaderboard?(): LeaderboardEntry[] | null | Promise<LeaderboardEntry[] | null>;
}

export interface LeaderboardEntry {
  member: string;
  score: number;
  /** A human label (content title), when known. */
  label?: string;
}
