/** What the admin API logs, served by Bun as serve does (the peer's address comes from the server). */
import { afterAll, describe, expect, test } from "bun:test";
import { createApp } from "../../src/api/app.ts";
import { startApiServer } from "../../src/api/server.ts";
import { CdcError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { fakeRuntime } from "./fake-runtime.ts";

const TOKEN = "admin-token-0123456789";
const lines: Record<string, unknown>[] = [];
const log = createLogger({ level: "info", destination: { write: (l: string) => lines.push(JSON.parse(l)) } as unknown as NodeJS.WritableStream, env: {} });
const runtime = fakeRuntime({ admin: true });
// As the engine answers: pausing a paused pipeline is refused with a code (409).
runtime.pause = (p) => {
  if (runtime.paused.has(p)) throw new CdcError("already_paused", `pipeline ${p} is already paused`);
  runtime.paused.add(p);
};
runtime.checkpoint = async () => {
  throw new Error("disk full");
};
const api = startApiServer(createApp({ components: () => runtime.components(), runtime, token: TOKEN, log }), "127.0.0.1:0");
afterAll(() => api.stop());

const post = (path: string, token: string, headers: Record<string, string> = {}) => fetch(`${api.url}${path}`, { method: "POST", headers: { Authorization: `Bearer ${token}`, ...headers } });
const logged = (msg: string) => lines.filter((l) => String(l.msg).startsWith(msg));

describe("admin API logs", () => {
  test("a 409 is one info line with the reason, no error level and no stack", async () => {
    expect((await post("/admin/pipelines/orders/pause", TOKEN)).status).toBe(200);
    const again = await post("/admin/pipelines/orders/pause", TOKEN);
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({ error: "pipeline orders is already paused", code: "already_paused" });
    const [line] = logged("admin pause refused");
    expect(line).toMatchObject({ level: 30, action: "pause", pipeline: "orders", status: 409, code: "already_paused", msg: "admin pause refused: pipeline orders is already paused" });
    expect(line.err).toBeUndefined();
    expect(lines.some((l) => (l.level as number) >= 50)).toBe(false);
  });

  test("an unknown pipeline (404) is an info line too", async () => {
    expect((await post("/admin/pipelines/nope/pause", TOKEN)).status).toBe(404);
    expect(lines.some((l) => (l.level as number) >= 50)).toBe(false);
  });

  test("a failure of the engine (500) stays an error with the error's stack", async () => {
    expect((await post("/admin/checkpoint", TOKEN)).status).toBe(500);
    const [line] = logged("admin checkpoint failed");
    expect(line.level).toBe(50);
    expect((line.err as { stack?: string }).stack).toContain("disk full");
  });

  test("a wrong token logs the peer's address (it was null), and X-Forwarded-For apart", async () => {
    expect((await post("/admin/checkpoint", "wrong-token-0123456789")).status).toBe(403);
    expect((await post("/admin/checkpoint", "wrong-token-0123456789", { "X-Forwarded-For": "203.0.113.9" })).status).toBe(403);
    const [plain, proxied] = logged("admin request with a wrong token");
    expect(plain).toMatchObject({ level: 40, path: "/admin/checkpoint", ip: "127.0.0.1" });
    expect(plain.forwardedFor).toBeUndefined();
    expect(proxied).toMatchObject({ ip: "127.0.0.1", forwardedFor: "203.0.113.9" });
  });
});
