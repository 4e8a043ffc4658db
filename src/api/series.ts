import type { Histogram, Counter, Gauge } from "prom-client";
import {
  changesRead,
  rowsWritten,
  commitToSinkSeconds,
  sourceLagBytes,
  sourceLagSeconds,
  checkpointAgeSeconds,
  dlqRows,
  slotRetainedBytes,
} from "../metrics/metrics.ts";

/** One sample of the engine's vital signs, for the dashboard charts. */
export interface SeriesPoint {
  /** Unix ms. */
  t: number;
  changesPerSec: number;
  rowsWrittenPerSec: number;
  /** commit→sink latency over the last interval, estimated from histogram buckets; null without writes. */
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  lagBytes: number;
  lagSeconds: number;
  slotRetainedBytes: number;
  checkpointAgeSeconds: number;
  dlqRowsTotal: number;
  changesTotal: number;
  rowsWrittenTotal: number;
  rssBytes: number;
}

interface Totals {
  t: number;
  changes: number;
  written: number;
  buckets: Map<number, number>;
}

/**
 * Samples the Prometheus metrics once a second into a ring of the last minutes, so the
 * dashboard can draw throughput and latency without a Prometheus server. Reading the
 * registry (rather than asking the runtime) keeps it working whatever runtime is plugged in.
 */
export class Series {
  readonly points: SeriesPoint[] = [];
  private prev: Totals | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private listeners = new Set<(p: SeriesPoint) => void>();

  constructor(
    readonly intervalMs = 1000,
    readonly capacity = 600,
  ) {}

  start(): this {
    if (this.timer) return this;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref?.();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  onPoint(fn: (p: SeriesPoint) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  latest(): SeriesPoint | null {
    return this.points[this.points.length - 1] ?? null;
  }

  async sample(now = Date.now()): Promise<SeriesPoint> {
    const cur: Totals = {
      t: now,
      changes: await sum(changesRead),
      written: await sum(rowsWritten),
      buckets: await bucketTotals(commitToSinkSeconds),
    };
    const prev = this.prev;
    const dt = prev ? Math.max((cur.t - prev.t) / 1000, 0.001) : 1;
    const delta = new Map<number, number>();
    for (const [le, n] of cur.buckets) delta.set(le, n - (prev?.buckets.get(le) ?? 0));
    const point: SeriesPoint = {
      t: now,
      changesPerSec: prev ? round((cur.changes - prev.changes) / dt) : 0,
      rowsWrittenPerSec: prev ? round((cur.written - prev.written) / dt) : 0,
      latencyP50Ms: prev ? quantileMs(delta, 0.5) : null,
      latencyP95Ms: prev ? quantileMs(delta, 0.95) : null,
      lagBytes: await gaugeValue(sourceLagBytes),
      lagSeconds: await gaugeValue(sourceLagSeconds),
      slotRetainedBytes: await gaugeValue(slotRetainedBytes),
      checkpointAgeSeconds: await gaugeValue(checkpointAgeSeconds),
      dlqRowsTotal: await sum(dlqRows),
      changesTotal: cur.changes,
      rowsWrittenTotal: cur.written,
      rssBytes: process.memoryUsage.rss(),
    };
    this.prev = cur;
    this.points.push(point);
    if (this.points.length > this.capacity) this.points.splice(0, this.points.length - this.capacity);
    for (const fn of this.listeners) fn(point);
    return point;
  }
}

async function sum(metric: Counter<string> | Gauge<string>): Promise<number> {
  const { values } = await metric.get();
  return values.reduce((a, v) => a + v.value, 0);
}

async function gaugeValue(g: Gauge<string>): Promise<number> {
  const { values } = await g.get();
  return values.length ? Math.max(...values.map((v) => v.value)) : 0;
}

/** Cumulative bucket counts summed over every label set (all sinks). */
async function bucketTotals(h: Histogram<string>): Promise<Map<number, number>> {
  const { values } = await h.get();
  const out = new Map<number, number>();
  for (const v of values) {
    if (!v.metricName?.endsWith("_bucket")) continue;
    const le = v.labels.le === "+Inf" ? Infinity : Number(v.labels.le);
    out.set(le, (out.get(le) ?? 0) + v.value);
  }
  return out;
}

/** Prometheus-style histogram_quantile: linear interpolation inside the bucket that holds q. */
export function quantileMs(cumulative: Map<number, number>, q: number): number | null {
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  const total = cumulative.get(Infinity) ?? (bounds.length ? cumulative.get(bounds[bounds.length - 1])! : 0);
  if (!total || total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let lowerCount = 0;
  for (const le of bounds) {
    const count = cumulative.get(le)!;
    if (count >= rank) {
      if (le === Infinity) return round(lower * 1000);
      const inBucket = count - lowerCount;
      const frac = inBucket > 0 ? (rank - lowerCount) / inBucket : 1;
      return round((lower + (le - lower) * frac) * 1000);
    }
    lower = le;
    lowerCount = count;
  }
  return round(lower * 1000);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
