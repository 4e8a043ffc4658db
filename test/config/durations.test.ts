import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { BASE, messageOf } from "./config-helpers.ts";

/** Durations need a unit (a bare 5 was 5 ms, silently); intervals where 0 spins have a floor. */
const withSinks = (extra: string) => BASE.replace("sinks:\n", `sinks:\n${extra}`);


describe("durations", () => {
  test("units, and a bare 0 where 0 means off or no wait", () => {
    const text = BASE.replace("  url: postgres://postgres@127.0.0.1:5432/shop", "  url: postgres://postgres@127.0.0.1:5432/shop\n  heartbeat_interval: 0")
      .replace("type: postgres,", "type: postgres, batch_delay: 0,") + "state:\n  checkpoint_interval: 1.5s\n";
    const c = parseConfig(text, "cdc.yaml", {});
    expect([c.source.heartbeat_interval, c.state.checkpoint_interval, c.sinks.wh.options.batch_delay]).toEqual([0, 1500, 0]);
    const w = parseConfig(BASE + "    join: [{ table: public.c, on: c_id = c.id, wait: 0 }]\n    window: { type: tumbling, size: 1m, lateness: '0', retention: 0s }\n", "cdc.yaml", {}).pipelines[0];
    expect([w.join![0].wait, w.window!.lateness, w.window!.retention]).toEqual([0, 0, 0]);
  });

  test("a duration from ${VAR} with a unit", () => {
    expect(parseConfig(BASE + "state:\n  checkpoint_interval: ${QA_CI:-10s}\n", "cdc.yaml", {}).state.checkpoint_interval).toBe(10_000);
  });

  const errors: [string, string, string, Record<string, string>?][] = [
    ["a bare number", BASE + "state:\n  checkpoint_interval: 5\n", "cdc.yaml: state.checkpoint_interval: 5 has no unit: write 5s or 5ms"],
    ["a bare number from ${VAR}", BASE + "state:\n  checkpoint_interval: ${QA_CI}\n", "cdc.yaml: state.checkpoint_interval: 30 has no unit: write 30s or 30ms", { QA_CI: "30" }],
    ["a bare fraction, quoted", BASE.replace("type: postgres,", "type: postgres, batch_delay: '0.5',"), "cdc.yaml: sinks.wh.batch_delay: 0.5 has no unit: write 0.5s or 0.5ms"],
    ["a bare number in a pipeline", BASE + "    window: { type: tumbling, size: 60 }\n", "cdc.yaml: pipelines.0.window.size: 60 has no unit: write 60s or 60ms"],
    ["a bare number in a sink target", withSinks("  cache: { type: redis }\n").replace("to: wh", "to: { sink: cache, type: string, key_template: k, ttl: 3600 }"), "cdc.yaml: pipelines.0.to.ttl: 3600 has no unit: write 3600s or 3600ms"],
    ["a negative duration", BASE + "state:\n  checkpoint_interval: -5s\n", "cdc.yaml: state.checkpoint_interval: bad duration '-5s' (use e.g. 500ms, 30s, 5m, 1h)"],
    // 0 checkpointed in a busy loop: 26% CPU idle, /health 503 for good
    ["checkpoint_interval 0s", BASE + "state:\n  checkpoint_interval: 0s\n", "cdc.yaml: state.checkpoint_interval: must be at least 100ms, got 0ms (checkpoints more often only spin the CPU)"],
    ["checkpoint_interval 0", BASE + "state:\n  checkpoint_interval: 0\n", "cdc.yaml: state.checkpoint_interval: must be at least 100ms, got 0ms (checkpoints more often only spin the CPU)"],
    ["checkpoint_interval 50ms", BASE + "state:\n  checkpoint_interval: 50ms\n", "cdc.yaml: state.checkpoint_interval: must be at least 100ms, got 50ms (checkpoints more often only spin the CPU)"],
    ["http timeout 0s", withSinks("  hook: { type: http, url: https://example.test/h, timeout: 0s }\n"), "cdc.yaml: sinks.hook.timeout: must be at least 100ms, got 0ms (a shorter timeout fails requests to a healthy server)"],
    ["mysql connect_timeout 0", withSinks("  my: { type: mysql, url: mysql://u@h:3306/d, connect_timeout: 0 }\n"), "cdc.yaml: sinks.my.connect_timeout: must be at least 100ms, got 0ms (a shorter timeout fails requests to a healthy server)"],
    ["redis max_backoff 0s", withSinks("  cache: { type: redis, max_backoff: 0s }\n"), "cdc.yaml: sinks.cache.max_backoff: must be at least 10ms, got 0ms (a shorter pause retries in a busy loop while the server is down)"],
    ["bigquery max_backoff 0s", withSinks("  bq: { type: bigquery, project: p, dataset: d, access_token: t, max_backoff: 0s }\n"), "cdc.yaml: sinks.bq.max_backoff: must be at least 10ms, got 0ms (a shorter pause retries in a busy loop while the server is down)"],
    ["redis ttl 0s", withSinks("  cache: { type: redis }\n").replace("to: wh", "to: { sink: cache, type: string, key_template: k, ttl: 0s }"), "cdc.yaml: pipelines.0.to.ttl: must be at least 1ms, got 0ms (leave ttl out for keys that do not expire)"],
  ];
  for (const [name, text, message, env] of errors) {
    test(`error: ${name}`, () => expect(messageOf(text, env)).toBe(message));
  }
});
