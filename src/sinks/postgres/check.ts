import { openPg, redactUrl } from "../../db/postgres-client.ts";
import type { PostgresSinkConfig } from "./config.ts";

export async function checkPostgresSink(config: PostgresSinkConfig): Promise<string> {
  const sql = openPg(config.url, { sslmode: config.sslmode, tls: config.tls, max: 1 });
  try {
    const [row] = await sql`select current_setting('server_version') as v, current_database() as db`;
    return `postgres ${row.v}, database ${row.db} at ${redactUrl(config.url)}`;
  } finally {
    await sql.end({ timeout: 2 });
  }
}
