import type { Hono } from "hono";
import { usageError } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface ApiServer {
  url: string;
  stop(): Promise<void>;
}

/** Serve the Hono app on HOST:PORT (port 0 picks a free one). */
export function startApiServer(app: Hono, listen: string, log?: Logger): ApiServer {
  const i = listen.lastIndexOf(":");
  const hostname = listen.slice(0, i).replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  const warning = exposureWarning(hostname);
  if (warning) log?.warn(warning);
  const port = Number(listen.slice(i + 1));
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname, port, fetch: app.fetch, idleTimeout: 120 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw usageError("api_listen", `api.listen: ${listen} is already in use`);
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
