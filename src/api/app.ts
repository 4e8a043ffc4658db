import { Hono } from "hono";
import { collectHealth, healthOf, type HealthComponent } from "./health.ts";
import type { Runtime } from "../engine/runtime-types.ts";

export interface ApiDeps {
  components: () => HealthComponent[];
  runtime?: Runtime;
}

/** The HTTP API (Hono). Routes are added here; the operations issue extends it. */
export function createApp(deps: ApiDeps): Hono {
  const app = new Hono();

  app.get("/health", async (c) => {
    const report = await collectHealth(deps.components());
    return c.json(report, report.status === "up" ? 200 : 503);
  });

  app.get("/health/:component", async (c) => {
    const name = c.req.param("component");
    const comp = deps.components().find((x) => x.name === name);
    if (!comp) return c.json({ error: `unknown component '${name}'` }, 404);
    const h = await healthOf(comp);
    return c.json({ component: name, ...h }, h.status === "down" ? 503 : 200);
  });

  return app;
}
