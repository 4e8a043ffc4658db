import { VERSION, GIT_COMMIT } from "../version.ts";
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from "prom-client";

/**
 * Every Prometheus metric the engine exposes on /metrics, in one registry. Names are
 * cdc_engine_* with the unit in the name. Components import the metric they update;
 * labels are fixed here so dashboards can rely on them.
 */
export const registry = new Registry();
// prom-client's process metrics under our prefix: cdc_engine_process_resident_memory_bytes (RSS),
// cdc_engine_nodejs_eventloop_lag_p99_seconds (event-loop lag, from monitorEventLoopDelay), heap, fds.
collectDefaultMetrics({ register: registry, prefix: "cdc_engine_" });
staleWhileRevalidate("cdc_engine_nodejs_heap_space_size_total_bytes", 10_000);

/**
 * Per-space heap statistics (v8.getHeapSpaceStatistics) cost ~15 ms a call under Bun, most
 * of a scrape. Their collector runs at most every `everyMs`, after the response (the scrape
 * shows values at most one refresh old), so /metrics stays cheap at any scrape interval.
 */
function staleWhileRevalidate(name: string, everyMs: number): void {
  const metric = registry.getSingleMetric(name) as unknown as { collect?: () => void } | undefined;
  const collect = metric?.collect;
  if (!metric || !collect) return;
  let last = 0;
  let scheduled = false;
  metric.collect = () => {
    if (last === 0) {
      last = Date.now();
      collect.call(metric); // the first scrape has values
      return;
    }
    if (scheduled || Date.now() - last < everyMs) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      last = Date.now();
      collect.call(metric);
    }, 0).unref?.();
  };
}

const reg = { registers: [registry] };

export const changesRead = new Counter({ name: "cdc_engine_source_changes_total", help: "Row changes read from the source", labelNames: ["table", "op"], ...reg });
export const txnsRead = new Counter({ name: "cdc_engine_source_transactions_total", help: "Committed transactions read from the source", ...reg });
export const sourceLagBytes = new Gauge({ name: "cdc_engine_source_lag_bytes", help: "WAL bytes between the server's current LSN and the confirmed LSN", ...reg });
export const sourceLagSeconds = new Gauge({ name: "cdc_engine_source_lag_seconds", help: "Seconds since the commit of the last transaction processed", ...reg });
export const slotRetainedBytes = new Gauge({ name: "cdc_engine_slot_wal_retained_bytes", help: "WAL retained behind the replication slot", ...reg });
export const spilledTxns = new Counter({ name: "cdc_engine_source_spilled_transactions_total", help: "Transactions larger than the memory budget, spilled to disk", ...reg });

export const rowsWritten = new Counter({ name: "cdc_engine_sink_rows_written_total", help: "Rows written by a sink", labelNames: ["sink", "pipeline", "op"], ...reg });
export const batchRows = new Histogram({
  name: "cdc_engine_sink_batch_rows",
  help: "Rows per sink batch",
  labelNames: ["sink"],
  buckets: [1, 10, 100, 500, 1000, 5000, 20000],
  ...reg,
});
export const commitToSinkSeconds = new Histogram({
  name: "cdc_engine_commit_to_sink_seconds",
  help: "Latency from source commit to durable sink write",
  labelNames: ["sink"],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  ...reg,
});
export const sinkRowsUnmatched = new Counter({ name: "cdc_engine_sink_rows_unmatched_total", help: "Updates and deletes of a keyless REPLICA IDENTITY FULL table that found no equal row in the sink (skipped, as logical replication does)", labelNames: ["sink", "pipeline", "table", "op"], ...reg });
export const sinkRetries = new Counter({ name: "cdc_engine_sink_retries_total", help: "Sink write attempts retried", labelNames: ["sink"], ...reg });
export const breakerState = new Gauge({ name: "cdc_engine_sink_breaker_state", help: "Circuit breaker: 0 closed, 1 half-open, 2 open", labelNames: ["sink"], ...reg });
export const sinkUp = new Gauge({ name: "cdc_engine_sink_up", help: "1 when the sink is healthy", labelNames: ["sink"], ...reg });

export const dlqRows = new Counter({ name: "cdc_engine_dlq_rows_total", help: "Rows sent to the dead-letter queue", labelNames: ["pipeline", "stage"], ...reg });
export const lateRows = new Counter({ name: "cdc_engine_late_rows_total", help: "Rows behind the watermark", labelNames: ["pipeline", "policy"], ...reg });
export const joinMisses = new Counter({ name: "cdc_engine_join_misses_total", help: "Rows that went on with NULL enrichment after waiting for a join match", labelNames: ["pipeline"], ...reg });
export const operatorState = new Gauge({ name: "cdc_engine_operator_state_entries", help: "Entries held in operator state (window_rows, window_panes, window_groups, join_rows, join_waiting in memory; window_rows_spilled, join_rows_spilled, spilled_bytes on disk; estimated_bytes, budget_bytes)", labelNames: ["pipeline", "kind"], ...reg });

export const checkpointSeconds = new Histogram({
  name: "cdc_engine_checkpoint_duration_seconds",
  help: "From a checkpoint cut at a transaction boundary to it being stored (includes waiting for every writer to hold the cut; transactions go on meanwhile)",
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  ...reg,
});
let checkpointAge: (() => number) | null = null;
/** The running engine's checkpoint age, read at each scrape: set on the idle tick, it lagged by a tick (more under load). */
export function reportCheckpointAge(fn: (() => number) | null): void {
  checkpointAge = fn;
}
export const checkpointAgeSeconds = new Gauge({
  name: "cdc_engine_checkpoint_age_seconds",
  help: "Seconds since the last checkpoint",
  collect() {
    if (checkpointAge) this.set(checkpointAge());
  },
  ...reg,
});
export const checkpointLsn = new Gauge({ name: "cdc_engine_checkpoint_lsn", help: "LSN of the last checkpoint (as a number; precise up to 2^53)", ...reg });
export const snapshotRows = new Counter({ name: "cdc_engine_snapshot_rows_total", help: "Rows read by the initial snapshot", labelNames: ["table"], ...reg });
export const dlqPendingRows = new Gauge({ name: "cdc_engine_dlq_pending_rows", help: "Rows waiting in the dead-letter queue (not replayed yet)", labelNames: ["pipeline"], ...reg });
export const dlqReplayedRows = new Counter({ name: "cdc_engine_dlq_replayed_rows_total", help: "Dead-letter rows replayed into their pipeline", labelNames: ["pipeline"], ...reg });
export const pipelinePaused = new Gauge({ name: "cdc_engine_pipeline_paused", help: "1 while a pipeline is paused by the admin API", labelNames: ["pipeline"], ...reg });
export const adminRequests = new Counter({ name: "cdc_engine_admin_requests_total", help: "Admin API requests by action and HTTP status", labelNames: ["action", "status"], ...reg });

export const runtimeRestarts = new Counter({ name: "cdc_engine_runtime_restarts_total", help: "Times serve restarted the engine in-process after a recoverable failure (e.g. a sink lost a large transaction)", ...reg });
export const gcRuns = new Counter({ name: "cdc_engine_gc_runs_total", help: "Full garbage collections run because RSS passed state.gc_above", ...reg });
export const buildInfo = new Gauge({ name: "cdc_engine_build_info", help: "Always 1; labels carry the version and git commit", labelNames: ["version", "commit"], ...reg });
buildInfo.set({ version: VERSION, commit: GIT_COMMIT }, 1);
