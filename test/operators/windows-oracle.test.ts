import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";

setDefaultTimeout(90_000);
import postgres from "postgres";
import { sharedPg, createDatabase } from "../helpers/index.ts";
import type { Row, Txn } from "../../src/types.ts";
import { build, del, ins, jsonSafe, relation, rng, txn, upd } from "./harness.ts";

/**
 * Windows against an oracle: the same final table aggregated by GROUP BY in a real Postgres
 * must equal what a keyed sink holds after the operator's upserts and deletes, for inserts only
 * and for a mix of updates (moving rows between windows and keys) and deletes.
 */
const R = relation("public.orders", [
  ["order_id", 20, "bigint", true], ["customer_id", 23, "integer"], ["product_id", 23, "integer"], ["quantity", 23, "integer"],
  ["price", 1700, "numeric(10,2)"], ["status", 25, "text"], ["created_at", 1184, "timestamp with time zone"],
]);
const T0 = Date.parse("2024-05-01T10:00:00Z") * 1000;
const AGG = {
  gross_sales: "SUM(quantity * price)",
  order_count: "COUNT(*)",
  avg_price: "AVG(price)",
  min_price: "MIN(price)",
  max_price: "MAX(price)",
  products: "COUNT(DISTINCT product_id)",
  qty: "SUM(quantity)",
};
const AGG_SQL = `SUM(quantity * price)::text AS gross_sales, COUNT(*)::text AS order_count, AVG(price)::text AS avg_price,
  MIN(price)::text AS min_price, MAX(price)::text AS max_price, COUNT(DISTINCT product_id)::text AS products, SUM(quantity)::text AS qty`;

function iso(us: number): string {
  const ms = Math.floor(us / 1000);
  const frac = String(us % 1000).padStart(3, "0");
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "").replace(/\.(\d{3})$/, `.$1${frac}`) + "+00";
}

/** A stream of transactions and the final table it leaves. */
function workload(seed: number, n: number, mixed: boolean): { txns: Txn[]; table: Map<bigint, Row> } {
  const r = rng(seed);
  const table = new Map<bigint, Row>();
  const txns: Txn[] = [];
  let next = 1n;
  let clock = T0;
  const row = (id: bigint): Row => ({
    order_id: id,
    customer_id: 1 + Math.floor(r() * 12),
    product_id: 1 + Math.floor(r() * 8),
    quantity: 1 + Math.floor(r() * 5),
    price: (Math.floor(r() * 20000) / 100).toFixed(2),
    status: "new",
    // event time near the commit clock, sometimes minutes behind (late rows)
    created_at: iso(clock - Math.floor(r() < 0.1 ? r() * 300e6 : r() * 20e6) + Math.floor(r() * 1e6)),
  });
  while (next <= BigInt(n)) {
    clock += Math.floor(r() * 3e6);
    const changes = [];
    const size = 1 + Math.floor(r() * 8);
    for (let i = 0; i < size && next <= BigInt(n); i++) {
      const x = r();
      const ids = [...table.keys()];
      if (!mixed || x < 0.6 || ids.length < 5) {
        const rw = row(next++);
        table.set(rw.order_id as bigint, rw);
        changes.push(ins(R, rw));
      } else if (x < 0.9) {
        const id = ids[Math.floor(r() * ids.length)];
        const old = table.get(id)!;
        const nw = { ...old };
        const what = r();
        if (what < 0.3) nw.created_at = iso(Date.parse(String(old.created_at).replace(" ", "T").replace("+00", "Z")) * 1000 + Math.floor((r() - 0.5) * 600e6)); // another window
        else if (what < 0.6) nw.customer_id = 1 + Math.floor(r() * 12); // another key
        else if (what < 0.8) nw.price = (Math.floor(r() * 20000) / 100).toFixed(2);
        else nw.quantity = 1 + Math.floor(r() * 5);
        table.set(id, nw);
        changes.push(upd(R, nw));
      } else {
        const id = ids[Math.floor(r() * ids.length)];
        table.delete(id);
        changes.push(del(R, { order_id: id }));
      }
    }
    txns.push(txn(clock, changes));
  }
  return { txns, table };
}

let sql: postgres.Sql;
beforeAll(async () => {
  const server = await sharedPg("system");
  const db = await createDatabase(server, "win");
  sql = postgres(server.url(db), { max: 1, onnotice: () => {} });
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

function asText(rows: Row[]): Record<string, string | null>[] {
  return rows.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v === null ? null : String(v)])));
}

async function tumblingOracle(): Promise<Record<string, string | null>[]> {
  const rows = await sql.unsafe(`SELECT customer_id::text AS customer_id, to_timestamp(floor(extract(epoch from created_at) / 60) * 60)::text AS window_start,
      (to_timestamp(floor(extract(epoch from created_at) / 60) * 60) + interval '1 minute')::text AS window_end, ${AGG_SQL}
    FROM orders GROUP BY 1, 2, 3 ORDER BY 1, 2`);
  return rows.map((x) => ({ ...x }));
}

function sortRows(rows: Record<string, string | null>[]) {
  return rows.sort((a, b) => (a.customer_id! + a.window_start! < b.customer_id! + b.window_start! ? -1 : 1));
}

const tumbling = { from: "public.orders", window: { type: "tumbling", size: "1m", time: "created_at", key: ["customer_id"], lateness: "30s" }, aggregate: AGG, to: { sink: "pg", key: ["customer_id", "window_start"] } };

describe("tumbling window vs Postgres GROUP BY", () => {
  test("inserts only", async () => {
    const { txns, table } = workload(1, 3000, false);
    const h = await build(tumbling);
    for (const t of txns) h.run(t);
    h.closeAll();
    await loadTable(table);
    const oracle = await tumblingOracle();
    expect(oracle.length).toBeGreaterThan(100);
    expect(sortRows(asText(h.sink.sorted()))).toEqual(sortRows(oracle));
    expect(h.ctx.counts.late_rows ?? 0).toBeGreaterThan(0); // the workload has late rows; late: update folds them in
  });

  test("updates across windows and keys, and deletes", async () => {
    const { txns, table } = workload(2, 4000, true);
    const h = await build(tumbling);
    for (const t of txns) h.run(t);
    h.closeAll();
    await loadTable(table);
    const oracle = await tumblingOracle();
    expect(sortRows(asText(h.sink.sorted()))).toEqual(sortRows(oracle));
    expect(h.sink.log.some((e) => e.op === "delete")).toBe(true); // windows emptied by retractions
  });

  test("emit on every change gives the same final answer", async () => {
    const { txns, table } = workload(3, 1500, true);
    const h = await build({ ...tumbling, window: { ...tumbling.window, emit: "change" } });
    for (const t of txns) h.run(t);
    await loadTable(table);
    expect(sortRows(asText(h.sink.sorted()))).toEqual(sortRows(await tumblingOracle()));
  });

  test("snapshot → restore mid-stream equals an uninterrupted run", async () => {
    const { txns, table } = workload(4, 3000, true);
    const whole = await build(tumbling);
    for (const t of txns) whole.run(t);
    whole.closeAll();

    const first = await build(tumbling);
    const half = Math.floor(txns.length / 2);
    for (const t of txns.slice(0, half)) first.run(t);
    const state = jsonSafe(first.op.snapshot()); // survives JSON: no bigint, exact decimals as text
    const second = await build(tumbling);
    second.op.restore(state);
    for (const t of txns.slice(half)) second.op.process(t, first.sink.emit); // same sink: it keeps its rows
    first.op.onWatermark?.(0, () => {});
    second.op.onWatermark?.(32503680000000, first.sink.emit);
    second.op.onWatermark?.(32503683600000, first.sink.emit);

    expect(asText(first.sink.sorted())).toEqual(asText(whole.sink.sorted()));
    await loadTable(table);
    expect(sortRows(asText(first.sink.sorted()))).toEqual(sortRows(await tumblingOracle()));
  });

  test("incremental checkpoints: full, then deltas; restoring the chain equals an uninterrupted run", async () => {
    const { txns, table } = workload(8, 3000, true);
    const whole = await build(tumbling);
    for (const t of txns) whole.run(t);
    whole.closeAll();

    const first = await build(tumbling);
    const op = first.op as unknown as { snapshotDelta(): unknown };
    const chain: unknown[] = [];
    const cut = [Math.floor(txns.length / 4), Math.floor(txns.length / 2), Math.floor((3 * txns.length) / 4)];
    let i = 0;
    let fullSize = 0;
    for (const [n, t] of txns.entries()) {
      first.run(t);
      if (n === cut[i]) {
        chain.push(jsonSafe(op.snapshotDelta()));
        if (i === 2) fullSize = JSON.stringify(first.op.snapshot()).length;
        i++;
      }
    }
    expect(JSON.stringify(chain[2]).length).toBeLessThan(fullSize); // random updates all over history touch most panes
    expect(JSON.stringify(chain[1])).toContain('"delta"');
    const second = await build(tumbling);
    for (const c of chain) second.op.restore(c);
    for (const t of txns.slice(cut[2] + 1)) second.op.process(t, first.sink.emit);
    second.op.onWatermark?.(32503680000000, first.sink.emit);
    second.op.onWatermark?.(32503683600000, first.sink.emit);
    expect(asText(first.sink.sorted())).toEqual(asText(whole.sink.sorted()));
    await loadTable(table);
    expect(sortRows(asText(first.sink.sorted()))).toEqual(sortRows(await tumblingOracle()));
  });

  test("a delta after an insert-mostly stretch is a fraction of the full state", async () => {
    const { txns } = workload(9, 4000, false);
    const h = await build(tumbling);
    const op = h.op as unknown as { snapshotDelta(): unknown };
    const q = Math.floor(txns.length / 4);
    for (const t of txns.slice(0, 3 * q)) h.run(t);
    op.snapshotDelta(); // full
    for (const t of txns.slice(3 * q)) h.run(t);
    const delta = JSON.stringify(op.snapshotDelta());
    const full = JSON.stringify(h.op.snapshot());
    expect(delta).toContain('"delta"');
    expect(delta.length).toBeLessThan(full.length * 0.4);
  });

  test("late: dlq sends late rows to the DLQ and counts them", async () => {
    const { txns } = workload(5, 800, false);
    const h = await build({ ...tumbling, window: { ...tumbling.window, late: "dlq" } });
    for (const t of txns) h.run(t);
    h.closeAll();
    expect(h.ctx.counts.late_rows).toBeGreaterThan(0);
    expect(h.ctx.rejected.length).toBe(h.ctx.counts.late_rows);
    expect(h.ctx.rejected[0].reason).toContain("behind the watermark");
  });

  test("late: dlq takes the initial snapshot's rows in any order: none is late, the windows equal GROUP BY", async () => {
    // QA: 571 rows the table already held went to the DLQ as late (the snapshot reads in key order).
    const { txns, table } = workload(5, 800, false);
    const h = await build({ ...tumbling, window: { ...tumbling.window, late: "dlq" } });
    for (const t of txns) h.run({ ...t, snapshot: true, changes: t.changes.map((c) => ({ ...c, op: "read" as const })) });
    h.closeAll();
    expect(h.ctx.counts.late_rows ?? 0).toBe(0);
    expect(h.ctx.rejected.length).toBe(0);
    await loadTable(table);
    expect(sortRows(asText(h.sink.sorted()))).toEqual(sortRows(await tumblingOracle()));
  });

  test("late: dlq under updates and deletes refuses a late change whole: the windows equal GROUP BY over the changes taken", async () => {
    const { txns } = workload(10, 3000, true);
    const h = await build({ ...tumbling, window: { ...tumbling.window, late: "dlq" } });
    for (const t of txns) h.run(t);
    h.closeAll();
    const refused = new Set(h.ctx.rejected.map((r) => r.source));
    expect(refused.size).toBe(h.ctx.counts.late_rows);
    for (const op of ["insert", "update", "delete"]) expect(h.ctx.rejected.filter((r) => r.source?.op === op).length).toBeGreaterThan(0);
    expect(h.ctx.rejected.find((r) => r.source?.op === "delete")!.reason).toMatch(/^late delete: the old row's event time is before .* behind the watermark .*; its windows stay as they were$/);
    // the table as the changes the window took leave it (a refused update keeps the old row, a refused delete the row)
    const taken = new Map<bigint, Row>();
    for (const t of txns)
      for (const c of t.changes) {
        if (refused.has(c)) continue;
        if (c.op === "delete") taken.delete(c.key!.order_id as bigint);
        else taken.set(c.after!.order_id as bigint, c.after!);
      }
    await loadTable(taken);
    expect(sortRows(asText(h.sink.sorted()))).toEqual(sortRows(await tumblingOracle()));
  });
});

describe("sliding window (10 min / 1 min) vs Postgres", () => {
  test("mixed updates and deletes", async () => {
    const { txns, table } = workload(6, 800, true);
    const h = await build({ from: "public.orders", window: { type: "sliding", size: "10m", slide: "1m", time: "created_at", key: ["customer_id"], lateness: "30s" }, aggregate: AGG });
    for (const t of txns) h.run(t);
    h.closeAll();
    await loadTable(table);
    const oracle = await sql.unsafe(`SELECT customer_id::text AS customer_id, ws::text AS window_start, (ws + interval '10 minutes')::text AS window_end, ${AGG_SQL}
      FROM orders, LATERAL generate_series(date_bin('1 minute', created_at, timestamptz '1970-01-01') - interval '9 minutes',
                                           date_bin('1 minute', created_at, timestamptz '1970-01-01'), interval '1 minute') ws
      GROUP BY 1, 2, 3`);
    expect(oracle.length).toBeGreaterThan(100);
    expect(sortRows(asText(h.sink.sorted()))).toEqual(sortRows(oracle.map((x) => ({ ...x }))));
  });
});

describe("GROUP BY without a window (daily summary)", () => {
  test("exact under updates and deletes", async () => {
    const { txns, table } = workload(7, 2000, true);
    const h = await build({
      from: "public.orders",
      select: ["CAST(created_at AS date) AS order_date", "UPPER(status) AS status", "quantity * price AS amount"],
      group_by: ["order_date", "status"],
      aggregate: { order_count: "COUNT(*)", total_amount: "SUM(amount)", avg_amount: "AVG(amount)" },
    });
    for (const t of txns) h.run(t);
    await loadTable(table);
    const oracle = await sql.unsafe(`SELECT (created_at::date)::text AS order_date, upper(status) AS status, COUNT(*)::text AS order_count,
      SUM(quantity * price)::text AS total_amount, AVG(quantity * price)::text AS avg_amount FROM orders GROUP BY 1, 2 ORDER BY 1, 2`);
    expect(asText(h.sink.sorted())).toEqual(oracle.map((x) => ({ ...x })));
  });
});
