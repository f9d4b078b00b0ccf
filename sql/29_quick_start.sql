-- The README's "Quick start" and "From event logs to labels and features",
-- statement for statement, on a small generated shop (issue 11 §5), so the
-- README's SQL cannot rot. Statements whose output holds trained floats run
-- with \o /dev/null; the checks after them print counts and booleans.
-- Keep the statements identical to the README's.
SET client_min_messages = warning;

-- ------------------------------------------------------------ the shop (not in the README)
-- customers(customer_id int, country text, signup_date date, age int): 9001 has no events
CREATE TABLE customers AS
SELECT c AS customer_id, (ARRAY['DE', 'FR', 'IT'])[1 + c % 3] AS country,
       date '2025-01-01' + (c * 37) % 500 AS signup_date, 18 + (c * 7) % 50 AS age
  FROM generate_series(1, 240) c
UNION ALL SELECT 9001, 'FR', date '2026-06-30', 29;
-- products(product_id int, category text, price numeric, brand text)
CREATE TABLE products AS
SELECT p AS product_id, (ARRAY['books', 'games', 'garden', 'music', 'sports', 'toys'])[1 + p % 6] AS category,
       (4.99 + (p * 37) % 120)::numeric AS price, 'brand' || (p * 5) % 11 AS brand
  FROM generate_series(1, 48) p;
-- events(customer_id int, product_id int, event_type text, created_at timestamp):
-- customer c prefers category c % 6; every event starts with a view, two in three
-- views are in the favourite category, favourites are clicked and bought more
CREATE TABLE events AS
WITH v AS (
  SELECT c, k, CASE WHEN k % 3 <> 0 THEN 1 + c % 6 + 6 * ((c * 5 + k * 7) % 8)
                    ELSE 1 + (c * 11 + k * 13) % 48 END AS product_id,
         timestamp '2026-01-01 08:00' + make_interval(days => c % 30 + 2 * k, mins => c) AS at
    FROM generate_series(1, 240) c, generate_series(1, 3 + c % 12) k)
SELECT v.c AS customer_id, v.product_id, t.event_type, v.at + t.after AS created_at
  FROM v, LATERAL (VALUES ('view', interval '0'), ('click', interval '1 minute'), ('purchase', interval '5 minutes'))
                  t(event_type, after)
 WHERE t.event_type = 'view'
    OR (t.event_type = 'click' AND ((v.product_id % 6 = v.c % 6 AND (v.c + v.k) % 4 <> 0) OR (v.c + v.k) % 9 = 0))
    OR (t.event_type = 'purchase' AND v.product_id % 6 = v.c % 6 AND (v.c + v.k) % 4 = 1);
-- items(item_id int, features real[]): a category one-hot (the README builds richer features)
CREATE TABLE items AS
SELECT product_id AS item_id, ARRAY(SELECT (k = p.category)::int::real
         FROM unnest(ARRAY['books', 'games', 'garden', 'music', 'sports', 'toys']) WITH ORDINALITY u(k, n) ORDER BY n) AS features
  FROM products p;
SELECT count(*) AS events, count(DISTINCT customer_id) AS customers,
       count(*) FILTER (WHERE event_type = 'purchase') AS purchases FROM events;

-- ------------------------------------------------------------ Quick start
-- (CREATE EXTENSION limaml: pg_regress --load-extension)
-- customers' features, and the source: a row per customer, product and day of a view
CREATE VIEW customer_features AS
SELECT customer_id AS member_id, ARRAY[(age - 40) / 15.0] AS member_features FROM customers;
CREATE VIEW interactions AS
SELECT e.customer_id AS member_id, c.member_features, i.features AS item_features,
       e.label, e.ts, e.product_id AS item_id
  FROM (SELECT customer_id, product_id, min(created_at) AS ts,
               bool_or(event_type IN ('click', 'purchase')) AS label  -- viewed only: false
          FROM events GROUP BY customer_id, product_id, created_at::date) e
  JOIN customer_features c ON c.member_id = e.customer_id
  JOIN items i ON i.item_id = e.product_id;
CREATE INDEX ON events (customer_id, created_at);  -- limaml_adapt reads one customer's rows
CREATE VIEW purchases AS
SELECT customer_id AS member_id, product_id AS item_id FROM events WHERE event_type = 'purchase';

\o /dev/null
SELECT limaml_create_model('shop', 'interactions', members => 'customer_features', items => 'items');
SELECT epoch, val_auc_cold, val_auc_adapted FROM limaml_train('shop') WHERE kept;
\o
CALL limaml_refresh('shop');  -- adapts every customer; run it hourly: only changed ones then
\o /dev/null
SELECT item_id, score FROM limaml_recommend('shop', 42, 10, exclude => 'purchases');
SELECT limaml_cold_embedding('shop', ARRAY[(29 - 40) / 15.0]);  -- a new customer, aged 29
SELECT item_id FROM limaml_recommend('shop', 9001, 10);  -- 9001: a profile, no events yet
\o

-- checks: a trained version, every customer with events adapted, ten recommendations
-- without a purchase of 42's (nor anything 42 interacted with), and the cold start
SELECT active_version AS trained_version, (SELECT count(*) FROM limaml_models WHERE name = 'shop' AND kept_epoch = 10) AS kept_10
  FROM limaml_model WHERE name = 'shop';
SELECT count(*) AS embeddings, count(*) FILTER (WHERE model_version = 1) AS of_version_1
  FROM limaml_meta_embedding WHERE model = 'shop';
SELECT count(*) AS recommended, count(DISTINCT item_id) AS distinct_items,
       count(*) FILTER (WHERE item_id IN (SELECT item_id FROM purchases WHERE member_id = 42)) AS purchased,
       count(*) FILTER (WHERE item_id IN (SELECT product_id FROM events WHERE customer_id = 42)) AS seen,
       bool_and(rank BETWEEN 1 AND 10) AS ranks
  FROM limaml_recommend('shop', 42, 10, exclude => 'purchases');
SELECT count(*) AS recommended_new FROM limaml_recommend('shop', 9001, 10);
-- the new customer's stored embedding is its profile's cold embedding
SELECT embedding = limaml_cold_embedding('shop', ARRAY[(29 - 40) / 15.0]) AS cold_from_profile,
       n_support
  FROM limaml_meta_embedding WHERE model = 'shop' AND member_id = 9001;

-- ------------------------------------------------------------ From event logs to labels and features
CREATE TABLE product_stats AS
SELECT array_agg(DISTINCT category ORDER BY category) AS categories,
       avg(ln(1 + price)) AS lp_mean, stddev_pop(ln(1 + price)) AS lp_sd
  FROM products;
CREATE VIEW product_features AS
SELECT p.product_id AS item_id,
       ARRAY(SELECT (c = p.category)::int FROM unnest(s.categories) WITH ORDINALITY u(c, n) ORDER BY n)  -- one-hot
       || ARRAY(SELECT (b = abs(hashtext(p.brand)) % 8)::int FROM generate_series(0, 7) b)      -- brand, 8 hashed buckets
       || ARRAY[(ln(1 + p.price) - s.lp_mean) / s.lp_sd]                                       -- log1p, then z-score
       AS features
  FROM products p, product_stats s;
CREATE VIEW positives AS
SELECT e.customer_id AS member_id, c.member_features, p.features AS item_features,
       1 AS label, e.created_at AS ts, e.product_id AS item_id
  FROM events e
  JOIN customer_features c ON c.member_id = e.customer_id
  JOIN product_features p ON p.item_id = e.product_id
 WHERE e.event_type IN ('click', 'purchase');
SELECT severity, "check" FROM limaml_check_source('positives', negatives => 4);
\o /dev/null
SELECT limaml_create_model('shop_pos', 'positives', members => 'customer_features',
                           negatives => 4, items => 'product_features');
\o
-- the raw price instead of its z-score: limaml_check_source warns
CREATE VIEW positives_raw_price AS
SELECT e.customer_id AS member_id, c.member_features, ARRAY[p.price] AS item_features,
       1 AS label, e.created_at AS ts, e.product_id AS item_id
  FROM events e JOIN customer_features c ON c.member_id = e.customer_id
  JOIN products p USING (product_id)
 WHERE e.event_type IN ('click', 'purchase');
SELECT severity, "check" FROM limaml_check_source('positives_raw_price');

-- checks: 6 categories + 8 brand buckets + 1 price = 15 features, one hot category
-- and one hot brand bucket per product, the price column standardized
SELECT count(*) AS products, min(cardinality(features)) AS dim_min, max(cardinality(features)) AS dim_max,
       bool_and((SELECT sum(x) FROM unnest(features[1:6]) x) = 1) AS one_category,
       bool_and((SELECT sum(x) FROM unnest(features[7:14]) x) = 1) AS one_brand_bucket,
       round(avg(features[15]), 6) AS price_mean, round(stddev_pop(features[15]), 6) AS price_sd
  FROM product_features;
SELECT (config->>'item_dim')::int AS item_dim, (config->>'negatives')::int AS negatives, items::text
  FROM limaml_model WHERE name = 'shop_pos';
SELECT count(*) AS epochs FROM limaml_train('shop_pos', epochs => 1);
SELECT count(*) = 1 AS adapted FROM (SELECT limaml_adapt(42, 'shop_pos')) a;

SELECT limaml_drop_model('shop_pos');
SELECT limaml_drop_model('shop');
DROP VIEW positives_raw_price, positives, product_features, purchases, interactions, customer_features;
DROP TABLE product_stats, items, events, products, customers;
