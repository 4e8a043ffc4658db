/**
 * The Redis sink's fenced write in its two forms, per batch of N HSETs (an orders-like hash):
 * one argument per item (FENCE_SCRIPT, used for batches with bytes values) and one JSON argument
 * (FENCE_JSON_SCRIPT, the usual form). Prints the engine-side CPU (this process), Redis' CPU
 * (INFO cpu) and the wall time per batch; both matter on a host the engine shares with Redis.
 *
 *   bun bench/redis-fence.ts [--rows 5000] [--batches 20]
 */
import { parseArgs } from "node:util";
import Redis from "ioredis";
import { FENCE_JSON_SCRIPT, FENCE_SCRIPT, opsAsJson } from "../src/sinks/redis/fence.ts";
import { redisUrl } from "../test/helpers/services.ts";

const { values } = parseArgs({ options: { rows: { type: "string" }, batches: { type: "string" } } });
const N = Number(values.rows ?? 5000);
const BATCHES = Number(values.batches ?? 20);
const prefix = `bench:fence:${process.pid}:`;

type Client = Redis & { fenceArgs(...a: string[]): Promise<unknown[]>; fenceJson(...a: string[]): Promise<unknown[]> };
const r = new Redis(redisUrl()) as Client;
r.defineCommand("fenceArgs", { numberOfKeys: 1, lua: FENCE_SCRIPT });
r.defineCommand("fenceJson", { numberOfKeys: 1, lua: FENCE_JSON_SCRIPT });
const redisCpu = async () => {
  const s = await r.info("cpu");
  return Number(/used_cpu_user:([\d.]+)/.exec(s)![1]) + Number(/used_cpu_sys:([\d.]+)/.exec(s)![1]);
};
const ops = Array.from({ length: N }, (_, i) => ({ cmd: "HSET", args: [`${prefix}o:${i}`, "status", "pending", "created_at", "2026-11-22 01:21:54.123456+00"] }));
let lsn = 0;
const pos = () => String(++lsn).padStart(20, "0");
const forms = {
  "one argument per item": async () => {
    const argv: string[] = [];
    for (const o of ops) argv.push(o.cmd, String(o.args.length), ...o.args);
    await r.fenceArgs(`${prefix}pos`, pos(), String(N), "1", ...argv);
  },
  "one JSON argument": async () => {
    await r.fenceJson(`${prefix}pos`, pos(), String(N), "1", opsAsJson(ops, 0, N)!);
  },
};
try {
  for (let round = 0; round < 2; round++) {
    for (const [name, write] of Object.entries(forms)) {
      await write(); // warm-up (script load, JIT)
      const redis0 = await redisCpu();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let b = 0; b < BATCHES; b++) await write();
      const wall = (performance.now() - t0) / BATCHES;
      const cpu = process.cpuUsage(cpu0);
      const redis = ((await redisCpu()) - redis0) * 1000 / BATCHES;
      console.log(`${name.padEnd(22)} per batch of ${N} HSETs: engine-side CPU ${((cpu.user + cpu.system) / 1000 / BATCHES).toFixed(1)} ms, Redis CPU ${redis.toFixed(1)} ms, wall ${wall.toFixed(1)} ms`);
    }
  }
} finally {
  const keys = await r.keys(`${prefix}*`);
  for (let i = 0; i < keys.length; i += 1000) await r.del(...keys.slice(i, i + 1000));
  r.disconnect();
}
