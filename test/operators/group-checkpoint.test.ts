/**
 * A GROUP BY without a window keeps every distinct value of a MIN/MAX/COUNT DISTINCT for as long
 * as the engine runs (content_stats' MAX(event_ts) of scenario 2). Its incremental checkpoints
 * must write what changed since the previous one, not those whole value sets again, and a restore
 * from the chain must give exactly the state (and the output) of an uninterrupted run, also when
 * the current extreme is retracted afterwards.
 */
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compilePipeline, type CompiledPipeline } from "../../src/engine/operators/index.ts";
import { operatorRunner } from "../../src/engine/operator-runner.ts";
import { CheckpointStore } from "../../src/engine/checkpoint-store.ts";
import { pipelineSchema } from "../../src/config/pipeline-schema.ts";
import type { PipelineRunner } from "../../src/engine/pipeline-runner.ts";
import type { Row } from "../../src/types.ts";
import { del, ins, relation, rng, txn, upd } from "./harness.ts";

const E = relation("public.engagement_events", [["id", 20, "bigint", true], ["content_id", 25, "text"], ["user_id", 25, "text"], ["event_type", 25, "text"], ["event_ts", 1184, "timestamptz"], ["duration_ms", 23, "integer"]]);
const CFG = {
  name: "stats",
  from: "public.engagement_events",
  select: ["content_id", "user_id", "event_type", "event_ts", "duration_ms / 1000.0 AS engagement_seconds"],
  group_by: ["content_id"],
  aggregate: {
    plays: "SUM(CASE WHEN event_type = 'play' THEN 1 ELSE 0 END)",
    total_engagement_seconds: "SUM(engagement_seconds)",
    first_event_ts: "MIN(event_ts)",
    last_event_ts: "MAX(event_ts)",
    users: "COUNT(DISTINCT user_id)",
  },
  to: { sink: "x", key: ["content_id"] },
};
const compiledOf = new WeakMap<PipelineRunner, CompiledPipeline>();
const runner = async () => {
  const p = pipelineSchema.parse(CFG);
  const compiled = await compilePipeline(p, { pipeline: p.name, reject: () => {}, count: () => {}, maps: {}, configDir: process.cwd() });
  const r = operatorRunner(p, compiled, undefined);
  compiledOf.set(r, compiled);
  return r;
};
const T0 = Date.UTC(2026, 10, 22, 1, 0, 0);
const ts = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "+00");
const text = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
const sortedText = (a: unknown[]) => a.map(text).sort();
/** The operator's whole state as text, independent of map order (groups, rows, multiset entries). */
const state = (r: PipelineRunner) =>
  text(
    compiledOf.get(r)!.operators.map((o) => {
      const w = (o.snapshot() as { windows: { groups: [string, unknown, [number, number, unknown[]][], number[]][]; contrib: [unknown, number, ...unknown[]][] } & Record<string, unknown> }).windows;
      const acc = (a: unknown) => (Array.isArray(a) && a.every(Array.isArray) ? sortedText(a) : a);
      return {
        ...w,
        groups: sortedText(w.groups.map(([k, keys, panes, emitted]) => [k, keys, sortedText(panes.map(([ps, rows, accs]) => [ps, rows, accs.map(acc)])), emitted])),
        contrib: sortedText(w.contrib.map(([id, g, ...rest]) => [id, w.groups[g]![0], ...rest])),
      };
    }),
  );

test("GROUP BY without a window: deltas hold the changed MIN/MAX/DISTINCT values only; the restored chain is exact", async () => {
  const store = new CheckpointStore(mkdtempSync(join(tmpdir(), "cdc-group-ckpt-")));
  const a = await runner();
  const rand = rng(42);
  const contents = Array.from({ length: 20 }, (_, i) => `c${i}`);
  const rows = new Map<bigint, Row>();
  let nextId = 1n;
  let clock = T0;
  const event = (content?: string, eventTs?: unknown): Row => {
    // skewed: c0 gets about half of the events
    const c = content ?? (rand() < 0.5 ? "c0" : contents[Math.floor(rand() * contents.length)]!);
    clock += 1 + Math.floor(rand() * 3);
    const r = { id: nextId++, content_id: c, user_id: `u${Math.floor(rand() * 500)}`, event_type: rand() < 0.5 ? "play" : "pause", event_ts: eventTs ?? ts(clock), duration_ms: Math.floor(rand() * 100_000) };
    rows.set(r.id, r);
    return r;
  };
  let lsn = 0n;
  const run = async (r: PipelineRunner, t: ReturnType<typeof txn>) => {
    lsn = t.lsn;
    return (await r.process(t)).map((x) => [x.op, x.row] as const);
  };
  const log: ReturnType<typeof txn>[] = [];
  const step = async (changes: Parameters<typeof txn>[1]) => {
    const t = txn(clock * 1000, changes);
    log.push(t);
    return run(a, t);
  };
  for (let b = 0; b < 100; b++) await step(Array.from({ length: 200 }, () => ins(E, event())));
  const snap = () => ({ stats: { lsn: lsn.toString(), ops: a.snapshot() } }) as unknown as Record<string, unknown[]>;
  const link = (s: Record<string, unknown[]>) => (s.stats as unknown as { ops: { $chain: string }[] }).ops[0]!.$chain;
  let s = snap();
  expect(link(s)).toBe("full");
  store.save(lsn, s);
  const fullChars = store.lastWriteChars;
  expect(fullChars).toBeGreaterThan(1_000_000);

  // c0's MAX(event_ts) set alone holds ~10k values: a delta after a few rows must not repeat it
  const deltaChars: number[] = [];
  const checkpoint = () => {
    s = snap();
    expect(link(s)).toBe("delta");
    store.save(lsn, s);
    deltaChars.push(store.lastWriteChars);
  };
  await step([ins(E, event("c0")), ins(E, event())]);
  checkpoint();
  // retract c0's current MAX and MIN (the extremes rescan), an update moving a row to another
  // group, a duplicate event_ts (count 2 in the multiset), then that row deleted (count back to 1)
  const c0 = [...rows.values()].filter((r) => r.content_id === "c0");
  const newest = c0[c0.length - 1]!;
  const oldest = c0[0]!;
  rows.delete(newest.id as bigint);
  rows.delete(oldest.id as bigint);
  const moved: Row = { ...c0[5]!, content_id: "c7" };
  rows.set(moved.id as bigint, moved);
  const dup = event("c3", c0[9]!.event_ts);
  await step([del(E, { id: newest.id }), del(E, { id: oldest.id }), upd(E, moved), ins(E, dup)]);
  checkpoint();
  rows.delete(dup.id as bigint);
  await step([del(E, { id: dup.id }), upd(E, { ...c0[9]!, duration_ms: 1 })]);
  rows.set(c0[9]!.id as bigint, { ...c0[9]!, duration_ms: 1 });
  checkpoint();
  for (const n of deltaChars) expect(n).toBeLessThan(10_000);

  // a busier interval: the delta grows with the rows since the last checkpoint, not with the state
  for (let b = 0; b < 10; b++) await step(Array.from({ length: 200 }, () => ins(E, event())));
  checkpoint();
  const busy = deltaChars[deltaChars.length - 1]!;
  expect(busy).toBeLessThan(fullChars / 5);

  // restore from the store: same state, and the same output from here on (retracting the
  // extremes again, which the restored multisets must answer from their values)
  const b = await runner();
  const saved = store.latest()!.state.stats as unknown as { ops: unknown[] };
  expect((saved.ops[0] as { $chain: unknown[] }).$chain.length).toBe(1 + deltaChars.length);
  b.restore(saved.ops);
  expect(state(b)).toBe(state(a));
  const live = [...rows.values()].filter((r) => r.content_id === "c0");
  const maxRow = live.reduce((m, r) => (String(r.event_ts) > String(m.event_ts) ? r : m));
  const minRow = live.reduce((m, r) => (String(r.event_ts) < String(m.event_ts) ? r : m));
  const next = txn(clock * 1000, [del(E, { id: maxRow.id }), del(E, { id: minRow.id }), ins(E, event("c19"))]);
  const outA = await run(a, next);
  expect(await run(b, next)).toEqual(outA);
  // and the output equals SQL over the live rows
  rows.delete(maxRow.id as bigint);
  rows.delete(minRow.id as bigint);
  const c0Row = outA.find(([, r]) => r.content_id === "c0")![1];
  const c0Live = [...rows.values()].filter((r) => r.content_id === "c0").map((r) => String(r.event_ts)).sort();
  expect(c0Row.last_event_ts).toBe(c0Live[c0Live.length - 1]);
  expect(c0Row.first_event_ts).toBe(c0Live[0]);
  expect(c0Row.users).toBe(BigInt(new Set([...rows.values()].filter((r) => r.content_id === "c0").map((r) => r.user_id)).size));
  console.log(`[group checkpoint] full ${fullChars} chars; deltas ${deltaChars.join(", ")} chars (the last after 2,000 rows)`);
  store.close();
}, 120_000);
