import { createHash } from "node:crypto";
import type { Hono } from "hono";
import { streamSSE } from "hono/streaming";
// Embedded as text: `bun build --compile` puts the page inside the executable; no build step, no CDN.
import page from "./dashboard.html" with { type: "text" };
import type { Runtime, LeaderboardEntry } from "../engine/runtime-types.ts";
import type { Series, SeriesPoint } from "./series.ts";
import { redactValue } from "./redact.ts";
import { VERSION, GIT_COMMIT } from "../version.ts";

const html = page as unknown as string;

/** The inline script is allowed by its hash, so the page runs under a strict CSP. */
function scriptHash(text: string): string {
  const m = /<script>([\s\S]*?)<\/script>/.exec(text);
  return m ? `'sha256-${createHash("sha256").update(m[1]).digest("base64")}'` : "'none'";
}
const CSP = [
  "default-src 'none'",
  `script-src ${scriptHash(html)}`,
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const dashboardHtml = html;

/** What the page receives: redacted status, the leaderboard when the runtime has one. */
async function view(runtime: Runtime | undefined): Promise<{ status: unknown; leaderboard: LeaderboardEntry[] | null }> {
  let status: unknown = {};
  let leaderboard: LeaderboardEntry[] | null = null;
  try {
    status = redactValue(runtime?.status() ?? {});
  } catch (e) {
    status = { error: redactValue(e) };
  }
  try {
    leaderboard = runtime?.leaderboard ? ((redactValue(await runtime.leaderboard()) as LeaderboardEntry[] | null) ?? null) : null;
  } catch {
    leaderboard = null;
  }
  return { status, leaderboard };
}

/** GET / (the page) and GET /events (server-sent events: a snapshot with history, then one tick per sample). */
export function mountDashboard(app: Hono, deps: { runtime?: Runtime; series: Series }): void {
  const { series } = deps;
  app.get("/", (c) => {
    c.header("Content-Security-Policy", CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-store");
    return c.html(html);
  });

  app.get("/events", (c) => {
    c.header("Cache-Control", "no-store");
    return streamSSE(c, async (stream) => {
      let closed = false;
      const queue: SeriesPoint[] = [];
      let wake: (() => void) | null = null;
      const off = series.onPoint((p) => {
        queue.push(p);
        wake?.();
      });
      stream.onAbort(() => {
        closed = true;
        wake?.();
      });
      try {
        const v = await view(deps.runtime);
        await stream.writeSSE({ event: "snapshot", data: JSON.stringify({ version: `${VERSION} (${GIT_COMMIT})`, history: series.points, ...v }) });
        while (!closed) {
          if (queue.length === 0) {
            // Wait for the next sample; the timeout keeps a quiet connection alive through proxies.
            let timer: ReturnType<typeof setTimeout> | undefined;
            await new Promise<void>((r) => {
              wake = r;
              timer = setTimeout(r, 15_000);
            });
            clearTimeout(timer);
            wake = null;
            if (queue.length === 0 && !closed) await stream.writeSSE({ event: "ping", data: "{}" });
            continue;
          }
          const v = await view(deps.runtime);
          for (const point of queue.splice(0)) await stream.writeSSE({ event: "tick", data: JSON.stringify({ point, ...v }) });
        }
      } finally {
        off();
      }
    });
  });
}
