import postgres from "postgres";
import { openPg, type Pg } from "../../db/postgres-client.ts";
import type { PostgresSinkConfig } from "./config.ts";
import { isLostConnection } from "./errors.ts";

const asText = (x: unknown) => (x === null || x === undefined ? x : String(x));

/**
 * A client whose parameters go to the server exactly as given: every value the sink sends
 * is already Postgres text input (values.ts), and postgres.js' own serializers would turn a
 * timestamp string into a Date (losing microseconds), JSON text into a JSON string, and
 * 't' into false. Array serializers are never fetched (fetch_types off) for the same reason.
 */
export function openSinkPg(config: PostgresSinkConfig, max = config.pool, options: Record<string, unknown> = {}): Pg {
  const pass = (to: number, from: number[]) => ({ to, from, serialize: asText, parse: (x: string) => x });
  return openPg(config.url, {
    sslmode: config.sslmode,
    tls: config.tls,
    max,
    extra: {
      fetch_types: false,
      types: {
        bigint: postgres.BigInt,
        date: pass(1184, [1082, 1114, 1184]),
        json: pass(114, [114, 3802]),
        boolean: { to: 16, from: [16], serialize: asText, parse: (x: string) => x === "t" },
        bytea: pass(17, [17]),
      },
      ...options,
    },
  });
}

/**
 * Rolls back the open transaction of a connection that is ended right after, bounded: after a
 * lost connection postgres.js sends the ROLLBACK on a new one, and with the server stopping that
 * attempt never settled (the engine hung with the sink down instead of restarting). Ending the
 * session rolls back anyway; the explicit ROLLBACK only frees the server's locks sooner.
 */
export async function rollbackQuietly(conn: Pick<Pg, "unsafe">, cause: unknown): Promise<void> {
  if (isLostConnection(cause)) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([conn.unsafe("rollback").catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
  clearTimeout(timer);
}
