import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { binaryPath, createDatabase, sharedPg } from "../helpers/index.ts";

/**
 * A throw no caller can catch ends `serve` with one fatal JSON log line naming the error and
 * exit 70 (restarted by systemd's Restart=on-failure; 2 is kept for config errors). Triggered
 * here by a transform module whose own timer throws once the engine runs.
 */
test("an uncaught exception in serve: one fatal log line with the error, exit 70", async () => {
  const pg = await sharedPg("system");
  const db = await createDatabase(pg, "fatal");
  const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe("create table items (id bigint primary key, name text)");
    const dir = mkdtempSync(join(tmpdir(), "cdc-fatal-"));
    writeFileSync(join(dir, "late-throw.ts"), `
      setTimeout(() => { throw new Error("boom from a transform timer"); }, 1500);
      export function transform(row: Record<string, unknown>) { return row; }
    `);
    const cfg = join(dir, "cdc.yaml");
    writeFileSync(cfg, [
      "source:",
      `  url: ${pg.url(db)}`,
      `  slot: fatal_${db.slice(6)}`,
      `  publication: fatal_${db.slice(6)}`,
      "state:",
      `  dir: ${dir}/state`,
      "api: { enabled: false }",
      "sinks:",
      "  out: { type: stdout }",
      "pipelines:",
      "  - { name: items, from: public.items, to: out, transform: ./late-throw.ts }",
      "",
    ].join("\n"));
    const proc = Bun.spawn([await binaryPath(), "serve", "--config", cfg], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, CDC_LOG_FORMAT: "json" } });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    expect({ code, stderr: stderr.slice(-500) }).toEqual({ code: 70, stderr: expect.any(String) });
    const fatal = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).filter((l) => l.level === 60);
    expect(fatal.length).toBe(1);
    expect(fatal[0].msg).toBe("uncaught exception: exiting with 70; a restart resumes from the last checkpoint");
    expect(fatal[0].err.message).toBe("boom from a transform timer");
    expect(fatal[0].err.stack).toContain("late-throw.ts");
  } finally {
    await sql.unsafe(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = 'fatal_${db.slice(6)}' and not active`).catch(() => {});
    await sql.end();
  }
}, 90_000);
