/**
 * A Postgres sink on the source's own server. When that server shuts down ("fast"), its
 * walsender waits for the engine to confirm all it sent, while the engine waits for a sink the
 * same shutdown refuses: neither moved, and the server never stopped while the engine stayed
 * connected. For such a sink, "shutting down" is not retried in place: the runtime ends, lets go
 * of the replication connection, and the supervisor starts it again when the server is back.
 */
import { CdcError, errorCodes } from "../errors.ts";
import { redactUrl } from "../db/postgres-client.ts";

const LOOPBACK = new Set(["", "localhost", "127.0.0.1", "::1", "[::1]"]);
/** admin_shutdown, crash_shutdown, cannot_connect_now ("the database system is shutting down") */
const STOPPING = new Set(["57P01", "57P02", "57P03"]);

function server(url: string): string | null {
  try {
    const u = new URL(url);
    const host = (u.searchParams.get("host") ?? decodeURIComponent(u.hostname)).toLowerCase();
    const port = u.searchParams.get("port") ?? (u.port || "5432");
    return `${LOOPBACK.has(host) ? "loopback" : host}:${port}`;
  } catch {
    return null;
  }
}

export function sameServer(a: string, b: string): boolean {
  const [x, y] = [server(a), server(b)];
  return x !== null && x === y;
}


/** For the sink writer: the error that ends the runtime instead of a retry in place, or null. */
export function stopOnSharedServer(sink: string, sourceUrl: string, sinkUrl: string | undefined): ((e: unknown) => Error | null) | undefined {
  if (!sinkUrl || !sameServer(sourceUrl, sinkUrl)) return undefined;
  return (e) =>
    errorCodes(e).some((code) => STOPPING.has(code))
      ? new CdcError("sink_server_stopping", `sink ${sink} is on the source's server (${redactUrl(sinkUrl)}), which is shutting down: letting go of the replication connection so it can stop; starting again when it is back`, { cause: e, component: `sink:${sink}` })
      : null;
}
