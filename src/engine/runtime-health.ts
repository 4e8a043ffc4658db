import { join } from "node:path";
import type { HealthComponent } from "../api/health.ts";
import type { Health, Sink } from "../sinks/sink.ts";
import type { Source } from "../source/source.ts";
import type { Lsn } from "../types.ts";
import { formatLsn } from "../types.ts";
import type { Checkpoint } from "./checkpoint-store.ts";
import type { PipelineState } from "./pipeline-state.ts";

/** /health/checkpoint is down once the last checkpoint is older than this many checkpoint intervals. */
const STALE_CHECKPOINTS = 3;

/** What /health and /status read of a running engine (getters: the values change while it runs). */
export interface RuntimeView {
  source: Source;
  sinks: Map<string, Sink>;
  /** Sink names in the order they were opened. */
  openOrder: string[];
  pipelines: PipelineState[];
  stateDir: string;
  checkpointIntervalMs: number;
  startedAt: number;
  checkpoint(): Checkpoint | null;
  /** Last transaction boundary seen (null: nothing to checkpoint yet). */
  lastLsn(): Lsn | null;
  lastConfirmed(): Lsn | null;
  transactions(): number;
  errors(): { at: string; message: string }[];
}

/** Down once the last checkpoint is older than STALE_CHECKPOINTS intervals (none yet: since start, once there is something to checkpoint). */
function checkpointHealth(v: RuntimeView) {
  const interval = v.checkpointIntervalMs;
  const limitMs = STALE_CHECKPOINTS * interval;
  const checkpoint = v.checkpoint();
  // Since this start at most: a checkpoint from before a long stop is not a stuck engine.
  const ageMs = Date.now() - Math.max(checkpoint?.createdAt ?? 0, v.startedAt);
  const details = { lsn: checkpoint ? formatLsn(checkpoint.lsn) : null, ageSeconds: checkpoint ? Math.round(ageMs / 1000) : null, intervalSeconds: interval / 1000, file: join(v.stateDir, "checkpoints.db") };
  if (ageMs > limitMs && (checkpoint !== null || v.lastLsn() !== null)) {
    const what = checkpoint ? `last checkpoint ${Math.round(ageMs / 1000)} s ago` : `no checkpoint in ${Math.round(ageMs / 1000)} s`;
    return { status: "down" as const, reason: `${what}, more than ${STALE_CHECKPOINTS}× the ${interval / 1000} s interval (engine stuck behind a sink or a held source?)`, details };
  }
  return { status: "up" as const, details };
}

/** The health components: source, each sink (a failing writer first), the checkpoint, each pipeline. */
export function healthComponents(v: RuntimeView): HealthComponent[] {
  const { pipelines } = v;
  // One request asks each sink once: its own component and each pipeline writing to it read the same answer.
  const asked = new Map<string, Promise<Health>>();
  const sinkHealth = (name: string): Promise<Health> | undefined => {
    const sink = v.sinks.get(name);
    if (!sink) return undefined;
    let h = asked.get(name);
    if (!h) asked.set(name, (h = Promise.resolve(sink.health())));
    return h;
  };
  return [
    { name: "source", health: () => v.source.health() },
    ...v.openOrder.map((name) => ({
      name: `sink:${name}`,
      health: async () => {
        for (const ps of pipelines) for (const w of ps.writers) if (w.sinkName === name) {
          const h = w.health();
          if (h) return h;
        }
        return sinkHealth(name)!;
      },
    })),
    { name: "checkpoint", health: () => checkpointHealth(v) },
    ...pipelines.map((ps) => ({
      name: `pipeline:${ps.runner.name}`,
      health: async () => {
        const failing = ps.writers.map((w) => w.health()).find((h) => h);
        if (failing) return { status: "degraded" as const, reason: `sink ${failing.reason}` };
        // A sink that retries inside its own write (mysql, redis) leaves the writer unaware: its
        // pipeline showed up for the whole outage while /health/sink:<name> was down.
        for (const w of ps.writers) {
          const h = await sinkHealth(w.sinkName);
          if (h && h.status !== "up") return { status: "degraded" as const, reason: `sink ${w.sinkName}: ${h.reason ?? h.status}` };
        }
        const details = { paused: ps.paused !== null, ...(ps.paused ? { pausedBy: ps.paused, heldTransactions: ps.hold.length } : {}), lsn: ps.processedLsn !== null ? formatLsn(ps.processedLsn) : null };
        if (ps.paused === "admin" && ps.hold.full()) return { status: "degraded" as const, reason: "paused and its hold is full: the source is held for every pipeline until it is resumed", details };
        return { status: "up" as const, details };
      },
    })),
  ];
}

/** JSON for /status: source stats, positions, last checkpoint, per pipeline its sinks' queues, recent errors. */
export function runtimeStatus(v: RuntimeView): Record<string, unknown> {
  const checkpoint = v.checkpoint();
  const confirmed = v.lastConfirmed();
  return {
    source: v.source.stats ? jsonSafe(v.source.stats()) : null,
    transactions: v.transactions(),
    confirmedLsn: confirmed !== null ? formatLsn(confirmed) : null,
    checkpoint: checkpoint ? { lsn: formatLsn(checkpoint.lsn), at: new Date(checkpoint.createdAt).toISOString() } : null,
    pipelines: v.pipelines.map((ps) => ({
      name: ps.runner.name,
      paused: ps.paused !== null,
      ...(ps.paused ? { pausedBy: ps.paused, held: { transactions: ps.hold.length, changes: ps.hold.changes, bytes: ps.hold.bytes } } : {}),
      lsn: ps.processedLsn !== null ? formatLsn(ps.processedLsn) : null,
      sinks: ps.writers.map((w) => ({ sink: w.sinkName, position: w.durable !== null ? formatLsn(w.durable) : null, queued: w.queued(), written: w.written, error: w.lastError })),
    })),
    errors: [...v.errors()],
  };
}

function jsonSafe(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? formatLsn(x) : x)));
}
