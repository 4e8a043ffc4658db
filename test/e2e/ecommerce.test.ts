/**
 * Scenario 1: examples/ecommerce.yaml with the compiled binary. The real Olist sample
 * (shared/data/olist) is loaded through CDC into MariaDB `ecommerce_ods_clean`-style tables;
 * every rule of SCENARIOS.md is checked row by row against the same rule computed in SQL on the
 * source; then updates and deletes reach the clean tables, and a change to the translation table
 * affects products written after it (not those written before).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { createDatabase, requireMysql, sharedPg } from "../helpers/index.ts";
import { examplesDir, generate, Serve, waitFor } from "./harness.ts";

// shared/ sits beside the repository (as in CI); OLIST_DIR points elsewhere.
const OLIST = process.env.OLIST_DIR ?? join(import.meta.dir, "../../../shared/data/olist");
let src: postgres.Sql;
let my: mysql.Connection;
let serve: Serve;
let srcUrl = "";
const mdb = `e2e_ods_${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  const murl = await requireMysql();
  const pg = await sharedPg("system");
  srcUrl = pg.url(await createDatabase(pg, "e2e_olist"));
  src = postgres(srcUrl, { max: 1, onnotice: () => {}, connection: { TimeZone: "UTC" } });
  await src.unsafe(await Bun.file(join(import.meta.dir, "../../sql/ecommerce.sql")).text());
  my = await mysql.createConnection({ uri: murl, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  serve = new Serve("ecommerce", { SOURCE_URL: srcUrl, MART_URL: murl, MART_DATABASE: mdb });
  await serve.start();
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await my?.query(`DROP DATABASE IF EXISTS \`${mdb}\``);
  await my?.end();
});

type R = Record<string, unknown>;
const norm = (rows: R[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null || v === undefined ? null : String(v)])));
const ts = (c: string) => `to_char(${c}, 'YYYY-MM-DD HH24:MI:SS.US') as ${c}`;

// The rules, written independently in SQL over the source.
const ORACLE: Record<string, { pg: string; my: string }> = {
  ods_orders: {
    pg: `select order_id, upper(trim(order_status)) as order_status, ${ts("order_purchase_timestamp")}, ${ts("order_delivered_customer_date")},
           extract(year from order_purchase_timestamp)::int as order_year, extract(month from order_purchase_timestamp)::int as order_month,
           (upper(trim(order_status)) = 'DELIVERED')::int as is_delivered,
           floor(extract(epoch from order_delivered_customer_date - order_purchase_timestamp) / 86400)::int as delivery_days,
           (order_delivered_customer_date > order_estimated_delivery_date)::int as is_late
         from orders order by order_id`,
    my: `select order_id, order_status, order_purchase_timestamp, order_delivered_customer_date, order_year, order_month, is_delivered, delivery_days, is_late from ods_orders order by order_id`,
  },
  ods_order_items: {
    pg: `select order_id, order_item_id, price, freight_value, price + freight_value as total_value,
           case when price >= 100 then 'HIGH' when price >= 50 then 'MEDIUM' else 'LOW' end as price_category
         from order_items order by order_id, order_item_id`,
    my: `select order_id, order_item_id, price, freight_value, total_value, price_category from ods_order_items order by order_id, order_item_id`,
  },
  ods_products: {
    pg: `select p.product_id, p.product_category_name, t.product_category_name_english, coalesce(g.category_group, 'Other') as category_group,
           p.product_length_cm * p.product_height_cm * p.product_width_cm as volume_cm3
         from products p left join product_category_name_translation t using (product_category_name)
         left join pg_temp.groups g using (product_category_name) order by p.product_id`,
    my: `select product_id, product_category_name, product_category_name_english, category_group, volume_cm3 from ods_products order by product_id`,
  },
  ods_order_reviews: {
    pg: `select review_id, order_id, review_score,
           case review_score when 5 then 'EXCELLENT' when 4 then 'GOOD' when 3 then 'AVERAGE' else 'POOR' end as sentiment,
           (review_score >= 4)::int as is_positive, (coalesce(review_comment_message, '') <> '')::int as has_comment
         from order_reviews order by review_id, order_id`,
    my: `select review_id, order_id, review_score, sentiment, is_positive, has_comment from ods_order_reviews order by review_id, order_id`,
  },
  ods_order_payments: {
    pg: `select order_id, payment_sequential, payment_type, payment_value,
           case when payment_type in ('credit_card', 'debit_card') then 'CARD_PAYMENT' when payment_type = 'boleto' then 'BANK_SLIP'
                when payment_type = 'voucher' then 'VOUCHER' else 'OTHER' end as payment_category,
           (payment_value >= 500)::int as is_high_value, (payment_installments > 1)::int as is_installment
         from order_payments order by order_id, payment_sequential`,
    my: `select order_id, payment_sequential, payment_type, payment_value, payment_category, is_high_value, is_installment from ods_order_payments order by order_id, payment_sequential`,
  },
};

async function loadGroups(): Promise<void> {
  await src.unsafe("create temp table if not exists groups (product_category_name text primary key, category_group text)");
  await src.unsafe("truncate pg_temp.groups");
  const lines = (await Bun.file(join(examplesDir, "category_groups.csv")).text()).trim().split(/\r?\n/).slice(1);
  for (const l of lines) {
    const [k, v] = l.split(",");
    await src.unsafe("insert into pg_temp.groups values ($1, $2)", [k!, v!]);
  }
}

async function compare(table: string): Promise<{ want: R[]; got: R[] }> {
  const want = norm([...(await src.unsafe(ORACLE[table]!.pg))]);
  const got = norm(((await my.query(`use \`${mdb}\``), await my.query(ORACLE[table]!.my))[0] as R[]));
  return { want, got };
}

async function allEqual(label: string, ms = 90_000, tables = Object.keys(ORACLE)): Promise<void> {
  for (const table of tables) {
    await waitFor(`${label}: ${table}`, async () => {
      const { want, got } = await compare(table).catch(() => ({ want: [1], got: [] as R[] }));
      return JSON.stringify(want) === JSON.stringify(got);
    }, ms, () => serve.logs).catch(async (e) => {
      const { want, got } = await compare(table);
      const g = new Set(got.map((r) => JSON.stringify(r)));
      console.log(table, want.length, got.length, want.filter((r) => !g.has(JSON.stringify(r))).slice(0, 3), got.slice(0, 2));
      throw e;
    });
  }
}

test("Olist sample through CDC: every rule row by row; updates/deletes; translation changes affect later products", async () => {
  await src.unsafe("set time zone 'UTC'");
  await loadGroups();
  const t0 = performance.now();
  await generate(srcUrl, ["--dataset", "ecommerce", "--from-olist", OLIST]);
  const loaded = performance.now();
  const counts = (await src.unsafe("select (select count(*) from orders)::int o, (select count(*) from order_items)::int i, (select count(*) from order_reviews)::int r, (select count(*) from products)::int p, (select count(*) from order_payments)::int y"))[0]!;
  expect(counts.o).toBeGreaterThan(4000);
  await allEqual("initial load");
  const equal = performance.now();
  // the SCENARIOS.md examples hold on concrete rows
  const [gx] = (await my.query(`select category_group from ods_products where product_category_name = 'informatica_acessorios' limit 1`))[0] as R[];
  expect(gx?.category_group).toBe("Electronics");
  const [empty] = (await my.query(`select category_group from ods_products where product_category_name is null or product_category_name = '' limit 1`))[0] as R[];
  expect(empty?.category_group).toBe("Other");

  // updates and deletes reach the clean tables
  const [o] = await src.unsafe("select order_id from orders where order_status = 'shipped' order by order_id limit 1");
  await src.unsafe("update orders set order_status = 'delivered', order_delivered_customer_date = order_purchase_timestamp + interval '3 days 5 hours' where order_id = $1", [o!.order_id as string]);
  await src.unsafe("update order_items set price = 150.00, freight_value = 15.50 where (order_id, order_item_id) in (select order_id, order_item_id from order_items order by 1, 2 limit 3)");
  await src.unsafe("delete from order_payments where order_id in (select order_id from order_payments order by 1 limit 5)");
  await src.unsafe("update order_reviews set review_score = 1, review_comment_message = '' where review_id in (select review_id from order_reviews order by 1 limit 4)");
  await src.unsafe("delete from orders where order_id in (select order_id from orders where order_status = 'canceled' order by 1 limit 3)");
  // the translation changes: products written after it get the new name, those before keep theirs
  const [before] = await src.unsafe("select product_id from products where product_category_name = 'perfumaria' order by product_id limit 1");
  await src.unsafe("update product_category_name_translation set product_category_name_english = 'perfume_and_fragrance' where product_category_name = 'perfumaria'");
  await src.unsafe("insert into products values ('zz-new-product', 'perfumaria', 10, 100, 1, 300, 10, 10, 10)");
  // products are not compared with SQL here: rows written before the translation change keep the old name (checked below)
  const changed = ["ods_orders", "ods_order_items", "ods_order_reviews", "ods_order_payments"];
  await allEqual("after updates", 60_000, changed);
  for (const t of changed) {
    const { want, got } = await compare(t);
    expect(got).toEqual(want);
  }
  const [row] = (await my.query(`select order_status, is_delivered, delivery_days from ods_orders where order_id = ?`, [o!.order_id]))[0] as R[];
  expect(norm([row!])[0]).toEqual({ order_status: "DELIVERED", is_delivered: "1", delivery_days: "3" });
  const [item] = (await my.query(`select total_value, price_category from ods_order_items order by order_id, order_item_id limit 1`))[0] as R[];
  expect(item).toEqual({ total_value: "165.50", price_category: "HIGH" });
  const prod = async (id: string) => ((await my.query(`select product_category_name_english e from ods_products where product_id = ?`, [id]))[0] as R[])[0]?.e;
  await waitFor("new product", async () => (await prod("zz-new-product")) === "perfume_and_fragrance", 30_000, () => serve.logs);
  expect(await prod(before!.product_id as string)).toBe("perfumery");
  console.log(`[e2e ecommerce] Olist sample ${counts.o} orders, ${counts.i} items, ${counts.y} payments, ${counts.r} reviews, ${counts.p} products: load ${((loaded - t0) / 1000).toFixed(1)} s, all five clean tables equal ${((equal - loaded) / 1000).toFixed(1)} s after the load ended`);
}, 240_000);
