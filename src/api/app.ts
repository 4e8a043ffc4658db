import { Hono } from "hono";
import { collectHealth, healthOf, type HealthComponent } from "./health.ts";
import type { Runtime } from "../engine/runtime-types.ts";
import type { Logger } from "../log.ts";
import { registry } from "../metrics/metrics.ts";
import { redactValue } from "./redact.ts";
import { mountAdmin } from "./admin.ts";
import { mountDashboard } from "./dashboard.ts";
import { Series } from "./series.ts";
import { VERSION, GIT_COMMIT } from "../version.ts";

export interface ApiDeps {
  components: () => HealthComponent[];
  runtime?: Runtime;
  /** Bearer token for /admin/*; undefined = admin endpoints answer 404. See resolveApiToken(). */
  token?: string;
  log?: Logger;
  /** The dashboard's sampler; one is started (unref'd timer) when not given. */
  series?: Series;
}

/** The HTTP API (Hono): health, metrics, status, admin, dashboard. */
export function createApp(deps: ApiDeps): Hono {
  const app = new Hono();
  const series = deps.series ?? new Series().start();

  app.get("/health", async (c) => {
    const report = await collectHealth(deps.components());
    return c.json(redactValue(report) as Record<string, unknown>, report.status === "up" ? 200 : 503);
  });

  app.get("/health/:component", async (c) => {
    const name = c.req.param("component");
    const comp = deps.components().find((x) => x.name === name);
    if (!comp) return c.json({ error: `unknown component '${name}'` }, 404);
    const h = await healthOf(comp);
    return c.json(redactValue({ component: name, ...h }) as Record<string, unknown>, h.status === "up" ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    const text = await registry.metrics();
    return c.body(text, 200, { "Content-Type": registry.contentType });
  });

  // Redacted here whatever the runtime put in: the API must not trust its producer.
  app.get("/status", (c) => {
    let status: Record<string, unknown>;
    try {
      status = deps.runtime?.status() ?? {};
    } catch (e) {
      return c.json({ error: redactValue(e) }, 500);
    }
    const body = redactValue({ version: VERSION, commit: GIT_COMMIT, ...status }) as Record<string, unknown>;
    return c.json(body);
  });

  mountAdmin(app, { token: deps.token, runtime: deps.runtime, log: deps.log });
  mountDashboard(app, { runtime: deps.runtime, series });

  // A read-only endpoint asked with another method is 405 with Allow (RFC 9110), as the admin ones are.
  app.on(["POST", "PUT", "PATCH", "DELETE"], ["/health", "/health/:component", "/metrics", "/status"], (c) => {
    c.header("Allow", "GET, HEAD");
    return c.json({ error: `${c.req.method} is not allowed here: ${c.req.path} takes GET` }, 405);
  });

  app.notFound((c) => c.json({ error: "not found" }, 404));
  app.onError((e, c) => {
    deps.log?.error({ err: e, path: c.req.path }, "api error");
    return c.json({ error: redactValue(e) }, 500);
  });
  return app;
}
