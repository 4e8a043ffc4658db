/**
 * Soak finding: examples/engagement.yaml's content_stats (append_only GROUP BY with MAX_BY/MAX)
 * wrote ~700 kB per 10-s checkpoint at 550 events/s for a state of ~0.2 MB: each incremental
 * checkpoint listed every value the extreme had replaced since the previous one. Its checkpoint
 * chain (50 links) held ~28 MB. A delta of such a bag must stay the size of the state, whatever
 * the number of rows since the last checkpoint, and the chain must restore the same state.
 */
import { expect, test } from "bun:test";
import { build, ins, relation, txn } from "../operators/harness.ts";

const E = relation("public.engagement_events", [["id", 20, "bigint", true], ["content_id", 23, "integer"], ["title", 25, "text"], ["event_ts", 1184, "timestamptz"], ["secs", 1700, "numeric"]]);
const CFG = {
  from: "public.engagement_events",
  group_by: ["content_id"],
  append_only: true,
  aggregate: { title: "MAX_BY(title, event_ts)", first_ts: "MIN(event_ts)", last_ts: "MAX(event_ts)", plays: "COUNT(*)", total: "SUM(secs)" },
};
const T0 = Date.UTC(2026, 11, 7, 0, 0, 0);
const ts = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "+00");
const size = (v: unknown) => JSON.stringify(v).length;

test("append_only MIN/MAX/MAX_BY: a checkpoint delta stays the size of the state, not of the rows since the last one", async () => {
  const a = await build(CFG);
  let id = 0;
  const batch = (t: number, rows: number) => {
    const changes = [];
    for (let i = 0; i < rows; i++, id++) changes.push(ins(E, { id: BigInt(id), content_id: id % 5, title: `title ${id % 3}`, event_ts: ts(T0 + id * 10), secs: "1.5" }));
    return txn(T0 + t * 1000, changes);
  };
  a.run(batch(0, 50));
  const links: unknown[] = [a.op.snapshotDelta!()];
  const full = size(links[0]);
  for (let round = 1; round <= 5; round++) {
    // 4,000 rows per checkpoint interval, every one a new MAX and MAX_BY of its group
    for (let t = 0; t < 40; t++) a.run(batch(round * 100 + t, 100));
    links.push(a.op.snapshotDelta!());
    expect(size(links.at(-1))).toBeLessThan(full * 3);
  }
  const b = await build(CFG);
  for (const l of links) b.op.restore(l);
  const next = batch(1000, 10);
  a.run(next);
  b.run(next);
  expect(b.sink.sorted()).toEqual(a.sink.sorted());
  expect(JSON.stringify(b.op.snapshot())).toBe(JSON.stringify(a.op.snapshot()));
}, 30_000);
