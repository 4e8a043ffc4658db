/**
 * Incremental checkpoints through the engine's pieces: the operator runner hands the checkpoint
 * store chain links (full, then deltas), the store writes only those, and restoring from the
 * store gives exactly the state of an uninterrupted run.
 */
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compilePipeline, type CompiledPipeline } from "../../src/engine/operators/index.ts";
import { operatorRunner } from "../../src/engine/operator-runner.ts";
import { CheckpointStore } from "../../src/engine/checkpoint-store.ts";
import { pipelineSchema } from "../../src/config/pipeline-schema.ts";
import type { PipelineRunner } from "../../src/engine/pipeline-runner.ts";
import { del, ins, relation, txn, upd } from "./harness.ts";

const O = relation("public.orders", [["order_id", 20, "bigint", true], ["customer_id", 23, "integer"], ["amount", 1700, "numeric(10,2)"], ["created_at", 1184]]);
const C = relation("public.customers", [["id", 23, "integer", true], ["segment", 25]]);
const CFG = {
  name: "inc",
  from: "public.orders",
  join: [{ table: "public.customers", on: "customer_id = customers.id", columns: ["segment"], wait: "0s" }],
  window: { type: "sliding", size: "10m", slide: "1m", time: "created_at", key: ["customer_id", "segment"], lateness: "1m" },
  aggregate: { total: "SUM(amount)", n: "COUNT(*)", biggest: "MAX(amount)" },
  to: { sink: "x", key: ["customer_id", "segment", "window_start"] },
};
const full = new WeakMap<PipelineRunner, CompiledPipeline>();
const runner = async () => {
  const p = pipelineSchema.parse(CFG);
  const compiled = await compilePipeline(p, { pipeline: p.name, reject: () => {}, count: () => {}, maps: {}, configDir: process.cwd() });
  const r = operatorRunner(p, compiled, undefined);
  full.set(r, compiled);
  return r;
};
const at = (min: number) => new Date(Date.UTC(2024, 4, 1, 10, 0, 0) + min * 60_000).toISOString().replace("T", " ").replace(".000Z", "+00");
const order = (id: number, min: number) => ({ order_id: BigInt(id), customer_id: id % 300, amount: `${id % 97}.${String(id % 100).padStart(2, "0")}`, created_at: at(min) });
const text = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
const sorted = <T>(a: T[]) => a.map((x) => [text(x), x] as const).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)).map(([, x]) => x);
/** The whole operator state (not a chain link) as text, map orders aside (groups by key, rows by id). */
const state = (r: PipelineRunner) =>
  text(
    full.get(r)!.operators.map((o) => {
      const s = o.snapshot() as { joins: { rows: unknown[] }[]; windows: { groups: [string, unknown, unknown[], number[]][]; contrib: [unknown, number, ...unknown[]][]; dirty: [number, number[]][] } & Record<string, unknown> };
      const w = s.windows;
      const gk = (i: number) => w.groups[i]![0];
      return {
        joins: s.joins.map((j) => ({ ...j, rows: sorted(j.rows) })),
        windows: {
          ...w,
          groups: sorted(w.groups.map(([k, keys, panes, emitted]) => [k, keys, sorted(panes), [...emitted].sort()])),
          contrib: sorted(w.contrib.map(([id, g, ...rest]) => [id, gk(g), ...rest])),
          dirty: sorted(w.dirty.map(([e, gs]) => [e, gs.map(gk).sort()])),
        },
      };
    }),
  );

test("a checkpoint after a small change writes little; restoring the chain from the store is exact", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-inc-"));
  const store = new CheckpointStore(dir);
  const a = await runner();
  let lsn = 0n;
  const run = async (r: PipelineRunner, t: ReturnType<typeof txn>) => {
    lsn = t.lsn;
    return (await r.process(t)).map((x) => [x.op, x.row]);
  };
  const log: ReturnType<typeof txn>[] = [txn(at(0).replace(" ", "T").replace("+00", "Z"), Array.from({ length: 300 }, (_, i) => ins(C, { id: i, segment: i % 3 ? "retail" : "b2b" })))];
  for (let b = 0; b < 40; b++) log.push(txn(at(b).replace(" ", "T").replace("+00", "Z"), Array.from({ length: 200 }, (_, i) => ins(O, order(b * 200 + i + 1, b + (i % 3))))));
  for (const t of log) await run(a, t);
  const link = (s: Record<string, unknown[]>) => (s.inc as unknown as { ops: { $chain: string }[] }).ops[0]!.$chain;
  const snap = () => ({ inc: { lsn: lsn.toString(), ops: a.snapshot() } }) as unknown as Record<string, unknown[]>;

  let s = snap();
  expect(link(s)).toBe("full");
  store.save(lsn, s);
  const fullChars = store.lastWriteChars;
  expect(fullChars).toBeGreaterThan(300_000);

  // small changes: an update that moves a row to another window and key, a delete, a join change, a late row
  const small = [
    txn(at(41).replace(" ", "T").replace("+00", "Z"), [upd(O, { ...order(7, 39), customer_id: 5 })]),
    txn(at(41).replace(" ", "T").replace("+00", "Z"), [del(O, { order_id: 8n })]),
    txn(at(41).replace(" ", "T").replace("+00", "Z"), [upd(C, { id: 11, segment: "vip" }), ins(O, order(10_001, 40))]),
    txn(at(42).replace(" ", "T").replace("+00", "Z"), [ins(O, order(10_011, 37))]),
  ];
  const deltaChars: number[] = [];
  for (const t of small) {
    await run(a, t);
    s = snap();
    expect(link(s)).toBe("delta");
    store.save(lsn, s);
    deltaChars.push(store.lastWriteChars);
  }
  for (const n of deltaChars) expect(n).toBeLessThan(fullChars / 200);

  // restore from what the store has: the same state, and the same output from here on
  const b = await runner();
  const saved = store.latest()!.state.inc as unknown as { ops: unknown[] };
  expect((saved.ops[0] as { $chain: unknown[] }).$chain.length).toBe(1 + small.length);
  b.restore(saved.ops);
  expect(state(b)).toBe(state(a));
  const next = txn(at(60).replace(" ", "T").replace("+00", "Z"), [ins(O, order(40_001, 60)), upd(O, { ...order(9, 2), amount: "1000.00" }), del(O, { order_id: 12n })]);
  expect(sorted(await run(b, next))).toEqual(sorted(await run(a, next)));
  console.log(`[incremental checkpoint] full ${fullChars} chars, deltas ${deltaChars.join(", ")} chars`);
  store.close();
}, 60_000);

test("the chain is bounded: a full link every 50 checkpoints drops the links before it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-inc-"));
  const store = new CheckpointStore(dir);
  const a = await runner();
  await a.process(txn(at(0).replace(" ", "T").replace("+00", "Z"), [ins(C, { id: 1, segment: "retail" })]));
  for (let i = 1; i <= 120; i++) {
    const t = txn(at(i).replace(" ", "T").replace("+00", "Z"), [ins(O, { ...order(i, i), customer_id: 1 })]);
    await a.process(t);
    store.save(t.lsn, { inc: { lsn: t.lsn.toString(), ops: a.snapshot() } } as unknown as Record<string, unknown[]>);
  }
  const links = new Database(join(dir, "checkpoints.db")).query("select count(*) n from op_chain").get() as { n: number };
  expect(links.n).toBe(18); // full links at checkpoints 1, 52 and 103: 103..120 are kept
  const b = await runner();
  b.restore((store.latest()!.state.inc as unknown as { ops: unknown[] }).ops);
  expect(state(b)).toBe(state(a));
  store.close();
}, 60_000);
