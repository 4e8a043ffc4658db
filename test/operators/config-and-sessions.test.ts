import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CdcError } from "../../src/errors.ts";
import { isMirror } from "../../src/engine/operators/index.ts";
import { pipelineSchema } from "../../src/config/pipeline-schema.ts";
import { build, del, ins, relation, rng, txn, upd } from "./harness.ts";
import type { Row } from "../../src/types.ts";

const R = relation("public.orders", [["order_id", 20, "bigint", true], ["customer_id", 23, "integer"], ["price", 1700, "numeric(10,2)"], ["status", 25, "text"], ["created_at", 1184, "timestamp with time zone"]]);
const RELS = new Map([[R.table, R]]);

async function usage(config: Record<string, unknown>, relations = RELS): Promise<CdcError> {
  try {
    await build(config, { relations });
  } catch (e) {
    expect(e).toBeInstanceOf(CdcError);
    expect((e as CdcError).kind).toBe("usage");
    return e as CdcError;
  }
  throw new Error("expected a usage error");
}

describe("config-load errors name the pipeline and the expression", () => {
  test("unknown column, function, syntax, aggregate", async () => {
    expect((await usage({ from: "public.orders", select: ["*", "UPPER(stauts) AS s"] })).message).toBe("pipeline 'test': 'UPPER(stauts) AS s': unknown column 'stauts'");
    expect((await usage({ from: "public.orders", where: "FOO(price) > 1" }, new Map())).message).toBe("pipeline 'test': 'FOO(price) > 1': unknown function FOO()");
    expect((await usage({ from: "public.orders", where: "price >" })).message).toContain("pipeline 'test': where 'price >': syntax error");
    expect((await usage({ from: "public.orders", window: { type: "tumbling", size: "1m", time: "created_at" }, aggregate: { x: "MEDIAN(price)" } })).message).toContain("unknown aggregate MEDIAN()");
    expect((await usage({ from: "public.orders", window: { type: "tumbling", time: "created_at" }, aggregate: { n: "COUNT(*)" } })).message).toContain("window.size is required");
    // SUM/AVG of a column known not to hold numbers (every row went to the DLQ at runtime); a cast is fine.
    expect((await usage({ from: "public.orders", group_by: ["customer_id"], aggregate: { n: "SUM(status)" } })).message).toContain("aggregate n 'SUM(status)': SUM() needs a number, not text");
    expect((await usage({ from: "public.orders", group_by: ["customer_id"], aggregate: { a: "AVG(created_at)" } })).message).toContain("AVG() needs a number, not timestamp with time zone");
    await build({ from: "public.orders", group_by: ["customer_id"], aggregate: { n: "SUM(status::numeric)", p: "AVG(price)" } }, { relations: RELS });
    // Given but 0: said as such, not "required".
    expect((await usage({ from: "public.orders", window: { type: "tumbling", size: "0s", time: "created_at" }, aggregate: { n: "COUNT(*)" } })).message).toContain("window.size must be longer than 0 (got 0s)");
    expect((await usage({ from: "public.orders", select: ["price * 2"] })).message).toContain("needs a name");
    expect((await usage({ from: "public.*", where: "price > 0" })).message).toContain("mirror pipelines only");
  });
  test("names and types a config cannot mean: a non-boolean condition, one name twice, a to.key naming no column", async () => {
    // These passed before: `where: price` dropped every row, a duplicate alias kept the last, the rest failed at the sink forever.
    expect((await usage({ from: "public.orders", where: "price" })).message).toBe("pipeline 'test': 'price': a where condition must be boolean, not numeric(10,2)");
    expect((await usage({ from: "public.orders", validate: [{ rule: "status" }] })).message).toBe("pipeline 'test': 'status': a validate condition must be boolean, not text");
    expect((await build({ from: "public.orders", where: "NULL" })).compiled.key).toEqual([]);
    expect((await usage({ from: "public.orders", select: ["order_id", "price AS x", "status AS x"] })).message).toBe("pipeline 'test': select 'status AS x': the name 'x' is also given to 'price AS x': rename one with AS");
    expect((await usage({ from: "public.orders", group_by: ["customer_id"], aggregate: { customer_id: "COUNT(*)" } })).message).toContain("'customer_id' is also a group key");
    expect((await usage({ from: "public.orders", window: { type: "tumbling", size: "1m", time: "created_at" }, aggregate: { window_end: "MAX(price)" } })).message).toContain("window_end 'window_end': is the window's own output column");
    // With the columns known at compile time (check) it fails there; else when the output table is first made (serve).
    expect((await usage({ from: "public.orders", select: ["order_id", "price"], to: { sink: "out", key: ["id"] } })).message).toBe("pipeline 'test': to.key names 'id', not among its output columns (order_id, price)");
    const h = await build({ from: "public.orders", select: ["order_id", "price"], to: { sink: "out", key: ["id"] } });
    expect(() => h.compiled.outputColumns(RELS)).toThrow("pipeline 'test': to.key names 'id', not among its output columns (order_id, price)");
    const C = relation("public.customers", [["id", 23, "integer", true], ["name", 25, "text"]]);
    const both = new Map([[R.table, R], [C.table, C]]);
    const joinOn = (on: string) => usage({ from: "public.orders", join: [{ table: "public.customers", on, wait: "0s" }], select: ["order_id", "name"] }, both);
    expect((await joinOn("customer_id = customers.cid")).message).toBe("pipeline 'test': join public.customers: on: unknown column 'cid' in public.customers");
    expect((await joinOn("cust_id = customers.id")).message).toBe("pipeline 'test': join public.customers: on: unknown column 'cust_id' in public.orders");
    expect((await build({ from: "public.orders", join: [{ table: "public.customers", on: "customer_id = customers.id", wait: "0s" }], select: ["order_id", "name"] }, { relations: both })).compiled.tables).toEqual(["public.orders", "public.customers"]);
    // A transform module may add the key column: not checked.
    const dir = mkdtempSync(join(tmpdir(), "cdc-key-"));
    writeFileSync(join(dir, "t.ts"), "export function transform(row: Record<string, unknown>) { return { ...row, extra: 1 }; }");
    expect((await build({ from: "public.orders", transform: "./t.ts", to: { sink: "out", key: ["extra"] } }, { configDir: dir, relations: RELS })).compiled.key).toEqual(["extra"]);
    const ok = await build({ from: "public.orders", select: ["order_id", "price"], to: { sink: "out", key: ["order_id"] } }, { relations: RELS });
    expect(ok.compiled.outputColumns(RELS).map((c) => [c.name, c.isKey])).toEqual([["order_id", true], ["price", false]]);
  });
  test("isMirror", () => {
    expect(isMirror(pipelineSchema.parse({ name: "m", from: "public.orders", to: "pg" }))).toBe(true);
    expect(isMirror(pipelineSchema.parse({ name: "m", from: "public.orders", to: "pg", where: "price > 0" }))).toBe(false);
  });
});

describe("TypeScript escape hatch", () => {
  test("a module next to the config is loaded at run time", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-transform-"));
    writeFileSync(join(dir, "my-transform.ts"), `
      type Row = Record<string, unknown>;
      export function transform(row: Row, ctx: { op: string; table: string; pipeline: string }): Row | null {
        if (row.status === "skip") return null;
        if (row.status === "boom") throw new Error("cannot handle boom");
        return { ...row, tag: \`\${ctx.pipeline}:\${ctx.op}:\${ctx.table}\`, cents: BigInt(String(row.price).replace(".", "")) };
      }
    `);
    const h = await build({ from: "public.orders", transform: "./my-transform.ts", to: { sink: "x", key: ["order_id"] } }, { configDir: dir });
    const at = "2024-05-01 10:00:00+00";
    h.run(txn(at, [
      ins(R, { order_id: 1n, customer_id: 1, price: "12.34", status: "ok", created_at: at }),
      ins(R, { order_id: 2n, customer_id: 1, price: "1.00", status: "skip", created_at: at }),
      ins(R, { order_id: 3n, customer_id: 1, price: "1.00", status: "boom", created_at: at }),
    ]));
    expect(h.sink.sorted()).toEqual([{ order_id: 1n, customer_id: 1, price: "12.34", status: "ok", created_at: at, tag: "test:upsert:public.orders", cents: 1234n }]);
    expect(h.ctx.rejected.map((r) => r.reason)).toEqual(["transform failed: cannot handle boom"]);
    const err = await build({ from: "public.orders", transform: "./missing.ts" }, { configDir: dir }).catch((e) => e);
    expect(err).toBeInstanceOf(CdcError);
    expect(err.message).toContain("transform");
  });
});

/** Brute-force session oracle: sort each key's events, split where the gap is reached. */
function sessionsOracle(rows: Row[], gapUs: number): Map<string, { n: number; sum: string }> {
  const byKey = new Map<number, number[][]>();
  for (const r of rows) {
    const t = Date.parse(String(r.created_at).replace(" ", "T").replace("+00", "Z")) * 1000;
    const cents = Number(String(r.price).replace(".", ""));
    (byKey.get(r.customer_id as number) ?? byKey.set(r.customer_id as number, []).get(r.customer_id as number)!).push([t, cents]);
  }
  const out = new Map<string, { n: number; sum: string }>();
  for (const [k, evs] of byKey) {
    evs.sort((a, b) => a[0] - b[0]);
    let start = evs[0][0], end = start + gapUs, n = 0, sum = 0;
    const flush = () => out.set(`${k}|${start}|${end}`, { n, sum: (sum / 100).toFixed(2) });
    for (const [t, c] of evs) {
      if (t >= end) {
        flush();
        start = t;
        n = 0;
        sum = 0;
      }
      n++;
      sum += c;
      end = Math.max(end, t + gapUs);
    }
    flush();
  }
  return out;
}

describe("session windows", () => {
  test("updates and deletes split and merge sessions; result equals a brute-force oracle", async () => {
    const r = rng(11);
    const table = new Map<bigint, Row>();
    const h = await build({ from: "public.orders", window: { type: "session", gap: "2m", time: "created_at", key: ["customer_id"], lateness: "1m" }, aggregate: { n: "COUNT(*)", total: "SUM(price)" } });
    const base = Date.parse("2024-05-01T10:00:00Z");
    const at = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace(".000Z", "+00");
    let clock = base;
    for (let i = 1; i <= 600; i++) {
      clock += Math.floor(r() * 40_000);
      const x = r();
      const ids = [...table.keys()];
      if (x < 0.7 || ids.length < 3) {
        const row = { order_id: BigInt(i), customer_id: 1 + Math.floor(r() * 4), price: (Math.floor(r() * 10000) / 100).toFixed(2), status: "new", created_at: at(clock - Math.floor(r() * 90_000)) };
        table.set(row.order_id, row);
        h.run(txn(clock * 1000, [ins(R, row)]));
      } else if (x < 0.85) {
        const id = ids[Math.floor(r() * ids.length)];
        const row = { ...table.get(id)!, created_at: at(clock - Math.floor(r() * 600_000)), customer_id: 1 + Math.floor(r() * 4) };
        table.set(id, row);
        h.run(txn(clock * 1000, [upd(R, row)]));
      } else {
        const id = ids[Math.floor(r() * ids.length)];
        table.delete(id);
        h.run(txn(clock * 1000, [del(R, { order_id: id })]));
      }
    }
    h.closeAll();
    const expected = sessionsOracle([...table.values()], 120e6);
    const got = new Map<string, { n: number; sum: string }>();
    for (const row of h.sink.rows.values()) {
      const s = Date.parse(String(row.window_start).replace(" ", "T").replace("+00", "Z")) * 1000;
      const e = Date.parse(String(row.window_end).replace(" ", "T").replace("+00", "Z")) * 1000;
      got.set(`${row.customer_id}|${s}|${e}`, { n: Number(row.n), sum: String(row.total) });
    }
    expect(got.size).toBeGreaterThan(10);
    expect([...got.entries()].sort()).toEqual([...expected.entries()].sort());
    expect(h.sink.log.some((x) => x.op === "delete")).toBe(true);

    // snapshot survives JSON and restores the same sessions
    const h2 = await build({ from: "public.orders", window: { type: "session", gap: "2m", time: "created_at", key: ["customer_id"], lateness: "1m" }, aggregate: { n: "COUNT(*)", total: "SUM(price)" } });
    h2.op.restore(JSON.parse(JSON.stringify(h.op.snapshot())));
    expect(h2.op.snapshot()).toEqual(h.op.snapshot());
  });
});

describe("state is dropped after retention", () => {
  test.each(["session", "tumbling"])("%s windows", async (type) => {
    const h = await build({ from: "public.orders", window: { type, gap: "1m", size: "1m", time: "created_at", key: ["customer_id"], retention: "0s" }, aggregate: { n: "COUNT(*)" } });
    const op = h.op as unknown as { stats(): Record<string, number> };
    for (let i = 0; i < 50; i++) {
      const at = new Date(Date.parse("2024-05-01T10:00:00Z") + i * 20_000).toISOString().replace("T", " ").replace(".000Z", "+00");
      h.run(txn(at.replace(" ", "T").replace("+00", "Z"), [ins(R, { order_id: BigInt(i), customer_id: i % 3, price: "1.00", status: "n", created_at: at })]));
    }
    expect(op.stats().window_rows).toBeGreaterThan(0);
    expect(op.stats().window_rows).toBeLessThan(50); // older windows already dropped while running
    const kept = op.stats().window_rows;
    h.closeAll();
    h.closeAll();
    // an idle source closes the windows but keeps what the events' own watermark has not passed
    // (a backfill that pauses is not dropped: idle-backfill.test.ts); the next event drops it
    expect(op.stats().window_rows).toBe(kept);
    const later = "2024-05-01 12:00:00+00";
    h.run(txn(later.replace(" ", "T").replace("+00", "Z"), [ins(R, { order_id: 1000n, customer_id: 0, price: "1.00", status: "n", created_at: later })]));
    h.closeAll();
    expect(op.stats().window_rows).toBe(1);
    expect(h.sink.rows.size).toBeGreaterThan(0); // results stay at the sink
  });
});

describe("TOP_K and emit on change", () => {
  test("a live leaderboard over a sliding window, retracting updates", async () => {
    const E = relation("public.events", [["id", 20, "bigint", true], ["content_id", 25], ["secs", 1700, "numeric"], ["ts", 1184]]);
    const h = await build({
      from: "public.events",
      window: { type: "sliding", size: "10m", slide: "1m", time: "ts", emit: "change" },
      aggregate: { top: "TOP_K(content_id, 2, secs)", plays: "COUNT(*)", distinct_content: "COUNT(DISTINCT content_id)" },
      to: { sink: "redis", key: ["window_start"] },
    });
    const at = "2024-05-01 10:00:30+00";
    h.run(txn(at, [ins(E, { id: 1n, content_id: "a", secs: "10.5", ts: at }), ins(E, { id: 2n, content_id: "b", secs: "3", ts: at }), ins(E, { id: 3n, content_id: "c", secs: "7", ts: at }), ins(E, { id: 4n, content_id: "b", secs: "8", ts: at })]));
    const w = h.sink.rows.get("2024-05-01 10:00:00+00")!;
    expect(JSON.parse(String(w.top))).toEqual([{ value: "b", score: 11 }, { value: "a", score: 10.5 }]);
    expect([w.plays, w.distinct_content]).toEqual([4n, 3n]);
    expect(h.sink.rows.size).toBe(10); // the row is in 10 overlapping windows
    h.run(txn(at, [upd(E, { id: 4n, content_id: "c", secs: "8", ts: at })]));
    expect(JSON.parse(String(h.sink.rows.get("2024-05-01 10:00:00+00")!.top))).toEqual([{ value: "c", score: 15 }, { value: "a", score: 10.5 }]);
    const cols = h.compiled.outputColumns(new Map([[E.table, E]]));
    expect(cols.map((c) => [c.name, c.typeOid, c.isKey])).toEqual([["window_start", 1184, true], ["window_end", 1184, false], ["top", 3802, false], ["plays", 20, false], ["distinct_content", 20, false]]);
  });
});
