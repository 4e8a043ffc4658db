import { describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { createLogger } from "../../src/log.ts";
import { CdcError, isUsageError } from "../../src/errors.ts";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  return { lines, destination };
}

describe("logs", () => {
  test("JSON lines with secrets masked in messages, fields, child bindings and errors", () => {
    const { lines, destination } = capture();
    const log = createLogger({ destination, env: {} });
    const url = "postgres://cdc:pa55-word@db:5432/shop";
    log.child({ component: "source", url }).info({ sink: { url: "redis://:r3dis-pw@cache:6379", password: "hunter2" } }, `connecting to ${url}`);
    log.error({ err: new CdcError("connect", `[source] cannot connect to ${url}`, { cause: new Error(`auth failed for ${url}`) }) }, "failed");
    log.child({ component: "sink:http", token: "tok-9f8e7d", headers: { Authorization: "Bearer abc.def" } }).info("sending");
    const all = lines.join("\n");
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(JSON.parse(lines[2])).toMatchObject({ token: "***", headers: { Authorization: "Bearer ***" } });
    for (const s of ["pa55-word", "r3dis-pw", "hunter2", "tok-9f8e7d", "abc.def"]) expect(all).not.toContain(s);
    const first = JSON.parse(lines[0]);
    expect(first.msg).toBe("connecting to postgres://cdc:***@db:5432/shop");
    expect(first.url).toBe("postgres://cdc:***@db:5432/shop");
    expect(first.component).toBe("source");
    expect(first.sink).toEqual({ url: "redis://:***@cache:6379", password: "***" });
    const second = JSON.parse(lines[1]);
    expect(second.level).toBe(50);
    expect(second.err.type).toBe("CdcError");
    expect(second.err.code).toBe("connect");
    expect(second.err.message).toBe("[source] cannot connect to postgres://cdc:***@db:5432/shop");
    expect(second.err.cause).toBe("auth failed for postgres://cdc:***@db:5432/shop");
    expect(second.err.stack).toContain("postgres://cdc:***@db");
  });

  test("pretty mode: one readable line per event (log.format or CDC_LOG_FORMAT)", () => {
    const { lines, destination } = capture();
    createLogger({ destination, format: "pretty", env: {} }).child({ component: "sink:wh" }).warn({ rows: 3 }, "slow batch");
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN  \[sink:wh\] slow batch \{"rows":3\}$/);
    const env = capture();
    createLogger({ destination: env.destination, format: "json", env: { CDC_LOG_FORMAT: "pretty" } }).info("hello");
    expect(env.lines[0]).toMatch(/ INFO  hello$/);
  });

  test("level: --log-level beats CDC_LOG_LEVEL beats log.level; a bad level is a usage error", () => {
    expect(createLogger({ level: "warn", env: {} }).level).toBe("warn");
    expect(createLogger({ level: "warn", env: { CDC_LOG_LEVEL: "debug" } }).level).toBe("debug");
    expect(createLogger({ level: "warn", levelFlag: "error", env: { CDC_LOG_LEVEL: "debug" } }).level).toBe("error");
    let err: unknown;
    try {
      createLogger({ env: { CDC_LOG_LEVEL: "loud" } });
    } catch (e) {
      err = e;
    }
    expect(isUsageError(err)).toBe(true);
    expect((err as Error).message).toContain("log level 'loud' is not one of trace, debug, info");
  });
});
