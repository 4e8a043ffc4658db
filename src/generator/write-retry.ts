import type { Pg } from "../db/postgres-client.ts";
import type { Batch } from "./dataset.ts";
import { writeBatch, type InsertMethod } from "./writer.ts";

/** How long a lost connection (the database restarting, a failover) is retried before the generator gives up. */
const RECONNECT_FOR_MS = 60_000;

/** The connection went away, not the statement: the server shutting down (57P0x), 08xxx, a socket error. */
function connectionLost(e: unknown): boolean {
  const code = String((e as { code?: unknown })?.code ?? "");
  return code.startsWith("08") || code.startsWith("57P") || ["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT"].includes(code);
}

/**
 * Concurrent writers updating the same rows can deadlock; Postgres rolls one transaction back
 * whole, so writing that batch again is safe. A lost connection is retried for up to a minute:
 * the generator died with the source's restart ("the database system is shutting down"), ending
 * the load a crash test was driving. A batch whose COMMIT was cut off may be written twice.
 */
export async function writeWithRetry(sql: Pg, batch: Batch, method: InsertMethod): Promise<Map<number, unknown[]>> {
  let lostSince: number | null = null;
  for (let attempt = 1; ; attempt++) {
    try {
      return await writeBatch(sql, batch, method);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "40P01" || code === "40001") {
        if (attempt >= 5) throw e;
        await new Promise((r) => setTimeout(r, 10 * attempt * attempt));
        continue;
      }
      if (!connectionLost(e)) throw e;
      if (lostSince === null) {
        lostSince = Date.now();
        process.stderr.write(`cdc-engine generate: connection lost (${(e as Error).message}); retrying for up to ${RECONNECT_FOR_MS / 1000} s\n`);
      } else if (Date.now() - lostSince > RECONNECT_FOR_MS) throw e;
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(attempt, 5))));
    }
  }
}
