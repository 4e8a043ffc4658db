import { createHash, timingSafeEqual } from "node:crypto";
import type { Context, Hono } from "hono";
import type { Runtime } from "../engine/runtime-types.ts";
import { CdcError, usageError } from "../errors.ts";
import { adminRequests, dlqReplayedRows, pipelinePaused } from "../metrics/metrics.ts";
import { redactString, redactValue } from "./redact.ts";
import type { Logger } from "../log.ts";

/** The admin token: CDC_API_TOKEN beats api.token (flags > env > file); none = admin API off. */
export function resolveApiToken(configToken: string | undefined, env: Record<string, string | undefined> = process.env): string | undefined {
  const fromEnv = env.CDC_API_TOKEN;
  // Same rule as api.token in the config schema.
  if (fromEnv && fromEnv.length < 8) throw usageError("api_token", "CDC_API_TOKEN: must be at least 8 characters");
  const t = fromEnv || configToken;
  return t && t.length > 0 ? t : undefined;
}

/** Compare digests so neither the content nor the length of the token leaks through timing. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

type Action = "pause" | "resume" | "checkpoint" | "dlq_replay";

/**
 * POST /admin/pipelines/:name/pause|resume, /admin/checkpoint, /admin/dlq/replay.
 * Without a configured token every /admin path is 404 (the API does not admit it exists);
 * with one, a missing header is 401 and a wrong token 403.
 */
export function mountAdmin(app: Hono, deps: { token?: string; runtime?: Runtime; log?: Logger }): void {
  const { token, runtime, log } = deps;

  app.use("/admin/*", async (c, next) => {
    if (!token) return c.json({ error: "not found" }, 404);
    const header = c.req.header("authorization") ?? "";
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) {
      c.header("WWW-Authenticate", 'Bearer realm="cdc-engine"');
      return c.json({ error: "admin endpoints need Authorization: Bearer <api.token>" }, 401);
    }
    if (!tokenMatches(m[1], token)) {
      // The peer's address; X-Forwarded-For only as what a proxy (or the client itself) claims.
      const forwarded = c.req.header("x-forwarded-for");
      log?.warn({ path: c.req.path, ip: remoteAddress(c), ...(forwarded ? { forwardedFor: forwarded } : {}) }, "admin request with a wrong token");
      return c.json({ error: "wrong token" }, 403);
    }
    await next();
  });

  const run = async (c: Context, action: Action, fn: (() => Promise<unknown>) | undefined, pipeline?: string) => {
    const answer = (body: Record<string, unknown>, status: 200 | 404 | 409 | 500 | 501) => {
      adminRequests.inc({ action, status: String(status) });
      return c.json(redactValue(body) as Record<string, unknown>, status);
    };
    if (!runtime || !fn) return answer({ error: `this runtime does not support ${action.replace("_", " ")}` }, 501);
    if (pipeline !== undefined && !knownPipeline(runtime, pipeline)) return answer({ error: `unknown pipeline '${pipeline}'` }, 404);
    try {
      const result = await fn();
      log?.info({ action, pipeline }, `admin: ${action}${pipeline ? ` ${pipeline}` : ""}`);
      return answer({ ok: true, action, ...(pipeline ? { pipeline } : {}), ...(result && typeof result === "object" ? { result } : {}) }, 200);
    } catch (e) {
      const code = e instanceof CdcError ? e.code : undefined;
      const message = redactString(e instanceof Error ? e.message : String(e));
      const status = code === "unknown_pipeline" ? 404 : code === "conflict" || code === "already_paused" || code === "not_paused" ? 409 : 500;
      // A refused request (pause a paused pipeline) is the caller's, not the engine's trouble: no stack.
      if (status === 500) log?.error({ action, pipeline, err: e }, `admin ${action} failed`);
      else log?.info({ action, pipeline, status, code }, `admin ${action} refused: ${message}`);
      return answer({ error: message, ...(code ? { code } : {}) }, status);
    }
  };

  app.post("/admin/pipelines/:name/pause", (c) => {
    const name = c.req.param("name");
    return run(c, "pause", runtime?.pause && (async () => {
      await runtime.pause!(name);
      pipelinePaused.set({ pipeline: name }, 1);
    }), name);
  });
  app.post("/admin/pipelines/:name/resume", (c) => {
    const name = c.req.param("name");
    return run(c, "resume", runtime?.resume && (async () => {
      await runtime.resume!(name);
      pipelinePaused.set({ pipeline: name }, 0);
    }), name);
  });
  app.post("/admin/checkpoint", (c) => run(c, "checkpoint", runtime?.checkpoint && (() => runtime.checkpoint!())));
  app.post("/admin/dlq/replay", async (c) => {
    const pipeline = c.req.query("pipeline") || undefined;
    return run(c, "dlq_replay", runtime?.replayDlq && (async () => {
      const result = await runtime.replayDlq!(pipeline);
      if (result.replayed > 0) dlqReplayedRows.inc({ pipeline: pipeline ?? "all" }, result.replayed);
      return result;
    }), pipeline);
  });
  // A known endpoint asked with another method is 405 with Allow (RFC 9110), not "unknown".
  const known = /^\/admin\/(checkpoint|dlq\/replay|pipelines\/[^/]+\/(pause|resume))\/?$/;
  app.all("/admin/*", (c) => {
    if (!known.test(c.req.path)) return c.json({ error: "unknown admin endpoint" }, 404);
    c.header("Allow", "POST");
    return c.json({ error: `${c.req.method} is not allowed here: admin endpoints take POST` }, 405);
  });
}

/** The peer's IP from Bun's server (the fetch handler's 2nd argument, Hono's env); undefined without one. */
function remoteAddress(c: Context): string | undefined {
  const server = c.env as { requestIP?: (r: Request) => { address: string } | null } | undefined;
  return server?.requestIP?.(c.req.raw)?.address;
}

/** When the runtime lists its pipelines in status(), an unknown name is a 404 before anything runs. */
function knownPipeline(runtime: Runtime, name: string): boolean {
  try {
    const list = runtime.status().pipelines;
    if (!Array.isArray(list)) return true;
    return list.some((p) => p && typeof p === "object" && (p as { name?: unknown }).name === name);
  } catch {
    return true;
  }
}
