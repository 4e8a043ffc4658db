/**
 * append_only: an event table whose rows are never updated or deleted. Aggregates keep no
 * per-row state (MIN/MAX only their extreme), so a GROUP BY without a window stays small for as
 * long as the engine runs; results equal the retracting mode's; an update or delete goes to the DLQ.
 */
import { expect, test } from "bun:test";
import { build, del, ins, relation, txn, upd } from "./harness.ts";

const E = relation("public.events", [["id", 20, "bigint", true], ["content_id", 23, "integer"], ["event_ts", 1184, "timestamptz"], ["secs", 1700, "numeric"]]);
const CFG = (appendOnly: boolean) => ({
  from: "public.events",
  group_by: ["content_id"],
  aggregate: { plays: "COUNT(*)", total: "SUM(secs)", first_ts: "MIN(event_ts)", last_ts: "MAX(event_ts)" },
  append_only: appendOnly,
});
const T0 = Date.UTC(2026, 10, 22, 1, 0, 0);
const ts = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "+00");

test("append_only GROUP BY: same results as the retracting mode, no per-row state, MIN/MAX keep one value; updates and deletes go to the DLQ", async () => {
  const a = await build(CFG(true));
  const r = await build(CFG(false));
  let id = 0;
  for (let t = 0; t < 50; t++) {
    const changes = [];
    for (let i = 0; i < 40; i++) {
      id++;
      // event times out of order within a transaction: MIN and MAX both move
      changes.push(ins(E, { id: BigInt(id), content_id: id % 7, event_ts: ts(T0 + ((id * 7919) % 100_000) * 1000), secs: `${id % 13}.25` }));
    }
    const tx = txn(T0 + t * 1000, changes);
    a.run(tx);
    r.run(tx);
  }
  expect(a.sink.sorted()).toEqual(r.sink.sorted());
  expect(a.sink.sorted().length).toBe(7);
  const statsOf = (x: typeof a) => (x.op as unknown as { stats(): Record<string, number> }).stats();
  const stats = statsOf(a);
  const rstats = statsOf(r);
  expect(rstats.window_rows).toBe(2000);
  expect(stats.window_rows ?? 0).toBe(0);
  // Every MIN/MAX multiset holds only its extreme.
  const snap = JSON.stringify(a.op.snapshot());
  expect(snap.length).toBeLessThan(JSON.stringify(r.op.snapshot()).length / 10);

  const text = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
  const before = text(a.sink.sorted());
  // Restored from its checkpoint, the state goes on the same way (MIN/MAX still keep one value).
  const b = await build(CFG(true));
  b.op.restore(a.op.snapshot());
  const more = txn(T0 + 55_000, [ins(E, { id: 9001n, content_id: 3, event_ts: ts(T0 + 200_000_000), secs: "1" }), ins(E, { id: 9002n, content_id: 3, event_ts: ts(T0 - 5_000_000), secs: "2" })]);
  b.run(more);
  r.run(more);
  const row3 = (s: typeof a.sink) => text(s.sorted().find((x) => x.content_id === 3));
  expect(row3(b.sink)).toBe(row3(r.sink));
  a.run(txn(T0 + 60_000, [upd(E, { id: 5n, content_id: 5, event_ts: ts(T0), secs: "100" }), del(E, { id: 6n })]));
  expect(text(a.sink.sorted())).toBe(before);
  expect(a.ctx.rejected.map((x) => x.reason)).toEqual([
    "append_only pipeline: a source update cannot be applied (no per-row state to retract it)",
    "append_only pipeline: a source delete cannot be applied (no per-row state to retract it)",
  ]);
});

test("append_only is refused without an aggregate and with session windows (config error naming the pipeline)", async () => {
  await expect(build({ from: "public.events", append_only: true })).rejects.toThrow("pipeline 'test': append_only applies to aggregates");
  await expect(build({ from: "public.events", append_only: true, window: { type: "session", gap: "1m", time: "event_ts" }, aggregate: { n: "COUNT(*)" } })).rejects.toThrow("not supported with session windows");
});
