import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary } from "../helpers/binary.ts";
import postgres from "postgres";
import { sharedPg, createDatabase } from "../helpers/index.ts";

function tmpConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cdc-cfg-"));
  const path = join(dir, "cdc.yaml");
  writeFileSync(path, text);
  return path;
}

describe("the compiled binary", () => {
  test("--help lists the commands, exit 0", async () => {
    const r = await runBinary(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("serve");
    expect(r.stdout).toContain("check");
  });

  test("--version prints version and commit", async () => {
    const r = await runBinary(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cdc-engine \d+\.\d+\.\d+ \(.+\)\n$/);
  });

  test("<sub> --help prints its usage", async () => {
    const r = await runBinary(["check", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("cdc-engine check --config FILE");
  });

  test("unknown subcommand: exit 2 with the usage line", async () => {
    const r = await runBinary(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
    expect(r.stderr).toContain("usage: cdc-engine");
  });

  test("unknown flag: exit 2 with the usage line", async () => {
    const r = await runBinary(["check", "--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--bogus");
    expect(r.stderr).toContain("usage: cdc-engine check");
  });

  test("config error: exit 2, one line naming file, key path and problem, no stack", async () => {
    const path = tmpConfig("source: { url: postgres://x@127.0.0.1/db }\nsinks:\n  wh: { type: postgres }\npipelines:\n  - { name: m, from: public.t, to: wh }\n");
    const r = await runBinary(["check", "--config", path]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("cdc-engine: cdc.yaml: sinks.wh.url: required");
  });

  test("missing config file: exit 2", async () => {
    const r = await runBinary(["check", "--config", "/nonexistent/cdc.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("/nonexistent/cdc.yaml: cannot read config file (no such file)");
  });

  test("check connects to the source and sinks: exit 0 and one line each", async () => {
    const pg = await sharedPg("system");
    const db = await createDatabase(pg);
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql`create table t (id int primary key)`;
    await sql.end();
    const dir = mkdtempSync(join(tmpdir(), "cdc-chk-"));
    const path = tmpConfig(
      `source:\n  url: ${pg.url(db)}\nsinks:\n  wh: { type: postgres, url: "${pg.url(db)}" }\n  local: { type: sqlite, path: ${dir}/wh.db }\npipelines:\n  - { name: m, from: public.t, to: [wh, local] }\n`,
    );
    const r = await runBinary(["check", "--config", path]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^ok\s+source\s+postgres \d+.*, 1 table\(s\) to capture$/);
    expect(lines.some((l) => /^ok\s+sink:wh\s+postgres/.test(l))).toBe(true);
    expect(lines.some((l) => /^ok\s+sink:local\s+sqlite/.test(l))).toBe(true);
  });

  test("check with an unreachable sink: exit 1 and a FAIL line", async () => {
    const pg = await sharedPg("system");
    const db = await createDatabase(pg);
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql`create table t (id int primary key)`;
    await sql.end();
    const path = tmpConfig(`source:\n  url: ${pg.url(db)}\nsinks:\n  wh: { type: postgres, url: "postgres://postgres@127.0.0.1:1/none" }\npipelines:\n  - { name: m, from: public.t, to: wh }\n`);
    const r = await runBinary(["check", "--config", path]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL sink:wh/);
  });

  test("serve whose source cannot be reached on the first start exits 1 with one line (it is not retried)", async () => {
    // It retried forever ("restarting the runtime from the last checkpoint") while the README said it exits.
    const dir = mkdtempSync(join(tmpdir(), "cdc-unreach-"));
    const path = tmpConfig(`source:\n  url: "postgres://postgres@127.0.0.1:1/none"\nstate: { dir: ${dir}/state }\napi: { enabled: false }\nsinks:\n  local: { type: sqlite, path: ${dir}/wh.db }\npipelines:\n  - { name: m, from: public.t, to: local }\n`);
    const r = await runBinary(["serve", "--config", path], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("cdc-engine:"))).toEqual(["cdc-engine: [source] cannot start streaming from postgres://postgres@127.0.0.1:1/none: connect ECONNREFUSED 127.0.0.1:1"]);
    expect(r.stdout).not.toContain("restarting the runtime");
  });

  test("check names a table the pipelines read that does not exist: FAIL line, exit 2", async () => {
    // It said "ok" and exit 0; serve then stopped at start with "table ... does not exist".
    const pg = await sharedPg("system");
    const db = await createDatabase(pg);
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql`create table orders (id int primary key)`;
    await sql`create table customers (id int primary key)`;
    await sql.end();
    const dir = mkdtempSync(join(tmpdir(), "cdc-chk-"));
    const join1 = `join: [{ table: public.custs, on: customer_id = custs.id }]`;
    const path = tmpConfig(`source:\n  url: ${pg.url(db)}\nsinks:\n  local: { type: sqlite, path: ${dir}/wh.db }\npipelines:\n  - { name: m, from: [public.orders, public.customers], to: local }\n  - { name: j, from: public.orders, ${join1}, select: [id], to: local }\n`);
    const r = await runBinary(["check", "--config", path]);
    expect(r.code).toBe(2);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("FAIL source               table public.custs does not exist in the source database (a pipeline reads it: create it or fix the pipeline's from: or join:)");
    expect(lines.some((l) => /^ok\s+sink:local\s+sqlite/.test(l))).toBe(true);
    expect(r.stderr).not.toContain("    at ");
  });

  test("check compiles pipelines: a transform module that throws at load is a FAIL line, exit 2", async () => {
    // check said ok (exit 0) and serve then stopped at start.
    const pg = await sharedPg("system");
    const db = await createDatabase(pg);
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql`create table orders (id int primary key)`;
    await sql.end();
    const dir = mkdtempSync(join(tmpdir(), "cdc-chk-"));
    writeFileSync(join(dir, "bad.ts"), `throw new Error("broken module");\nexport function transform(row: Record<string, unknown>) { return row; }\n`);
    const path = join(dir, "cdc.yaml");
    writeFileSync(path, `source:\n  url: ${pg.url(db)}\nsinks:\n  local: { type: sqlite, path: ${dir}/wh.db }\npipelines:\n  - { name: t, from: public.orders, transform: ./bad.ts, to: local }\n`);
    const r = await runBinary(["check", "--config", path]);
    expect(r.code).toBe(2);
    const fail = r.stdout.split("\n").find((l) => l.startsWith("FAIL pipeline:t"));
    expect(fail).toContain("broken module");
    expect(r.stdout).toMatch(/^ok\s+source/m);
  });

  test("serve with a bad --listen or CDC_API_LISTEN: one line, exit 2", async () => {
    // It was Bun's `The value of "options.port" is out of range. It must be an integer. Received NaN`, exit 1.
    const pg = await sharedPg("system");
    const db = await createDatabase(pg);
    const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
    await sql`create table t (id int primary key)`;
    await sql.end();
    const dir = mkdtempSync(join(tmpdir(), "cdc-listen-"));
    const slot = `l_${Math.random().toString(36).slice(2, 8)}`;
    const path = tmpConfig(`source: { url: "${pg.url(db)}", slot: ${slot}, publication: ${slot} }\nstate: { dir: "${dir}/state" }\nsinks:\n  out: { type: stdout }\npipelines:\n  - { name: m, from: public.t, to: out }\n`);
    const flag = await runBinary(["serve", "--config", path, "--listen", "nonsense"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("cdc-engine: api.listen: 'nonsense' is not HOST:PORT with a port from 0 to 65535 (from --listen, CDC_API_LISTEN or api.listen)\n");
    const env = await runBinary(["serve", "--config", path], { env: { CDC_API_LISTEN: "127.0.0.1:99999" } });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain("api.listen: '127.0.0.1:99999' is not HOST:PORT");
    expect(env.stderr).not.toContain("options.port");
  }, 60_000);
});
