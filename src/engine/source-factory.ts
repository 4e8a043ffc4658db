import type { Logger } from "pino";
import type { SourceConfig } from "../config/schema.ts";
import type { Source } from "../source/source.ts";
import { CdcError } from "../errors.ts";

/** The Postgres source (src/source/postgres/), created for the runtime. */
export async function createSource(_config: SourceConfig, _opts: { stateDir: string; log: Logger }): Promise<Source> {
  throw new CdcError("not_implemented", "[source] the postgres source is not built yet", { component: "source" });
}
