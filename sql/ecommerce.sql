-- Olist-shaped e-commerce source (SCENARIOS.md scenario 1). Column names and types follow the
-- Olist Kaggle export. No foreign keys: real Olist exports are not referentially complete.
CREATE TABLE IF NOT EXISTS product_category_name_translation (
  product_category_name TEXT PRIMARY KEY,
  product_category_name_english TEXT
);
CREATE TABLE IF NOT EXISTS customers (
  customer_id TEXT PRIMARY KEY,
  customer_unique_id TEXT NOT NULL,
  customer_zip_code_prefix TEXT,
  customer_city TEXT,
  customer_state CHAR(2)
);
CREATE TABLE IF NOT EXISTS sellers (
  seller_id TEXT PRIMARY KEY,
  seller_zip_code_prefix TEXT,
  seller_city TEXT,
  seller_state CHAR(2)
);
CREATE TABLE IF NOT EXISTS products (
  product_id TEXT PRIMARY KEY,
  product_category_name TEXT,
  product_name_lenght INTEGER,
  product_description_lenght INTEGER,
  product_photos_qty INTEGER,
  product_weight_g INTEGER,
  product_length_cm INTEGER,
  product_height_cm INTEGER,
  product_width_cm INTEGER
);
CREATE TABLE IF NOT EXISTS orders (
  order_id TEXT PRIMARY KEY,
  customer_id TEXT NOT NULL,
  order_status TEXT NOT NULL CHECK (order_status IN
    ('created', 'approved', 'invoiced', 'processing', 'shipped', 'delivered', 'canceled', 'unavailable')),
  order_purchase_timestamp TIMESTAMP NOT NULL,
  order_approved_at TIMESTAMP,
  order_delivered_carrier_date TIMESTAMP,
  order_delivered_customer_date TIMESTAMP,
  order_estimated_delivery_date TIMESTAMP
);
CREATE TABLE IF NOT EXISTS order_items (
  order_id TEXT NOT NULL,
  order_item_id INTEGER NOT NULL,
  product_id TEXT NOT NULL,
  seller_id TEXT NOT NULL,
  shipping_limit_date TIMESTAMP,
  price NUMERIC(10,2) NOT NULL CHECK (price >= 0),
  freight_value NUMERIC(10,2) NOT NULL CHECK (freight_value >= 0),
  PRIMARY KEY (order_id, order_item_id)
);
CREATE TABLE IF NOT EXISTS order_payments (
  order_id TEXT NOT NULL,
  payment_sequential INTEGER NOT NULL,
  payment_type TEXT NOT NULL,
  payment_installments INTEGER NOT NULL CHECK (payment_installments >= 0),
  payment_value NUMERIC(10,2) NOT NULL CHECK (payment_value >= 0),
  PRIMARY KEY (order_id, payment_sequential)
);
-- review_id is not unique in Olist (the sample holds 2 duplicates): the key is (review_id, order_id).
CREATE TABLE IF NOT EXISTS order_reviews (
  review_id TEXT NOT NULL,
  order_id TEXT NOT NULL,
  review_score INTEGER NOT NULL CHECK (review_score BETWEEN 1 AND 5),
  review_comment_title TEXT,
  review_comment_message TEXT,
  review_creation_date TIMESTAMP,
  review_answer_timestamp TIMESTAMP,
  PRIMARY KEY (review_id, order_id)
);
-- Updates and deletes find an order's reviews by order_id (not the key's leading column).
CREATE INDEX IF NOT EXISTS order_reviews_order_id ON order_reviews (order_id);
