-- From the shop's event log (test/shop/generate.sql) to a limaml source:
--   psql -f test/shop/source.sql
--
-- Views (all plain SQL over the raw tables, so they follow new events):
--   shop_customer_features(member_id, member_features)   the members relation
--       [ age z-score, country one-hot (countries sorted), z-score of ln(1 + days since sign-up) ]
--   shop_product_features(item_id, features)             the items relation
--       [ category one-hot (categories sorted), z-score of ln(price), brand hashed into 8 one-hot buckets ]
--   shop_interactions                                     the source: one row per
--       (customer, product, day) the customer viewed the product: label 1 if that day
--       it clicked or bought it, 0 if it only viewed it; ts the first event; item_id the product
--   shop_train                                            shop_interactions less the held-out customers
-- and a table shop_held_out(member_id): 20 % of the customers, by a hash of their id.

SET client_min_messages = warning;
DROP VIEW IF EXISTS shop_train_positives, shop_train, shop_interactions, shop_customer_features, shop_product_features CASCADE;
DROP TABLE IF EXISTS shop_held_out;

CREATE VIEW shop_customer_features AS
WITH s AS (
  SELECT avg(age) AS age_mean, stddev_pop(age) AS age_sd,
         avg(ln(1 + (date '2026-07-01' - signup_date))) AS ten_mean,
         stddev_pop(ln(1 + (date '2026-07-01' - signup_date))) AS ten_sd,
         array_agg(DISTINCT country ORDER BY country) AS countries
    FROM shop_customers)
SELECT c.customer_id::bigint AS member_id,
       ARRAY[((c.age - s.age_mean) / nullif(s.age_sd, 0))::real]
       || ARRAY(SELECT (k = c.country)::int::real FROM unnest(s.countries) WITH ORDINALITY u(k, i) ORDER BY i)
       || ARRAY[((ln(1 + (date '2026-07-01' - c.signup_date)) - s.ten_mean) / nullif(s.ten_sd, 0))::real]
       AS member_features
  FROM shop_customers c, s;

CREATE VIEW shop_product_features AS
WITH s AS (
  SELECT avg(ln(price)) AS lp_mean, stddev_pop(ln(price)) AS lp_sd,
         array_agg(DISTINCT category ORDER BY category) AS categories
    FROM shop_products)
SELECT p.product_id::bigint AS item_id,
       ARRAY(SELECT (k = p.category)::int::real FROM unnest(s.categories) WITH ORDINALITY u(k, i) ORDER BY i)
       || ARRAY[((ln(p.price) - s.lp_mean) / nullif(s.lp_sd, 0))::real]
       || ARRAY(SELECT (b = abs(hashtext(p.brand)) % 8)::int::real FROM generate_series(0, 7) b ORDER BY b)
       AS features
  FROM shop_products p, s;

CREATE VIEW shop_interactions AS
SELECT e.customer_id::bigint AS member_id,
       c.member_features,
       p.features AS item_features,
       e.label,
       e.ts,
       e.product_id::bigint AS item_id
  FROM (SELECT customer_id, product_id,
               bool_or(event_type IN ('click', 'purchase'))::int::real AS label,
               min(created_at) AT TIME ZONE 'UTC' AS ts
          FROM shop_events
         GROUP BY customer_id, product_id, created_at::date) e
  JOIN shop_customer_features c ON c.member_id = e.customer_id
  JOIN shop_product_features p ON p.item_id = e.product_id;

CREATE TABLE shop_held_out AS
SELECT customer_id::bigint AS member_id FROM shop_customers WHERE abs(hashint8(customer_id)) % 5 = 0;
CREATE UNIQUE INDEX ON shop_held_out (member_id);
ANALYZE shop_held_out;

CREATE VIEW shop_train AS
SELECT * FROM shop_interactions i
 WHERE NOT EXISTS (SELECT 1 FROM shop_held_out h WHERE h.member_id = i.member_id);

-- the positive-only form of the same log (clicks and purchases), for negatives => n
CREATE VIEW shop_train_positives AS SELECT * FROM shop_train WHERE label = 1;
