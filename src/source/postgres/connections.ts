/** The source's connections to Postgres: a query pool and a replication connection, same session settings. */
import type { SourceConfig } from "../../config/schema.ts";
import { openPg, type Pg } from "../../db/postgres-client.ts";

/** Session parameters so text output is the same on every server: ISO dates, UTC. */
const SESSION = { application_name: "cdc-engine", DateStyle: "ISO, YMD", TimeZone: "UTC", IntervalStyle: "postgres", extra_float_digits: "3" };

export function highestProtocol(serverVersion: number): number {
  return serverVersion >= 160000 ? 4 : serverVersion >= 150000 ? 3 : serverVersion >= 140000 ? 2 : 1;
}

export function openSourcePg(config: SourceConfig, max = 3): Pg {
  return openPg(config.url, { sslmode: config.sslmode, tls: config.tls, max, extra: { connection: SESSION } });
}

export function openReplicationPg(config: SourceConfig): Pg {
  return openPg(config.url, {
    sslmode: config.sslmode,
    tls: config.tls,
    max: 1,
    extra: { connection: { ...SESSION, replication: "database" }, fetch_types: false, idle_timeout: null, max_lifetime: null, prepare: false },
  });
}
