/**
 * Soak check without the soak: examples/engagement.yaml's leaderboard (sliding 10m/1m, retention
 * 10m, lateness 5s) over 3 hours of event time at a steady rate, with keys that come and go (a new
 * set of content ids every 10 minutes). Rows, panes and groups must stop growing once retention
 * starts dropping (size + retention + one sweep of rows), and so must the incremental checkpoints:
 * each 10-minute delta the size of the rows of 10 minutes, the chain restoring the same state.
 */
import { expect, test } from "bun:test";
import { build, ins, relation, txn } from "../operators/harness.ts";

const E = relation("public.engagement_events", [["id", 20, "bigint", true], ["content_id", 23, "integer"], ["event_ts", 1184, "timestamptz"], ["secs", 1700, "numeric"]]);
const CFG = {
  from: "public.engagement_events",
  select: ["content_id", "event_ts", "secs AS engagement_seconds"],
  window: { type: "sliding", size: "10m", slide: "1m", time: "event_ts", key: ["content_id"], lateness: "5s", idle_timeout: "5s", retention: "10m" },
  aggregate: { total_engagement_seconds: "SUM(engagement_seconds)" },
};
const T0 = Date.UTC(2026, 11, 7, 0, 0, 0);
const ts = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "+00");
const ROWS_PER_S = 10;
const KEYS = 40;

test("sliding window state and checkpoint deltas stay bounded by retention under key churn", async () => {
  const a = await build(CFG);
  const stats = () => (a.op as unknown as { stats(): Record<string, number> }).stats();
  const links: unknown[] = [];
  const seen: { rows: number; groups: number; panes: number; delta: number }[] = [];
  let id = 0;
  for (let s = 0; s < 3 * 3600; s++) {
    const changes = [];
    for (let i = 0; i < ROWS_PER_S; i++, id++) {
      const keySet = Math.floor(s / 600); // a new set of content ids every 10 minutes
      changes.push(ins(E, { id: BigInt(id), content_id: keySet * KEYS + (id % KEYS), event_ts: ts(T0 + s * 1000 + i), secs: "2.5" }));
    }
    a.run(txn(T0 + s * 1000 + 500, changes));
    if (s % 600 === 599) {
      links.push(a.op.snapshotDelta!());
      const st = stats();
      seen.push({ rows: st.window_rows!, groups: st.window_groups!, panes: st.window_panes!, delta: JSON.stringify(links.at(-1)).length });
    }
  }
  // 10m window + 10m retention + up to 10m until the next sweep (+ lateness, a pane): 30 min of rows
  const bound = ROWS_PER_S * 31 * 60;
  for (const x of seen) {
    expect(x.rows).toBeLessThanOrEqual(bound);
    expect(x.groups).toBeLessThanOrEqual(KEYS * 4);
    expect(x.panes).toBeLessThanOrEqual(KEYS * 4 * 31);
  }
  // from the second hour on, a 10-minute delta holds 10 minutes of rows added and dropped: flat
  const late = seen.slice(6).map((x) => x.delta);
  expect(Math.max(...late)).toBeLessThan(Math.min(...late) * 1.5);
  console.log(`[sliding bounded] rows per 10 min: ${seen.map((x) => x.rows).join(", ")}; groups ${seen.map((x) => x.groups).join(", ")}; delta chars ${seen.map((x) => x.delta).join(", ")}`);

  const b = await build(CFG);
  for (const l of links) b.op.restore(l);
  expect(JSON.stringify(b.op.snapshot())).toBe(JSON.stringify(a.op.snapshot()));
}, 60_000);
