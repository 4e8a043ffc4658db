/**
 * The demo's config: all five scenarios on one embedded source (one schema per dataset) with
 * SQLite warehouse files; Redis, MariaDB and a webhook only when REDIS_URL / MYSQL_URL /
 * WEBHOOK_URL are set. The pipelines are the ones of examples/*.yaml.
 */
import { join } from "node:path";

export interface DemoOptions {
  sourceUrl: string;
  dir: string;
  listen: string;
  redisUrl?: string;
  mysqlUrl?: string;
  webhookUrl?: string;
}

const q = (s: string) => JSON.stringify(s);

export function demoConfigYaml(o: DemoOptions): string {
  const extraSinks: string[] = [];
  const extraPipes: string[] = [];
  if (o.redisUrl) {
    extraSinks.push(`  cache: {type: redis, url: ${q(o.redisUrl)}, key_prefix: "cdc_demo:"}`);
    extraPipes.push(`  - name: top_engagement_redis
    from: engagement.engagement_events
    where: content_id IS NOT NULL AND duration_ms IS NOT NULL
    select: [content_id, event_ts, "duration_ms / 1000.0 AS engagement_seconds"]
    window: {type: sliding, size: 10m, slide: 1m, time: event_ts, key: [content_id], lateness: 5s, idle_timeout: 5s}
    aggregate: {total_engagement_seconds: SUM(engagement_seconds)}
    to: {sink: cache, type: zset, key_template: "top_engagement:10min", member: content_id, score: total_engagement_seconds, replace: true}`);
  }
  if (o.mysqlUrl) {
    extraSinks.push(`  mart: {type: mysql, url: ${q(o.mysqlUrl)}, database: ecommerce_ods_clean}`);
    extraPipes.push(`  - {name: ods_order_payments_mysql, from: ecommerce.order_payments, to: {sink: mart, table: ods_order_payments, key: [order_id, payment_sequential]}}`);
  }
  if (o.webhookUrl) {
    extraSinks.push(`  hook: {type: http, url: ${q(o.webhookUrl)}, payload: row, batch_size: 500}`);
    extraPipes.push(`  - {name: engagement_hook, from: engagement.engagement_events, to: {sink: hook, key: [id]}}`);
  }
  const wh = (name: string) => q(join(o.dir, `${name}.sqlite`));
  return `
source: {url: ${q(o.sourceUrl)}, slot: cdc_demo, publication: cdc_demo, heartbeat_interval: 5s}
state: {dir: ${q(join(o.dir, "state"))}, checkpoint_interval: 10s}
api: {listen: ${q(o.listen)}}
log: {level: warn}
maps:
  category_groups: ${q(join(o.dir, "category_groups.csv"))}
sinks:
  ecommerce: {type: sqlite, path: ${wh("ecommerce")}}
  engagement: {type: sqlite, path: ${wh("engagement")}}
  orders: {type: sqlite, path: ${wh("orders")}}
  warehouse: {type: sqlite, path: ${wh("warehouse")}}
  relational: {type: sqlite, path: ${wh("relational")}}
${extraSinks.join("\n")}
pipelines:
  # 1. e-commerce clean tables
  - name: ods_orders
    from: ecommerce.orders
    select: [order_id, customer_id, "UPPER(TRIM(order_status)) AS order_status", order_purchase_timestamp, order_delivered_customer_date,
             order_estimated_delivery_date, "YEAR(order_purchase_timestamp) AS order_year", "MONTH(order_purchase_timestamp) AS order_month",
             "UPPER(TRIM(order_status)) = 'DELIVERED' AS is_delivered",
             "DATE_DIFF('day', order_purchase_timestamp, order_delivered_customer_date) AS delivery_days",
             "order_delivered_customer_date > order_estimated_delivery_date AS is_late"]
    to: {sink: ecommerce, table: ods_orders, key: [order_id]}
  - name: ods_order_items
    from: ecommerce.order_items
    select: ["*", "CAST(price + freight_value AS numeric(12,2)) AS total_value", "CASE WHEN price >= 100 THEN 'HIGH' WHEN price >= 50 THEN 'MEDIUM' ELSE 'LOW' END AS price_category"]
    to: {sink: ecommerce, table: ods_order_items, key: [order_id, order_item_id]}
  - name: ods_category_translation
    from: ecommerce.product_category_name_translation
    to: {sink: ecommerce, table: ods_product_category_name_translation, key: [product_category_name]}
  - name: ods_products
    from: ecommerce.products
    join: [{table: ecommerce.product_category_name_translation, on: product_category_name = t.product_category_name, columns: [product_category_name_english], as: t, wait: 2s}]
    select: ["*", "t.product_category_name_english AS product_category_name_english", "MAP('category_groups', product_category_name, 'Other') AS category_group",
             "product_length_cm * product_height_cm * product_width_cm AS volume_cm3"]
    to: {sink: ecommerce, table: ods_products, key: [product_id]}
  - name: ods_order_reviews
    from: ecommerce.order_reviews
    select: ["*", "CASE WHEN review_score = 5 THEN 'EXCELLENT' WHEN review_score = 4 THEN 'GOOD' WHEN review_score = 3 THEN 'AVERAGE' WHEN review_score IN (1, 2) THEN 'POOR' END AS sentiment",
             "review_score >= 4 AS is_positive", "COALESCE(review_comment_message, '') <> '' AS has_comment"]
    to: {sink: ecommerce, table: ods_order_reviews, key: [review_id, order_id]}
  - name: ods_order_payments
    from: ecommerce.order_payments
    select: ["*", "CASE WHEN payment_type IN ('credit_card', 'debit_card') THEN 'CARD_PAYMENT' WHEN payment_type = 'boleto' THEN 'BANK_SLIP' WHEN payment_type = 'voucher' THEN 'VOUCHER' ELSE 'OTHER' END AS payment_category",
             "payment_value >= 500 AS is_high_value", "payment_installments > 1 AS is_installment"]
    to: {sink: ecommerce, table: ods_order_payments, key: [order_id, payment_sequential]}
  # 2. engagement (SQLite stand-ins for Redis/BigQuery; Redis/webhook below when configured)
  - {name: content, from: engagement.content, to: {sink: engagement, table: content, key: [id]}}
  - name: engagement_enriched
    from: engagement.engagement_events
    join: [{table: engagement.content, on: content_id = content.id, columns: [title, content_type, length_seconds], wait: 5s}]
    select: [id, content_id, event_type, event_ts, duration_ms, device, title, content_type, "duration_ms / 1000.0 AS engagement_seconds",
             "CASE WHEN length_seconds IS NULL OR length_seconds = 0 OR duration_ms IS NULL THEN NULL ELSE ROUND(duration_ms / 1000.0 / length_seconds * 100, 2) END AS engagement_pct"]
    to: {sink: engagement, table: engagement_events, key: [id]}
  - name: top_engagement
    from: engagement.engagement_events
    where: content_id IS NOT NULL AND duration_ms IS NOT NULL
    select: [content_id, event_ts, "duration_ms / 1000.0 AS engagement_seconds"]
    window: {type: sliding, size: 10m, slide: 1m, time: event_ts, key: [content_id], lateness: 5s, idle_timeout: 5s}
    aggregate: {total_engagement_seconds: SUM(engagement_seconds)}
    to: {sink: engagement, table: top_engagement_10min, key: [content_id, window_start]}
    leaderboard: {member: content_id, score: total_engagement_seconds}
  # 3. orders: 1-minute tumbling windows per customer
  - name: order_agg
    from: orders.orders
    window: {type: tumbling, size: 1m, time: created_at, key: [customer_id], lateness: 5s, idle_timeout: 5s}
    aggregate: {gross_sales: SUM(quantity * price), order_count: COUNT(*)}
    to: {sink: orders, table: order_agg, key: [customer_id, window_start]}
  # 4. warehouse: validated facts and an exact daily summary
  - name: fact_orders
    from: orders.orders
    validate:
      - {rule: "customer_id IS NOT NULL", message: "customer_id is NULL"}
      - {rule: "price IS NOT NULL", message: "price is NULL"}
      - {rule: "price >= 0", message: "negative price"}
    select: [order_id, customer_id, product_id, quantity, price, "LOWER(TRIM(BOTH ' \\t\\r\\n' FROM status)) AS status", "quantity * price AS amount", created_at]
    to: {sink: warehouse, table: fact_orders, key: [order_id]}
  - name: daily_order_summary
    from: orders.orders
    where: customer_id IS NOT NULL AND price >= 0
    select: ["CAST(created_at AS date) AS order_date", "LOWER(TRIM(BOTH ' \\t\\r\\n' FROM status)) AS status", "quantity * price AS amount"]
    group_by: [order_date, status]
    aggregate: {order_count: "COUNT(*)", total_amount: "SUM(amount)", avg_amount: "AVG(amount)"}
    to: {sink: warehouse, table: daily_order_summary, key: [order_date, status]}
  # 5. relational mirror
  - {name: mirror, from: [relational.users, relational.transactions, relational.detailed_transactions], to: relational}
${extraPipes.join("\n")}
`;
}
