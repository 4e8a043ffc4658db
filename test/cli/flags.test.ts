/** Flags and arguments of the compiled binary: refused with one line and exit 2, before anything connects. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary } from "../helpers/binary.ts";

/** A config that loads; its source refuses connections at once (port 1). */
function config(extra = ""): string {
  const dir = mkdtempSync(join(tmpdir(), "cdc-flags-"));
  const path = join(dir, "cdc.yaml");
  writeFileSync(path, `source: { url: "postgres://postgres@127.0.0.1:1/none" }\nstate: { dir: ${dir}/state }\napi: { enabled: false }\n${extra}sinks:\n  out: { type: stdout }\npipelines:\n  - { name: m, from: public.t, to: out }\n`);
  return path;
}

const firstLine = (s: string) => s.split("\n")[0];

describe("numeric flags", () => {
  // --chunk-rows 0 ran for minutes as 1; -1 got parseArgs' "argument is ambiguous".
  const cases: [string[], string][] = [
    [["verify", "--chunk-rows", "0"], "--chunk-rows: expected a positive integer, got '0'"],
    [["verify", "--chunk-rows", "-5"], "--chunk-rows: expected a positive integer, got '-5'"],
    [["verify", "--chunk-rows", "1.5"], "--chunk-rows: expected a positive integer, got '1.5'"],
    [["verify", "--chunk-rows=abc"], "--chunk-rows: expected a positive integer, got 'abc'"],
    [["verify", "--wait", "-1"], "--wait: expected a whole number (0 or more), got '-1'"],
    [["verify", "--max-diffs", "-1"], "--max-diffs: expected a whole number (0 or more), got '-1'"],
    [["verify", "--lock-timeout", "0"], "--lock-timeout: expected a positive integer, got '0'"],
    [["demo", "--rate", "-1"], "--rate: expected a positive number, got '-1'"],
    [["demo", "--rate", "0"], "--rate: expected a positive number, got '0'"],
    [["healthcheck", "--timeout", "-1"], "--timeout: expected a positive number, got '-1'"],
    [["healthcheck", "--timeout", "0"], "--timeout: expected a positive number, got '0'"],
    [["generate", "--dataset", "orders", "--count", "0"], "--count: expected a positive integer, got '0'"],
    [["generate", "--dataset", "orders", "-n", "-3"], "--count: expected a positive integer, got '-3'"],
    [["generate", "--dataset", "orders", "--batch", "0"], "--batch: expected a positive integer, got '0'"],
    [["generate", "--dataset", "orders", "--concurrency", "-2"], "--concurrency: expected a positive integer, got '-2'"],
    [["generate", "--dataset", "relational", "--users", "-1"], "--users: expected a whole number (0 or more), got '-1'"],
    [["generate", "--dataset", "relational", "--runs", "0"], "--runs: expected a positive integer, got '0'"],
  ];
  for (const [args, message] of cases) {
    test(`${args.join(" ")}: exit 2, '${message}'`, async () => {
      const r = await runBinary(args[0] === "verify" ? [...args, "--config", config()] : args, { timeoutMs: 20_000 });
      expect({ code: r.code, line: firstLine(r.stderr) }).toEqual({ code: 2, line: `cdc-engine: ${message}` });
    });
  }

  test("a negative value for a text flag is passed on as a value, not called ambiguous", async () => {
    const r = await runBinary(["generate", "--dataset", "orders", "--rate", "-1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain("ambiguous");
    expect(firstLine(r.stderr)).toBe("cdc-engine: --rate '-1' is not a rate (e.g. 500, 500/s, 200000/min, max)");
  });
});

describe("arguments where a command takes none", () => {
  for (const args of [["--version", "extra"], ["-V", "extra"], ["version", "extra"], ["--help", "extra"]]) {
    test(`${args.join(" ")}: exit 2`, async () => {
      const r = await runBinary(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(firstLine(r.stderr)).toBe("cdc-engine: unexpected argument 'extra'");
    });
  }

  test("serve extra: exit 2 with serve's usage line", async () => {
    const r = await runBinary(["serve", "extra", "--config", config()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("cdc-engine: Unexpected argument 'extra'. This command does not take positional arguments\nusage: cdc-engine serve --config FILE [--listen HOST:PORT] [--log-level LEVEL] [--resnapshot]\n");
  });

  test("help serve prints serve's usage, exit 0", async () => {
    const r = await runBinary(["help", "serve"]);
    expect(r.code).toBe(0);
    expect(firstLine(r.stdout)).toStartWith("cdc-engine serve --config FILE");
  });
});

describe("help", () => {
  test("lists every exit code the binary uses", async () => {
    const r = await runBinary(["--help"]);
    const codes = r.stdout.slice(r.stdout.indexOf("exit codes:")).trim().split("\n").slice(1).map((l) => l.trim().split(/\s+/)[0]);
    expect(codes).toEqual(["0", "1", "2", "70", "130"]);
  });
});

describe("serve --log-level", () => {
  test("help's levels are the accepted levels: each starts (then fails on the source, exit 1)", async () => {
    const usage = (await runBinary(["serve", "--help"])).stdout;
    const levels = /--log-level LEVEL\s+(\S+)/.exec(usage)![1].split("|");
    expect(levels).toEqual(["trace", "debug", "info", "warn", "error", "fatal", "silent"]);
    const path = config();
    for (const level of levels) {
      const r = await runBinary(["serve", "--config", path, "--log-level", level], { timeoutMs: 20_000 });
      expect({ level, code: r.code, said: r.stderr.includes("cannot start streaming") }).toEqual({ level, code: 1, said: true });
    }
  }, 120_000);

  test("a bad level names where it came from: the flag, CDC_LOG_LEVEL or the file's log.level", async () => {
    const all = "is not one of trace, debug, info, warn, error, fatal, silent";
    const flag = await runBinary(["serve", "--config", config(), "--log-level", "loud"], { env: { CDC_LOG_LEVEL: "info" } });
    expect({ code: flag.code, err: flag.stderr.trim() }).toEqual({ code: 2, err: `cdc-engine: --log-level: log level 'loud' ${all}` });
    const env = await runBinary(["serve", "--config", config()], { env: { CDC_LOG_LEVEL: "loud" } });
    expect({ code: env.code, err: env.stderr.trim() }).toEqual({ code: 2, err: `cdc-engine: CDC_LOG_LEVEL: log level 'loud' ${all}` });
    const file = await runBinary(["serve", "--config", config("log: { level: loud }\n")], { env: { CDC_LOG_LEVEL: "" } });
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/^cdc-engine: cdc\.yaml: log\.level: /);
  });
});
