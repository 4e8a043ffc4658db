import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { binaryPath, createDatabase, freePort, runBinary, sharedPg } from "../helpers/index.ts";
import { waitUntil } from "../helpers/wait-for.ts";

/**
 * The compiled binary as an operator runs it: a config whose source URL holds a password,
 * rows flowing from Postgres to the stdout sink, /metrics scraped while they flow, then SIGTERM.
 */
const PASSWORD = "Sup3r-S3cret-pw-4711";
const TOKEN = "ops-test-token-0123456789";

let proc: ReturnType<typeof Bun.spawn>;
let base = "";
let sql: postgres.Sql;
let stdout = "";
let stderr = "";
let pumps: Promise<void>[] = [];

function pump(stream: ReadableStream<Uint8Array>, into: (s: string) => void): Promise<void> {
  return (async () => {
    const dec = new TextDecoder();
    for await (const chunk of stream) into(dec.decode(chunk, { stream: true }));
  })();
}

function metric(text: string, name: string): number {
  let total = 0;
  for (const line of text.split("\n")) if (line.startsWith(name + "{") || line.startsWith(name + " ")) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  return total;
}

const waitFor = <T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 20_000) => waitUntil(what, fn, ms, () => `stderr: ${stderr.slice(-2000)}\nstdout: ${stdout.slice(-2000)}`, 100);

beforeAll(async () => {
  const pg = await sharedPg("system");
  const db = await createDatabase(pg, "ops");
  sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
  await sql.unsafe("create table items (id bigint primary key, name text, price numeric(12,2))");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "cdc-ops-"));
  const cfg = join(dir, "cdc.yaml");
  const url = pg.url(db).replace("postgres@", `postgres:${PASSWORD}@`);
  writeFileSync(
    cfg,
    [
      "source:",
      `  url: ${url}`,
      `  slot: ops_${db.slice(4)}`,
      `  publication: ops_${db.slice(4)}`,
      "state:",
      `  dir: ${dir}/state`,
      "  checkpoint_interval: 1s",
      "api:",
      `  listen: 127.0.0.1:${port}`,
      `  token: ${TOKEN}`,
      "log:",
      "  level: debug",
      "sinks:",
      "  out: { type: stdout }",
      "pipelines:",
      "  - { name: items, from: public.items, to: out }",
      "",
    ].join("\n"),
  );
  chmodSync(cfg, 0o644);
  proc = Bun.spawn([await binaryPath(), "serve", "--config", cfg], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, CDC_LOG_FORMAT: "json" } });
  pumps = [pump(proc.stdout as ReadableStream<Uint8Array>, (s) => (stdout += s)), pump(proc.stderr as ReadableStream<Uint8Array>, (s) => (stderr += s))];
  base = `http://127.0.0.1:${port}`;
  await waitFor("GET /health = 200", async () => (await fetch(`${base}/health`)).status === 200);
}, 90_000);

afterAll(async () => {
  if (proc && proc.exitCode === null) proc.kill("SIGKILL");
  await sql?.end();
});

describe("the compiled binary under serve", () => {
  test("/health is 200 with the source streaming", async () => {
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; components: Record<string, { status: string }> };
    expect(body.status).toBe("up");
    expect(body.components.source.status).toBe("up");
  });

  test("`cdc-engine healthcheck` (the Docker HEALTHCHECK) exits 0 against it", async () => {
    const r = await runBinary(["healthcheck", "--url", `${base}/health`]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`ok ${base}/health`);
  }, 30_000);

  test("/metrics counters move while rows flow", async () => {
    const scrape = async () => (await fetch(`${base}/metrics`)).text();
    const before = await scrape();
    expect(before).toContain("cdc_engine_process_resident_memory_bytes");
    expect(before).toContain("cdc_engine_nodejs_eventloop_lag_p99_seconds");
    expect(before).toMatch(/cdc_engine_build_info\{version="[^"]+",commit="[^"]+"\} 1/);
    const changes0 = metric(before, "cdc_engine_source_changes_total");
    const written0 = metric(before, "cdc_engine_sink_rows_written_total");

    await sql.unsafe("insert into items select g, 'item ' || g, g * 1.25 from generate_series(1, 200) g");
    const after = await waitFor("changes and rows written to move", async () => {
      const t = await scrape();
      return metric(t, "cdc_engine_sink_rows_written_total") >= written0 + 200 ? t : null;
    });
    expect(metric(after, "cdc_engine_source_changes_total")).toBeGreaterThanOrEqual(changes0 + 200);
    expect(after).toMatch(/cdc_engine_source_changes_total\{table="public\.items",op="insert"\} [1-9]/);
    expect(metric(after, "cdc_engine_commit_to_sink_seconds_count")).toBeGreaterThan(0);
    expect(metric(after, "cdc_engine_sink_batch_rows_count")).toBeGreaterThan(0);

    await sql.unsafe("update items set price = price + 1 where id <= 50");
    const later = await waitFor("updates counted", async () => {
      const t = await scrape();
      return metric(t, "cdc_engine_source_changes_total") >= changes0 + 250 ? t : null;
    });
    expect(later).toMatch(/cdc_engine_source_changes_total\{table="public\.items",op="update"\} 50/);
  }, 60_000);

  test("the password in the source URL is in no log line, nor /status, /health or /metrics", async () => {
    const status = await (await fetch(`${base}/status`)).text();
    expect(JSON.parse(status)).toBeObject();
    const pages = [status, await (await fetch(`${base}/health`)).text(), await (await fetch(`${base}/metrics`)).text(), await (await fetch(`${base}/`)).text()];
    for (const p of pages) expect(p).not.toContain(PASSWORD);
    // (booleans, so a failure does not print the whole log)
    expect((stdout + stderr).includes(PASSWORD)).toBe(false);
    expect((stdout + stderr).includes(TOKEN)).toBe(false);
    // The world-readable config holding a password was warned about, with the fix.
    expect(stdout.includes("is world-readable and holds secrets; run: chmod o-r")).toBe(true);
  });

  test("admin endpoints answer 401/403 without the right token", async () => {
    expect((await fetch(`${base}/admin/checkpoint`, { method: "POST" })).status).toBe(401);
    expect((await fetch(`${base}/admin/checkpoint`, { method: "POST", headers: { Authorization: "Bearer nope-nope-nope" } })).status).toBe(403);
  });

  test("SIGTERM while rows flow: exit 0 within 2 s", async () => {
    // Keep writing while the signal arrives, so there are in-flight batches to finish.
    let writing = true;
    let next = 10_000;
    const writer = (async () => {
      while (writing) {
        await sql.unsafe(`insert into items select g, 'late ' || g, 1 from generate_series(${next}, ${next + 49}) g`);
        next += 50;
        await Bun.sleep(10);
      }
    })();
    await Bun.sleep(700);
    const t0 = performance.now();
    proc.kill("SIGTERM");
    const code = await proc.exited;
    const ms = performance.now() - t0;
    writing = false;
    await writer;
    await Promise.all(pumps);
    console.log(`serve stopped on SIGTERM in ${ms.toFixed(0)} ms`);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(2000);
    // The last log line is written before exit (synchronous logging), not lost in a buffer.
    expect(stdout.trimEnd().split("\n").at(-1)).toContain('"msg":"stopped"');
  }, 30_000);
});
