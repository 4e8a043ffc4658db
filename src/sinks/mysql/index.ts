import type { SinkFactory } from "../sink.ts";
import { mysqlSinkConfig, mysqlTargetSchema } from "./config.ts";
import { checkMysqlSink } from "./check.ts";
import { MysqlSink } from "./sink.ts";

export const mysqlSink: SinkFactory<typeof mysqlSinkConfig> = {
  type: "mysql",
  configSchema: mysqlSinkConfig,
  targetSchema: mysqlTargetSchema,
  create: (config) => new MysqlSink(config),
  check: checkMysqlSink,
};
export { MysqlSink };
