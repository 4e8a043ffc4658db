import type { SinkFactory } from "../sink.ts";
import { redisSinkConfig, redisTargetColumns, redisTargetSchema, type RedisTarget } from "./config.ts";
import { checkRedisSink } from "./check.ts";
import { RedisSink } from "./sink.ts";

export const redisSink: SinkFactory<typeof redisSinkConfig> = {
  type: "redis",
  configSchema: redisSinkConfig,
  targetSchema: redisTargetSchema,
  targetColumns: (t) => redisTargetColumns(t as RedisTarget),
  create: (config) => new RedisSink(config),
  check: checkRedisSink,
};
export { RedisSink };
