import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster } from "ioredis";
import { freePort } from "../helpers/index.ts";
import { RedisSink } from "../../src/sinks/redis/index.ts";
import { redisSinkConfig } from "../../src/sinks/redis/config.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

// A throwaway 3-master Redis Cluster from the machine's redis-server, on free ports.
const ports: number[] = [];
let dir = "";
let cluster: Cluster;

function cli(...args: string[]): string {
  return Bun.spawnSync(["redis-cli", ...args]).stdout.toString();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cdc-rcluster-"));
  for (let i = 0; i < 3; i++) ports.push(await freePort());
  for (const p of ports) {
    // The cluster bus defaults to port + 10000, which may be taken or past 65535: give it a free port too.
    const bus = await freePort();
    const r = Bun.spawnSync(["redis-server", "--port", String(p), "--cluster-port", String(bus), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${p}.conf`), "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "yes", "--logfile", join(dir, `${p}.log`)]);
    if (r.exitCode !== 0) throw new Error(`redis-server --port ${p} failed: ${r.stderr}`);
  }
  for (const p of ports) for (let i = 0; i < 50 && cli("-p", String(p), "ping").trim() !== "PONG"; i++) await Bun.sleep(50);
  const create = Bun.spawnSync(["redis-cli", "--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"]);
  if (create.exitCode !== 0) throw new Error(`cluster create failed: ${create.stdout}${create.stderr}`);
  for (let i = 0; i < 100 && !ports.every((p) => cli("-p", String(p), "cluster", "info").includes("cluster_state:ok")); i++) await Bun.sleep(100);
  cluster = new Cluster(ports.map((port) => ({ host: "127.0.0.1", port })));
}, 60_000);

afterAll(() => {
  cluster?.disconnect();
  for (const p of ports) cli("-p", String(p), "shutdown", "nosave");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const stats = table("content_stats", [col("content_id", OID.text, { key: true }), col("plays", OID.int8), col("score", OID.numeric)], ["content_id"]);

describe("redis sink on Redis Cluster", () => {
  test("writes spread over slots; replay after reopen changes nothing", async () => {
    const cfg = redisSinkConfig.parse({ url: `redis://127.0.0.1:${ports[0]}`, cluster: true, nodes: ports.map((p) => `redis://127.0.0.1:${p}`) });
    const targets = [
      { pipeline: "stats", options: { type: "hash", key_template: "content_stats:{content_id}", ttl: "1h" } },
      { pipeline: "stats", options: { type: "zset", key_template: "top", member: "content_id", score: "score" } },
    ];
    const ids = Array.from({ length: 30 }, (_, i) => `c${i}`);
    const batches = [
      batch("stats", ids.map((id, i) => rec(stats, "upsert", { content_id: id, plays: BigInt(i), score: `${i}.5` }, 100n, i))),
      batch("stats", [rec(stats, "upsert", { content_id: "c1", plays: 9007199254740993n, score: "99" }, 200n), rec(stats, "delete", { content_id: "c2" }, 200n, 1)]),
    ];
    const s1 = new RedisSink(cfg);
    await s1.open(context("cache", targets));
    for (const b of batches) await s1.write(b);
    await s1.close();
    const s2 = new RedisSink(cfg);
    await s2.open(context("cache", targets));
    expect(s2.position("stats")).toBe(200n);
    for (const b of batches) await s2.write(b);
    await s2.close();

    // The keys landed on more than one master.
    const slots = new Set(ids.map((id) => cli("-p", String(ports[0]), "cluster", "keyslot", `content_stats:${id}`).trim()));
    expect(slots.size).toBeGreaterThan(10);
    expect(await cluster.hgetall("content_stats:c1")).toEqual({ content_id: "c1", plays: "9007199254740993", score: "99" });
    expect(await cluster.exists("content_stats:c2")).toBe(0);
    expect(await cluster.ttl("content_stats:c29")).toBeGreaterThan(3500);
    expect(await cluster.zcard("top")).toBe(29);
    expect(await cluster.zscore("top", "c1")).toBe("99");
    expect(await cluster.zscore("top", "c3")).toBe("3.5");
  }, 60_000);
});
