import type { Command } from "./command.ts";
import { positiveFlag, str } from "./command.ts";
import { usageError } from "../errors.ts";

/**
 * For Docker HEALTHCHECK and scripts: GET the health URL, exit 0 on 200, 1 otherwise.
 * The image has no curl; the engine's own binary does the probe.
 */
export const healthcheckCommand: Command = {
  name: "healthcheck",
  summary: "exit 0 when the API's /health answers 200 (for Docker HEALTHCHECK)",
  usage: [
    "cdc-engine healthcheck [--url URL] [--timeout SECONDS]",
    "  --url URL           health endpoint (default http://127.0.0.1:8080/health, or $CDC_HEALTH_URL)",
    "  --timeout SECONDS   give up after this long (default 3)",
  ].join("\n"),
  options: { url: { type: "string" }, timeout: { type: "string" } },
  async run(args) {
    const url = str(args.values.url) ?? process.env.CDC_HEALTH_URL ?? "http://127.0.0.1:8080/health";
    if (!/^https?:\/\//.test(url)) throw usageError("usage", `--url: '${url}' is not an http(s) URL`);
    const timeout = positiveFlag(args, "timeout", 3);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeout * 1000) });
      const text = await res.text();
      if (res.status === 200) {
        console.log(`ok ${url}`);
        return 0;
      }
      console.error(`unhealthy: ${url} answered ${res.status} ${summarize(text)}`);
      return 1;
    } catch (e) {
      const code = (e as { code?: string }).code;
      const msg =
        e instanceof Error && e.name === "TimeoutError" ? `no answer within ${timeout}s` : code === "ECONNREFUSED" ? "connection refused" : code ?? (e instanceof Error ? e.message : String(e));
      console.error(`unhealthy: ${url}: ${msg}`);
      return 1;
    }
  },
};

/** The components that are down, from the /health JSON; else the start of the body. */
function summarize(text: string): string {
  try {
    const body = JSON.parse(text) as { components?: Record<string, { status: string; reason?: string }> };
    const down = Object.entries(body.components ?? {}).filter(([, h]) => h.status !== "up");
    if (down.length) return down.map(([n, h]) => `${n}: ${h.reason ?? h.status}`).join("; ");
  } catch {}
  return text.slice(0, 200);
}
