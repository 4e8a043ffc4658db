import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { LeaderboardTap, leaderboardSpec } from "../../src/engine/leaderboard-tap.ts";
import type { OutputRecord, OutputTable } from "../../src/sinks/sink.ts";
import { FakeSource, col, relation, txn, ins, upd } from "./fake-source.ts";

const table: OutputTable = { name: "board", columns: [], key: ["content_id", "window_start"] };
const rec = (op: "upsert" | "delete", row: Record<string, unknown>): OutputRecord => ({ op, table, row, lsn: 1n, index: 0, commitTime: 0n, source: { table: "t", op: "insert", xid: 1 } });

describe("dashboard leaderboard", () => {
  test("follows the newest window: a newer window replaces the board, corrections of the shown one apply, older ones are ignored", () => {
    const tap = new LeaderboardTap({ pipeline: "p", member: "content_id", score: "total", top: 2 });
    tap.add([rec("upsert", { content_id: 1, window_end: "2026-01-01 00:10:00+00", total: "5.5" }), rec("upsert", { content_id: 2, window_end: "2026-01-01 00:10:00+00", total: "7" }), rec("upsert", { content_id: 3, window_end: "2026-01-01 00:10:00+00", total: "1" })]);
    expect(tap.top()).toEqual([{ member: "2", score: 7 }, { member: "1", score: 5.5 }]);
    tap.add([rec("upsert", { content_id: 9, window_end: "2026-01-01 00:09:00+00", total: "100" })]);
    expect(tap.top()[0]).toEqual({ member: "2", score: 7 });
    tap.add([rec("delete", { content_id: 2, window_end: "2026-01-01 00:10:00+00" }), rec("upsert", { content_id: 3, window_end: "2026-01-01 00:10:00+00", total: "6" })]);
    expect(tap.top()).toEqual([{ member: "3", score: 6 }, { member: "1", score: 5.5 }]);
    tap.add([rec("upsert", { content_id: 4, window_end: "2026-01-01 00:11:00+00", total: "2" })]);
    expect(tap.top()).toEqual([{ member: "4", score: 2 }]);
    expect(tap.window).toBe("2026-01-01 00:11:00+00");
  });

  test("the pipeline: `leaderboard:` in the config, else the first into a Redis zset", () => {
    const cfg = (extra: string) =>
      parseConfig(
        `source: { url: "postgres://x@127.0.0.1:1/x" }
sinks:
  cache: { type: redis, url: "redis://127.0.0.1:6379" }
  wh: { type: sqlite, path: /tmp/x.sqlite }
pipelines:
  - name: z
    from: public.t
    group_by: [k]
    aggregate: { n: COUNT(*) }
    to: { sink: cache, type: zset, key_template: "board", member: k, score: n }
  - name: s
    from: public.t
    group_by: [k]
    aggregate: { n: COUNT(*) }
    to: { sink: wh, table: s }
${extra}`,
        "test.yaml",
        {},
      );
    expect(leaderboardSpec(cfg("").pipelines)).toEqual({ pipeline: "z", member: "k", score: "n", top: 10 });
    const explicit = cfg("").pipelines;
    explicit[1].leaderboard = { member: "k", score: "n", top: 5 };
    expect(leaderboardSpec(explicit)).toEqual({ pipeline: "s", member: "k", score: "n", top: 5 });
  });

  test("a running engine serves its leaderboard pipeline's newest results", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-board-"));
    const cfg = parseConfig(
      `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${dir}/state" }
sinks:
  wh: { type: sqlite, path: "${dir}/wh.sqlite", batch_delay: 10ms }
pipelines:
  - name: plays
    from: public.plays
    group_by: [content_id]
    aggregate: { total: SUM(seconds) }
    to: { sink: wh, table: plays_total }
    leaderboard: { member: content_id, score: total, top: 3 }
`,
      "test.yaml",
      {},
    );
    const rel = relation("public.plays", [col("id", "integer", 23, true), col("content_id", "integer", 23), col("seconds", "numeric", 1700)]);
    const txns = [
      txn([ins(rel, { id: 1, content_id: 10, seconds: "3.5" }), ins(rel, { id: 2, content_id: 11, seconds: "9" })]),
      txn([ins(rel, { id: 3, content_id: 10, seconds: "1" }), ins(rel, { id: 4, content_id: 12, seconds: "2" }), ins(rel, { id: 5, content_id: 13, seconds: "0.5" })]),
      txn([upd(rel, { id: 2, content_id: 11, seconds: "1" }, { id: 2, content_id: 11, seconds: "9" })]),
    ];
    const source = new FakeSource(txns);
    const rt = await startRuntime(cfg, createLogger({ level: "silent" }), { source });
    try {
      for (let i = 0; i < 200 && source.delivered < txns.length; i++) await Bun.sleep(10);
      expect(await rt.leaderboard!()).toEqual([
        { member: "10", score: 4.5 },
        { member: "12", score: 2 },
        { member: "11", score: 1 },
      ]);
    } finally {
      await rt.stop();
    }
  });
});
