import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { parseConfig } from "../../src/config/load.ts";
import { binaryPath, runBinary } from "../helpers/index.ts";

const root = join(import.meta.dir, "../..");
const read = (p: string) => readFileSync(join(root, p), "utf8");

describe("systemd unit", () => {
  test("systemd-analyze verify passes (ExecStart pointed at the built binary)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-unit-"));
    const unit = join(dir, "cdc-engine.service");
    writeFileSync(unit, read("deploy/cdc-engine.service").replaceAll("/usr/local/bin/cdc-engine", await binaryPath()));
    const p = Bun.spawnSync(["systemd-analyze", "verify", "--man=false", unit], { stdout: "pipe", stderr: "pipe" });
    const out = p.stdout.toString() + p.stderr.toString();
    // Outside a booted systemd only the missing sysinit.target is reported; nothing about this unit.
    const problems = out.split("\n").filter((l) => l.trim() && !/sysinit\.target not found/.test(l));
    expect(problems).toEqual([]);
    expect(p.exitCode).toBe(0);
  }, 60_000);

  test("the unit carries the sandboxing and restart policy the docs promise", () => {
    const unit = read("deploy/cdc-engine.service");
    for (const line of [
      "Restart=on-failure",
      "RestartPreventExitStatus=2",
      "User=cdc-engine",
      "StateDirectory=cdc-engine",
      "EnvironmentFile=-/etc/cdc-engine/cdc-engine.env",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ReadWritePaths=/var/lib/cdc-engine",
      "KillSignal=SIGTERM",
      "Environment=BUN_JSC_useWarmUpMarkedBlocks=0",
      "Environment=BUN_JSC_forceRAMSize=1073741824",
    ])
      expect(unit).toContain(line);
  });
});

describe("Docker and compose", () => {
  test("Dockerfile: multi-stage, non-root, HEALTHCHECK through `cdc-engine healthcheck`", () => {
    const df = read("Dockerfile").replace(/\\\n\s*/g, " ");
    expect(df.match(/^FROM /gm)!.length).toBe(2);
    expect(df).toMatch(/^USER 65532:65532$/m);
    expect(df).toMatch(/^HEALTHCHECK .*cdc-engine", "healthcheck", "--url", "http:\/\/127\.0\.0\.1:8080\/health"/m);
    // the image runs the engine with the unit's JavaScriptCore settings
    const env = /^ENV (.*)$/m.exec(df)![1];
    for (const line of read("deploy/cdc-engine.service").match(/^Environment=BUN_JSC_\S+$/gm)!) expect(env).toContain(line.slice("Environment=".length));
  });

  test("compose.yaml: logical Postgres, MariaDB, Redis, a StarRocks profile, and an example config that validates", () => {
    const compose = parse(read("compose.yaml"));
    expect(compose.services.postgres.command.join(" ")).toContain("wal_level=logical");
    expect(Object.keys(compose.services).sort()).toEqual(["cdc-engine", "mariadb", "postgres", "redis", "starrocks"]);
    expect(compose.services.starrocks.profiles).toEqual(["starrocks"]);
    for (const svc of Object.values(compose.services) as { ports?: string[] }[]) for (const p of svc.ports ?? []) expect(p.startsWith("127.0.0.1:")).toBe(true);
    const env = compose.services["cdc-engine"].environment;
    const cfg = parseConfig(read("deploy/compose/cdc.yaml"), "cdc.yaml", { SOURCE_URL: env.SOURCE_URL.replace(/\$\{[^}]+\}/g, "pw"), MYSQL_URL: env.MYSQL_URL.replace(/\$\{[^}]+\}/g, "pw") });
    expect(cfg.source.url).toBe("postgres://postgres:pw@postgres:5432/shop");
    expect(cfg.sinks.mariadb.type).toBe("mysql");
    expect(cfg.pipelines.map((p) => p.name)).toEqual(["orders_mirror"]);
  });
});

describe("healthcheck command", () => {
  test("exit 0 on 200, 1 on 503 naming the component, 1 when nothing listens", async () => {
    let healthy = true;
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        healthy
          ? Response.json({ status: "up", components: { source: { status: "up" } } })
          : Response.json({ status: "down", components: { source: { status: "up" }, "sink:wh": { status: "down", reason: "connection refused" } } }, { status: 503 }),
    });
    try {
      const url = `http://127.0.0.1:${server.port}/health`;
      const ok = await runBinary(["healthcheck", "--url", url]);
      expect(ok.code).toBe(0);
      expect(ok.stdout.trim()).toBe(`ok ${url}`);
      healthy = false;
      const bad = await runBinary(["healthcheck", "--url", url]);
      expect(bad.code).toBe(1);
      expect(bad.stderr.trim()).toBe(`unhealthy: ${url} answered 503 sink:wh: connection refused`);
    } finally {
      server.stop(true);
    }
    const gone = await runBinary(["healthcheck", "--url", `http://127.0.0.1:${server.port}/health`, "--timeout", "2"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr.trim()).toBe(`unhealthy: http://127.0.0.1:${server.port}/health: connection refused`);
    const usage = await runBinary(["healthcheck", "--url", "ftp://x"]);
    expect(usage.code).toBe(2);
  }, 60_000);
});

describe("bun run build", () => {
  test("--version prints the version and the git commit baked in by scripts/build.ts", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "cdc-build-")), "cdc-engine");
    // Others commit to this tree while tests run: HEAD before or after the build is fine.
    const head = () => Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root }).stdout.toString().trim();
    const before = head();
    const b = Bun.spawnSync(["bun", "scripts/build.ts"], { cwd: root, env: { ...process.env, CDC_BUILD_OUTFILE: out }, stdout: "pipe", stderr: "pipe" });
    expect(b.exitCode).toBe(0);
    const after = head();
    const v = Bun.spawnSync([out, "--version"], { stdout: "pipe" }).stdout.toString().trim();
    const pkg = JSON.parse(read("package.json"));
    expect(v).toMatch(new RegExp(`^cdc-engine ${pkg.version.replaceAll(".", "\\.")} \\((${before}|${after})(-dirty)?\\)$`));
  }, 60_000);
});
