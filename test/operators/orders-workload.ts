import type { Change, Row, Txn } from "../../src/types.ts";
import { del, ins, relation, rng, upd } from "./harness.ts";

/**
 * The orders workload of the window oracle tests: inserts, and with `mixed` updates that move rows
 * to other windows (event time) and keys (customer), price/quantity changes, and deletes; event
 * times near the commit clock, 10% minutes behind (late rows). Deterministic for a seed, LSNs
 * included (its own counter), so another process can build the same transactions.
 */
export const R = relation("public.orders", [
  ["order_id", 20, "bigint", true], ["customer_id", 23, "integer"], ["product_id", 23, "integer"], ["quantity", 23, "integer"],
  ["price", 1700, "numeric(10,2)"], ["status", 25, "text"], ["created_at", 1184, "timestamp with time zone"],
]);
export const T0 = Date.parse("2024-05-01T10:00:00Z") * 1000;
export const AGG = {
  gross_sales: "SUM(quantity * price)",
  order_count: "COUNT(*)",
  avg_price: "AVG(price)",
  min_price: "MIN(price)",
  max_price: "MAX(price)",
  products: "COUNT(DISTINCT product_id)",
  qty: "SUM(quantity)",
};
export const AGG_SQL = `SUM(quantity * price)::text AS gross_sales, COUNT(*)::text AS order_count, AVG(price)::text AS avg_price,
  MIN(price)::text AS min_price, MAX(price)::text AS max_price, COUNT(DISTINCT product_id)::text AS products, SUM(quantity)::text AS qty`;

export function iso(us: number): string {
  const ms = Math.floor(us / 1000);
  const frac = String(us % 1000).padStart(3, "0");
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "").replace(/\.(\d{3})$/, `.$1${frac}`) + "+00";
}

export function workload(seed: number, n: number, mixed: boolean, opts: { customers?: number; lsn0?: bigint } = {}): { txns: Txn[]; table: Map<bigint, Row> } {
  const r = rng(seed);
  const customers = opts.customers ?? 12;
  const table = new Map<bigint, Row>();
  const txns: Txn[] = [];
  let lsn = opts.lsn0 ?? 1000n;
  let next = 1n;
  let clock = T0;
  const row = (id: bigint): Row => ({
    order_id: id,
    customer_id: 1 + Math.floor(r() * customers),
    product_id: 1 + Math.floor(r() * 8),
    quantity: 1 + Math.floor(r() * 5),
    price: (Math.floor(r() * 20000) / 100).toFixed(2),
    status: "new",
    created_at: iso(clock - Math.floor(r() < 0.1 ? r() * 300e6 : r() * 20e6) + Math.floor(r() * 1e6)),
  });
  let ids: bigint[] = [];
  let idsAt = -1;
  while (next <= BigInt(n)) {
    clock += Math.floor(r() * 3e6);
    const changes: Change[] = [];
    const size = 1 + Math.floor(r() * 8);
    for (let i = 0; i < size && next <= BigInt(n); i++) {
      const x = r();
      if (mixed && idsAt !== txns.length) {
        ids = [...table.keys()];
        idsAt = txns.length;
      }
      if (!mixed || x < 0.6 || ids.length < 5) {
        const rw = row(next++);
        table.set(rw.order_id as bigint, rw);
        changes.push(ins(R, rw));
      } else if (x < 0.9) {
        const id = ids[Math.floor(r() * ids.length)];
        const old = table.get(id);
        if (!old) continue;
        const nw = { ...old };
        const what = r();
        if (what < 0.3) nw.created_at = iso(Date.parse(String(old.created_at).replace(" ", "T").replace("+00", "Z")) * 1000 + Math.floor((r() - 0.5) * 600e6));
        else if (what < 0.6) nw.customer_id = 1 + Math.floor(r() * customers);
        else if (what < 0.8) nw.price = (Math.floor(r() * 20000) / 100).toFixed(2);
        else nw.quantity = 1 + Math.floor(r() * 5);
        table.set(id, nw);
        changes.push(upd(R, nw));
      } else {
        const id = ids[Math.floor(r() * ids.length)];
        if (!table.has(id)) continue;
        table.delete(id);
        changes.push(del(R, { order_id: id }));
      }
    }
    lsn += 10n;
    txns.push({ lsn, endLsn: lsn + 1n, xid: Number(lsn), commitTime: BigInt(clock), changes });
  }
  return { txns, table };
}

/** Oracle queries over the final table `orders` (the session's time zone must be UTC). */
export const ORACLE = {
  tumbling1m: `SELECT customer_id::text AS customer_id, to_timestamp(floor(extract(epoch from created_at) / 60) * 60)::text AS window_start,
      (to_timestamp(floor(extract(epoch from created_at) / 60) * 60) + interval '1 minute')::text AS window_end, ${AGG_SQL}
    FROM orders GROUP BY 1, 2, 3`,
  sliding10m1m: `SELECT customer_id::text AS customer_id, ws::text AS window_start, (ws + interval '10 minutes')::text AS window_end, ${AGG_SQL}
    FROM orders, LATERAL generate_series(date_bin('1 minute', created_at, timestamptz '1970-01-01') - interval '9 minutes',
                                         date_bin('1 minute', created_at, timestamptz '1970-01-01'), interval '1 minute') ws
    GROUP BY 1, 2, 3`,
  daily: `SELECT (created_at::date)::text AS order_date, upper(status) AS status, COUNT(*)::text AS order_count,
      SUM(quantity * price)::text AS total_amount, AVG(quantity * price)::text AS avg_amount FROM orders GROUP BY 1, 2`,
};

export function asText(rows: Row[]): Record<string, string | null>[] {
  return rows.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v === null ? null : String(v)])));
}

/** Rows sorted by their whole text, for comparing result sets. */
export function sortRows(rows: Record<string, string | null>[]): Record<string, string | null>[] {
  const key = (r: Record<string, string | null>) => JSON.stringify(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));
  return rows.map((r) => [key(r), r] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}
