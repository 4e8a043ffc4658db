import type { Logger } from "pino";
import type { SourceConfig } from "../config/schema.ts";
import type { Source } from "../source/source.ts";
import { createPostgresSource } from "../source/postgres/index.ts";

/** The Postgres source (src/source/postgres/), created for the runtime. */
export async function createSource(config: SourceConfig, opts: { stateDir: string; log: Logger }): Promise<Source> {
  return createPostgresSource(config, opts);
}
