import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { BASE, messageOf } from "../config/config-helpers.ts";

// setTimeout/setInterval run a delay above 2^31-1 ms (24.8 days) after 1 ms: a config with
// `checkpoint_interval: 30d` (wanting rare checkpoints) had the engine's checkpoint timer fire
// every millisecond (with a TimeoutOverflowWarning on stderr); `batch_delay: 30d` wrote at once.
describe("durations a timer waits are at most 24d", () => {
  const cases: [string, string, string][] = [
    ["checkpoint_interval", BASE + "state:\n  checkpoint_interval: 30d\n", "cdc.yaml: state.checkpoint_interval: must be at most 24d, got 30d (a longer wait cannot be timed)"],
    ["heartbeat_interval", BASE.replace("/shop\n", "/shop\n  heartbeat_interval: 25d\n"), "cdc.yaml: source.heartbeat_interval: must be at most 24d, got 25d (a longer wait cannot be timed)"],
    ["a sink's batch_delay", BASE.replace("type: postgres,", "type: postgres, batch_delay: 30d,"), "cdc.yaml: sinks.wh.batch_delay: must be at most 24d, got 30d (a longer wait cannot be timed)"],
    ["a window's idle_timeout", BASE + "    window: { type: tumbling, size: 1m, idle_timeout: 600h }\n    aggregate: { c: 'COUNT(*)' }\n", "cdc.yaml: pipelines.0.window.idle_timeout: must be at most 24d, got 25d (a longer wait cannot be timed)"],
  ];
  for (const [name, text, message] of cases) test(name, () => expect(messageOf(text)).toBe(message));

  test("24d is accepted", () => {
    expect(parseConfig(BASE + "state:\n  checkpoint_interval: 24d\n", "cdc.yaml", {}).state.checkpoint_interval).toBe(24 * 86_400_000);
  });

  test("spans of event time are not timers: a 30-day window kept 90 days, 40 days late", () => {
    const p = parseConfig(BASE + "    window: { type: tumbling, size: 30d, lateness: 40d, retention: 90d }\n    aggregate: { c: 'COUNT(*)' }\n", "cdc.yaml", {}).pipelines[0];
    expect([p.window!.size, p.window!.lateness, p.window!.retention]).toEqual([30 * 86_400_000, 40 * 86_400_000, 90 * 86_400_000]);
  });
});
