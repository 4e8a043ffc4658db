/**
 * rediss:// with a private CA and requirepass: a throwaway TLS-only redis-server on a free
 * port, certificates made with openssl for this test.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../helpers/index.ts";
import { redisSink, RedisSink } from "../../src/sinks/redis/index.ts";
import { redisSinkConfig } from "../../src/sinks/redis/config.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

let dir = "";
let port = 0;

function run(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { cwd: dir });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cdc-rtls-"));
  run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=cdc test CA"]);
  run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
  await Bun.write(join(dir, "san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "san.ext"]);
  port = await freePort();
  run(["redis-server", "--port", "0", "--tls-port", String(port), "--bind", "127.0.0.1", "--tls-cert-file", "server.pem", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no", "--requirepass", "tls-pass-123", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "yes", "--logfile", join(dir, "redis.log"), "--pidfile", join(dir, "redis.pid")]);
  for (let i = 0; i < 50; i++) {
    const ping = Bun.spawnSync(["redis-cli", "--tls", "--cacert", join(dir, "ca.pem"), "-h", "127.0.0.1", "-p", String(port), "-a", "tls-pass-123", "--no-auth-warning", "ping"]);
    if (ping.stdout.toString().trim() === "PONG") return;
    await Bun.sleep(50);
  }
  throw new Error("TLS redis-server did not start");
}, 60_000);

afterAll(async () => {
  const pid = Number(await Bun.file(join(dir, "redis.pid")).text().catch(() => "0"));
  if (pid > 0) process.kill(pid, "SIGTERM");
  await Bun.sleep(100);
  rmSync(dir, { recursive: true, force: true });
});

describe("redis sink over TLS", () => {
  test("rediss:// with the CA and a password writes; a wrong CA or password fails with one line", async () => {
    const ca = join(dir, "ca.pem");
    const good = redisSinkConfig.parse({ url: `rediss://:tls-pass-123@127.0.0.1:${port}`, tls: { ca } });
    expect(await redisSink.check(good)).toMatch(/^redis 7\.\d+\.\d+ at rediss:\/\/:\*\*\*@127\.0\.0\.1:/);
    const s = new RedisSink(good);
    const t = table("t", [col("id", OID.int8, { key: true }), col("v", OID.numeric)], ["id"]);
    await s.open(context("cache", [{ pipeline: "p", options: { type: "hash", key_template: "t:{id}" } }]));
    await s.write(batch("p", [rec(t, "upsert", { id: 12345678901234567890n, v: "1.000001" }, 10n)]));
    await s.close();
    const get = Bun.spawnSync(["redis-cli", "--tls", "--cacert", ca, "-h", "127.0.0.1", "-p", String(port), "-a", "tls-pass-123", "--no-auth-warning", "hget", "t:12345678901234567890", "v"]);
    expect(get.stdout.toString().trim()).toBe("1.000001");

    const wrongPass = redisSinkConfig.parse({ url: `rediss://:nope@127.0.0.1:${port}`, tls: { ca } });
    expect(redisSink.check(wrongPass)).rejects.toThrow(/authentication failed at rediss:\/\/:\*\*\*@127\.0\.0\.1/);
    const noCa = redisSinkConfig.parse({ url: `rediss://:tls-pass-123@127.0.0.1:${port}`, connect_timeout: "2s" });
    expect(redisSink.check(noCa)).rejects.toThrow(/certificate|self[- ]signed|issuer/i);
  }, 30_000);
});
