import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { build, del, ins, jsonSafe, relation, txn, upd } from "./harness.ts";

/**
 * Float SUM/AVG past the range. Postgres stops the query ("value out of range: overflow") when a
 * double (or real) sum overflows from finite rows; a stream cannot stop, so the row whose addition
 * would take a group's or window's sum past the range goes to the DLQ and the sum stays as it
 * was; taking a row back that would do it (a delete, an update's old version) is refused the same
 * way. Each result is compared with the test's PostgreSQL 15: over the rows the engine holds it
 * gives the same value, and with the refused row added it errors.
 */
const T = relation("public.m", [["id", 23, "integer", true], ["g", 23], ["f", 701], ["r", 700], ["ts", 1184]]);
const RELS = new Map([[T.table, T]]);
const MAX = Number.MAX_VALUE;
const row = (id: number, f: number, r = 0, ts = "2024-01-01 00:00:10+00") => ({ id, g: 1, f, r, ts });
const groupBy = (aggregate: Record<string, string>) => build({ from: "public.m", group_by: ["g"], aggregate, to: { sink: "out", table: "o", key: ["g"] } }, { relations: RELS });
const OVERFLOW = /^aggregate \w+: value out of range: overflow \(/;

let sql: postgres.Sql;
beforeAll(async () => {
  const pg = await sharedPg("system");
  sql = postgres(pg.url(await createDatabase(pg, "float_sum_overflow")), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
});

/** Postgres' `fn(x)` over the values in this order (as float8, or real): a number, or its error. */
async function pg(fn: string, xs: number[], type = "float8"): Promise<number | string> {
  const values = xs.map((x) => `('${x}'::${type})`).join(",");
  try {
    const [r] = await sql.unsafe(`select (${fn}(x))::text as v from (values ${values}) t(x)`);
    return Number(r.v);
  } catch (e) {
    return (e as Error).message;
  }
}

describe("GROUP BY: a row that would overflow a float sum is refused", () => {
  test("insert, delete and update; the state stays what Postgres gives for the rows held", async () => {
    const h = await groupBy({ s: "SUM(f)", a: "AVG(f)", n: "COUNT(*)" });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, MAX)), ins(T, row(2, MAX))]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: MAX, a: MAX, n: 1n }]);
    expect(h.ctx.rejected.map((r) => [r.row.id, r.reason])).toEqual([[2, expect.stringMatching(OVERFLOW)]]);
    expect(h.ctx.rejected[0].reason).toContain("the group's SUM would leave the double precision range with this row");
    expect(await pg("sum", [MAX])).toBe(MAX);
    expect(await pg("sum", [MAX, MAX])).toBe("value out of range: overflow");
    expect(await pg("avg", [MAX, MAX])).toBe("value out of range: overflow");

    // -MAX, then MAX again: the sum stays in range (Postgres adds them in this order the same way)
    h.run(txn("2024-01-01T00:00:01Z", [ins(T, row(3, -MAX)), ins(T, row(4, MAX))]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: MAX, a: MAX / 3, n: 3n }]);
    expect(await pg("sum", [MAX, -MAX, MAX])).toBe(MAX);
    // Postgres' avg(double) also errors when the sum of squares it keeps for variance overflows;
    // AVG here checks the sum only (README "Windows and aggregates")
    expect(await pg("avg", [MAX, -MAX, MAX])).toBe("value out of range: overflow");

    // deleting -MAX would leave MAX + MAX: refused, the row stays counted
    h.run(txn("2024-01-01T00:00:02Z", [del(T, { id: 3 })]));
    expect(h.ctx.rejected.length).toBe(2);
    expect(h.ctx.rejected[1].reason).toMatch(OVERFLOW);
    expect(h.ctx.rejected[1].reason).toContain("taking back the row's previous version would leave the group's SUM out of the double precision range");
    expect(h.sink.sorted()).toEqual([{ g: 1, s: MAX, a: MAX / 3, n: 3n }]);
    expect(await pg("sum", [MAX, MAX])).toBe("value out of range: overflow"); // the source's rows now
    expect(await pg("sum", [MAX, MAX, -MAX])).toBe("value out of range: overflow");

    // an update of 1 (MAX → 2): taking MAX back is fine, the group holds -MAX, MAX, 2
    h.run(txn("2024-01-01T00:00:03Z", [upd(T, row(1, 2))]));
    expect(h.ctx.rejected.length).toBe(2);
    expect(h.sink.sorted()).toEqual([{ g: 1, s: 2, a: 2 / 3, n: 3n }]);
    expect(await pg("sum", [-MAX, MAX, 2])).toBe(2);
  });

  test("infinite rows keep Postgres' answers (Infinity, NaN), with no error, and leave no trace when taken back", async () => {
    const h = await groupBy({ s: "SUM(f)" });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, 0.5)), ins(T, row(2, Infinity))]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: Infinity }]);
    expect(await pg("sum", [0.5, Infinity])).toBe(Infinity);
    h.run(txn("2024-01-01T00:00:01Z", [ins(T, row(3, -Infinity))]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: NaN }]);
    expect(await pg("sum", [0.5, Infinity, -Infinity])).toBeNaN();
    h.run(txn("2024-01-01T00:00:02Z", [del(T, { id: 2 }), del(T, { id: 3 })]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: 0.5 }]);
    expect(h.ctx.rejected).toEqual([]);
  });

  test("with an Infinity held, a finite row that would overflow the finite rows' sum is refused all the same (Postgres: Infinity)", async () => {
    // the finite rows are kept apart from ±Infinity so that taking the Infinity back leaves a sum in range
    const h = await groupBy({ s: "SUM(f)" });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, Infinity)), ins(T, row(2, MAX)), ins(T, row(3, MAX))]));
    expect(h.ctx.rejected.map((r) => r.row.id)).toEqual([3]);
    expect(h.sink.sorted()).toEqual([{ g: 1, s: Infinity }]);
    expect(await pg("sum", [Infinity, MAX, MAX])).toBe(Infinity);
    h.run(txn("2024-01-01T00:00:01Z", [del(T, { id: 1 })]));
    expect(h.sink.sorted()).toEqual([{ g: 1, s: MAX }]);
    expect(await pg("sum", [MAX])).toBe(MAX);
  });

  test("sum(real) overflows at the float4 range; avg(real) sums in double, as Postgres", async () => {
    const s = await groupBy({ s: "SUM(r)" });
    s.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, 0, 3e38)), ins(T, row(2, 0, 3e38)), ins(T, row(3, 0, 1e38)), ins(T, row(4, 0, -1e38))]));
    // 3e38 + 1e38 is past float4 too; -1e38 is not
    expect(s.ctx.rejected.map((r) => r.row.id)).toEqual([2, 3]);
    expect(s.ctx.rejected[0].reason).toContain("the group's SUM would leave the real range with this row");
    expect(s.sink.sorted()).toEqual([{ g: 1, s: await pg("sum", [3e38, -1e38], "real") }]);
    expect(s.sink.sorted()[0].s).toBe(2.0000001e38); // 3e38 and -1e38 as float4s
    expect(await pg("sum", [3e38, 3e38], "real")).toBe("value out of range: overflow");
    expect(await pg("sum", [3e38, 1e38], "real")).toBe("value out of range: overflow");
    const a = await groupBy({ a: "AVG(r)" });
    a.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, 0, 3e38)), ins(T, row(2, 0, 3e38))]));
    expect(a.ctx.rejected).toEqual([]);
    expect(a.sink.sorted()).toEqual([{ g: 1, a: await pg("avg", [3e38, 3e38], "real") }]);
  });

  test("after a checkpoint restore the check is exact (the bound is not saved)", async () => {
    const h = await groupBy({ s: "SUM(f)" });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, MAX)), ins(T, row(2, -1e300))]));
    const h2 = await groupBy({ s: "SUM(f)" });
    h2.op.restore(jsonSafe(h.op.snapshot()));
    h2.run(txn("2024-01-01T00:00:01Z", [ins(T, row(3, 1e300)), ins(T, row(4, 1e300))]));
    expect(h2.ctx.rejected.map((r) => r.row.id)).toEqual([4]);
    expect(h2.sink.sorted()).toEqual([{ g: 1, s: MAX }]);
    expect(await pg("sum", [MAX, -1e300, 1e300])).toBe(MAX);
    expect(await pg("sum", [MAX, -1e300, 1e300, 1e300])).toBe("value out of range: overflow");
  });
});

describe("a refused retraction of a row whose contribution is on disk (over the state budget)", () => {
  test("the row comes back into memory and stays counted; a later delete takes it back", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-float-overflow-"));
    const h = await build({ from: "public.m", group_by: ["g"], aggregate: { s: "SUM(f)", n: "COUNT(*)" }, to: { sink: "out", table: "o", key: ["g"] }, state_budget: "16kb" }, { relations: RELS, stateDir: dir });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, MAX)), ins(T, row(2, -MAX)), ins(T, row(3, MAX))]));
    // rows of other groups push the first ones to the spill file
    for (let t = 0; t < 60; t++) h.run(txn(Date.parse("2024-01-01T00:01:00Z") + t * 1000, Array.from({ length: 8 }, (_, k) => ins(T, { ...row(100 + t * 8 + k, 1), g: 2 + k }))));
    const spill = (h.op as unknown as { state: { spill: { contribHits: number } } }).state.spill;
    const hitsBefore = spill.contribHits;
    h.run(txn("2024-01-01T00:02:00Z", [del(T, { id: 2 })]));
    expect(spill.contribHits).toBeGreaterThan(hitsBefore); // it was read back from disk
    expect(h.ctx.rejected.map((r) => r.reason)).toEqual([expect.stringContaining("taking back the row's previous version would leave the group's SUM")]);
    expect(h.sink.sorted().find((r) => r.g === 1)).toEqual({ g: 1, s: MAX, n: 3n });
    h.run(txn("2024-01-01T00:02:01Z", [del(T, { id: 1 })]));
    expect(h.sink.sorted().find((r) => r.g === 1)).toEqual({ g: 1, s: 0, n: 2n });
    h.run(txn("2024-01-01T00:02:02Z", [del(T, { id: 2 })]));
    expect(h.ctx.rejected.length).toBe(1);
    expect(h.sink.sorted().find((r) => r.g === 1)).toEqual({ g: 1, s: MAX, n: 1n });
    expect(await pg("sum", [-MAX, MAX])).toBe(0);
    expect(await pg("sum", [MAX])).toBe(MAX);
    h.op.close?.();
  });
});

describe("windows", () => {
  test("tumbling: the row is refused, the other windows go on", async () => {
    const h = await build({ from: "public.m", window: { type: "tumbling", size: "1m", time: "ts" }, aggregate: { s: "SUM(f)" }, to: { sink: "out", table: "w", key: ["window_start"] } }, { relations: RELS });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, MAX)), ins(T, row(2, MAX)), ins(T, row(3, MAX, 0, "2024-01-01 00:01:10+00"))]));
    h.closeAll();
    expect(h.ctx.rejected.map((r) => r.row.id)).toEqual([2]);
    expect(h.ctx.rejected[0].reason).toContain("the window's SUM would leave the double precision range");
    expect(h.sink.sorted().map((r) => [r.window_start, r.s])).toEqual([["2024-01-01 00:00:00+00", MAX], ["2024-01-01 00:01:00+00", MAX]]);
  });

  test("sliding: panes each in range whose merge is not: the window gets NULL and a DLQ record (Postgres errors for that window)", async () => {
    const h = await build({ from: "public.m", window: { type: "sliding", size: "2m", slide: "1m", time: "ts" }, aggregate: { s: "SUM(f)", n: "COUNT(*)" }, to: { sink: "out", table: "w", key: ["window_start"] } }, { relations: RELS });
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, MAX)), ins(T, row(2, MAX, 0, "2024-01-01 00:01:10+00"))]));
    h.closeAll();
    expect(h.sink.sorted().map((r) => [r.window_start, r.s, r.n])).toEqual([
      ["2023-12-31 23:59:00+00", MAX, 1n],
      ["2024-01-01 00:00:00+00", null, 2n],
      ["2024-01-01 00:01:00+00", MAX, 1n],
    ]);
    expect(h.ctx.rejected.map((r) => [r.row.window_start, r.reason])).toEqual([
      ["2024-01-01 00:00:00+00", "aggregate s: value out of range: overflow (the SUM of window 2024-01-01 00:00:00+00 – 2024-01-01 00:02:00+00 is past the double precision range: written as NULL)"],
    ]);
    expect(await pg("sum", [MAX])).toBe(MAX);
    expect(await pg("sum", [MAX, MAX])).toBe("value out of range: overflow");
  });

  test("session: the event that would take its session past the range is refused, also one that bridges two sessions, and a retraction that would", async () => {
    const h = await build({ from: "public.m", window: { type: "session", gap: "6m", time: "ts" }, aggregate: { s: "SUM(f)", n: "COUNT(*)" }, to: { sink: "out", table: "w", key: ["window_start"] } }, { relations: RELS });
    const at = (m: number) => `2024-01-01 00:${String(m).padStart(2, "0")}:00+00`;
    h.run(txn("2024-01-01T00:00:00Z", [ins(T, row(1, MAX, 0, at(0))), ins(T, row(2, MAX, 0, at(1))), ins(T, row(3, MAX, 0, at(10))), ins(T, row(4, 0, 0, at(5)))]));
    // 2 joins 1's session; 4 (at 00:05, gap 6m) would bridge 00:00 and 00:10 into one session of MAX + MAX
    expect(h.ctx.rejected.map((r) => [r.row.id, r.reason])).toEqual([
      [2, "aggregate s: value out of range: overflow (the session's SUM would leave the double precision range with this row; the row is left out)"],
      [4, expect.stringContaining("the session's SUM would leave")],
    ]);
    expect(await pg("sum", [MAX, MAX])).toBe("value out of range: overflow");
    expect(await pg("sum", [MAX, 0, MAX])).toBe("value out of range: overflow");
    // -MAX and MAX join the 00:10 session: MAX + -MAX + MAX; taking -MAX back would leave 2 MAX
    h.run(txn("2024-01-01T00:00:01Z", [ins(T, row(5, -MAX, 0, at(11))), ins(T, row(6, MAX, 0, at(12)))]));
    h.run(txn("2024-01-01T00:00:02Z", [del(T, { id: 5 })]));
    expect(h.ctx.rejected.length).toBe(3);
    expect(h.ctx.rejected[2].reason).toContain("taking back the row's previous version would leave the session's SUM out of the double precision range");
    h.closeAll();
    expect(h.sink.sorted().map((r) => [r.window_start, r.window_end, r.s, r.n])).toEqual([
      ["2024-01-01 00:00:00+00", "2024-01-01 00:06:00+00", MAX, 1n],
      ["2024-01-01 00:10:00+00", "2024-01-01 00:18:00+00", MAX, 3n],
    ]);
    expect(await pg("sum", [MAX])).toBe(MAX);
    expect(await pg("sum", [MAX, -MAX, MAX])).toBe(MAX);
  });
});
