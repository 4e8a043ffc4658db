import type { SinkFactory } from "../sink.ts";
import { httpSinkConfig, httpTargetSchema } from "./config.ts";
import { HttpSink } from "./sink.ts";

export const httpSink: SinkFactory<typeof httpSinkConfig> = {
  type: "http",
  configSchema: httpSinkConfig,
  targetSchema: httpTargetSchema,
  create: (config) => new HttpSink(config),
  // A webhook has no side-effect-free probe: check resolves the host and opens a connection (any HTTP answer counts).
  check: async (config) => {
    const started = Date.now();
    const res = await fetch(config.url, { method: "HEAD", signal: AbortSignal.timeout(Math.min(config.timeout, 10_000)) }).catch((e: Error) => {
      throw new Error(`${new URL(config.url).origin}: ${e.name === "TimeoutError" ? "no answer" : e.message}`);
    });
    return `${new URL(config.url).origin} answers (HTTP ${res.status} to HEAD in ${Date.now() - started} ms)`;
  },
};
export { HttpSink };
