-- The README's tutorial "From a shop's tables to recommendations",
-- statement for statement, on the raw shop schema test/shop/schema.sql
-- generates (issue 11 §5): labels from the event log, features by
-- declaration (no hand-written encoding, no casts), training, evaluation
-- against popularity, the nightly refresh's command, recommendations
-- without purchases, cold start.  Statements whose output holds trained
-- floats run with \o /dev/null; the checks after them assert the planted
-- preferences.  Keep the statements identical to the README's.
SET client_min_messages = warning;
\set ECHO none
\i test/shop/schema.sql
\set ECHO all
SELECT count(*) AS events, count(DISTINCT customer_id) AS customers,
       count(*) FILTER (WHERE event_type = 'purchase') AS purchases FROM events;

-- ------------------------------------------------------------ 1. labels from the event log
CREATE VIEW shop_customers AS
SELECT customer_id AS member_id, country, age, signup_date FROM customers;
CREATE VIEW shop_products AS
SELECT product_id AS item_id, category, price, brand FROM products;
CREATE VIEW shop_interactions AS  -- clicks and purchases; limaml samples the negatives
SELECT customer_id AS member_id, product_id AS item_id, true AS label, created_at AS ts
  FROM events WHERE event_type IN ('click', 'purchase');
CREATE INDEX ON events (customer_id, created_at);  -- limaml_adapt reads one customer's rows

-- ------------------------------------------------------------ 2. features by declaration
\o /dev/null
SELECT limaml_create_model('shop', 'shop_interactions',
         members => 'shop_customers', items => 'shop_products', negatives => 4,
         member_columns => '{"country": "onehot", "age": "standardize", "signup_date": "standardize"}',
         item_columns => '{"category": "onehot", "price": "log1p", "brand": {"hash": 16}}');
\o
SELECT t ->> 'column' AS column, t ->> 'transform' AS transform, t -> 'vocabulary' AS vocabulary
  FROM limaml_model, jsonb_array_elements(config -> 'transforms' -> 'item') t WHERE name = 'shop';

-- ------------------------------------------------------------ 3. training and evaluation
\o /dev/null
SELECT epoch, val_auc_cold, val_auc_adapted FROM limaml_train('shop', epochs => 20) WHERE kept;
SELECT segment, predictor, members, auc, ndcg10 FROM limaml_evaluate('shop') WHERE segment = 'all';
\o
-- checks: trained; adapted beats the popularity baseline (and the cold model) on the held-out rows
SELECT active_version AS trained_version FROM limaml_model WHERE name = 'shop';
SELECT bool_and(a.auc > p.auc + 0.1) AS adapted_beats_popularity_by_0_1, bool_and(a.auc > c.auc) AS adapted_beats_cold,
       bool_and(a.ndcg10 > p.ndcg10) AS adapted_ndcg_beats_popularity
  FROM limaml_evaluate('shop') a
  JOIN limaml_evaluate('shop') p USING (segment) JOIN limaml_evaluate('shop') c USING (segment)
 WHERE segment = 'all' AND a.predictor = 'adapted' AND p.predictor = 'popularity' AND c.predictor = 'cold';

-- ------------------------------------------------------------ 4. nightly refresh (the command pg_cron runs)
CALL limaml_refresh('shop');
SELECT count(*) AS embeddings FROM limaml_meta_embedding WHERE model = 'shop';

-- ------------------------------------------------------------ 5. recommendations without purchases
CREATE VIEW purchases AS
SELECT customer_id AS member_id, product_id AS item_id FROM events WHERE event_type = 'purchase';
\o /dev/null
SELECT r.rank, p.product_id, p.category, r.score
  FROM limaml_recommend('shop', 42, 10, exclude => 'purchases', exclude_seen => false) r
  JOIN products p ON p.product_id = r.item_id ORDER BY r.rank;
\o
-- checks: ten products, none bought by 42; customers' top 10s recover their planted favourites
-- (twice the 1/6 of chance), customers whose favourite is not their profile's most of all
SELECT count(*) AS recommended,
       count(*) FILTER (WHERE item_id IN (SELECT item_id FROM purchases WHERE member_id = 42)) AS purchased
  FROM limaml_recommend('shop', 42, 10, exclude => 'purchases', exclude_seen => false);
SELECT avg((t.item_id % 6 = f.favourite)::int) >= 1 / 3.0 AS favourites_recovered,
       avg((t.item_id % 6 = f.favourite)::int) FILTER (WHERE f.favourite <> f.profile) >
       avg((t.item_id % 6 = f.profile)::int) FILTER (WHERE f.favourite <> f.profile) AS own_favourite_over_profile
  FROM limaml_top_k('shop', 'shop_products', 10, exclude => 'purchases') t
  JOIN customer_truth f ON f.customer_id = t.member_id;

-- ------------------------------------------------------------ 6. cold start
INSERT INTO customers VALUES (9001, 'FR', date '2026-07-01', 29);
\o /dev/null
SELECT item_id, rank FROM limaml_recommend('shop', 9001, 10);  -- no events: its profile's embedding
SELECT limaml_cold_embedding('shop', limaml_member_features('shop', c))
  FROM shop_customers c WHERE member_id = 9001;
\o
-- checks: profile-only customers of the six profiles get their profile's favourite
-- (9001: FR under 43, garden) more often than chance
INSERT INTO customers VALUES (9002, 'DE', date '2026-07-01', 25), (9003, 'DE', date '2026-07-01', 50),
                             (9004, 'FR', date '2026-07-01', 60), (9005, 'IT', date '2026-07-01', 30),
                             (9006, 'IT', date '2026-07-01', 45);
SELECT avg((r.item_id % 6 = p.profile)::int) >= 0.25 AS profile_favourites
  FROM (VALUES (9001, 2), (9002, 0), (9003, 1), (9004, 3), (9005, 4), (9006, 5)) p(customer_id, profile),
       LATERAL limaml_recommend('shop', p.customer_id, 10) r;
SELECT limaml_cold_embedding('shop', limaml_member_features('shop', c)) =
       (SELECT embedding FROM limaml_meta_embedding WHERE model = 'shop' AND member_id = 9001) AS cold_equals_stored
  FROM shop_customers c WHERE member_id = 9001;

SELECT limaml_drop_model('shop');
DROP TABLE customers, products, events, customer_truth CASCADE;
