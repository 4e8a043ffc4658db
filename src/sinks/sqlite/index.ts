import type { SinkFactory } from "../sink.ts";
import { CdcError } from "../../errors.ts";
import { sqliteSinkConfig } from "./config.ts";
import { checkSqliteSink } from "./check.ts";

export const sqliteSink: SinkFactory<typeof sqliteSinkConfig> = {
  type: "sqlite",
  configSchema: sqliteSinkConfig,
  create: () => {
    throw new CdcError("not_implemented", "sqlite sink writer is not built yet", { component: "sink:sqlite" });
  },
  check: checkSqliteSink,
};
