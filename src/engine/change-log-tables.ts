import type { Config } from "../config/schema.ts";
import { fromTables } from "../config/table-refs.ts";
import { targetsOf } from "./pipeline-runner.ts";

/** Sink types that store every change as it came (no stored row to keep an unchanged value in). */
const CHANGE_LOG_SINKS = new Set(["http", "bigquery", "stdout"]);

/**
 * The tables read by pipelines into a change log (a webhook, BigQuery, stdout, a Redis stream):
 * their updates that left a TOASTed value unchanged get it read again from the source table
 * (SourceStartOptions.reselectToast); a change log would otherwise get the row without it.
 */
export function changeLogTables(config: Config): string[] {
  const out = new Set<string>();
  for (const p of config.pipelines) {
    const changeLog = targetsOf(p).some((t) => CHANGE_LOG_SINKS.has(config.sinks[t.sink]?.type ?? "") || (config.sinks[t.sink]?.type === "redis" && t.options.type === "stream"));
    if (changeLog) for (const f of fromTables(p)) out.add(f);
  }
  return [...out];
}
