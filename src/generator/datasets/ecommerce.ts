import ddl from "../../../sql/ecommerce.sql" with { type: "text" };
import categoriesCsv from "./olist-categories.csv" with { type: "text" };
import { parse } from "csv-parse/sync";
import { MICROS, tsDay, tsSec } from "../clock.ts";
import type { Batch, Dataset, DatasetContext, Op, Row } from "../dataset.ts";
import { cents, Zipf } from "../random.ts";
import { KeyPool } from "./key-pool.ts";
import { reviewText } from "./portuguese-reviews.ts";

/**
 * SCENARIOS.md scenario 1, generated: Olist-shaped customers, sellers, products (the 71 real
 * category names), orders with their items, payments and reviews. Without --updates orders are
 * written finished (Olist's status mix, consistent timestamps in the past); with --updates they
 * start `created` and move through approved → invoiced → processing → shipped → delivered.
 */
export const CATEGORIES: [string, string][] = (parse(categoriesCsv, { bom: true, from_line: 2, skip_empty_lines: true }) as string[][]).map((r) => [r[0], r[1]]);

const STATES: [string, number][] = [["SP", 42], ["RJ", 13], ["MG", 12], ["RS", 5], ["PR", 5], ["SC", 4], ["BA", 3], ["DF", 2], ["GO", 2], ["ES", 2], ["PE", 2], ["CE", 1], ["PA", 1], ["MT", 1], ["MA", 1], ["MS", 1]];
const FINAL: [string, number][] = [["delivered", 970], ["shipped", 11], ["canceled", 6], ["unavailable", 6], ["invoiced", 3], ["processing", 3], ["created", 1]];
const PROGRESS: Record<string, [string, number][]> = {
  created: [["approved", 97], ["canceled", 3]],
  approved: [["invoiced", 98], ["canceled", 2]],
  invoiced: [["processing", 99], ["unavailable", 1]],
  processing: [["shipped", 98], ["canceled", 2]],
  shipped: [["delivered", 1]],
};
const PAYMENT: [string, number][] = [["credit_card", 74], ["boleto", 19], ["voucher", 5], ["debit_card", 2]];
/** Column lists of the generated Olist tables (insert order: parents first). */
export const COLS = {
  customers: ["customer_id", "customer_unique_id", "customer_zip_code_prefix", "customer_city", "customer_state"],
  sellers: ["seller_id", "seller_zip_code_prefix", "seller_city", "seller_state"],
  products: ["product_id", "product_category_name", "product_name_lenght", "product_description_lenght", "product_photos_qty", "product_weight_g", "product_length_cm", "product_height_cm", "product_width_cm"],
  orders: ["order_id", "customer_id", "order_status", "order_purchase_timestamp", "order_approved_at", "order_delivered_carrier_date", "order_delivered_customer_date", "order_estimated_delivery_date"],
  order_items: ["order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date", "price", "freight_value"],
  order_payments: ["order_id", "payment_sequential", "payment_type", "payment_installments", "payment_value"],
  order_reviews: ["review_id", "order_id", "review_score", "review_comment_title", "review_comment_message", "review_creation_date", "review_answer_timestamp"],
};
const SELLERS = 150;
const PRODUCTS = 800;

interface LiveOrder {
  status: string;
  purchaseUs: number;
}

export function ecommerceDataset(): Dataset {
  let sellers: string[] = [];
  let products: { id: string; price: number }[] = [];
  let productZipf = new Zipf(1);
  const categoryZipf = new Zipf(CATEGORIES.length, 0.9);
  const uniqueCustomers = new KeyPool<string>(50_000);
  const live = new KeyPool<string, LiveOrder>(); // orders still moving (updates mode)
  const known = new KeyPool<string>(); // orders that may be deleted

  // Faker's city templates are slow at 20k rows/s: draw a pool once (seeded), then pick from it.
  let cities: string[] = [];
  const city = (ctx: DatasetContext) => (cities.length ? ctx.rng.pick(cities) : ctx.faker.location.city().toLowerCase());
  const zip = (ctx: DatasetContext) => String(ctx.rng.int(1000, 99999)).padStart(5, "0");

  function product(ctx: DatasetContext): Row {
    const { rng } = ctx;
    const noCategory = rng.chance(0.02); // Olist: ~1.9% of products have no category, name or photo data
    return {
      product_id: rng.hex32(),
      product_category_name: noCategory ? null : CATEGORIES[categoryZipf.sample(rng)][0],
      product_name_lenght: noCategory ? null : rng.int(5, 76),
      product_description_lenght: noCategory ? null : rng.int(4, 3992),
      product_photos_qty: noCategory ? null : rng.weighted([[1, 50], [2, 20], [3, 12], [4, 8], [5, 5], [6, 5]]),
      product_weight_g: Math.round(rng.around(1500, 2500, 50, 30000)),
      product_length_cm: rng.int(16, 105),
      product_height_cm: rng.int(2, 105),
      product_width_cm: rng.int(6, 118),
    };
  }

  function seller(ctx: DatasetContext): Row {
    return { seller_id: ctx.rng.hex32(), seller_zip_code_prefix: zip(ctx), seller_city: city(ctx), seller_state: ctx.rng.weighted(STATES) };
  }

  function setProducts(p: { id: string; price: number }[]) {
    products = p;
    productZipf = new Zipf(p.length, 0.8);
  }

  const basePrice = (ctx: DatasetContext) => Math.round(Math.exp(ctx.rng.around(4.4, 1.4, 1.6, 8.5)) * 100); // cents; median ~R$80

  /** One order with everything it brings: customer, order row, items, payments and (finished orders) a review. */
  function order(ctx: DatasetContext, rows: Record<keyof typeof COLS, Row[]>, progress: boolean): number {
    const { rng } = ctx;
    const now = ctx.clock.nowMicros();
    const orderId = rng.hex32();
    const customerId = rng.hex32();
    const repeat = uniqueCustomers.size > 0 && rng.chance(0.03);
    const uniqueId = repeat ? uniqueCustomers.pick(rng)! : rng.hex32();
    if (!repeat) uniqueCustomers.add(uniqueId);
    rows.customers.push({ customer_id: customerId, customer_unique_id: uniqueId, customer_zip_code_prefix: zip(ctx), customer_city: city(ctx), customer_state: rng.weighted(STATES) });

    // Finished orders happened weeks ago, so their delivery dates are in the past too.
    const purchase = progress ? now : now - rng.int(20, 60) * MICROS.day - rng.int(0, 86_399) * MICROS.second;
    const status = progress ? "created" : rng.weighted(FINAL);
    const reached = (s: string) => ["created", "approved", "invoiced", "processing", "shipped", "delivered"].indexOf(status) >= ["created", "approved", "invoiced", "processing", "shipped", "delivered"].indexOf(s);
    const approved = purchase + rng.int(5, 2880) * MICROS.minute;
    const carrier = approved + rng.int(6, 120) * MICROS.hour;
    const delivered = carrier + rng.int(1, 20) * MICROS.day + rng.int(0, 86_399) * MICROS.second;
    const estimated = purchase + rng.int(10, 40) * MICROS.day;
    const alive = status !== "canceled" && status !== "unavailable";
    rows.orders.push({
      order_id: orderId,
      customer_id: customerId,
      order_status: status,
      order_purchase_timestamp: tsSec(purchase),
      order_approved_at: status !== "created" && (alive || rng.chance(0.5)) ? tsSec(approved) : null,
      order_delivered_carrier_date: alive && reached("shipped") ? tsSec(carrier) : null,
      order_delivered_customer_date: status === "delivered" ? tsSec(delivered) : null,
      order_estimated_delivery_date: tsDay(estimated),
    });

    let written = 2;
    const nItems = rng.weighted([[1, 90], [2, 7], [3, 2], [4, 1]]);
    const p = products[productZipf.sample(rng)];
    const s = rng.pick(sellers);
    let total = 0;
    for (let i = 1; i <= nItems; i++) {
      // Multi-item orders are mostly several units of the same product from the same seller (as in Olist).
      const item = i === 1 || rng.chance(0.7) ? p : products[productZipf.sample(rng)];
      const freight = Math.round(rng.around(2000, 1200, 0, 40000));
      total += item.price + freight;
      rows.order_items.push({ order_id: orderId, order_item_id: i, product_id: item.id, seller_id: i === 1 || item === p ? s : rng.pick(sellers), shipping_limit_date: tsSec(approved + rng.int(2, 7) * MICROS.day), price: cents(item.price), freight_value: cents(freight) });
      written++;
    }
    const type = rng.weighted(PAYMENT);
    if (type === "voucher" && rng.chance(0.5) && total > 1000) {
      // A voucher covering part of the order, the rest on a card: the values still add up to the total.
      const voucher = rng.int(500, Math.min(total - 100, 10000));
      rows.order_payments.push({ order_id: orderId, payment_sequential: 1, payment_type: "voucher", payment_installments: 1, payment_value: cents(voucher) });
      rows.order_payments.push({ order_id: orderId, payment_sequential: 2, payment_type: "credit_card", payment_installments: rng.int(1, 8), payment_value: cents(total - voucher) });
      written += 2;
    } else {
      rows.order_payments.push({ order_id: orderId, payment_sequential: 1, payment_type: type, payment_installments: type === "credit_card" ? rng.weighted([[1, 50], [2, 12], [3, 10], [4, 7], [5, 5], [6, 4], [8, 4], [10, 8]]) : 1, payment_value: cents(total) });
      written++;
    }
    if (!progress && (status === "delivered" || rng.chance(0.6))) {
      rows.order_reviews.push(review(ctx, orderId, status === "delivered" ? delivered : purchase + rng.int(20, 40) * MICROS.day, status === "delivered" && delivered > estimated));
      written++;
    }
    if (progress) started.push([orderId, { status, purchaseUs: purchase }]);
    return written;
  }
  /** Orders of the batch being built; they join `live` once committed (an update must not overtake its insert). */
  let started: [string, LiveOrder][] = [];

  function review(ctx: DatasetContext, orderId: string, afterUs: number, late: boolean): Row {
    const { rng } = ctx;
    const score = late ? rng.weighted([[1, 45], [2, 12], [3, 15], [4, 13], [5, 15]]) : rng.weighted([[1, 8], [2, 3], [3, 8], [4, 20], [5, 61]]);
    const text = reviewText(rng, score);
    const created = afterUs + rng.int(0, 3) * MICROS.day;
    return { review_id: rng.hex32(), order_id: orderId, review_score: score, review_comment_title: text.title, review_comment_message: text.message, review_creation_date: tsDay(created), review_answer_timestamp: tsSec(created + MICROS.day + rng.int(3600, 5 * 86_400) * MICROS.second) };
  }

  return {
    name: "ecommerce",
    tables: ["product_category_name_translation", "customers", "sellers", "products", "orders", "order_items", "order_payments", "order_reviews"],
    ddl,
    defaultRate: 50,
    fakerLocale: "pt_BR",

    async setup(ctx) {
      const { sql } = ctx;
      let written = 0;
      cities = Array.from({ length: 2000 }, () => ctx.faker.location.city().toLowerCase());
      const tr = await sql`insert into product_category_name_translation ${sql(CATEGORIES.map(([pt, en]) => ({ product_category_name: pt, product_category_name_english: en })))} on conflict do nothing`;
      written += tr.count;
      sellers = (await sql`select seller_id from sellers order by seller_id limit 5000`).map((r) => r.seller_id as string);
      const prods = (await sql`select product_id from products order by product_id limit 20000`).map((r) => r.product_id as string);
      const newSellers = Array.from({ length: Math.max(0, SELLERS - sellers.length) }, () => seller(ctx));
      const newProducts = Array.from({ length: Math.max(0, PRODUCTS - prods.length) }, () => product(ctx));
      if (newSellers.length) await sql`insert into sellers ${sql(newSellers, COLS.sellers)}`;
      if (newProducts.length) await sql`insert into products ${sql(newProducts, COLS.products)}`;
      written += newSellers.length + newProducts.length;
      sellers.push(...newSellers.map((r) => r.seller_id as string));
      // A product's price is stable across its orders (as in a real catalogue); prices are not stored on products in Olist.
      setProducts([...prods, ...newProducts.map((r) => r.product_id as string)].map((id) => ({ id, price: basePrice(ctx) })));
      const progress = ctx.updates > 0;
      if (progress) {
        for (const r of await sql`select order_id, order_status, order_purchase_timestamp from orders where order_status in ('created','approved','invoiced','processing','shipped') order by order_purchase_timestamp desc limit 20000`) {
          live.add(r.order_id as string, { status: r.order_status as string, purchaseUs: Date.parse(`${String(r.order_purchase_timestamp).replace(" ", "T")}Z`) * 1000 });
        }
      }
      if (ctx.deletes > 0) for (const r of await sql`select order_id from orders order by order_purchase_timestamp desc limit 20000`) known.add(r.order_id as string);
      return written;
    },

    next(n, ctx): Batch {
      const { rng } = ctx;
      const rows = Object.fromEntries(Object.keys(COLS).map((k) => [k, [] as Row[]])) as Record<keyof typeof COLS, Row[]>;
      const updates: Row[] = [];
      const deletes: Record<string, Row[]> = { order_reviews: [], order_payments: [], order_items: [], orders: [] };
      const progress = ctx.updates > 0;
      const newOrders: string[] = [];
      const touched = new Set<string>();
      started = [];
      const startedHere = started;
      let made = 0;
      while (made < n) {
        const r = rng.float();
        const id = r < ctx.updates ? live.pick(rng) : undefined;
        // One step per order per batch: the update groups below do not keep the steps' order.
        if (id !== undefined && !touched.has(id)) {
          touched.add(id);
          const o = live.get(id)!;
          const next = rng.weighted(PROGRESS[o.status]);
          const now = ctx.clock.nowMicros();
          const u: Row = { order_id: id, order_status: next, order_approved_at: null, order_delivered_carrier_date: null, order_delivered_customer_date: null };
          // Each step sets its own timestamp; one update statement shape per step keeps the SQL simple.
          if (next === "approved") u.order_approved_at = tsSec(now);
          if (next === "shipped") u.order_delivered_carrier_date = tsSec(now);
          if (next === "delivered") {
            u.order_delivered_customer_date = tsSec(now);
            rows.order_reviews.push(review(ctx, id, now, false));
            made++;
          }
          const set = ["order_status", ...(next === "approved" ? ["order_approved_at"] : next === "shipped" ? ["order_delivered_carrier_date"] : next === "delivered" ? ["order_delivered_customer_date"] : [])];
          updates.push({ ...u, __set: set });
          if (PROGRESS[next]) live.add(id, { ...o, status: next });
          else live.remove(id);
          made++;
          continue;
        }
        const gone = r >= ctx.updates && r < ctx.updates + ctx.deletes ? known.take(rng) : undefined;
        if (gone !== undefined) {
          const id = gone;
          live.remove(id);
          for (const t of Object.keys(deletes)) deletes[t].push({ order_id: id });
          made += 4;
          continue;
        }
        const before = rows.orders.length;
        made += order(ctx, rows, progress);
        newOrders.push(rows.orders[before].order_id as string);
      }
      const ops: Op[] = (Object.keys(COLS) as (keyof typeof COLS)[]).map((t) => ({ kind: "insert" as const, table: t, columns: COLS[t], rows: rows[t] }));
      // Group updates by the columns they set, so each group is one statement shape.
      const groups = new Map<string, Row[]>();
      for (const u of updates) {
        const key = (u.__set as string[]).join(",");
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key)!.push(u);
      }
      for (const [key, rs] of groups) ops.push({ kind: "update", table: "orders", key: ["order_id"], set: key.split(","), rows: rs });
      for (const [t, rs] of Object.entries(deletes)) ops.push({ kind: "delete", table: t, key: ["order_id"], rows: rs });
      return {
        ops,
        onCommit() {
          for (const [id, o] of startedHere) live.add(id, o);
          if (ctx.deletes > 0) for (const id of newOrders) known.add(id);
        },
      };
    },
  };
}
