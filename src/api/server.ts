import type { Hono } from "hono";
import { usageError } from "../errors.ts";

export interface ApiServer {
  url: string;
  stop(): Promise<void>;
}

/** Serve the Hono app on HOST:PORT (port 0 picks a free one). */
export function startApiServer(app: Hono, listen: string): ApiServer {
  const i = listen.lastIndexOf(":");
  const hostname = listen.slice(0, i) || "127.0.0.1";
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
