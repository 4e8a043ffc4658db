import { expect, test } from "bun:test";
import { createApp } from "../../src/api/app.ts";
import { lateRows, breakerState, changesRead } from "../../src/metrics/metrics.ts";

/** Every metric issue 9 lists, by its exposed name (units in the name). */
const REQUIRED = [
  "cdc_engine_source_changes_total", // changes read by table and op
  "cdc_engine_sink_rows_written_total", // rows written by sink
  "cdc_engine_sink_batch_rows", // batch sizes
  "cdc_engine_commit_to_sink_seconds", // commit→sink latency histogram
  "cdc_engine_source_lag_bytes",
  "cdc_engine_source_lag_seconds",
  "cdc_engine_slot_wal_retained_bytes",
  "cdc_engine_checkpoint_duration_seconds",
  "cdc_engine_checkpoint_age_seconds",
  "cdc_engine_dlq_rows_total",
  "cdc_engine_dlq_pending_rows",
  "cdc_engine_late_rows_total",
  "cdc_engine_sink_retries_total",
  "cdc_engine_sink_breaker_state",
  "cdc_engine_process_resident_memory_bytes", // RSS
  "cdc_engine_nodejs_eventloop_lag_p99_seconds", // event-loop lag
  "cdc_engine_build_info",
];

test("GET /metrics: Prometheus text with every required cdc_engine_* metric, and values that move", async () => {
  const app = createApp({ components: () => [] });
  const scrape = async () => {
    const res = await app.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    return res.text();
  };
  const before = await scrape();
  for (const name of REQUIRED) expect(before).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, "m"));
  for (const line of before.split("\n")) if (line && !line.startsWith("#")) expect(line.startsWith("cdc_engine_")).toBe(true);

  changesRead.inc({ table: "public.t_metrics", op: "insert" }, 3);
  lateRows.inc({ pipeline: "p_metrics", policy: "dlq" });
  breakerState.set({ sink: "s_metrics" }, 2);
  const after = await scrape();
  expect(after).toContain('cdc_engine_source_changes_total{table="public.t_metrics",op="insert"} 3');
  expect(after).toContain('cdc_engine_late_rows_total{pipeline="p_metrics",policy="dlq"} 1');
  expect(after).toContain('cdc_engine_sink_breaker_state{sink="s_metrics"} 2');
  expect(Number(/^cdc_engine_process_resident_memory_bytes (\d+)/m.exec(after)![1])).toBeGreaterThan(10_000_000);
});
