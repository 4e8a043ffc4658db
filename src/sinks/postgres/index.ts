import type { SinkFactory } from "../sink.ts";
import { postgresSinkConfig } from "./config.ts";
import { checkPostgresSink } from "./check.ts";
import { PostgresSink } from "./sink.ts";

export const postgresSink: SinkFactory<typeof postgresSinkConfig> = {
  type: "postgres",
  configSchema: postgresSinkConfig,
  create: (config) => new PostgresSink(config),
  check: checkPostgresSink,
};
