import { expect, test } from "bun:test";
import { heapSize } from "bun:jsc";
import { startGcGovernor } from "../../src/engine/gc-governor.ts";
import { registry } from "../../src/metrics/metrics.ts";
import { createLogger } from "../../src/log.ts";

const runs = async () => (await registry.getSingleMetric("cdc_engine_gc_runs_total")!.get()).values[0]?.value ?? 0;

test("state.gc_above: a full collection once RSS passes it and the heap has grown; none when 0; none again without new garbage", async () => {
  const log = createLogger({ level: "silent" });
  const off = startGcGovernor(0, log);
  let garbage: unknown[] = [];
  for (let i = 0; i < 400_000; i++) garbage.push({ i, s: `row ${i}` });
  garbage = [];
  const before = await runs();
  await Bun.sleep(600);
  expect(await runs()).toBe(before);
  off();
  expect(heapSize()).toBeGreaterThan(16 * 1024 * 1024);
  const stop = startGcGovernor(1, log); // every process is above 1 byte
  try {
    await Bun.sleep(600);
    const after = await runs();
    expect(after).toBe(before + 1);
    // Nothing allocated since: the heap is at its live size, no second collection.
    await Bun.sleep(600);
    expect(await runs()).toBe(after);
  } finally {
    stop();
  }
});
