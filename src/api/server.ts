import type { Hono } from "hono";
import { CdcError, usageError } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface ApiServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * HOST:PORT checked (serve does it before the engine starts, so a mistake does not leave a slot
 * created behind it). --listen and CDC_API_LISTEN bypass the config's check: "nonsense" or port
 * 99999 got Bun's "options.port is out of range" and exit 1.
 */
/** `from`: what named the address, for the message (a command's own flag, e.g. demo's `--listen`). */
export function parseListen(listen: string, from?: string): { hostname: string; port: number } {
  const i = listen.lastIndexOf(":");
  const hostname = listen.slice(0, i).replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  const portText = listen.slice(i + 1);
  const port = Number(portText);
  if (i < 0 || !/^\d{1,5}$/.test(portText) || port > 65535) {
    const why = `'${listen}' is not HOST:PORT with a port from 0 to 65535`;
    throw usageError("api_listen", from ? `${from}: ${why}` : `api.listen: ${why} (from --listen, CDC_API_LISTEN or api.listen)`);
  }
  return { hostname, port };
}

/** Serve the Hono app on HOST:PORT (port 0 picks a free one). */
export function startApiServer(app: Hono, listen: string, log?: Logger): ApiServer {
  const { hostname, port } = parseListen(listen);
  const warning = exposureWarning(hostname);
  if (warning) log?.warn(warning);
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname, port, fetch: app.fetch, idleTimeout: 120 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Exit 1, not 2: another process holding the port may go away, so a supervisor's restart
    // (the unit stops restarting on exit 2) can succeed; a bad address is the config's (exit 2).
    if (code === "EADDRINUSE") throw new CdcError("api_listen_in_use", `api.listen: ${listen} is already in use`);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EACCES") throw usageError("api_listen", `api.listen: cannot listen on ${listen} (${code})`);
    throw e;
  }
  return {
    url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${server.port}`,
    stop: async () => {
      await server.stop(true);
    },
  };
}

/** Loopback is the default; anything else exposes /status and /metrics to the network. */
export function exposureWarning(hostname: string): string | null {
  if (hostname === "localhost" || hostname === "::1" || /^127\./.test(hostname)) return null;
  return `api.listen binds ${hostname}: /health, /status, /metrics and the dashboard are readable by anyone who can reach this port (no secrets are shown; put a firewall or reverse proxy in front)`;
}
