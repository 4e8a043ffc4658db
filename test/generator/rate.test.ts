import { describe, expect, test } from "bun:test";
import { runGenerator, type GeneratorStats } from "../../src/generator/index.ts";
import { freshDb, quiet } from "./helpers.ts";

describe("generate: rate control", () => {
  test("500 rows/s for 5 s writes 2,500 rows (±15%), spread over the whole time", async () => {
    const db = await freshDb("rate");
    try {
      const lines: GeneratorStats[] = [];
      const t0 = performance.now();
      const s = await runGenerator({ url: db.url, dataset: "engagement", init: true, rate: 500, durationMs: 5000, progress: "none", statsIntervalMs: 1000, onStats: (x) => lines.push(x), ...quiet() });
      const elapsed = (performance.now() - t0) / 1000;
      expect(s.stopped_by).toBe("duration");
      expect(s.target_rate).toBe(500);
      const [r] = await db.sql`select count(*)::int n, extract(epoch from max(event_ts) - min(event_ts))::float span from engagement_events`;
      const [c] = await db.sql`select count(*)::int - 200 n from content`; // content published during the run
      expect(r.n + c.n).toBe(s.inserted);
      expect(r.n).toBeGreaterThan(2500 * 0.85);
      expect(r.n).toBeLessThan(2500 * 1.15);
      expect(elapsed).toBeLessThan(8);
      // Paced, not a burst: the event timestamps cover most of the 5 s.
      expect(r.span).toBeGreaterThan(4);
      const interval = lines.filter((l) => l.event === "generate.stats");
      expect(interval.length).toBeGreaterThanOrEqual(3);
    } finally {
      await db.end();
    }
  }, 120_000);

  test("a rate per minute (6000/min = 100 rows/s) and a count: stops at the count", async () => {
    const db = await freshDb("rate");
    try {
      const t0 = performance.now();
      const s = await runGenerator({ url: db.url, dataset: "orders", init: true, rate: 6000 / 60, count: 300, progress: "none", ...quiet() });
      const elapsed = (performance.now() - t0) / 1000;
      expect(s.rows).toBe(300);
      expect(elapsed).toBeGreaterThan(2.5); // 300 rows at 100/s: about 3 s
      expect(elapsed).toBeLessThan(6);
      const [r] = await db.sql`select count(*)::int n from orders`;
      expect(r.n).toBe(300);
    } finally {
      await db.end();
    }
  }, 120_000);

  test("--burst N inserts N at once and stops; with a rate it goes on at the rate", async () => {
    const db = await freshDb("rate");
    try {
      const s = await runGenerator({ url: db.url, dataset: "engagement", init: true, burst: 20_000, progress: "none", ...quiet() });
      expect(s.stopped_by).toBe("burst");
      // events are counted; the content rows published now and then come on top
      expect(s.rows).toBe(20_000);
      const [e] = await db.sql`select count(*)::int n from engagement_events`;
      const [c] = await db.sql`select count(*)::int - 200 n from content`;
      expect(e.n).toBe(20_000);
      expect(s.inserted).toBe(20_000 + c.n);
      const s2 = await runGenerator({ url: db.url, dataset: "engagement", burst: 1000, rate: 200, durationMs: 2000, progress: "none", ...quiet() });
      expect(s2.stopped_by).toBe("duration");
      expect(s2.rows).toBeGreaterThan(1000 + 200 * 2 * 0.7);
      expect(s2.rows).toBeLessThan(1000 + 200 * 2 * 1.3);
    } finally {
      await db.end();
    }
  }, 120_000);

  test("an abort signal stops a continuous run cleanly, with a summary", async () => {
    const db = await freshDb("rate");
    try {
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 1500);
      const s = await runGenerator({ url: db.url, dataset: "orders", init: true, rate: 1000, signal: stop.signal, progress: "none", ...quiet() });
      expect(s.stopped_by).toBe("signal");
      const [r] = await db.sql`select count(*)::int n from orders`;
      expect(r.n).toBe(s.inserted);
      expect(r.n).toBeGreaterThan(1000);
    } finally {
      await db.end();
    }
  }, 120_000);
});
