/**
 * A truncate (a source TRUNCATE, or the one --resnapshot hands over after lost changes) empties a
 * window / GROUP BY pipeline whole: its rows moved to disk over a tiny state budget too, in the
 * sink (a delete for every result it holds) and in the checkpoint after it. Fed new rows, with or
 * without a restart from that checkpoint, it equals a fresh operator fed only the new rows.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Change, Row, Txn } from "../../src/types.ts";
import type { Operator } from "../../src/engine/operators/operator.ts";
import { build, del, ins, KeyedSink, relation, rng, upd } from "./harness.ts";

const E = relation("public.events", [["id", 20, "bigint", true], ["k", 23, "integer"], ["v", 20, "bigint"], ["ts", 1184, "timestamptz"]]);
const T0 = Date.parse("2024-05-01T10:00:00Z");
const AGG = { n: "COUNT(*)", s: "SUM(v)", hi: "MAX(v)" };
/** Each with a budget its panes and groups (never spilled) fit in, that leaves a few hundred rows in memory: the rest spill. */
const CONFIGS: Record<string, Record<string, unknown>> = {
  "tumbling 1m (emit on close)": { state_budget: "256kb", window: { type: "tumbling", size: "1m", time: "ts", key: ["k"], lateness: "30s" }, to: { sink: "x", key: ["k", "window_start"] } },
  "sliding 10m/2m (emit on change)": { state_budget: "160kb", window: { type: "sliding", size: "10m", slide: "2m", time: "ts", key: ["k"], lateness: "30s", emit: "change" }, to: { sink: "x", key: ["k", "window_start"] } },
  "GROUP BY without a window": { state_budget: "48kb", group_by: ["k"], to: { sink: "x", key: ["k"] } },
};
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "cdc-truncate-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const at = (min: number) => new Date(T0 + Math.round(min * 60_000)).toISOString().replace("T", " ").replace(".000Z", "+00");

type Built = Awaited<ReturnType<typeof build>>;
type Inc = Operator & { snapshotDelta(): unknown; stats(): Record<string, number>; close(): void };
const inc = (h: Built) => h.op as unknown as Inc;

/**
 * Before: 3,000 changes over keys 0–9 and an hour of event time; keys 10–14 only in the first
 * transactions, so their groups end up wholly on disk. After: a re-read of ids the old rows had,
 * then changes reaching past the old times, over keys 0–9.
 */
function workload(seed: number) {
  const r = rng(seed);
  let lsn = 0n;
  let clock = T0 * 1000;
  const tx = (changes: Change[]): Txn => ({ lsn: ++lsn, endLsn: 0n, xid: Number(lsn), commitTime: BigInt((clock += 1_000_000)), changes });
  const row = (id: number, maxMin: number, keys = 10, firstKey = 0): Row => ({ id: BigInt(id), k: firstKey + Math.floor(r() * keys), v: BigInt(Math.floor(r() * 1e6)), ts: at(r() * maxMin) });
  const pick = (live: Set<number>) => [...live][Math.floor(r() * live.size)]!;
  const stream = (txns: number, firstId: number, maxMin: number) => {
    const live = new Set<number>();
    let next = firstId;
    const out: Txn[] = [];
    for (let b = 0; b < txns; b++) {
      const changes: Change[] = [];
      for (let i = 0; i < 10; i++) {
        const x = r();
        if (x < 0.7 || live.size < 20) {
          live.add(next);
          changes.push(ins(E, b < 20 && firstId === 0 ? row(next++, maxMin, 5, 10) : row(next++, maxMin)));
        } else if (x < 0.9) changes.push(upd(E, row(pick(live), maxMin)));
        else {
          const id = pick(live);
          live.delete(id);
          changes.push(del(E, { id: BigInt(id) }));
        }
      }
      out.push(tx(changes));
    }
    return out;
  };
  const before = stream(300, 0, 60);
  const truncate = tx([{ op: "truncate", table: E.table, relation: E }]);
  // the snapshot read again: ids the old rows had, new values, any time of the old hour
  const reread: Txn[] = [];
  for (let b = 0; b < 40; b++) reread.push(tx(Array.from({ length: 20 }, (_, i) => ({ ...ins(E, row(b * 20 + i, 60)), op: "read" as const }))));
  const after = [...reread, ...stream(100, 100_000, 70), tx([ins(E, { id: 999_999n, k: 1, v: 1n, ts: at(75) })])];
  return { before, truncate, after };
}

/** Links of the checkpoint chain, through JSON as the checkpoint store keeps them. */
const link = (h: Built) => JSON.parse(JSON.stringify(inc(h).snapshotDelta(), (_k, v) => (typeof v === "bigint" ? { $big: String(v) } : v)));
const unlink = (l: unknown) => JSON.parse(JSON.stringify(l), (_k, v) => (v && typeof v === "object" && "$big" in v ? BigInt(v.$big) : v));

const text = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
const byText = (a: unknown[]) => a.map(text).sort();
/**
 * The window state an output depends on, map and insertion orders aside: groups with their panes'
 * accumulators (never spilled), windows emitted and pending, event-time clock, and the number of
 * row contributions kept (in memory and on disk).
 */
function logical(h: Built) {
  const op = h.op as unknown as { windows: { snapshot(): any } };
  const w = op.windows.snapshot();
  const gk = (i: number) => w.groups[i][0];
  const accs = (a: unknown) => (Array.isArray(a) && a.length && a.every(Array.isArray) ? byText(a) : a);
  const s = inc(h).stats();
  return {
    clock: [w.wm, w.max, w.purged],
    groups: byText(w.groups.map(([k, keys, panes, emitted]: [string, unknown, [number, number, unknown[]][], number[]]) => [k, keys, byText(panes.map(([ps, n, a]) => [ps, n, a.map(accs)])), [...emitted].sort()])),
    dirty: byText(w.dirty.map(([e, gs]: [number, number[]]) => [e, gs.map(gk).sort()])),
    rows: s.window_rows + (s.window_rows_spilled ?? 0),
  };
}

const empty = { clock: expect.anything(), groups: [], dirty: [], rows: 0 };

describe.each(Object.keys(CONFIGS))("truncate with rows spilled to disk: %s", (name) => {
  const cfg = { from: "public.events", aggregate: AGG, ...CONFIGS[name] };

  /** The old rows, most on disk, a checkpoint every 50 transactions; then the truncate and its checkpoint. */
  async function truncated(dir: string) {
    const { before, truncate, after } = workload(7);
    const h = await build(cfg, { stateDir: dir });
    const chain: unknown[] = [];
    before.forEach((t, i) => {
      h.run(t);
      if (i % 50 === 49) chain.push(link(h));
    });
    const s = inc(h).stats();
    expect(s.window_rows_spilled).toBeGreaterThan(1000);
    expect(s.window_rows).toBeGreaterThan(50); // in memory and on disk both
    expect(h.sink.rows.size).toBeGreaterThanOrEqual(10);
    h.run(truncate);
    // the sink holds nothing from before, and the state nothing in memory or on disk
    expect(h.sink.rows.size).toBe(0);
    expect(inc(h).stats()).toMatchObject({ window_rows: 0, window_rows_spilled: 0, window_panes: 0, window_groups: 0 });
    expect(logical(h)).toEqual(empty);
    chain.push(link(h));
    return { h, chain, after };
  }

  async function fresh(after: Txn[]) {
    const f = await build({ ...cfg, state_budget: undefined });
    for (const t of after) f.run(t);
    return f;
  }

  test("fed new rows, the output and the state equal a fresh operator's fed only those", async () => {
    const { h, after } = await truncated(tmp());
    for (const t of after) h.run(t);
    const f = await fresh(after);
    expect(inc(h).stats().window_rows_spilled).toBeGreaterThan(500); // the new rows spill too
    expect(logical(h)).toEqual(logical(f));
    h.closeAll();
    f.closeAll();
    expect(h.sink.sorted()).toEqual(f.sink.sorted());
    expect(h.sink.rows.size).toBeGreaterThanOrEqual(10);
  });

  test("a restart from the truncate's checkpoint brings back nothing from before; nor one from a checkpoint after the new rows", async () => {
    const dir = tmp();
    const { h, chain, after } = await truncated(dir);
    const sink: KeyedSink = h.sink; // the target table outlives the process
    inc(h).close(); // the process dies after the truncate's checkpoint
    const r = await build(cfg, { stateDir: dir });
    for (const c of chain) r.op.restore(unlink(c));
    expect(logical(r)).toEqual(empty);
    after.forEach((t, i) => {
      r.op.process(t, sink.emit);
      if (i % 50 === 49) chain.push(link(r));
    });
    chain.push(link(r));
    const f = await fresh(after);
    expect(logical(r)).toEqual(logical(f));
    // and again, the chain now holding links from before and after the truncate
    inc(r).close();
    const r2 = await build(cfg, { stateDir: dir });
    for (const c of chain) r2.op.restore(unlink(c));
    expect(logical(r2)).toEqual(logical(f));
    for (const o of [r2.op, f.op]) {
      o.onWatermark?.(32503680000000, o === f.op ? f.sink.emit : sink.emit);
      o.onWatermark?.(32503680000000 + 3_600_000, o === f.op ? f.sink.emit : sink.emit);
    }
    expect(sink.sorted()).toEqual(f.sink.sorted());
  });
});

test("append_only keeps no rows to take back: a truncate still deletes every result", async () => {
  const h = await build({ from: "public.events", append_only: true, window: { type: "tumbling", size: "1m", time: "ts", key: ["k"], emit: "change" }, aggregate: { n: "COUNT(*)" }, to: { sink: "x", key: ["k", "window_start"] } });
  const { before, truncate } = workload(8);
  for (const t of before) h.run({ ...t, changes: t.changes.filter((c) => c.op === "insert") });
  expect(h.sink.rows.size).toBeGreaterThan(40);
  h.run(truncate);
  expect(h.sink.rows.size).toBe(0);
  h.run({ ...truncate, changes: [ins(E, { id: 1n, k: 3, v: 1n, ts: at(5) })] });
  expect(h.sink.sorted()).toEqual([{ k: 3, window_start: "2024-05-01 10:05:00+00", window_end: "2024-05-01 10:06:00+00", n: 1n }]);
});
