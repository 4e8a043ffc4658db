import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { build, ins, relation, txn, upd, del } from "./harness.ts";

/** The SCENARIOS.md clean-table rules written in the select language, checked on a few rows. */
const MAPS = { category_groups: join(import.meta.dir, "../../../shared/data/olist/category_groups.csv") };
const T = "2024-05-01T10:00:00Z";

describe("ecommerce clean tables (scenario 1)", () => {
  test("ods_orders", async () => {
    const R = relation("public.orders", [["order_id", 25, "text", true], ["customer_id", 25], ["order_status", 25], ["order_purchase_timestamp", 1114], ["order_delivered_customer_date", 1114], ["order_estimated_delivery_date", 1114]]);
    const h = await build({
      from: "public.orders",
      select: [
        "*",
        "UPPER(TRIM(order_status)) AS order_status",
        "YEAR(order_purchase_timestamp) AS order_year",
        "MONTH(order_purchase_timestamp) AS order_month",
        "UPPER(TRIM(order_status)) = 'DELIVERED' AS is_delivered",
        "DATE_DIFF('day', order_purchase_timestamp, order_delivered_customer_date) AS delivery_days",
        "order_delivered_customer_date > order_estimated_delivery_date AS is_late",
      ],
      to: { sink: "wh", table: "ods_orders", key: ["order_id"] },
    });
    h.run(txn(T, [
      ins(R, { order_id: "a", customer_id: "c1", order_status: " delivered ", order_purchase_timestamp: "2017-10-02 10:56:33", order_delivered_customer_date: "2017-10-10 21:25:13", order_estimated_delivery_date: "2017-10-18 00:00:00" }),
      ins(R, { order_id: "b", customer_id: "c2", order_status: "shipped", order_purchase_timestamp: "2018-07-24 20:41:37", order_delivered_customer_date: null, order_estimated_delivery_date: "2018-08-13 00:00:00" }),
      ins(R, { order_id: "c", customer_id: "c3", order_status: "Delivered", order_purchase_timestamp: "2018-02-13 21:18:39", order_delivered_customer_date: "2018-03-20 10:00:00", order_estimated_delivery_date: "2018-03-05 00:00:00" }),
    ]));
    const [a, b, c] = h.sink.sorted();
    expect(a).toMatchObject({ order_id: "a", order_status: "DELIVERED", order_year: 2017, order_month: 10, is_delivered: true, delivery_days: 8n, is_late: false });
    expect(b).toMatchObject({ order_status: "SHIPPED", is_delivered: false, delivery_days: null, is_late: null });
    expect(c).toMatchObject({ is_delivered: true, delivery_days: 34n, is_late: true });
    expect(Object.keys(a)[0]).toBe("order_id"); // "*" keeps the source columns, in order
  });

  test("ods_order_items: exact total and price category", async () => {
    const R = relation("public.order_items", [["order_id", 25, "text", true], ["order_item_id", 23, "integer", true], ["price", 1700, "numeric(10,2)"], ["freight_value", 1700, "numeric(10,2)"]]);
    const h = await build({
      from: "public.order_items",
      select: ["*", "price + freight_value AS total_value", "CASE WHEN price >= 100 THEN 'HIGH' WHEN price >= 50 THEN 'MEDIUM' ELSE 'LOW' END AS price_category"],
      to: { sink: "wh", key: ["order_id", "order_item_id"] },
    });
    h.run(txn(T, [
      ins(R, { order_id: "o1", order_item_id: 1, price: "150.00", freight_value: "15.50" }),
      ins(R, { order_id: "o1", order_item_id: 2, price: "50.00", freight_value: "0.10" }),
      ins(R, { order_id: "o2", order_item_id: 1, price: "0.20", freight_value: "0.10" }),
    ]));
    expect(h.sink.sorted().map((r) => [r.total_value, r.price_category])).toEqual([["165.50", "HIGH"], ["50.10", "MEDIUM"], ["0.30", "LOW"]]);
    // a delete reaches the clean table by key
    h.run(txn(T, [del(R, { order_id: "o2", order_item_id: 1 })]));
    expect(h.sink.rows.size).toBe(2);
    const cols = h.compiled.outputColumns(new Map([[R.table, R]]));
    expect(cols.map((c) => [c.name, c.typeOid, c.typeName, c.isKey])).toEqual([
      ["order_id", 25, "text", true], ["order_item_id", 23, "integer", true], ["price", 1700, "numeric(10,2)", false],
      ["freight_value", 1700, "numeric(10,2)", false], ["total_value", 1700, "numeric", false], ["price_category", 25, "text", false],
    ]);
  });

  test("ods_products: lookup join on the translation table, MAP category groups, volume", async () => {
    const P = relation("public.products", [["product_id", 25, "text", true], ["product_category_name", 25], ["product_length_cm", 23], ["product_height_cm", 23], ["product_width_cm", 23]]);
    const TR = relation("public.product_category_name_translation", [["product_category_name", 25, "text", true], ["product_category_name_english", 25]]);
    const h = await build(
      {
        from: "public.products",
        join: [{ table: "public.product_category_name_translation", on: "product_category_name = product_category_name_translation.product_category_name", columns: ["product_category_name_english"], wait: "0s" }],
        select: ["*", "MAP('category_groups', product_category_name, 'Other') AS category_group", "product_length_cm * product_height_cm * product_width_cm AS volume_cm3"],
        to: { sink: "wh", key: ["product_id"] },
      },
      { maps: MAPS },
    );
    expect(h.compiled.tables).toEqual(["public.products", "public.product_category_name_translation"]);
    h.run(txn(T, [ins(TR, { product_category_name: "informatica_acessorios", product_category_name_english: "computers_accessories" })]));
    h.run(txn(T, [
      ins(P, { product_id: "p1", product_category_name: "informatica_acessorios", product_length_cm: 10, product_height_cm: 20, product_width_cm: 30 }),
      ins(P, { product_id: "p2", product_category_name: "", product_length_cm: 1, product_height_cm: 1, product_width_cm: null }),
      ins(P, { product_id: "p3", product_category_name: null, product_length_cm: 2, product_height_cm: 2, product_width_cm: 2 }),
    ]));
    const [p1, p2, p3] = h.sink.sorted();
    expect(p1).toMatchObject({ product_category_name_english: "computers_accessories", category_group: "Electronics", volume_cm3: 6000 });
    expect(p2).toMatchObject({ product_category_name_english: null, category_group: "Other", volume_cm3: null });
    expect(p3).toMatchObject({ category_group: "Other", volume_cm3: 8 });
    // the translation changes: later products see it, earlier rows are not rewritten
    h.run(txn(T, [upd(TR, { product_category_name: "informatica_acessorios", product_category_name_english: "computer_accessories" })]));
    h.run(txn(T, [upd(P, { product_id: "p1", product_category_name: "informatica_acessorios", product_length_cm: 10, product_height_cm: 20, product_width_cm: 31 })]));
    expect(h.sink.rows.get("p1")).toMatchObject({ product_category_name_english: "computer_accessories", volume_cm3: 6200 });
    expect(h.ctx.counts.join_misses).toBe(1); // p2's empty category (NULL keys do not count)
  });

  test("ods_order_reviews and ods_order_payments", async () => {
    const RV = relation("public.order_reviews", [["review_id", 25, "text", true], ["order_id", 25, "text", true], ["review_score", 23], ["review_comment_message", 25]]);
    const reviews = await build({
      from: "public.order_reviews",
      select: [
        "*",
        "CASE WHEN review_score = 5 THEN 'EXCELLENT' WHEN review_score = 4 THEN 'GOOD' WHEN review_score = 3 THEN 'AVERAGE' WHEN review_score IN (1, 2) THEN 'POOR' END AS sentiment",
        "review_score >= 4 AS is_positive",
        "COALESCE(LENGTH(TRIM(review_comment_message)), 0) > 0 AS has_comment",
      ],
      to: { sink: "wh", key: ["review_id", "order_id"] },
    });
    reviews.run(txn(T, [
      ins(RV, { review_id: "r1", order_id: "o1", review_score: 5, review_comment_message: "Ótimo!\nChegou antes" }),
      ins(RV, { review_id: "r2", order_id: "o2", review_score: 2, review_comment_message: "  " }),
      ins(RV, { review_id: "r3", order_id: "o3", review_score: 3, review_comment_message: null }),
    ]));
    expect(reviews.sink.sorted().map((r) => [r.sentiment, r.is_positive, r.has_comment])).toEqual([["EXCELLENT", true, true], ["POOR", false, false], ["AVERAGE", false, false]]);

    const PY = relation("public.order_payments", [["order_id", 25, "text", true], ["payment_sequential", 23, "integer", true], ["payment_type", 25], ["payment_installments", 23], ["payment_value", 1700, "numeric(10,2)"]]);
    const pay = await build({
      from: "public.order_payments",
      select: [
        "*",
        "CASE WHEN payment_type IN ('credit_card', 'debit_card') THEN 'CARD_PAYMENT' WHEN payment_type = 'boleto' THEN 'BANK_SLIP' WHEN payment_type = 'voucher' THEN 'VOUCHER' ELSE 'OTHER' END AS payment_category",
        "payment_value >= 500 AS is_high_value",
        "payment_installments > 1 AS is_installment",
      ],
      to: { sink: "wh", key: ["order_id", "payment_sequential"] },
    });
    pay.run(txn(T, [
      ins(PY, { order_id: "o1", payment_sequential: 1, payment_type: "credit_card", payment_installments: 8, payment_value: "500.00" }),
      ins(PY, { order_id: "o1", payment_sequential: 2, payment_type: "voucher", payment_installments: 1, payment_value: "18.12" }),
      ins(PY, { order_id: "o2", payment_sequential: 1, payment_type: "boleto", payment_installments: 1, payment_value: "499.99" }),
      ins(PY, { order_id: "o3", payment_sequential: 1, payment_type: "not_defined", payment_installments: 0, payment_value: "0.00" }),
    ]));
    expect(pay.sink.sorted().map((r) => [r.payment_category, r.is_high_value, r.is_installment])).toEqual([
      ["CARD_PAYMENT", true, true], ["VOUCHER", false, false], ["BANK_SLIP", false, false], ["OTHER", false, false],
    ]);
  });
});

describe("warehouse fact_orders (scenario 4): where, validate → DLQ, cleansing", () => {
  test("failing rows are rejected with the rule's message; filtered updates delete", async () => {
    const R = relation("public.orders", [["order_id", 20, "bigint", true], ["customer_id", 23], ["price", 1700, "numeric(10,2)"], ["status", 25]]);
    const h = await build({
      from: "public.orders",
      where: "status <> 'test'",
      validate: [{ rule: "customer_id IS NOT NULL", message: "customer_id is NULL" }, { rule: "price >= 0", message: "negative price" }],
      select: ["order_id", "customer_id", "price", "LOWER(TRIM(status)) AS status"],
      to: { sink: "wh", key: ["order_id"] },
    });
    h.run(txn(T, [
      ins(R, { order_id: 1n, customer_id: 5, price: "10.00", status: " Pending " }),
      ins(R, { order_id: 2n, customer_id: null, price: "10.00", status: "pending" }),
      ins(R, { order_id: 3n, customer_id: 6, price: "-1.00", status: "pending" }),
      ins(R, { order_id: 4n, customer_id: 7, price: "1.00", status: "test" }),
    ]));
    expect(h.sink.sorted()).toEqual([{ order_id: 1n, customer_id: 5, price: "10.00", status: "pending" }]);
    expect(h.ctx.rejected.map((r) => r.reason)).toEqual(["customer_id is NULL", "negative price"]);
    h.run(txn(T, [upd(R, { order_id: 1n, customer_id: 5, price: "10.00", status: "test" })]));
    expect(h.sink.rows.size).toBe(0); // no longer passes WHERE: deleted downstream
  });
});

describe("engagement enrichment (scenario 2): waiting lookup join", () => {
  const C = relation("public.content", [["id", 2950, "uuid", true], ["title", 25], ["content_type", 25], ["length_seconds", 23]]);
  const E = relation("public.engagement_events", [["id", 20, "bigint", true], ["content_id", 2950], ["event_type", 25], ["event_ts", 1184], ["duration_ms", 23], ["raw_payload", 3802]]);
  const cfg = {
    from: "public.engagement_events",
    join: [{ table: "public.content", on: "content_id = content.id", columns: ["title", "content_type", "length_seconds"], wait: "5s" }],
    select: [
      "*",
      "duration_ms / 1000.0 AS engagement_seconds",
      "CASE WHEN length_seconds = 0 THEN NULL ELSE ROUND(duration_ms / 1000.0 / length_seconds * 100, 2) END AS engagement_pct",
      "raw_payload->>'source' AS source",
    ],
    to: { sink: "bq", key: ["id"] },
  };
  const c1 = "11111111-1111-1111-1111-111111111111";
  const c2 = "22222222-2222-2222-2222-222222222222";
  const ev = (id: bigint, content: string, ms: number | null) => ({ id, content_id: content, event_type: "play", event_ts: "2024-05-01 10:00:00.5+00", duration_ms: ms, raw_payload: '{"source":"ios"}' });

  test("a known content enriches at once; a missing one waits, then matches or goes on with NULLs", async () => {
    const h = await build(cfg);
    const t0 = Date.parse(T) * 1000;
    h.run(txn(t0, [ins(C, { id: c1, title: "Episode 1", content_type: "podcast", length_seconds: 600 })]));
    h.run(txn(t0 + 1e6, [ins(E, ev(1n, c1, 45000)), ins(E, ev(2n, c2, 1000))]));
    expect(h.sink.rows.get("1")).toMatchObject({ title: "Episode 1", engagement_seconds: "45.0000000000000000", engagement_pct: "7.50", source: "ios" });
    expect(h.sink.rows.has("2")).toBe(false); // waiting for its content
    // an update to the waiting row queues behind it (commit order per row)
    h.run(txn(t0 + 2e6, [upd(E, ev(2n, c2, 3000))]));
    expect(h.sink.rows.has("2")).toBe(false);
    h.run(txn(t0 + 3e6, [ins(C, { id: c2, title: "Video", content_type: "video", length_seconds: 0 })]));
    expect(h.sink.rows.get("2")).toMatchObject({ title: "Video", duration_ms: 3000, engagement_pct: null });
    expect(h.ctx.counts.join_misses ?? 0).toBe(0);

    // never arrives: released with NULLs after `wait` of commit time, counted
    h.run(txn(t0 + 4e6, [ins(E, ev(3n, "33333333-3333-3333-3333-333333333333", 500))]));
    h.run(txn(t0 + 8e6, []));
    expect(h.sink.rows.has("3")).toBe(false);
    h.run(txn(t0 + 9e6 + 1, []));
    expect(h.sink.rows.get("3")).toMatchObject({ title: null, length_seconds: null, engagement_pct: null, engagement_seconds: "0.50000000000000000000" });
    expect(h.ctx.counts.join_misses).toBe(1);
  });

  test("an idle source releases waiting rows on the wall-clock watermark; join state survives restore", async () => {
    const h = await build(cfg);
    const t0 = Date.parse(T) * 1000;
    h.run(txn(t0, [ins(C, { id: c1, title: "Episode 1", content_type: "podcast", length_seconds: 600 }), ins(E, ev(1n, c2, 1000))]));
    const state = JSON.parse(JSON.stringify(h.op.snapshot()));
    const h2 = await build(cfg);
    h2.op.restore(state);
    h2.op.onWatermark!(Date.parse(T) + 4000, h2.sink.emit);
    expect(h2.sink.rows.size).toBe(0);
    h2.op.onWatermark!(Date.parse(T) + 5000, h2.sink.emit);
    expect(h2.sink.rows.get("1")).toMatchObject({ title: null, duration_ms: 1000 });
    h2.run(txn(t0 + 6e6, [ins(E, ev(4n, c1, 6000))]));
    expect(h2.sink.rows.get("4")).toMatchObject({ title: "Episode 1", engagement_pct: "1.00" });
  });
});
