import type { SinkFactory } from "../sink.ts";
import { CdcError } from "../../errors.ts";
import { postgresSinkConfig } from "./config.ts";
import { checkPostgresSink } from "./check.ts";

export const postgresSink: SinkFactory<typeof postgresSinkConfig> = {
  type: "postgres",
  configSchema: postgresSinkConfig,
  create: () => {
    throw new CdcError("not_implemented", "postgres sink writer is not built yet", { component: "sink:postgres" });
  },
  check: checkPostgresSink,
};
