import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { Runtime } from "./runtime-types.ts";
import { inspectSource } from "../source/postgres/check.ts";

/**
 * Start everything a config describes. Foundation version: reports source reachability only;
 * the engine issue replaces it with the source → pipelines → sinks runtime.
 */
export async function startRuntime(config: Config, log: Logger, _opts: { resnapshot?: boolean } = {}): Promise<Runtime> {
  let resolveDone!: (e: Error | null) => void;
  const done = new Promise<Error | null>((r) => (resolveDone = r));
  log.info({ pipelines: config.pipelines.map((p) => p.name) }, "runtime started");
  return {
    components: () => [
      {
        name: "source",
        health: async () => {
          const info = await inspectSource(config.source);
          return info.walLevel === "logical" ? { status: "up" } : { status: "down", reason: `wal_level=${info.walLevel}` };
        },
      },
    ],
    status: () => ({ pipelines: config.pipelines.map((p) => ({ name: p.name })) }),
    stop: async () => resolveDone(null),
    done,
  };
}
