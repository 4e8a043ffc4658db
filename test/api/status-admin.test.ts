import { describe, expect, test } from "bun:test";
import { createApp } from "../../src/api/app.ts";
import { resolveApiToken, tokenMatches } from "../../src/api/admin.ts";
import { redactString, redactValue } from "../../src/api/redact.ts";
import { fakeRuntime } from "./fake-runtime.ts";
import { createLogger } from "../../src/log.ts";

const SECRETS = ["s3cr3t-pw", "r3d1s-pw", "hunter2", "tok_abcdefgh123", "my-pw"];
const TOKEN = "admin-token-0123456789";

function appWith(opts: { token?: string; admin?: boolean } = {}) {
  const runtime = fakeRuntime({ admin: opts.admin ?? true });
  return { runtime, app: createApp({ components: () => runtime.components(), runtime, token: opts.token }) };
}
const post = (app: ReturnType<typeof createApp>, path: string, token?: string) =>
  app.request(path, { method: "POST", headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } });

describe("GET /status", () => {
  test("returns the runtime's status with every secret masked and bigints as digits", async () => {
    const { app } = appWith();
    const res = await app.request("/status");
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const s of SECRETS) expect(text).not.toContain(s);
    const body = JSON.parse(text);
    expect(body.source.url).toBe("postgres://cdc:***@db.internal:5432/shop");
    expect(body.sinks.redis).toEqual({ url: "redis://:***@cache:6379/0", password: "***" });
    expect(body.sinks.wh.headers.Authorization).toBe("***");
    expect(body.recent_errors[0]).toBe("[sink:mysql] connect failed: mysql://root:***@mysql:3306/db refused");
    expect(body.pipelines[0]).toEqual({ name: "orders", state: "running", rows: "1234", lsn: "23542088" });
    expect(body.last_checkpoint.at).toBe("2026-01-01T00:00:00.000Z");
    expect(typeof body.version).toBe("string");
  });

  test("redaction leaves ordinary values alone", () => {
    expect(redactString("postgres://cdc@db:5432/shop")).toBe("postgres://cdc@db:5432/shop");
    expect(redactString("host=db password='a b' user=x")).toBe("host=db password=*** user=x");
    expect(redactString("https://api.example.com/hook?token=abc123&x=1")).toBe("https://api.example.com/hook?token=***&x=1");
    expect(redactValue({ key: ["id"], primary_key: "id", tokens: 3, api_key: "k", secret_ref: "" })).toEqual({
      key: ["id"],
      primary_key: "id",
      tokens: 3,
      api_key: "***",
      secret_ref: "",
    });
  });
});

describe("admin endpoints", () => {
  test("all 404 when no token is configured", async () => {
    const { app, runtime } = appWith({ token: undefined });
    for (const path of ["/admin/pipelines/orders/pause", "/admin/pipelines/orders/resume", "/admin/checkpoint", "/admin/dlq/replay"]) {
      expect((await post(app, path, TOKEN)).status).toBe(404);
      expect((await post(app, path)).status).toBe(404);
    }
    expect(runtime.calls).toEqual([]);
  });

  test("401 without a bearer token, 403 with a wrong one; nothing runs", async () => {
    const { app, runtime } = appWith({ token: TOKEN });
    const none = await post(app, "/admin/checkpoint");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect((await post(app, "/admin/checkpoint", "wrong-token-0123456789")).status).toBe(403);
    expect((await post(app, "/admin/checkpoint", TOKEN.slice(0, -1))).status).toBe(403);
    expect((await post(app, "/admin/checkpoint", TOKEN + "x")).status).toBe(403);
    expect(runtime.calls).toEqual([]);
  });

  test("pause, resume, checkpoint and DLQ replay reach the runtime with the right token", async () => {
    const { app, runtime } = appWith({ token: TOKEN });
    const pause = await post(app, "/admin/pipelines/orders/pause", TOKEN);
    expect(pause.status).toBe(200);
    expect(await pause.json()).toEqual({ ok: true, action: "pause", pipeline: "orders" });
    expect(((await (await app.request("/status")).json()) as any).pipelines[0].state).toBe("paused");
    expect((await post(app, "/admin/pipelines/orders/resume", TOKEN)).status).toBe(200);
    const cp = await post(app, "/admin/checkpoint", TOKEN);
    expect(await cp.json()).toEqual({ ok: true, action: "checkpoint", result: { lsn: "23542088", durationMs: 3 } });
    const replay = await post(app, "/admin/dlq/replay?pipeline=events", TOKEN);
    expect(await replay.json()).toEqual({ ok: true, action: "dlq_replay", pipeline: "events", result: { replayed: 2, failed: [] } });
    expect(runtime.calls).toEqual(["pause orders", "resume orders", "checkpoint", "replay events"]);
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toMatch(/cdc_engine_admin_requests_total\{action="pause",status="200"\} [1-9]/);
    expect(metrics).toContain('cdc_engine_pipeline_paused{pipeline="orders"} 0');
    expect(metrics).toContain('cdc_engine_dlq_replayed_rows_total{pipeline="events"} 2');
  });

  test("unknown pipeline is 404, GET of an endpoint is 405 (Allow: POST), an unknown path 404, a runtime without the feature is 501", async () => {
    const { app } = appWith({ token: TOKEN });
    expect((await post(app, "/admin/pipelines/nope/pause", TOKEN)).status).toBe(404);
    const get = await app.request("/admin/checkpoint", { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(((await get.json()) as { error: string }).error).toBe("GET is not allowed here: admin endpoints take POST");
    expect((await app.request("/admin/pipelines/p/pause", { method: "PUT", headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(405);
    expect((await post(app, "/admin/nothing", TOKEN)).status).toBe(404);
    // Without the token a GET stays 401: the method is only told to an authorised caller.
    expect((await app.request("/admin/checkpoint")).status).toBe(401);
    const bare = appWith({ token: TOKEN, admin: false }).app;
    const res = await post(bare, "/admin/checkpoint", TOKEN);
    expect(res.status).toBe(501);
    expect(((await res.json()) as any).error).toContain("does not support checkpoint");
    // The read-only endpoints likewise: 405 with Allow, not 404 (HEAD and GET still answer).
    for (const path of ["/health", "/metrics", "/status", "/health/source"]) {
      const r = await app.request(path, { method: "POST" });
      expect({ path, status: r.status, allow: r.headers.get("allow") }).toEqual({ path, status: 405, allow: "GET, HEAD" });
    }
    expect((await app.request("/metrics", { method: "DELETE" })).status).toBe(405);
    expect((await app.request("/status")).status).toBe(200);
    expect((await app.request("/metrics", { method: "HEAD" })).status).toBe(200);
  });

  test("admin errors and results carry no password: not in the answer, not in the log", async () => {
    const lines: string[] = [];
    const log = createLogger({ level: "info", destination: { write: (l: string) => lines.push(l) } as unknown as NodeJS.WritableStream, env: {} });
    const runtime = fakeRuntime({ admin: true });
    runtime.checkpoint = async () => {
      throw new Error("checkpoint failed: cannot reach postgres://cdc:s3cr3t-pw@db.internal:5432/shop (password=hunter2)");
    };
    runtime.replayDlq = async () => ({ replayed: 0, failed: [{ id: 1, error: "connect failed: mysql://root:my-pw@mysql:3306/db refused" }] });
    const app = createApp({ components: () => runtime.components(), runtime, token: TOKEN, log });
    const cp = await post(app, "/admin/checkpoint", TOKEN);
    expect(cp.status).toBe(500);
    const cpText = await cp.text();
    expect(cpText).toContain("checkpoint failed: cannot reach postgres://cdc:");
    const replay = await (await post(app, "/admin/dlq/replay", TOKEN)).text();
    expect(replay).toContain("connect failed: mysql://root:");
    for (const text of [cpText, replay, lines.join("\n")]) for (const secret of SECRETS) expect(text.includes(secret)).toBe(false);
    expect(lines.some((l) => l.includes("admin checkpoint failed"))).toBe(true);
  });

  test("token: CDC_API_TOKEN beats api.token; compare is exact", () => {
    expect(resolveApiToken("from-file-123", { CDC_API_TOKEN: "from-env-123" })).toBe("from-env-123");
    expect(resolveApiToken("from-file-123", {})).toBe("from-file-123");
    expect(resolveApiToken(undefined, { CDC_API_TOKEN: "" })).toBeUndefined();
    expect(() => resolveApiToken(undefined, { CDC_API_TOKEN: "short" })).toThrow("CDC_API_TOKEN: must be at least 8 characters");
    expect(tokenMatches("abc", "abc")).toBe(true);
    expect(tokenMatches("abc", "abcd")).toBe(false);
  });
});

describe("GET /", () => {
  test("serves the embedded dashboard under a strict CSP that allows exactly its script", async () => {
    const { app } = appWith();
    const res = await app.request("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('<svg class="chart" id="chart-throughput"');
    expect(html).not.toMatch(/<script[^>]+src=|https?:\/\/(?!www\.w3\.org)/);
  });
});
