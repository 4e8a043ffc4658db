import { describe, expect, test } from "bun:test";
import { runGenerator } from "../../src/generator/index.ts";
import { freshDb, quiet } from "./helpers.ts";

const base = { progress: "none" as const, ...quiet() };

describe("generate: every dataset's constraints hold, with inserts, updates and deletes", () => {
  test("orders: 100 customers, valid prices, statuses move forward, invalid rows only when asked", async () => {
    const db = await freshDb();
    try {
      const s = await runGenerator({ ...base, url: db.url, dataset: "orders", init: true, count: 3000, updates: 0.3, deletes: 0.05, batch: 300 });
      expect(s.rows).toBe(3000);
      expect(s.updated).toBeGreaterThan(500);
      expect(s.deleted).toBeGreaterThan(50);
      const [r] = await db.sql`select count(*)::int n, min(customer_id) cmin, max(customer_id) cmax, count(*) filter (where customer_id is null)::int nulls,
        min(price)::text pmin, count(distinct status)::int statuses, count(*) filter (where created_at > now() - interval '5 minutes')::int recent from orders`;
      expect(r.n).toBe(s.inserted - s.deleted);
      expect([r.cmin, r.cmax, r.nulls]).toEqual([1, 100, 0]);
      expect(Number(r.pmin)).toBeGreaterThan(0);
      expect(r.recent).toBe(r.n); // unseeded: created_at is the database's now()
      const statuses = (await db.sql`select distinct status from orders order by 1`).map((x) => x.status);
      expect(statuses.every((x: string) => ["pending", "processing", "shipped", "delivered", "cancelled"].includes(x))).toBe(true);
      expect(statuses).toContain("delivered"); // updates moved some orders all the way
      // REPLICA IDENTITY FULL: updates and deletes carry the old row for the warehouse's retractions.
      const [ri] = await db.sql`select relreplident from pg_class where relname = 'orders'`;
      expect(ri.relreplident).toBe("f");

      const bad = await runGenerator({ ...base, url: db.url, dataset: "orders", count: 2000, invalid: 0.1, dirty: 0.1 });
      expect(bad.inserted).toBe(2000);
      const [v] = await db.sql`select count(*) filter (where customer_id is null or price < 0)::int invalid,
        count(*) filter (where status <> lower(trim(status)))::int dirty from orders`;
      expect(v.invalid).toBeGreaterThan(100);
      expect(v.invalid).toBeLessThan(320);
      expect(v.dirty).toBeGreaterThan(100);
    } finally {
      await db.end();
    }
  }, 120_000);

  test("orders --late: a fraction of rows carry an event time in the past (out of order), within --late-by", async () => {
    const db = await freshDb();
    try {
      const s = await runGenerator({ ...base, url: db.url, dataset: "orders", init: true, count: 2000, late: 0.2, lateByMs: 60_000 });
      expect(s.inserted).toBe(2000);
      const [r] = await db.sql`select count(*) filter (where created_at < now() - interval '2 seconds')::int late,
        count(*) filter (where created_at < now() - interval '70 seconds')::int too_late,
        count(*) filter (where created_at < prev)::int out_of_order
        from (select created_at, lag(created_at) over (order by order_id) prev from orders) t`;
      expect(r.late).toBeGreaterThan(300);
      expect(r.late).toBeLessThan(500);
      expect(r.too_late).toBe(0);
      expect(r.out_of_order).toBeGreaterThan(100);
    } finally {
      await db.end();
    }
  }, 120_000);

  test("orders with 3 concurrent writers, updates and deletes: deadlocks between writers are retried, counts add up", async () => {
    const db = await freshDb();
    try {
      await runGenerator({ ...base, url: db.url, dataset: "orders", init: true, count: 2000 });
      const s = await runGenerator({ ...base, url: db.url, dataset: "orders", count: 6000, updates: 0.4, deletes: 0.1, batch: 200, concurrency: 3 });
      expect(s.rows).toBe(6000);
      expect(s.transactions).toBe(30);
      const [r] = await db.sql`select count(*)::int n from orders`;
      expect(r.n).toBeLessThanOrEqual(2000 + s.inserted - s.deleted + 30); // a delete racing its row's update in another writer may find it gone: never more rows than that
      expect(r.n).toBeGreaterThan(2000 + s.inserted - s.deleted - 30);
    } finally {
      await db.end();
    }
  }, 120_000);

  test("engagement: FK to content, CHECKs, durations within the content length, skewed popularity", async () => {
    const db = await freshDb();
    try {
      const s = await runGenerator({ ...base, url: db.url, dataset: "engagement", init: true, count: 20000 });
      expect(s.setup_rows).toBe(200);
      const [r] = await db.sql`select count(*)::int n,
        count(*) filter (where c.id is null)::int orphans,
        count(*) filter (where e.duration_ms > c.length_seconds * 1000)::int too_long,
        count(*) filter (where e.event_type = 'finish' and e.duration_ms < c.length_seconds * 900)::int short_finish,
        count(distinct e.device)::int devices, count(*) filter (where e.raw_payload ? 'session_id')::int payloads
        from engagement_events e left join content c on c.id = e.content_id`;
      const [content] = await db.sql`select count(*)::int n from content`;
      expect(r.n).toBe(20000); // rows counted = events; content published during the run comes on top
      expect(content.n).toBeGreaterThanOrEqual(200);
      expect(r.orphans).toBe(0);
      expect(r.too_long).toBe(0);
      expect(r.short_finish).toBe(0);
      expect(r.devices).toBe(5);
      expect(r.payloads).toBe(r.n);
      const types = (await db.sql`select distinct event_type from engagement_events order by 1`).map((x) => x.event_type);
      expect(types).toEqual(["click", "finish", "pause", "play"]);
      const ctypes = (await db.sql`select distinct content_type from content order by 1`).map((x) => x.content_type);
      expect(ctypes).toEqual(["newsletter", "podcast", "video"]);
      // Zipf: the 10 most played items (of 200+) get a large share of the events.
      const [top] = await db.sql`select sum(n)::int top from (select count(*) n from engagement_events group by content_id order by n desc limit 10) t`;
      expect(top.top / 20000).toBeGreaterThan(0.3);
      // Timestamps keep microseconds.
      const [us] = await db.sql`select count(*) filter (where extract(microseconds from event_ts)::bigint % 1000 <> 0)::int n from engagement_events`;
      expect(us.n).toBeGreaterThan(10000);

      const s2 = await runGenerator({ ...base, url: db.url, dataset: "engagement", count: 3000, updates: 0.1, deletes: 0.1 });
      expect(s2.setup_rows).toBe(0); // the content from the first run is reused
      const [after] = await db.sql`select count(*)::int n from engagement_events`;
      const [content2] = await db.sql`select count(*)::int n from content`;
      const [long] = await db.sql`select count(*)::int n from engagement_events e join content c on c.id = e.content_id where e.duration_ms > coalesce(c.length_seconds, 600) * 1000`;
      expect(long.n).toBe(0); // updated durations stay within the content too
      expect(after.n + content2.n - content.n).toBe(20000 + s2.inserted - s2.deleted);
    } finally {
      await db.end();
    }
  }, 120_000);

  test("relational: 10/30/100 per run, FKs valid, every detail's user is its transaction's user, orphan report", async () => {
    const db = await freshDb();
    try {
      const s = await runGenerator({ ...base, url: db.url, dataset: "relational", init: true });
      expect([s.inserted, s.quality?.users, s.quality?.transactions, s.quality?.detailed_transactions]).toEqual([140, 10, 30, 100]);
      const s2 = await runGenerator({ ...base, url: db.url, dataset: "relational", continuous: true, runs: 3, intervalMs: 50, users: 5, transactions: 20, details: 40, updates: 0.5, deletes: 0.1 });
      expect(s2.quality).toMatchObject({ users: 25, transactions: 90, orphan_transactions: 0, orphan_details_by_transaction: 0, orphan_details_by_user: 0 });
      expect(s2.deleted).toBeGreaterThan(0);
      const [r] = await db.sql`select count(*) filter (where d.user_id <> t.user_id)::int mismatched,
        count(*) filter (where t.amount <> x.total)::int wrong_totals
        from detailed_transactions d join transactions t using (transaction_id)
        cross join lateral (select sum(quantity * unit_price) total from detailed_transactions where transaction_id = t.transaction_id) x`;
      expect(r.mismatched).toBe(0);
      // Amounts equal the sum of their lines, except where a line was deleted afterwards.
      expect(r.wrong_totals).toBeLessThanOrEqual(s2.deleted * 5);
      // Transactions of a later run reference users of earlier runs too.
      const [cross] = await db.sql`select count(distinct t.user_id)::int n from transactions t`;
      expect(cross.n).toBeGreaterThan(5);
    } finally {
      await db.end();
    }
  }, 120_000);

  test("ecommerce: Olist shape, the 71 categories, consistent timestamps and payment totals, statuses progress", async () => {
    const db = await freshDb();
    try {
      const s = await runGenerator({ ...base, url: db.url, dataset: "ecommerce", init: true, count: 10000 });
      expect(s.setup_rows).toBe(71 + 150 + 800);
      const [c] = await db.sql`select count(*)::int n from product_category_name_translation`;
      expect(c.n).toBe(71);
      const [r] = await db.sql`select
        (select count(*)::int from products p left join product_category_name_translation t using (product_category_name) where p.product_category_name is not null and t.product_category_name is null) unknown_categories,
        (select count(*)::int from products where product_category_name is null) no_category,
        (select count(*)::int from orders where order_approved_at < order_purchase_timestamp or order_delivered_carrier_date < order_approved_at or order_delivered_customer_date < order_delivered_carrier_date) time_travel,
        (select count(*)::int from orders where order_status = 'delivered' and order_delivered_customer_date is null) delivered_without_date,
        (select count(*)::int from orders o join customers using (customer_id)) with_customer,
        (select count(*)::int from orders) orders,
        (select count(*)::int from (select order_id from order_items i group by order_id having sum(price + freight_value) <> (select sum(payment_value) from order_payments p where p.order_id = i.order_id)) x) unpaid,
        (select count(*)::int from order_reviews where review_comment_message is not null) with_text,
        (select count(*)::int from order_reviews) reviews`;
      expect(r.unknown_categories).toBe(0);
      expect(r.no_category).toBeGreaterThan(0);
      expect(r.time_travel).toBe(0);
      expect(r.delivered_without_date).toBe(0);
      expect(r.with_customer).toBe(r.orders);
      expect(r.unpaid).toBe(0);
      expect(r.with_text).toBeGreaterThan(0);
      expect(r.with_text).toBeLessThan(r.reviews);
      const [d] = await db.sql`select count(*)::int n from orders where order_status = 'delivered'`;
      expect(d.n / r.orders).toBeGreaterThan(0.9);

      const s2 = await runGenerator({ ...base, url: db.url, dataset: "ecommerce", count: 6000, updates: 0.5, deletes: 0.02, batch: 200 });
      expect(s2.updated).toBeGreaterThan(600);
      const [p] = await db.sql`select
        count(*) filter (where order_status = 'created' and order_approved_at is not null)::int a,
        count(*) filter (where order_status in ('shipped', 'delivered') and order_delivered_carrier_date is null)::int b,
        count(*) filter (where order_status <> 'delivered' and order_delivered_customer_date is not null)::int c,
        count(*) filter (where order_status = 'invoiced')::int invoiced from orders`;
      expect([p.a, p.b, p.c]).toEqual([0, 0, 0]);
      expect(p.invoiced).toBeGreaterThan(0);
      const [orph] = await db.sql`select count(*)::int n from order_items i left join orders o using (order_id) where o.order_id is null`;
      expect(orph.n).toBe(0); // deletes take an order's items, payments and reviews with it
    } finally {
      await db.end();
    }
  }, 120_000);
});
