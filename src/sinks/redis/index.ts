import type { SinkFactory } from "../sink.ts";
import { redisSinkConfig, redisTargetSchema } from "./config.ts";
import { checkRedisSink } from "./check.ts";
import { RedisSink } from "./sink.ts";

export const redisSink: SinkFactory<typeof redisSinkConfig> = {
  type: "redis",
  configSchema: redisSinkConfig,
  targetSchema: redisTargetSchema,
  create: (config) => new RedisSink(config),
  check: checkRedisSink,
};
export { RedisSink };
