import type { SinkFactory } from "./sink.ts";
import { postgresSink } from "./postgres/index.ts";
import { sqliteSink } from "./sqlite/index.ts";
import { stdoutSink } from "./stdout/index.ts";
import { mysqlSink } from "./mysql/index.ts";
import { redisSink } from "./redis/index.ts";
import { httpSink } from "./http/index.ts";
import { bigquerySink } from "./bigquery/index.ts";

/**
 * The explicit sink registry: `type:` in a sink's config block picks the factory.
 * Adding a sink = one folder under src/sinks/ and one line here (no import side effects).
 */
export const sinkRegistry: Record<string, SinkFactory> = {
  postgres: postgresSink as SinkFactory,
  sqlite: sqliteSink as SinkFactory,
  stdout: stdoutSink as SinkFactory,
  mysql: mysqlSink as SinkFactory,
  redis: redisSink as SinkFactory,
  http: httpSink as SinkFactory,
  bigquery: bigquerySink as SinkFactory,
};

export function sinkFactory(type: string): SinkFactory | undefined {
  return Object.hasOwn(sinkRegistry, type) ? sinkRegistry[type] : undefined;
}
