import { expect, test } from "bun:test";
import { startGcGovernor } from "../../src/engine/gc-governor.ts";
import { registry } from "../../src/metrics/metrics.ts";
import { createLogger } from "../../src/log.ts";

const runs = async () => (await registry.getSingleMetric("cdc_engine_gc_runs_total")!.get()).values[0]?.value ?? 0;

test("state.gc_above: collections once RSS passes it, at most one per 20× the last pause, with a backoff while the live heap is over it; none when 0", async () => {
  const log = createLogger({ level: "silent" });
  const before = await runs();
  const off = startGcGovernor(0, log);
  await Bun.sleep(600);
  off();
  expect(await runs()).toBe(before);
  // Every process is above 1 byte and its live heap too: one collection, then a 1 s backoff.
  const stop = startGcGovernor(1, log);
  try {
    await Bun.sleep(700);
    expect(await runs()).toBe(before + 1);
    await Bun.sleep(1200);
    expect(await runs()).toBe(before + 2);
    // The backoff doubles: 2 s before the third.
    await Bun.sleep(1000);
    expect(await runs()).toBe(before + 2);
  } finally {
    stop();
  }
});
