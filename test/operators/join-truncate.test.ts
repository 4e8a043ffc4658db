/**
 * A truncate and a waiting lookup join (`wait:`): rows of the pipeline's own (probe) table that
 * wait for their joined row are gone with a truncate of that table (a source TRUNCATE, or the one
 * --resnapshot hands over after lost changes). Before, they stayed in the join's queue (and in its
 * checkpoint) and went out when their joined row arrived or their wait ran out: the sink held rows
 * of a table that was emptied. A truncate of the joined (build) table empties the join state:
 * waiting rows then match only rows inserted after it.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Change, Relation } from "../../src/types.ts";
import type { Operator } from "../../src/engine/operators/operator.ts";
import { LookupJoin } from "../../src/engine/operators/lookup-join.ts";
import { toRowChange } from "../../src/engine/operators/row-change.ts";
import type { RowChange } from "../../src/engine/operators/window/types.ts";
import { build, del, ins, Recorder, relation, txn, upd } from "./harness.ts";

const E = relation("public.events", [["id", 20, "bigint", true], ["content_id", 23, "integer"], ["kind", 25]]);
const C = relation("public.content", [["id", 23, "integer", true], ["title", 25]]);
/** A second own table, for a pipeline reading two tables. */
const P = relation("public.plays", [["id", 20, "bigint", true], ["content_id", 23, "integer"], ["kind", 25]]);

const truncate = (rel: Relation): Change => ({ op: "truncate", table: rel.table, relation: rel, truncate: { cascade: false, restartIdentity: false } });
const ev = (id: bigint, content: number, rel = E) => ins(rel, { id, content_id: content, kind: "play" });

const CFG = {
  from: "public.events",
  join: [{ table: "public.content", on: "content_id = content.id", columns: ["title"], wait: "1h" }],
  to: { sink: "x", key: ["id"] },
};
const T0 = Date.parse("2024-05-01T10:00:00Z") * 1000;
const S = 1_000_000;
const HOUR = 3600 * S;

type Built = Awaited<ReturnType<typeof build>>;
type Inc = Operator & { snapshotDelta(): unknown; hasWaiting(): boolean; stats(): Record<string, number>; close(): void };
const inc = (h: Built) => h.op as unknown as Inc;
const json = (x: unknown) => JSON.parse(JSON.stringify(x));
/** Output rows for an id, in the order the sink got them. */
const outFor = (h: Built, id: bigint) => h.sink.log.filter((r) => r.op !== "truncate" && r.row.id === id);


describe("LookupJoin.dropWaiting: the join's side of a probe-table truncate", () => {
  const spec = { table: "public.content", qualifiers: ["public.content", "content"], leftColumn: "content_id", rightColumn: "id", columns: ["title"], prefix: "", waitUs: HOUR };
  const rc = (ch: Change, at: number): RowChange => toRowChange(ch, at, true);

  test("drops the truncated table's waiting rows (and what queued behind them), keeps other tables', counts no miss, checkpoints without them", () => {
    const ctx = new Recorder();
    const j = new LookupJoin(spec, ctx);
    const out: RowChange[] = [];
    const next = (r: RowChange) => out.push(r);
    j.accept(rc(ev(1n, 4), T0), next);
    j.accept(rc(upd(E, { id: 1n, content_id: 4, kind: "pause" }), T0 + S), next); // queued behind event 1
    j.accept(rc(ev(2n, 4, P), T0), next);
    expect(j.waiting).toBe(3);
    expect(j.dropWaiting("public.other")).toBe(0);
    expect(j.dropWaiting("public.events")).toBe(2);
    expect(j.waiting).toBe(1);
    const state = json(j.snapshot()) as { queue: { rc: { source: { table: string } } }[] };
    expect(state.queue.map((q) => q.rc.source.table)).toEqual(["public.plays"]);
    // event 1 is not blocked by its dropped items: with a match it goes straight out
    j.applyTableChange(ins(C, { id: 4, title: "Four" }));
    j.accept(rc(ev(1n, 4), T0 + 2 * S), next);
    expect(out.map((r) => [r.source.table, r.after])).toEqual([["public.events", { id: 1n, content_id: 4, kind: "play", title: "Four" }]]);
    j.release(T0 + 2 * HOUR, next);
    expect(out.map((r) => [r.source.table, r.after?.id, r.after?.title])).toEqual([
      ["public.events", 1n, "Four"],
      ["public.plays", 2n, "Four"],
    ]);
    expect(j.waiting).toBe(0);
    expect(ctx.counts.join_misses ?? 0).toBe(0);

    // restored from the checkpoint taken after the drop: only the plays row waits
    const r = new LookupJoin(spec, new Recorder());
    r.restore(state);
    expect(r.waiting).toBe(1);
    expect(r.dropWaiting("public.plays")).toBe(1);
    expect(json(r.snapshot())).toMatchObject({ queue: [] });
  });
});

describe("truncate of the pipeline's own (probe) table", () => {
  test("a waiting row is dropped: its joined row arriving later, or its wait running out, sends nothing", async () => {
    const h = await build(CFG);
    h.run(txn(T0, [ins(C, { id: 1, title: "One" }), ev(1n, 1), ev(2n, 2)]));
    expect(h.sink.sorted()).toEqual([{ id: 1n, content_id: 1, kind: "play", title: "One" }]);
    expect(inc(h).hasWaiting()).toBe(true); // event 2 waits for content 2

    h.run(txn(T0 + S, [truncate(E)]));
    expect(h.sink.log.at(-1)?.op).toBe("truncate");
    expect(h.sink.rows.size).toBe(0);
    expect(inc(h).hasWaiting()).toBe(false);
    expect(inc(h).stats().join_waiting).toBe(0);

    // content 2 arrives: event 2 was truncated, so nothing goes out for it
    h.run(txn(T0 + 2 * S, [ins(C, { id: 2, title: "Two" })]));
    expect(outFor(h, 2n)).toEqual([]);
    // rows inserted after the truncate: matched at once, or after their wait
    h.run(txn(T0 + 3 * S, [ev(3n, 2), ev(4n, 5)]));
    h.run(txn(T0 + 4 * S, [ins(C, { id: 5, title: "Five" })]));
    expect(h.sink.sorted()).toEqual([
      { id: 3n, content_id: 2, kind: "play", title: "Two" },
      { id: 4n, content_id: 5, kind: "play", title: "Five" },
    ]);
    // past every deadline, on commit time and on the idle wall clock: still nothing for event 2,
    // and a dropped row is no join miss (it did not go on with NULLs)
    h.run(txn(T0 + 2 * HOUR, []));
    h.closeAll();
    expect(outFor(h, 2n)).toEqual([]);
    expect(h.ctx.counts.join_misses ?? 0).toBe(0);
    expect(h.sink.rows.size).toBe(2);
  });

  test("a waiting row with changes queued behind it: all of them go, and an expiry after the truncate counts only its own misses", async () => {
    const h = await build(CFG);
    h.run(txn(T0, [ev(1n, 7)]));
    h.run(txn(T0 + S, [upd(E, { id: 1n, content_id: 7, kind: "pause" })])); // queued behind the waiting insert
    h.run(txn(T0 + 2 * S, [del(E, { id: 1n })]));
    h.run(txn(T0 + 3 * S, [truncate(E)]));
    expect(inc(h).hasWaiting()).toBe(false);
    // event 1 again after the truncate: it waits on its own (the id is not blocked by dropped items)
    h.run(txn(T0 + 4 * S, [ev(1n, 8)]));
    h.run(txn(T0 + 4 * S + HOUR, []));
    expect(h.sink.log.filter((r) => r.op !== "truncate")).toEqual([expect.objectContaining({ op: "upsert", row: { id: 1n, content_id: 8, kind: "play", title: null } })]);
    expect(h.ctx.counts.join_misses).toBe(1); // event 1 (content 8), not the truncated ones
    h.run(txn(T0 + 5 * S + HOUR, [ins(C, { id: 7, title: "Seven" })]));
    expect(h.sink.rows.get("1")).toEqual({ id: 1n, content_id: 8, kind: "play", title: null });
  });

  test("a truncate inside a transaction drops what waited before it; rows after it wait on", async () => {
    const h = await build(CFG);
    h.run(txn(T0, [ev(1n, 9), truncate(E), ev(2n, 9)]));
    expect(inc(h).stats().join_waiting).toBe(1);
    h.run(txn(T0 + S, [ins(C, { id: 9, title: "Nine" })]));
    expect(h.sink.log.map((r) => [r.op, r.row.id])).toEqual([["truncate", undefined], ["upsert", 2n]]);
    expect(h.sink.sorted()).toEqual([{ id: 2n, content_id: 9, kind: "play", title: "Nine" }]);
  });

  test("a checkpoint after the truncate does not hold the waiting row: a restart does not bring it back", async () => {
    const h = await build(CFG);
    h.run(txn(T0, [ins(C, { id: 1, title: "One" }), ev(1n, 1), ev(2n, 2)]));
    // incremental chain: full (event 2 waiting), then a delta after the truncate
    const chain = [json(inc(h).snapshotDelta())];
    expect(chain[0].joins[0].full.queue).toHaveLength(1);
    const before = json(h.op.snapshot());
    h.run(txn(T0 + S, [truncate(E)]));
    chain.push(json(inc(h).snapshotDelta()));
    expect(chain[1].joins[0].delta.queue).toEqual([]);
    const whole = json(h.op.snapshot());
    expect(whole.joins[0].queue).toEqual([]);

    const restartFrom = async (states: unknown[]) => {
      const r = await build(CFG);
      for (const s of states) r.op.restore(s);
      expect(inc(r).hasWaiting()).toBe(false);
      r.run(txn(T0 + 2 * S, [ins(C, { id: 2, title: "Two" }), ev(3n, 2)]));
      r.run(txn(T0 + 2 * HOUR, []));
      r.closeAll();
      expect(outFor(r, 2n)).toEqual([]);
      expect(r.sink.sorted()).toEqual([{ id: 3n, content_id: 2, kind: "play", title: "Two" }]);
      expect(r.ctx.counts.join_misses ?? 0).toBe(0);
    };
    await restartFrom(chain);
    await restartFrom([whole]);

    // a checkpoint from before the truncate: the truncate is replayed after it, and drops the row again
    const r = await build(CFG);
    r.op.restore(before);
    expect(inc(r).hasWaiting()).toBe(true);
    r.run(txn(T0 + S, [truncate(E)]));
    expect(inc(r).hasWaiting()).toBe(false);
    r.run(txn(T0 + 2 * S, [ins(C, { id: 2, title: "Two" })]));
    expect(outFor(r, 2n)).toEqual([]);
  });

  test("a pipeline reading two tables: a truncate of one drops only that table's waiting rows", async () => {
    const h = await build({ ...CFG, from: ["public.events", "public.plays"], select: ["id", "content_id", "title"], to: { sink: "x", key: ["id"] } });
    h.run(txn(T0, [ev(1n, 4), ev(2n, 4, P)]));
    h.run(txn(T0 + S, [truncate(E)]));
    expect(inc(h).stats().join_waiting).toBe(1);
    h.run(txn(T0 + 2 * S, [ins(C, { id: 4, title: "Four" })]));
    expect(h.sink.log.filter((r) => r.op !== "truncate").map((r) => [r.source?.table, r.row])).toEqual([["public.plays", { id: 2n, content_id: 4, title: "Four" }]]);
  });

  test("with two joins, a row waiting at the second is dropped too", async () => {
    const U = relation("public.users", [["id", 23, "integer", true], ["name", 25]]);
    const E2 = relation("public.events", [["id", 20, "bigint", true], ["content_id", 23, "integer"], ["user_id", 23, "integer"]]);
    const h = await build({
      from: "public.events",
      join: [
        { table: "public.content", on: "content_id = content.id", columns: ["title"], wait: "1h" },
        { table: "public.users", on: "user_id = users.id", columns: ["name"], wait: "1h" },
      ],
      to: { sink: "x", key: ["id"] },
    });
    h.run(txn(T0, [ins(C, { id: 1, title: "One" }), ins(E2, { id: 1n, content_id: 1, user_id: 5 }), ins(E2, { id: 2n, content_id: 3, user_id: 5 })]));
    h.run(txn(T0 + S, [truncate(E2)]));
    expect(inc(h).hasWaiting()).toBe(false);
    h.run(txn(T0 + 2 * S, [ins(U, { id: 5, name: "Eve" }), ins(C, { id: 3, title: "Three" })]));
    h.run(txn(T0 + 2 * HOUR, []));
    expect(h.sink.log.filter((r) => r.op !== "truncate")).toEqual([]);
  });
});

describe("truncate of the joined (build) table", () => {
  test("the join state is emptied: a row then waits and matches only a row inserted after the truncate", async () => {
    const h = await build(CFG);
    h.run(txn(T0, [ins(C, { id: 1, title: "Old one" }), ins(C, { id: 2, title: "Old two" }), ev(1n, 1)]));
    expect(h.sink.rows.get("1")).toEqual({ id: 1n, content_id: 1, kind: "play", title: "Old one" });
    h.run(txn(T0 + S, [ev(2n, 3)])); // waits for content 3
    const chain = [json(inc(h).snapshotDelta())];
    h.run(txn(T0 + 2 * S, [truncate(C)]));
    // the target is the events' rows: a truncate of the joined table does not empty it
    expect(h.sink.rows.size).toBe(1);
    expect(h.sink.log.some((r) => r.op === "truncate")).toBe(false);
    expect(inc(h).stats().join_rows).toBe(0);
    chain.push(json(inc(h).snapshotDelta()));
    expect(chain[1].joins[0].full.rows).toEqual([]); // a full part: the chain starts over empty

    const check = async (x: Built) => {
      // content 1 and 2 are gone: new events for them wait instead of matching the old rows
      x.run(txn(T0 + 3 * S, [ev(3n, 1), ev(4n, 2)]));
      expect(x.sink.rows.has("3")).toBe(false);
      expect(x.sink.rows.has("4")).toBe(false);
      x.run(txn(T0 + 4 * S, [ins(C, { id: 1, title: "New one" }), ins(C, { id: 3, title: "New three" })]));
      expect(x.sink.rows.get("3")).toEqual({ id: 3n, content_id: 1, kind: "play", title: "New one" });
      // event 2 waited through the truncate: it matches the row inserted after it
      expect(x.sink.rows.get("2")).toEqual({ id: 2n, content_id: 3, kind: "play", title: "New three" });
      // event 4's content never comes back: NULLs after its wait, a real join miss
      x.run(txn(T0 + 3 * S + HOUR, []));
      expect(x.sink.rows.get("4")).toEqual({ id: 4n, content_id: 2, kind: "play", title: null });
      expect(x.ctx.counts.join_misses).toBe(1);
    };
    await check(h);
    const r = await build(CFG);
    for (const s of chain) r.op.restore(s);
    expect(inc(r).stats().join_rows).toBe(0);
    expect(inc(r).stats().join_waiting).toBe(1);
    await check(r);
  });

  test("join rows moved to disk over the state budget are gone with the truncate too", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-join-truncate-"));
    const h = await build({ ...CFG, state_budget: "16kb" }, { stateDir: dir });
    try {
      const rows: Change[] = [];
      for (let i = 0; i < 2000; i++) rows.push(ins(C, { id: i, title: `old ${i}` }));
      h.run(txn(T0, rows));
      expect(inc(h).stats().join_rows_spilled).toBeGreaterThan(0);
      h.run(txn(T0 + S, [truncate(C)]));
      expect(inc(h).stats().join_rows_spilled ?? 0).toBe(0);
      h.run(txn(T0 + 2 * S, [ev(1n, 0), ev(2n, 1999)]));
      expect(h.sink.rows.size).toBe(0);
      h.run(txn(T0 + 3 * S, [ins(C, { id: 0, title: "new 0" })]));
      h.run(txn(T0 + 2 * S + HOUR, []));
      expect(h.sink.sorted()).toEqual([
        { id: 1n, content_id: 0, kind: "play", title: "new 0" },
        { id: 2n, content_id: 1999, kind: "play", title: null },
      ]);
    } finally {
      inc(h).close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
