import { parse } from "csv-parse/sync";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CdcError, usageError } from "../errors.ts";
import type { Batch, Dataset, Op, Row } from "./dataset.ts";
import { COLS, ecommerceDataset } from "./datasets/ecommerce.ts";

/**
 * `generate --dataset ecommerce --from-olist DIR`: the real Olist CSV export into the ecommerce
 * schema. csv-parse handles what the files hold: a BOM, CRLF records, mixed quoting and quoted
 * fields spanning lines. Empty fields become NULL. With --replay-speed N, the catalogue is
 * written first and then each order (with its items, payments and reviews) at its purchase
 * time, N times faster than it happened.
 */
export const OLIST_FILES: Record<string, string> = {
  product_category_name_translation: "product_category_name_translation.csv",
  customers: "olist_customers_dataset.csv",
  sellers: "olist_sellers_dataset.csv",
  products: "olist_products_dataset.csv",
  orders: "olist_orders_dataset.csv",
  order_items: "olist_order_items_dataset.csv",
  order_payments: "olist_order_payments_dataset.csv",
  order_reviews: "olist_order_reviews_dataset.csv",
};
const CHILDREN = ["order_items", "order_payments", "order_reviews"];

interface Table {
  name: string;
  columns: string[];
  rows: Row[];
}

/** Read and parse every file first, so a bad directory fails before anything is written. */
export function readOlist(dir: string): Table[] {
  if (!existsSync(dir)) throw usageError("generate.olist_dir", `--from-olist ${dir}: no such directory`, "generate");
  return Object.entries(OLIST_FILES).map(([name, file]) => {
    const path = join(dir, file);
    if (!existsSync(path)) throw usageError("generate.olist_file", `--from-olist ${dir}: ${file} is missing`, "generate");
    let records: string[][];
    try {
      records = parse(readFileSync(path), { bom: true, skip_empty_lines: true }) as string[][];
    } catch (e) {
      throw usageError("generate.olist_csv", `${path}: ${(e as Error).message}`, "generate");
    }
    const [header, ...data] = records;
    const expected = ecommerceColumns[name];
    if (!header || header.join(",") !== expected.join(",")) {
      throw usageError("generate.olist_header", `${path}: header is '${header?.join(",")}', expected '${expected.join(",")}'`, "generate");
    }
    const rows = data.map((rec) => {
      const row: Row = {};
      for (let i = 0; i < header.length; i++) row[header[i]] = rec[i] === "" || rec[i] === undefined ? null : rec[i];
      return row;
    });
    return { name, columns: header, rows };
  });
}

/** Column lists of the ecommerce tables, as the Olist files name them. */
const ecommerceColumns: Record<string, string[]> = {
  product_category_name_translation: ["product_category_name", "product_category_name_english"],
  ...COLS,
};

interface Unit {
  dueMs: number;
  parts: { table: string; rows: Row[] }[];
  rows: number;
}

export function olistDataset(dir: string, replaySpeed?: number): Dataset {
  const tables = readOlist(dir);
  const byName = new Map(tables.map((t) => [t.name, t]));
  const units: Unit[] = [];
  if (replaySpeed && replaySpeed > 0) {
    const orders = [...byName.get("orders")!.rows].sort((a, b) => String(a.order_purchase_timestamp).localeCompare(String(b.order_purchase_timestamp)));
    const children = new Map<string, Map<string, Row[]>>();
    const orphans = new Map<string, Row[]>(CHILDREN.map((c) => [c, []]));
    const orderIds = new Set(orders.map((o) => o.order_id as string));
    for (const c of CHILDREN) {
      for (const r of byName.get(c)!.rows) {
        const id = r.order_id as string;
        if (!orderIds.has(id)) {
          orphans.get(c)!.push(r); // Olist is not referentially complete: these go with the catalogue
          continue;
        }
        if (!children.has(id)) children.set(id, new Map());
        const m = children.get(id)!;
        if (!m.has(c)) m.set(c, []);
        m.get(c)!.push(r);
      }
    }
    for (const t of ["product_category_name_translation", "customers", "sellers", "products"]) units.push(...chunks(t, byName.get(t)!.rows, 0));
    for (const c of CHILDREN) units.push(...chunks(c, orphans.get(c)!, 0));
    const t0 = orders.length ? tsMs(orders[0].order_purchase_timestamp as string) : 0;
    for (const o of orders) {
      const parts = [{ table: "orders", rows: [o] }];
      const m = children.get(o.order_id as string);
      for (const c of CHILDREN) if (m?.get(c)) parts.push({ table: c, rows: m.get(c)! });
      units.push({ dueMs: (tsMs(o.order_purchase_timestamp as string) - t0) / replaySpeed, parts, rows: parts.reduce((n, p) => n + p.rows.length, 0) });
    }
  } else {
    for (const t of tables) units.push(...chunks(t.name, t.rows, 0));
  }

  let next = 0;
  let t0 = 0;
  const base = ecommerceDataset();
  return {
    ...base,
    name: "ecommerce",
    async setup() {
      t0 = performance.now();
      return 0;
    },
    dueAtMs() {
      return next < units.length ? units[next].dueMs : null;
    },
    next(n): Batch {
      const parts = new Map<string, Row[]>();
      let rows = 0;
      // Pack whole units (an order never splits from its items) that are due by now (a replay
      // running behind catches up in bigger transactions instead of falling further behind).
      const dueBy = Math.max(units[next]?.dueMs ?? 0, performance.now() - t0);
      while (next < units.length && (rows === 0 || (rows + units[next].rows <= n && units[next].dueMs <= dueBy))) {
        for (const p of units[next].parts) {
          if (!parts.has(p.table)) parts.set(p.table, []);
          parts.get(p.table)!.push(...p.rows);
        }
        rows += units[next].rows;
        next++;
      }
      const ops: Op[] = [...parts].map(([table, rs]) => ({ kind: "insert", table, columns: ecommerceColumns[table], rows: rs, ignoreConflicts: true }));
      return { ops };
    },
  };
}

/** Catalogue rows in units of at most 1,000, all due at the start. */
function chunks(table: string, rows: Row[], dueMs: number): Unit[] {
  const out: Unit[] = [];
  for (let i = 0; i < rows.length; i += 1000) {
    const part = rows.slice(i, i + 1000);
    out.push({ dueMs, parts: [{ table, rows: part }], rows: part.length });
  }
  return out;
}

function tsMs(s: string): number {
  const ms = Date.parse(s.replace(" ", "T") + "Z");
  if (Number.isNaN(ms)) throw new CdcError("generate.olist_timestamp", `order_purchase_timestamp '${s}' is not a timestamp`, { component: "generate" });
  return ms;
}
