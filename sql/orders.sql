-- Orders source (SCENARIOS.md scenarios 3 and 4). No CHECK on customer_id or price: the
-- warehouse scenario needs invalid rows (--invalid) to reach its DLQ. REPLICA IDENTITY FULL so
-- updates and deletes carry the old row, which the daily summary needs to retract it.
CREATE TABLE IF NOT EXISTS orders (
  order_id BIGSERIAL PRIMARY KEY,
  customer_id INT,
  product_id INT,
  quantity INT,
  price NUMERIC(10,2),
  status TEXT,
  created_at TIMESTAMPTZ DEFAULT now()
);
ALTER TABLE orders REPLICA IDENTITY FULL;
