import { afterAll, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { createApp } from "../../src/api/app.ts";
import { startApiServer } from "../../src/api/server.ts";
import { Series } from "../../src/api/series.ts";
import { changesRead, rowsWritten, commitToSinkSeconds, sourceLagSeconds, sourceLagBytes, checkpointAgeSeconds, dlqRows, slotRetainedBytes } from "../../src/metrics/metrics.ts";
import { fakeRuntime } from "../api/fake-runtime.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let browser: Browser | null = null;
afterAll(async () => {
  await browser?.close();
});

/** Data "flows": counters and histograms move the way a running pipeline moves them. */
function flow(step: number): void {
  const rate = 800 + Math.round(400 * Math.sin(step / 15)) + (step % 7) * 20;
  changesRead.inc({ table: "public.orders", op: "insert" }, rate);
  changesRead.inc({ table: "public.orders", op: "update" }, Math.round(rate / 4));
  rowsWritten.inc({ sink: "wh", pipeline: "orders", op: "upsert" }, Math.round(rate * 0.8));
  for (let i = 0; i < 20; i++) commitToSinkSeconds.observe({ sink: "wh" }, 0.02 + ((i * 7 + step) % 20) / 200);
  sourceLagSeconds.set(0.4 + (step % 10) / 10);
  sourceLagBytes.set(200_000 + (step % 13) * 40_000);
  slotRetainedBytes.set(12_000_000 + step * 1000);
  checkpointAgeSeconds.set(step % 30);
  if (step % 40 === 0) dlqRows.inc({ pipeline: "orders", stage: "wh" });
}

test("the dashboard loads in headless Chromium, draws its charts and its numbers move while data flows", async () => {
  expect(existsSync(CHROMIUM)).toBe(true);
  // Three minutes of history, sampled at synthetic times, so the charts have a shape.
  const series = new Series(1000);
  const t0 = Date.now() - 180_000;
  for (let i = 0; i < 180; i++) {
    flow(i);
    await series.sample(t0 + i * 1000);
  }
  let step = 180;
  const mover = setInterval(() => flow(step++), 1000);
  const runtime = fakeRuntime({
    leaderboard: () => [
      { member: "c1", label: "Why CDC beats polling", score: 912.5 + step },
      { member: "c2", label: "Postgres WAL, explained", score: 644 },
      { member: "c3", label: "Weekly newsletter #42", score: 301.25 },
    ],
  });
  const app = createApp({ components: () => runtime.components(), runtime, series: series.start() });
  const server = startApiServer(app, "127.0.0.1:0");
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(server.url + "/", { waitUntil: "load" });

    // Charts render: one polyline per series, with the history's points.
    await page.waitForSelector('#chart-throughput polyline[data-series="read"]');
    const counts = await page.$$eval("svg.chart polyline", (els) => els.map((e) => Number(e.getAttribute("data-count"))));
    expect(counts.length).toBe(5);
    for (const c of counts) expect(c).toBeGreaterThan(100);
    const throughput = await page.$eval('#chart-throughput polyline[data-series="read"]', (e) => e.getAttribute("points")!.split(" ").length);
    expect(throughput).toBeGreaterThan(100);

    // Pipelines, leaderboard and health come from /status, the runtime and /health; no secret reaches the page.
    await page.waitForSelector('#pipelines tr[data-pipeline="orders"]');
    expect(await page.$$eval("#leaderboard tbody tr", (rows) => rows.length)).toBe(3);
    expect(await page.textContent("#leaderboard tbody tr:first-child")).toContain("Why CDC beats polling");
    await page.waitForSelector('#health[data-status="up"]');
    expect(await page.content()).not.toContain("s3cr3t-pw");

    // Numbers change while data flows.
    const read = () => page.$eval("#stat-total", (e) => Number(e.getAttribute("data-value")));
    const first = await read();
    expect(first).toBeGreaterThan(0);
    for (let i = 0; i < 50 && (await read()) <= first; i++) await Bun.sleep(100);
    expect(await read()).toBeGreaterThan(first);
    const rate = await page.$eval("#stat-changes", (e) => Number(e.getAttribute("data-value")));
    expect(rate).toBeGreaterThan(0);
    const p95 = await page.$eval("#stat-latency", (e) => Number(e.getAttribute("data-value")));
    expect(p95).toBeGreaterThan(10);
    expect(p95).toBeLessThan(250);
    expect(await page.textContent("#conn")).toContain("live");
    expect(errors).toEqual([]);

    // docs/dashboard.png is refreshed only on request, so a test run leaves the tree clean.
    const png = await page.screenshot({ fullPage: true });
    expect(png.byteLength).toBeGreaterThan(20_000);
    if (process.env.CDC_UPDATE_SCREENSHOT === "1") writeFileSync(join(import.meta.dir, "../../docs/dashboard.png"), png);
  } finally {
    clearInterval(mover);
    series.stop();
    await server.stop();
  }
}, 60_000);
