/**
 * Cost of one GET /metrics scrape (the Hono app in-process, the engine's registry with its
 * default process metrics), after some labelled series exist. Prints median and p95 in ms.
 *   bun bench/metrics-scrape.ts [scrapes=200]
 */
import { createApp } from "../src/api/app.ts";
import { changesRead, rowsWritten, commitToSinkSeconds } from "../src/metrics/metrics.ts";

const n = Number(process.argv[2] ?? 200);
for (let t = 0; t < 50; t++) {
  changesRead.inc({ table: `public.t${t}`, op: "insert" }, 10);
  rowsWritten.inc({ sink: "s", pipeline: `p${t}`, op: "upsert" }, 10);
  commitToSinkSeconds.observe({ sink: `s${t % 5}` }, 0.01 * t);
}
const app = createApp({ components: () => [] });
// Warm up (first scrapes compile code paths).
for (let i = 0; i < 10; i++) await (await app.request("/metrics")).text();
const ms: number[] = [];
let bytes = 0;
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  const body = await (await app.request("/metrics")).text();
  ms.push(performance.now() - t0);
  bytes = body.length;
  await Bun.sleep(5); // scrapes are spaced out in real life
}
ms.sort((a, b) => a - b);
const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(2);
console.log(JSON.stringify({ scrapes: n, medianMs: Number(q(0.5)), p95Ms: Number(q(0.95)), maxMs: Number(ms.at(-1)!.toFixed(2)), bytes }));
process.exit(0);
