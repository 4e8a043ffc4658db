import { describe, expect, test } from "bun:test";
import { createApp } from "../../src/api/app.ts";
import type { HealthComponent } from "../../src/api/health.ts";

const up = (name: string): HealthComponent => ({ name, health: () => ({ status: "up" }) });
const down = (name: string, reason: string): HealthComponent => ({ name, health: () => ({ status: "down", reason }) });

describe("GET /health", () => {
  test("200 with one entry per component when all are up", async () => {
    const app = createApp({ components: () => [up("source"), up("sink:wh")] });
    const res = await app.request("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "up", components: { source: { status: "up" }, "sink:wh": { status: "up" } } });
  });

  test("503 naming the component and reason when one is down", async () => {
    const app = createApp({ components: () => [up("source"), down("sink:wh", "connection refused")] });
    const res = await app.request("/health");
    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; components: Record<string, { status: string; reason?: string }> };
    expect(body.status).toBe("down");
    expect(body.components["sink:wh"]).toEqual({ status: "down", reason: "connection refused" });
  });

  test("a degraded component (source reconnecting) is not up: 503 with the reasons in one line", async () => {
    const app = createApp({ components: () => [{ name: "source", health: () => ({ status: "degraded", reason: "reconnecting: connection refused" }) }, up("sink:wh")] });
    const res = await app.request("/health");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: "down",
      reason: "source: reconnecting: connection refused",
      components: { source: { status: "degraded", reason: "reconnecting: connection refused" }, "sink:wh": { status: "up" } },
    });
    expect((await app.request("/health/source")).status).toBe(503);
  });

  test("a component that throws counts as down", async () => {
    const app = createApp({ components: () => [{ name: "source", health: () => Promise.reject(new Error("boom")) }] });
    const res = await app.request("/health");
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).components.source).toEqual({ status: "down", reason: "boom" });
  });

  test("GET /health/:component answers for one component, 404 for an unknown one", async () => {
    const app = createApp({ components: () => [up("source"), down("sink:wh", "timeout")] });
    expect((await app.request("/health/source")).status).toBe(200);
    const res = await app.request("/health/sink:wh");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ component: "sink:wh", status: "down", reason: "timeout" });
    expect((await app.request("/health/nope")).status).toBe(404);
  });
});

// The binary end to end (serve, /health 200 with a streaming source, SIGTERM → exit 0 in < 2 s) is in test/ops/binary.test.ts.
