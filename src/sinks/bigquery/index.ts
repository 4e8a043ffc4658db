import type { SinkFactory } from "../sink.ts";
import { bigquerySinkConfig, bigqueryTargetSchema } from "./config.ts";
import { checkBigquerySink } from "./check.ts";
import { BigquerySink } from "./sink.ts";

export const bigquerySink: SinkFactory<typeof bigquerySinkConfig> = {
  type: "bigquery",
  configSchema: bigquerySinkConfig,
  targetSchema: bigqueryTargetSchema,
  create: (config) => new BigquerySink(config),
  check: checkBigquerySink,
};
export { BigquerySink };
