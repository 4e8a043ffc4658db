import type { Runtime, LeaderboardEntry } from "../../src/engine/runtime-types.ts";
import { CdcError } from "../../src/errors.ts";

/** A runtime whose status carries secrets on purpose and whose admin calls are recorded. */
export function fakeRuntime(opts: { admin?: boolean; leaderboard?: () => LeaderboardEntry[] } = {}): Runtime & { calls: string[]; paused: Set<string> } {
  const calls: string[] = [];
  const paused = new Set<string>();
  const check = (p: string) => {
    if (p !== "orders" && p !== "events") throw new CdcError("unknown_pipeline", `unknown pipeline '${p}'`);
  };
  const rt: Runtime & { calls: string[]; paused: Set<string> } = {
    calls,
    paused,
    components: () => [{ name: "source", health: () => ({ status: "up" as const }) }],
    status: () => ({
      source: { url: "postgres://cdc:s3cr3t-pw@db.internal:5432/shop", slot: "cdc_engine", confirmed_lsn: "0/16B3748" },
      pipelines: [
        { name: "orders", state: paused.has("orders") ? "paused" : "running", rows: 1234n, lsn: 23542088n },
        { name: "events", state: "running", rows: 10 },
      ],
      sinks: { redis: { url: "redis://:r3d1s-pw@cache:6379/0", password: "hunter2" }, wh: { headers: { Authorization: "Bearer tok_abcdefgh123" } } },
      recent_errors: ["[sink:mysql] connect failed: mysql://root:my-pw@mysql:3306/db refused"],
      last_checkpoint: { lsn: "0/16B3748", at: new Date("2026-01-01T00:00:00Z") },
    }),
    stop: async () => {},
    done: new Promise(() => {}),
  };
  if (opts.admin) {
    rt.pause = (p) => {
      check(p);
      calls.push(`pause ${p}`);
      paused.add(p);
    };
    rt.resume = (p) => {
      check(p);
      calls.push(`resume ${p}`);
      paused.delete(p);
    };
    rt.checkpoint = async () => {
      calls.push("checkpoint");
      return { lsn: 23542088n, durationMs: 3 };
    };
    rt.replayDlq = async (p) => {
      calls.push(`replay ${p ?? "*"}`);
      return { replayed: 2, failed: [] };
    };
  }
  if (opts.leaderboard) rt.leaderboard = opts.leaderboard;
  return rt;
}
