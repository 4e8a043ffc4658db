import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../src/api/app.ts";
import type { HealthComponent } from "../../src/api/health.ts";
import { binaryPath, freePort, sharedPg } from "../helpers/index.ts";

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

describe("serve through the binary", () => {
  test("serves /health and stops on SIGTERM with exit 0", async () => {
    const pg = await sharedPg("system");
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "cdc-serve-"));
    const cfg = join(dir, "cdc.yaml");
    writeFileSync(
      cfg,
      `source:\n  url: ${pg.url()}\nstate:\n  dir: ${dir}/state\napi:\n  listen: 127.0.0.1:${port}\nsinks:\n  out: { type: stdout }\npipelines:\n  - { name: p, from: public.nothing_here, to: out }\n`,
    );
    const proc = Bun.spawn([await binaryPath(), "serve", "--config", cfg], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    let status = 0;
    let body: any = null;
    for (let i = 0; i < 100 && status === 0; i++) {
      await Bun.sleep(100);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        status = res.status;
        body = await res.json();
      } catch {}
    }
    expect(status).toBe(200);
    expect(body.components.source.status).toBe("up");
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 90_000);
});
