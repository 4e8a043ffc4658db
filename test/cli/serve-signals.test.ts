/**
 * `serve` of the compiled binary against a real Postgres: how it stops (SIGHUP, repeated signals),
 * and the exit codes a supervisor acts on (a lost slot, the API port in use).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { binaryPath, createDatabase, freePort, runBinary, sharedPg, waitUntil } from "../helpers/index.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

/** A database with table t, and a config reading it into `sinks` (YAML lines). */
async function setup(sinks: string[], apiListen: string) {
  const pg = await sharedPg("system");
  const db = await createDatabase(pg, "sig");
  const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
  cleanup.push(() => sql.end());
  await sql`create table t (id int primary key, v text)`;
  const dir = mkdtempSync(join(tmpdir(), "cdc-sig-"));
  const cfg = join(dir, "cdc.yaml");
  const slot = `sig_${db.slice(4)}`;
  // A long interval: the only checkpoint a short run takes is the final one.
  writeFileSync(cfg, [`source: { url: "${pg.url(db)}", slot: ${slot}, publication: ${slot} }`, `state: { dir: ${dir}/state, checkpoint_interval: 10m }`, `api: { listen: "${apiListen}" }`, "log: { level: debug }", "sinks:", ...sinks.map((s) => `  ${s}`), "pipelines:", `  - { name: m, from: public.t, to: ${sinks[0].split(":")[0]} }`, ""].join("\n"));
  return { sql, dir, cfg, slot };
}

/** serve in the background, its JSON log lines collected. */
async function serve(cfg: string) {
  const proc = Bun.spawn([await binaryPath(), "serve", "--config", cfg], { stdout: "pipe", stderr: "pipe", env: { ...process.env, CDC_LOG_FORMAT: "json" } });
  cleanup.push(() => proc.exitCode === null && proc.kill("SIGKILL"));
  let out = "";
  let err = "";
  void (async () => {
    for await (const c of proc.stdout) out += new TextDecoder().decode(c);
  })();
  void (async () => {
    for await (const c of proc.stderr) err += new TextDecoder().decode(c);
  })();
  const lines = () => out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { level: number; msg: string; signal?: string });
  const waitLog = (what: string, pred: (l: { msg: string; signal?: string }) => boolean) => waitUntil(what, async () => lines().find(pred), 30_000, () => `stdout: ${out.slice(-3000)}\nstderr: ${err}`, 50);
  return { proc, lines, waitLog, stderr: () => err };
}

describe("serve stops", () => {
  let lostSlot: Awaited<ReturnType<typeof setup>>;

  test("on SIGHUP as on SIGTERM: a log line naming it, the final checkpoint, exit 0", async () => {
    const port = await freePort();
    const s = (lostSlot = await setup([`local: { type: sqlite, path: ${mkdtempSync(join(tmpdir(), "cdc-sig-wh-"))}/wh.db }`], `127.0.0.1:${port}`));
    const engine = await serve(s.cfg);
    await engine.waitLog("api listening", (l) => l.msg === "api listening");
    await s.sql`insert into t values (1, 'a'), (2, 'b')`;
    await waitUntil("rows read", async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).match(/cdc_engine_sink_rows_written_total\{[^}]*\} 2/), 30_000);
    // Before: SIGHUP's default action, exit 129 with no line and no checkpoint.
    engine.proc.kill("SIGHUP");
    expect(await engine.proc.exited).toBe(0);
    const msgs = engine.lines().map((l) => l.msg);
    const stopping = msgs.findIndex((m) => m.startsWith("stopping on SIGHUP: finishing in-flight batches and taking a final checkpoint"));
    expect(stopping).toBeGreaterThan(-1);
    expect(engine.lines()[stopping].signal).toBe("SIGHUP");
    expect(msgs.indexOf("checkpoint", stopping)).toBeGreaterThan(stopping);
    expect(msgs.at(-1)).toBe("stopped");
  }, 90_000);

  test("a slot dropped while stopped: exit 2 with the --resnapshot line (no restart fixes it)", async () => {
    const s = lostSlot;
    const drop = await runBinary(["slot", "drop", "--config", s.cfg]);
    expect(drop.stdout.trim()).toBe(`dropped replication slot ${s.slot}`);
    const r = await runBinary(["serve", "--config", s.cfg], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`cdc-engine: [source] replication slot ${s.slot} is missing (dropped or invalidated): changes in between are lost. Start with --resnapshot to recreate the slot and snapshot the tables again`);
  }, 60_000);

  test("a repeated SIGTERM is logged and waits; a SIGINT then exits 130 at once", async () => {
    // A webhook that never answers holds the final flush, so the stop stays under way.
    const hook = new HttpReceiver({ hang: () => true });
    cleanup.push(() => hook.stop());
    const s = await setup([`hook: { type: http, url: "${hook.url}", timeout: 60s, batch_delay: 10ms }`], `127.0.0.1:${await freePort()}`);
    const engine = await serve(s.cfg);
    await engine.waitLog("api listening", (l) => l.msg === "api listening");
    await s.sql`insert into t values (1, 'a')`;
    await waitUntil("the webhook holds a request", async () => hook.requests.length > 0, 30_000);
    engine.proc.kill("SIGTERM");
    await engine.waitLog("stopping", (l) => l.msg.startsWith("stopping on SIGTERM"));
    engine.proc.kill("SIGTERM");
    await engine.waitLog("already stopping", (l) => l.msg === "SIGTERM: a stop is already in progress (finishing in-flight batches and the final checkpoint)");
    expect(engine.proc.exitCode).toBeNull();
    engine.proc.kill("SIGINT");
    expect(await engine.proc.exited).toBe(130);
    const last = engine.lines().at(-1)!;
    expect(last).toMatchObject({ level: 40, signal: "SIGINT", msg: "second SIGINT: exiting now with 130, without the final checkpoint; the next start resumes from the last checkpoint" });
  }, 90_000);
});

describe("serve's API port", () => {
  test("already in use: exit 1 (a restart may find it free), the same one line", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    cleanup.push(() => busy.stop(true));
    const listen = `127.0.0.1:${busy.port}`;
    const s = await setup([`local: { type: sqlite, path: ${mkdtempSync(join(tmpdir(), "cdc-sig-wh-"))}/wh.db }`], listen);
    const r = await runBinary(["serve", "--config", s.cfg], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`cdc-engine: api.listen: ${listen} is already in use`);
    // The engine had started: it was stopped as on a signal, not cut off.
    expect(r.stdout.trim().split("\n").map((l) => JSON.parse(l).msg).at(-1)).toBe("stopped");
  }, 60_000);
});
