import type { SinkFactory } from "../sink.ts";
import { sqliteSinkConfig } from "./config.ts";
import { checkSqliteSink } from "./check.ts";
import { SqliteSink } from "./sink.ts";

export const sqliteSink: SinkFactory<typeof sqliteSinkConfig> = {
  type: "sqlite",
  configSchema: sqliteSinkConfig,
  create: (config) => new SqliteSink(config),
  check: checkSqliteSink,
};
