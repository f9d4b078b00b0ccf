-- The raw shop schema of the README's tutorial, with planted preferences:
--   psql -f test/shop/schema.sql        (creates, dropping old ones)
--   customers(customer_id int, country text, signup_date date, age int)
--   products(product_id int, category text, price numeric, brand text)
--   events(customer_id int, product_id int, event_type text, created_at timestamp)
--   customer_truth(customer_id, favourite): for checking the tutorial's results
--       only, never a feature
-- Deterministic and small (300 customers, 60 products, ~3,300 events), so
-- regress test 34_shop_tutorial runs it in seconds.  A bigger, noisier
-- generator for measurements is test/shop/generate.sql.
--
-- What is planted: a customer's favourite category follows its profile
-- (country and age: DE, FR, IT times under 43 or not, six profiles for six
-- categories), except for every fourth customer, whose favourite is its own;
-- two views in three are in the favourite category; favourites are clicked
-- three times in four and bought one time in four, other views clicked one
-- time in nine and never bought.
DROP TABLE IF EXISTS customers, products, events, customer_truth CASCADE;

CREATE TABLE customers AS
SELECT c AS customer_id, (ARRAY['DE', 'FR', 'IT'])[1 + c % 3] AS country,
       date '2025-01-01' + (c * 37) % 500 AS signup_date, 18 + (c * 7) % 50 AS age
  FROM generate_series(1, 300) c;
ALTER TABLE customers ADD PRIMARY KEY (customer_id);

CREATE TABLE products AS
SELECT p AS product_id, (ARRAY['books', 'games', 'garden', 'music', 'sports', 'toys'])[1 + p % 6] AS category,
       (4.99 + (p * 37) % 120)::numeric AS price, 'brand' || (p * 5) % 11 AS brand
  FROM generate_series(1, 60) p;
ALTER TABLE products ADD PRIMARY KEY (product_id);

-- favourite: 0 .. 5, the index of the category (product_id % 6)
CREATE TABLE customer_truth AS
SELECT customer_id,
       CASE WHEN customer_id % 4 = 0 THEN (profile + 1 + (customer_id / 4) % 5) % 6 ELSE profile END AS favourite,
       profile
  FROM (SELECT customer_id, array_position(ARRAY['DE', 'FR', 'IT'], country) * 2 - 2 + (age >= 43)::int AS profile
          FROM customers) c;

CREATE TABLE events AS
WITH v AS (
  SELECT t.customer_id AS c, k, t.favourite,
         CASE WHEN k % 3 <> 0 THEN 6 * ((t.customer_id * 5 + k * 7) % 10) + CASE t.favourite WHEN 0 THEN 6 ELSE t.favourite END
              ELSE 1 + (t.customer_id * 11 + k * 13) % 60 END AS product_id,
         timestamp '2026-01-01 08:00' + make_interval(days => t.customer_id % 30 + 2 * k, mins => t.customer_id) AS at
    FROM customer_truth t, generate_series(1, 4 + t.customer_id % 14) k)
SELECT v.c AS customer_id, v.product_id, e.event_type, v.at + e.after AS created_at
  FROM v, LATERAL (VALUES ('view', interval '0'), ('click', interval '1 minute'), ('purchase', interval '5 minutes'))
                  e(event_type, after)
 WHERE e.event_type = 'view'
    OR (e.event_type = 'click' AND ((v.product_id % 6 = v.favourite AND (v.c + v.k) % 4 <> 0) OR (v.c + v.k) % 9 = 0))
    OR (e.event_type = 'purchase' AND v.product_id % 6 = v.favourite AND (v.c + v.k) % 4 = 1);
