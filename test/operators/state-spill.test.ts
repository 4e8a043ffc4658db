/**
 * State over its budget moves to the spill file (state.dir/operator-state/<pipeline>.db) and the
 * results stay exact: windows against a Postgres GROUP BY oracle with a budget of ~100 rows, a
 * lookup join whose table is 50× the budget against the same join without a budget, and the
 * in-memory entry counts bounded for a state far above the budget.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import type { Row, Txn } from "../../src/types.ts";
import { build, del, ins, relation, rng, upd } from "./harness.ts";
import { AGG, ORACLE, asText, sortRows, workload } from "./orders-workload.ts";
import { stateBudgetOf } from "../../src/engine/operators/memory-budget.ts";
import { pipelineSchema } from "../../src/config/pipeline-schema.ts";
import { stateSchema, type Config } from "../../src/config/schema.ts";
import { createRunner } from "../../src/engine/create-runner.ts";
import { registry } from "../../src/metrics/metrics.ts";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { planColdest, takeColdest } from "../../src/engine/operators/window/cold-contribs.ts";

setDefaultTimeout(120_000);

const tmp = () => mkdtempSync(join(tmpdir(), "cdc-spill-"));
type Op = { stats(): Record<string, number> };
const inner = (op: unknown) => op as Op;

let sql: postgres.Sql;
beforeAll(async () => {
  const server = await sharedPg("system");
  sql = postgres(server.url(await createDatabase(server, "spill")), { max: 1, onnotice: () => {} });
  await sql`SET TIME ZONE 'UTC'`;
}, 120_000);
afterAll(async () => {
  await sql?.end();
});

async function loadTable(table: Map<bigint, Row>) {
  await sql.unsafe("DROP TABLE IF EXISTS orders");
  await sql.unsafe("CREATE TABLE orders (order_id bigint primary key, customer_id int, product_id int, quantity int, price numeric(10,2), status text, created_at timestamptz)");
  const rows = [...table.values()].map((x) => ({ ...x, order_id: String(x.order_id) }));
  for (let i = 0; i < rows.length; i += 1000) await sql`INSERT INTO orders ${sql(rows.slice(i, i + 1000))}`;
}

/** Runs the transactions, counting how often the row state was over its budget and how much sat on disk. */
function run(h: Awaited<ReturnType<typeof build>>, txns: Txn[]) {
  let maxSpilled = 0;
  let maxMemory = 0;
  for (const t of txns) {
    h.run(t);
    const s = inner(h.op).stats();
    maxSpilled = Math.max(maxSpilled, s.window_rows_spilled ?? 0);
    maxMemory = Math.max(maxMemory, s.window_rows);
  }
  return { maxSpilled, maxMemory };
}

const tumbling = { from: "public.orders", window: { type: "tumbling", size: "1m", time: "created_at", key: ["customer_id"], lateness: "30s" }, aggregate: AGG, to: { sink: "pg", key: ["customer_id", "window_start"] } };

describe("windows over a tiny budget equal a Postgres GROUP BY", () => {
  test("tumbling: inserts, updates across windows and keys, deletes", async () => {
    const { txns, table } = workload(21, 4000, true);
    const h = await build({ ...tumbling, state_budget: "16kb" }, { stateDir: tmp() });
    const { maxSpilled, maxMemory } = run(h, txns);
    const hits = (h.op as unknown as { state: { spill: { contribHits: number } } }).state.spill.contribHits;
    h.closeAll();
    expect(maxSpilled).toBeGreaterThan(1000); // most rows' contributions went to disk...
    expect(maxMemory).toBeLessThan(200); // ...16 kB is ~100 rows; a transaction adds at most 8 before the check
    expect(hits).toBeGreaterThan(300); // updates and deletes of spilled rows read them back
    await loadTable(table);
    expect(sortRows(asText(h.sink.sorted()))).toEqual(sortRows(asText(await sql.unsafe(ORACLE.tumbling1m))));
    expect(h.sink.log.some((e) => e.op === "delete")).toBe(true);
  });

  test("sliding 10m/1m: mixed updates and deletes", async () => {
    const { txns, table } = workload(22, 1500, true);
    const h = await build({ from: "public.orders", window: { type: "sliding", size: "10m", slide: "1m", time: "created_at", key: ["customer_id"], lateness: "30s" }, aggregate: AGG, state_budget: "16kb" }, { stateDir: tmp() });
    const { maxSpilled } = run(h, txns);
    h.closeAll();
    expect(maxSpilled).toBeGreaterThan(500);
    await loadTable(table);
    expect(sortRows(asText(h.sink.sorted()))).toEqual(sortRows(asText(await sql.unsafe(ORACLE.sliding10m1m))));
  });

  test("GROUP BY without a window (one pane: oldest rows spill first)", async () => {
    const { txns, table } = workload(23, 3000, true);
    const h = await build(
      {
        from: "public.orders",
        select: ["CAST(created_at AS date) AS order_date", "UPPER(status) AS status", "quantity * price AS amount"],
        group_by: ["order_date", "status"],
        aggregate: { order_count: "COUNT(*)", total_amount: "SUM(amount)", avg_amount: "AVG(amount)" },
        state_budget: "16kb",
      },
      { stateDir: tmp() },
    );
    const { maxSpilled } = run(h, txns);
    expect(maxSpilled).toBeGreaterThan(1000);
    await loadTable(table);
    expect(sortRows(asText(h.sink.sorted()))).toEqual(sortRows(asText(await sql.unsafe(ORACLE.daily))));
  });
});

describe("a lookup join whose table is far larger than the budget", () => {
  const O = relation("public.orders", [["order_id", 20, "bigint", true], ["customer_id", 23, "integer"], ["amount", 1700, "numeric(10,2)"]]);
  const C = relation("public.customers", [["id", 23, "integer", true], ["name", 25, "text"], ["segment", 25, "text"], ["credit", 20, "bigint"]]);
  const cfg = (wait: string) => ({
    from: "public.orders",
    join: [{ table: "public.customers", on: "customer_id = customers.id", columns: ["name", "segment", "credit"], wait }],
    select: ["order_id", "customer_id", "amount", "name", "segment", "credit"],
    to: { sink: "x", key: ["order_id"] },
  });

  /** Customers (5,000 rows), then orders, customer updates/deletes/inserts, orders for customers that come later. */
  function stream(seed: number) {
    const r = rng(seed);
    const customers = new Map<number, Row>();
    /** each order as enriched when it arrived ("missing": no such customer then) */
    const expected = new Map<bigint, Row | "missing">();
    const txns: Txn[] = [];
    let clock = Date.parse("2024-05-01T10:00:00Z") * 1000;
    const customer = (id: number): Row => ({ id, name: `c${id}-${Math.floor(r() * 1000)}`, segment: ["retail", "b2b", "vip"][Math.floor(r() * 3)], credit: 9007199254740993n + BigInt(id) });
    const add = (changes: ReturnType<typeof ins>[]) => {
      clock += 1_000_000;
      txns.push({ lsn: BigInt(txns.length + 1) * 10n, endLsn: 0n, xid: txns.length + 1, commitTime: BigInt(clock), changes });
    };
    const first = [];
    for (let id = 1; id <= 5000; id++) {
      const c = customer(id);
      customers.set(id, c);
      first.push(ins(C, c));
    }
    add(first);
    let next = 1n;
    for (let b = 0; b < 300; b++) {
      const changes = [];
      for (let i = 0; i < 10; i++) {
        const x = r();
        if (x < 0.7) {
          const cid = 1 + Math.floor(r() * 5200); // some customers do not exist (yet)
          const o = { order_id: next++, customer_id: cid, amount: `${Math.floor(r() * 1000)}.${Math.floor(r() * 90) + 10}` };
          changes.push(ins(O, o));
          const c = customers.get(cid);
          expected.set(o.order_id, c ? { ...o, name: c.name, segment: c.segment, credit: c.credit } : "missing");
        } else if (x < 0.85) {
          const id = 1 + Math.floor(r() * 5000);
          const c = customer(id);
          changes.push(customers.has(id) ? upd(C, c) : ins(C, c));
          customers.set(id, c);
        } else if (x < 0.9) {
          const id = 1 + Math.floor(r() * 5000);
          if (customers.delete(id)) changes.push(del(C, { id }));
        } else {
          const id = 5001 + Math.floor(r() * 200);
          const c = customer(id);
          changes.push(customers.has(id) ? upd(C, c) : ins(C, c));
          customers.set(id, c);
        }
      }
      add(changes);
    }
    return { txns, expected };
  }

  test("enriches exactly like the join without a budget, and sees later changes of the joined table", async () => {
    const { txns, expected } = stream(31);
    const small = await build({ ...cfg("0s"), state_budget: "40kb" }, { stateDir: tmp() });
    const whole = await build(cfg("0s"));
    let maxMem = 0;
    let maxSpilled = 0;
    for (const t of txns) {
      small.run(t);
      whole.run(t);
      const s = inner(small.op).stats();
      maxMem = Math.max(maxMem, s.join_rows);
      maxSpilled = Math.max(maxSpilled, s.join_rows_spilled);
    }
    expect(maxSpilled).toBeGreaterThan(4000);
    expect(maxMem).toBeLessThan(5000); // the first transaction brings 5,000; evicted right after it
    expect(inner(small.op).stats().join_rows).toBeLessThanOrEqual(100); // 40 kB / 400 B
    expect(small.sink.log).toEqual(whole.sink.log);
    // and against the customers as they were when each order arrived (wait 0s: a missing one gives NULLs)
    for (const [id, e] of expected) {
      const got = small.sink.rows.get(String(id))!;
      if (e === "missing") expect([got.name, got.segment, got.credit]).toEqual([null, null, null]);
      else expect(got).toEqual(e);
    }
  });

  test("checkpoint → more changes (spilling, past the checkpoint) → restore in a fresh operator → replay: same output", async () => {
    const { txns } = stream(33);
    const dir = tmp();
    const small = await build({ ...cfg("0s"), state_budget: "40kb" }, { stateDir: dir });
    const whole = await build(cfg("0s"));
    type Inc = { snapshotDelta(): unknown };
    const chain: unknown[] = [];
    const logAt: number[] = [];
    for (const [i, t] of txns.entries()) {
      whole.run(t);
      logAt.push(whole.sink.log.length);
      if (i > 170) continue;
      small.run(t);
      if (i % 50 === 0) chain.push(JSON.parse(JSON.stringify((small.op as unknown as Inc).snapshotDelta(), (_k, v) => (typeof v === "bigint" ? { $big: String(v) } : v))));
    }
    expect(small.sink.log).toEqual(whole.sink.log.slice(0, logAt[170]));
    expect(inner(small.op).stats().join_rows_spilled).toBeGreaterThan(4000);
    // the process dies after txn 170; the last checkpoint is after txn 150
    const restored = await build({ ...cfg("0s"), state_budget: "40kb" }, { stateDir: dir });
    for (const c of chain) restored.op.restore(JSON.parse(JSON.stringify(c), (_k, v) => (v && typeof v === "object" && "$big" in v ? BigInt(v.$big) : v)));
    for (const t of txns.slice(151)) restored.run(t);
    expect(restored.sink.log).toEqual(whole.sink.log.slice(logAt[150]));
    expect((restored.op as unknown as { state: { spill: { joinHits: number } } }).state.spill.joinHits).toBeGreaterThan(100);
  });

  test("a checkpoint's spilled state that is missing, or from another file, is an error, not silently lost state", async () => {
    const { txns } = stream(34);
    const dir = tmp();
    const a = await build({ ...cfg("0s"), state_budget: "40kb" }, { stateDir: dir });
    for (const t of txns.slice(0, 20)) a.run(t);
    const link = (a.op as unknown as { snapshotDelta(): unknown }).snapshotDelta();
    const elsewhere = await build({ ...cfg("0s"), state_budget: "40kb" }, { stateDir: tmp() });
    expect(() => elsewhere.op.restore(link)).toThrow(/spilled operator state cannot be read: .* is missing/);
    const fresh = await build({ ...cfg("0s"), state_budget: "40kb" }, { stateDir: dir });
    for (const t of txns.slice(0, 20)) fresh.run(t); // no restore: a new run starts the file over
    const late = await build({ ...cfg("0s"), state_budget: "40kb" }, { stateDir: dir });
    late.op.restore(link);
    expect(() => late.run(txns[20]!)).toThrow(/belongs to another run/);
  });

  test("rows waiting for their match (wait 1h) find it whether the joined row is in memory or on disk", async () => {
    const { txns } = stream(32);
    const small = await build({ ...cfg("1h"), state_budget: "40kb" }, { stateDir: tmp() });
    const whole = await build(cfg("1h"));
    for (const t of txns) {
      small.run(t);
      whole.run(t);
    }
    small.closeAll();
    whole.closeAll();
    expect(inner(small.op).stats().join_rows_spilled).toBeGreaterThan(4000);
    expect(small.sink.sorted()).toEqual(whole.sink.sorted());
    expect(small.sink.log.length).toBe(whole.sink.log.length);
  });
});

describe("memory stays bounded far above the budget", () => {
  test("200,000 rows of a GROUP BY: ~1,400 in memory, the rest on disk; updates of old rows still retract", async () => {
    const O = relation("public.events", [["id", 20, "bigint", true], ["k", 23, "integer"], ["v", 20, "bigint"]]);
    const h = await build({ from: "public.events", group_by: ["k"], aggregate: { n: "COUNT(*)", s: "SUM(v)" }, state_budget: "256kb" }, { stateDir: tmp() });
    const budgetRows = (256 * 1000) / 160;
    let maxMem = 0;
    const sums = new Map<number, bigint>();
    const vals = new Map<number, [number, bigint]>();
    for (let b = 0; b < 2000; b++) {
      const changes = [];
      for (let i = 0; i < 100; i++) {
        const id = b * 100 + i;
        const row = { id: BigInt(id), k: id % 50, v: BigInt(id) * 1_000_000_007n };
        vals.set(id, [row.k, row.v]);
        changes.push(ins(O, row));
      }
      // every 10th batch: move ten of the oldest rows to another group
      if (b % 10 === 9) for (let i = 0; i < 10; i++) {
        const id = b * 5 + i;
        const row = { id: BigInt(id), k: 50 + (id % 7), v: 1n };
        vals.set(id, [row.k, row.v]);
        changes.push(upd(O, row));
      }
      h.run({ lsn: BigInt(b + 1), endLsn: 0n, xid: b, commitTime: BigInt(Date.parse("2024-05-01T10:00:00Z") * 1000 + b), changes });
      maxMem = Math.max(maxMem, inner(h.op).stats().window_rows);
    }
    const s = inner(h.op).stats();
    console.log(`[spill] 200,000 rows: at most ${maxMem} in memory after a transaction, ${s.window_rows_spilled} on disk (${s.spilled_bytes} bytes)`);
    expect(maxMem).toBeLessThan(budgetRows + 110);
    expect(s.window_rows + s.window_rows_spilled).toBe(200_000);
    expect(s.window_rows_spilled).toBeGreaterThan(195_000);
    expect(s.spilled_bytes).toBeGreaterThan(1_000_000);
    for (const [, [k, v]] of vals) sums.set(k, (sums.get(k) ?? 0n) + v);
    const got = new Map([...h.sink.rows.values()].map((r) => [r.k as number, String(r.s)]));
    expect(got).toEqual(new Map([...sums].map(([k, v]) => [k, String(v)])));
  });

  test("a tumbling window with a short retention: rows on disk are dropped with their panes", async () => {
    const O = relation("public.events", [["id", 20, "bigint", true], ["k", 23, "integer"], ["ts", 1184, "timestamptz"]]);
    const h = await build({ from: "public.events", window: { type: "tumbling", size: "1m", time: "ts", key: ["k"], retention: "2m" }, aggregate: { n: "COUNT(*)" }, state_budget: "32kb" }, { stateDir: tmp() });
    const t0 = Date.parse("2024-05-01T10:00:00Z");
    let maxDisk = 0;
    for (let sec = 0; sec < 1800; sec++) {
      const ts = new Date(t0 + sec * 1000).toISOString().replace("T", " ").replace(".000Z", "+00");
      h.run({ lsn: BigInt(sec + 1), endLsn: 0n, xid: sec, commitTime: BigInt((t0 + sec * 1000) * 1000), changes: Array.from({ length: 20 }, (_, i) => ins(O, { id: BigInt(sec * 20 + i), k: i % 5, ts })) });
      maxDisk = Math.max(maxDisk, inner(h.op).stats().window_rows_spilled);
    }
    // 36,000 rows in all; a pane is kept for 1m + 2m of retention (+ a sweep period): ~4 minutes, 4,800 rows
    expect(maxDisk).toBeGreaterThan(1000);
    expect(maxDisk).toBeLessThan(7500);
    expect(h.sink.rows.size).toBe(29 * 5); // closed windows (the last minute is still open)
    expect([...h.sink.rows.values()].every((r) => r.n === 240n)).toBe(true);
  });
});

test("the coldest rows: oldest panes first, then the oldest rows of the pane where the count is reached; taken in chunks", () => {
  const m = new Map<number, { ps: number }>();
  const psOf = new Map<number, number>();
  const r = rng(5);
  for (let id = 0; id < 10_000; id++) {
    const ps = 60 * Math.floor(r() * 20);
    m.set(id, { ps });
    psOf.set(id, ps);
  }
  const plan = planColdest(m, 2500);
  const cut = plan.cut;
  const taken: number[] = [];
  let chunks = 0;
  for (let chunk = takeColdest(m, plan, 700); chunk.length; chunk = takeColdest(m, plan, 700)) {
    chunks++;
    for (const id of chunk) m.delete(id as number);
    taken.push(...(chunk as number[]));
  }
  expect([taken.length, chunks]).toEqual([2500, 4]);
  expect(taken.every((id) => psOf.get(id)! <= cut)).toBe(true);
  expect([...m.keys()].every((id) => psOf.get(id)! >= cut)).toBe(true);
  // in the pane where the count was reached, the rows taken are the oldest (inserted first)
  const takenAtCut = taken.filter((id) => psOf.get(id) === cut);
  const leftAtCut = [...m.keys()].filter((id) => psOf.get(id) === cut);
  expect(takenAtCut.length).toBeGreaterThan(0);
  expect(Math.max(...takenAtCut)).toBeLessThan(Math.min(...leftAtCut));
});

describe("budgets from config", () => {
  test("state.memory_budget is shared by the stateful pipelines without their own state_budget", () => {
    const p = (name: string, extra: Record<string, unknown>) => pipelineSchema.parse({ name, from: "public.t", to: "x", ...extra });
    const agg = { group_by: ["a"], aggregate: { n: "COUNT(*)" } };
    const all = [p("a", agg), p("b", { ...agg, state_budget: "100MiB" }), p("c", { join: [{ table: "public.u", on: "a = u.id" }] }), p("mirror", {})];
    expect(stateBudgetOf(all[0], all, 1024 * 1024 * 1024)).toBe(Math.floor((1024 - 100) * 1024 * 1024 / 2));
    expect(stateBudgetOf(all[1], all, 1024 * 1024 * 1024)).toBe(100 * 1024 * 1024);
    expect(stateBudgetOf(all[3], all, 1024 * 1024 * 1024)).toBeNull();
    expect(stateBudgetOf(all[0], all, 0)).toBeNull();
    expect(stateBudgetOf(all[0], all, 64 * 1024 * 1024)).toBe(8 * 1024 * 1024); // at least 8 MiB each
    expect(stateBudgetOf(all[0], all, "auto")).toBeGreaterThan(8 * 1024 * 1024);
    expect(stateSchema.parse({}).memory_budget).toBe("auto");
    expect(stateSchema.parse({ memory_budget: "512MiB" }).memory_budget).toBe(512 * 1024 * 1024);
    expect(stateSchema.safeParse({ memory_budget: "lots" }).success).toBe(false);
  });

  test("the engine's runner: state.dir and the pipeline's share of state.memory_budget; the spilled counts are published", async () => {
    const dir = tmp();
    const name = `spill_${Math.random().toString(36).slice(2, 8)}`;
    const p = pipelineSchema.parse({ name, from: "public.orders", group_by: ["customer_id"], aggregate: { n: "COUNT(*)" }, to: "x" });
    const other = pipelineSchema.parse({ name: "other", from: "public.orders", group_by: ["status"], aggregate: { n: "COUNT(*)" }, to: "x" });
    const config = { maps: {}, state: stateSchema.parse({ dir, memory_budget: "16MiB" }), pipelines: [p, other] } as unknown as Config;
    const r = await createRunner(p, config, { reject: () => {}, configDir: process.cwd() });
    const { txns } = workload(24, 60_000, false, { customers: 50 });
    for (const t of txns) await r.process(t);
    r.onWatermark(Date.now(), 1n);
    const metric = async (kind: string) => Number((await registry.getMetricsAsJSON()).find((m) => m.name === "cdc_engine_operator_state_entries")!.values.find((v) => v.labels.pipeline === name && v.labels.kind === kind)?.value);
    expect(await metric("budget_bytes")).toBe(8 * 1024 * 1024); // half of 16 MiB
    expect(existsSync(join(dir, "operator-state", `${name}.db`))).toBe(true);
    expect(await metric("window_rows_spilled")).toBeGreaterThan(5000);
    expect(await metric("window_rows")).toBeLessThan((8 * 1024 * 1024) / 160);
    expect(await metric("window_rows") + (await metric("window_rows_spilled"))).toBe(60_000);
    expect(await metric("spilled_bytes")).toBeGreaterThan(0);
    // close() (the runtime's stop, also before an in-process restart) lets go of the spill file
    const spillFds = () =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(join(dir, "operator-state", `${name}.db`));
        } catch {
          return false;
        }
      }).length;
    expect(spillFds()).toBeGreaterThan(0);
    r.close?.();
    expect(spillFds()).toBe(0);
  });
});
