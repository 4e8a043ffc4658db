-- Relational source (SCENARIOS.md scenario 5): foreign keys always hold.
CREATE TABLE IF NOT EXISTS users (
  user_id UUID PRIMARY KEY,
  name VARCHAR(255),
  email VARCHAR(255),
  age INTEGER,
  city VARCHAR(255),
  registration_date TIMESTAMP
);
CREATE TABLE IF NOT EXISTS transactions (
  transaction_id UUID PRIMARY KEY,
  user_id UUID REFERENCES users(user_id),
  amount DECIMAL(10,2),
  transaction_date TIMESTAMP,
  status VARCHAR(50)
);
CREATE TABLE IF NOT EXISTS detailed_transactions (
  id SERIAL PRIMARY KEY,
  transaction_id UUID REFERENCES transactions(transaction_id),
  user_id UUID REFERENCES users(user_id),
  product_name VARCHAR(255),
  quantity INTEGER,
  unit_price DECIMAL(10,2),
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
