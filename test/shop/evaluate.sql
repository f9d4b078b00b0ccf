-- One seed of the shop protocol (run by test/shop/evaluate.sh after generate.sql
-- and source.sql).  psql variables: seed, cut (a timestamp), item_buckets,
-- create_args and train_args (extra named arguments, each '' or starting with ', ').
--
-- limaml is trained on shop_train (the customers not held out, all their
-- events) with its defaults; held-out customers are adapted on their events
-- before :cut and every method ranks the products they had not interacted with
-- before :cut.  The baselines count the same data the model saw: training
-- customers' events and held-out customers' events before :cut.
-- Appends one row per (method, evaluated customer) to shop_eval.

\set ON_ERROR_STOP 1
\if :{?timing} \timing on \endif
\if :{?create_args} \else \set create_args '' \endif
\if :{?train_args} \else \set train_args '' \endif
\if :{?item_buckets} \else \set item_buckets NULL \endif
-- positives: train and adapt on clicks and purchases only (with negatives => n in create_args)
\if :{?positives} \else \set positives false \endif
\if :{?cut} \else \set cut 2026-05-16 \endif
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;

CREATE TABLE IF NOT EXISTS shop_eval (seed int, method text, customer_id bigint, n_before int,
                                      prec_fav real, hit real, recall real);
CREATE TABLE IF NOT EXISTS shop_eval_train (seed int, seconds numeric, epochs int,
                                            val_auc_cold real, val_auc_adapted real);
DELETE FROM shop_eval WHERE seed = :seed;
DELETE FROM shop_eval_train WHERE seed = :seed;

-- ---- held-out customers: what they did before the cut, what they clicked after
CREATE TEMP TABLE before_cut AS
SELECT i.* FROM shop_interactions i JOIN shop_held_out h USING (member_id) WHERE i.ts < :'cut'::timestamptz;
CREATE TEMP TABLE seen AS SELECT DISTINCT member_id, item_id FROM before_cut;
CREATE TEMP TABLE relevant AS
SELECT DISTINCT i.member_id, i.item_id
  FROM shop_interactions i JOIN shop_held_out h USING (member_id)
 WHERE i.ts >= :'cut'::timestamptz AND i.label = 1
   AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.member_id = i.member_id AND s.item_id = i.item_id);
-- evaluated: held-out customers with a later click or purchase of a product new to them
CREATE TEMP TABLE evaluated AS
SELECT r.member_id,
       (SELECT count(*) FROM shop_events e
         WHERE e.customer_id = r.member_id AND e.created_at < :'cut'::timestamp)::int AS n_before
  FROM (SELECT DISTINCT member_id FROM relevant) r;
CREATE TEMP TABLE fav_product AS
SELECT t.customer_id::bigint AS member_id, p.product_id::bigint AS item_id
  FROM shop_truth t JOIN shop_products p USING (category)
 WHERE t.customer_id IN (SELECT member_id FROM evaluated);
CREATE TEMP TABLE candidates AS
SELECT e.member_id, p.item_id
  FROM evaluated e CROSS JOIN shop_product_features p
 WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.member_id = e.member_id AND s.item_id = p.item_id);
ANALYZE before_cut, seen, relevant, evaluated, fav_product, candidates;

CREATE TEMP TABLE ranked (method text, member_id bigint, item_id bigint, rank int);

-- ---- limaml
SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name = 'shop' \g /dev/null
SELECT limaml_create_model('shop', CASE WHEN :positives THEN 'shop_train_positives' ELSE 'shop_train' END,
                           members => 'shop_customer_features',
                           item_buckets => :item_buckets, seed => :seed :create_args) \g /dev/null
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE train_log AS SELECT * FROM limaml_train('shop' :train_args);
INSERT INTO shop_eval_train
SELECT :seed, round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 1),
       max(epoch), (array_agg(val_auc_cold ORDER BY epoch DESC))[1], (array_agg(val_auc_adapted ORDER BY epoch DESC))[1]
  FROM train_log;
-- a learned ridge λ (learn_lambda): its values for w₀, each item-feature column (wide_features), w_f
SELECT v.training->'ridge_lambda_learned' AS ridge_lambda_learned
  FROM limaml_model m JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
 WHERE m.name = 'shop' AND v.training ? 'ridge_lambda_learned';
-- the fold-in term (fold_in): the a chosen on the validation members, and each a's hit rate
SELECT v.training->'fold_in_weight' AS fold_in_weight, v.training->'fold_in_hit_rate' AS fold_in_hit_rate
  FROM limaml_model m JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
 WHERE m.name = 'shop' AND v.training ? 'fold_in_weight';

-- cold: the model's source holds no rows of held-out customers, so
-- limaml_adapt gives the un-adapted embedding from their profile (members relation)
CREATE TEMP TABLE emb_cold AS
SELECT member_id, limaml_adapt(member_id, 'shop') AS embedding FROM evaluated;
-- adapted: on their rows before the cut (a customer without any keeps the cold one)
SELECT coalesce((config->>'item_buckets')::int, 0) > 0 AS with_ids FROM limaml_model WHERE name = 'shop' \gset
\set model shop
\set emb emb_adapted
\ir adapt.sql
CREATE TEMP TABLE codes AS
SELECT item_id, limaml_item_encode('shop', features, item_id => item_id) AS code FROM shop_product_features;

INSERT INTO ranked
SELECT method, member_id, item_id, rank FROM (
  SELECT m.method, c.member_id, c.item_id,
         row_number() OVER (PARTITION BY m.method, c.member_id
                            ORDER BY limaml_score(m.embedding, k.code) DESC, c.item_id)::int AS rank
    FROM candidates c
    JOIN (SELECT 'limaml adapted' AS method, * FROM emb_adapted
          UNION ALL SELECT 'limaml cold', * FROM emb_cold) m USING (member_id)
    JOIN codes k USING (item_id)) r
 WHERE rank <= 10;

-- ---- the conventional network: the same model and arguments, inner_steps => 0
-- (trained jointly on every row of every member, no inner loop); the wide head's
-- member solve still runs on the customer's rows, as limaml's does
SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name = 'shop_conv' \g /dev/null
SELECT limaml_create_model('shop_conv', CASE WHEN :positives THEN 'shop_train_positives' ELSE 'shop_train' END,
                           members => 'shop_customer_features', inner_steps => 0,
                           item_buckets => :item_buckets, seed => :seed :create_args) \g /dev/null
SELECT count(*) FROM limaml_train('shop_conv' :train_args) \g /dev/null
\set model shop_conv
\set emb emb_conv
\ir adapt.sql
CREATE TEMP TABLE codes_conv AS
SELECT item_id, limaml_item_encode('shop_conv', features, item_id => item_id) AS code FROM shop_product_features;
INSERT INTO ranked
SELECT 'conventional network', member_id, item_id, rank FROM (
  SELECT c.member_id, c.item_id,
         row_number() OVER (PARTITION BY c.member_id ORDER BY limaml_score(m.embedding, k.code) DESC, c.item_id)::int AS rank
    FROM candidates c JOIN emb_conv m USING (member_id) JOIN codes_conv k USING (item_id)) r
 WHERE rank <= 10;

-- ---- SQL baselines, on what the model saw too
CREATE TEMP TABLE known AS
SELECT i.member_id, i.item_id, i.label, p.category
  FROM shop_interactions i JOIN shop_products p ON p.product_id = i.item_id
 WHERE i.ts < :'cut'::timestamptz OR NOT EXISTS (SELECT 1 FROM shop_held_out h WHERE h.member_id = i.member_id);
CREATE TEMP TABLE product_pos AS
SELECT p.product_id::bigint AS item_id, p.category,
       count(k.member_id) FILTER (WHERE k.label = 1) AS pos
  FROM shop_products p LEFT JOIN known k ON k.item_id = p.product_id
 GROUP BY p.product_id, p.category;
-- P(product | category): its share of the category's clicks (add-one)
CREATE TEMP TABLE product_share AS
SELECT item_id, category,
       (pos + 1.0) / (sum(pos) OVER (PARTITION BY category) + count(*) OVER (PARTITION BY category)) AS share
  FROM product_pos;
-- the customer's clicks and views-only per category before the cut
CREATE TEMP TABLE customer_cat AS
SELECT b.member_id, p.category,
       count(*) FILTER (WHERE b.label = 1) AS pos, count(*) FILTER (WHERE b.label = 0) AS neg
  FROM before_cut b JOIN shop_products p ON p.product_id = b.item_id
 WHERE b.member_id IN (SELECT member_id FROM evaluated)
 GROUP BY b.member_id, p.category;
-- profile prior: the click share of each category among customers of the same
-- country and age band (and overall), from the known rows
CREATE TEMP TABLE cust_group AS
SELECT customer_id::bigint AS member_id,
       country || '/' || CASE WHEN age < 30 THEN 0 WHEN age < 45 THEN 1 ELSE 2 END AS grp
  FROM shop_customers;
CREATE TEMP TABLE group_prior AS
WITH g AS (
  SELECT cg.grp, k.category, count(*) AS pos
    FROM known k JOIN cust_group cg USING (member_id)
   WHERE k.label = 1
   GROUP BY cg.grp, k.category),
o AS (SELECT category, count(*)::float8 / sum(count(*)) OVER () AS share FROM known WHERE label = 1 GROUP BY category)
SELECT grps.grp, o.category,
       (coalesce(g.pos, 0) + 20 * o.share) / (coalesce(sum(g.pos) OVER (PARTITION BY grps.grp), 0) + 20) AS prior,
       o.share AS global_share
  FROM (SELECT DISTINCT grp FROM cust_group) grps CROSS JOIN o
  LEFT JOIN g ON g.grp = grps.grp AND g.category = o.category;

-- popularity: the most-clicked products
INSERT INTO ranked
SELECT 'popularity', member_id, item_id, rank FROM (
  SELECT c.member_id, c.item_id,
         row_number() OVER (PARTITION BY c.member_id ORDER BY pp.pos DESC, c.item_id)::int AS rank
    FROM candidates c JOIN product_pos pp USING (item_id)) r
 WHERE rank <= 10;

-- bias: Koren's baseline predictor μ + b_u + b_i on the known rows' view-based
-- labels (as limaml_evaluate's; a positive-only log has no member or item mean
-- to deviate from); within one customer b_u is a constant, so it ranks by the
-- item's shrunk click rate per view, b_i = (Σᵢ − nᵢ·μ) / (nᵢ + 25)
INSERT INTO ranked
SELECT 'bias', member_id, item_id, rank FROM (
  SELECT c.member_id, c.item_id,
         row_number() OVER (PARTITION BY c.member_id ORDER BY coalesce(b.b_i, 0) DESC, c.item_id)::int AS rank
    FROM candidates c
    LEFT JOIN (SELECT k.item_id, (sum(k.label) - count(*) * g.mu) / (count(*) + 25) AS b_i
                 FROM known k, (SELECT avg(label) AS mu FROM known) g
                GROUP BY k.item_id, g.mu) b USING (item_id)) r
 WHERE rank <= 10;

-- rule "categories": the customer's most-clicked categories, in them the most-clicked
-- products; then the rest by popularity
INSERT INTO ranked
SELECT 'rule: clicked categories', member_id, item_id, rank FROM (
  SELECT c.member_id, c.item_id,
         row_number() OVER (PARTITION BY c.member_id
                            ORDER BY coalesce(cc.pos, 0) DESC, pp.pos DESC, c.item_id)::int AS rank
    FROM candidates c JOIN product_pos pp USING (item_id)
    LEFT JOIN customer_cat cc ON cc.member_id = c.member_id AND cc.category = pp.category) r
 WHERE rank <= 10;

-- rule "mixture": P(category | customer) · P(product | category), where
-- P(category | customer) ∝ clicks + 0.15 · views-only + 2 · prior; the prior is
-- the click share of the category among customers of the same country and age
-- band ("category mixture") or among everybody ("no profile");
-- P(product | category) is the product's share of the category's clicks
INSERT INTO ranked
SELECT method, member_id, item_id, rank FROM (
  SELECT v.method, c.member_id, c.item_id,
         row_number() OVER (PARTITION BY v.method, c.member_id
                            ORDER BY (coalesce(cc.pos, 0) + 0.15 * coalesce(cc.neg, 0)
                                      + 2 * CASE WHEN v.profile THEN gp.prior ELSE gp.global_share END) * ps.share DESC,
                                     c.item_id)::int AS rank
    FROM candidates c JOIN product_share ps USING (item_id)
    JOIN cust_group cg ON cg.member_id = c.member_id
    JOIN group_prior gp ON gp.grp = cg.grp AND gp.category = ps.category
    LEFT JOIN customer_cat cc ON cc.member_id = c.member_id AND cc.category = ps.category
   CROSS JOIN (VALUES ('rule: category mixture', true), ('rule: category mixture, no profile', false)) v(method, profile)) r
 WHERE rank <= 10;

-- taste beyond categories (generate.sql's taste=full): the customer's clicks per
-- brand and the mean standardised price of what it clicked, before the cut
CREATE TEMP TABLE product_taste AS
SELECT product_id::bigint AS item_id, brand,
       coalesce((ln(price) - avg(ln(price)) OVER w) / nullif(stddev_pop(ln(price)) OVER w, 0), 0) AS price_z
  FROM shop_products
WINDOW w AS (PARTITION BY category);
CREATE TEMP TABLE customer_brand AS
SELECT b.member_id, pt.brand, count(*) FILTER (WHERE b.label = 1) AS pos
  FROM before_cut b JOIN product_taste pt USING (item_id)
 WHERE b.member_id IN (SELECT member_id FROM evaluated)
 GROUP BY b.member_id, pt.brand;
CREATE TEMP TABLE customer_price AS
SELECT b.member_id, count(*) FILTER (WHERE b.label = 1) AS pos,
       coalesce(sum(pt.price_z) FILTER (WHERE b.label = 1), 0) / (count(*) FILTER (WHERE b.label = 1) + 3) AS price_z
  FROM before_cut b JOIN product_taste pt USING (item_id)
 WHERE b.member_id IN (SELECT member_id FROM evaluated)
 GROUP BY b.member_id;
ANALYZE product_taste, customer_brand, customer_price;

-- rules "+ brand", "+ price", "+ brand + price": the category mixture times
-- 1 + 0.5 · (the customer's clicks on the product's brand) / (its clicks + 1),
-- and/or exp(the customer's shrunk mean standardised price of its clicks · the
-- product's): brand loyalty and price band, the way an analyst would add them
-- (the weights were the best of a few on seed 1 of taste=full: 0.5 or 1 for the
-- brand, 1 or 2 for the price)
INSERT INTO ranked
SELECT method, member_id, item_id, rank FROM (
  SELECT v.method, c.member_id, c.item_id,
         row_number() OVER (PARTITION BY v.method, c.member_id
                            ORDER BY (coalesce(cc.pos, 0) + 0.15 * coalesce(cc.neg, 0) + 2 * gp.prior) * ps.share
                                     * (1 + v.brand * coalesce(cb.pos, 0) / (coalesce(cp.pos, 0) + 1))
                                     * exp(v.price * coalesce(cp.price_z, 0) * pt.price_z) DESC,
                                     c.item_id)::int AS rank
    FROM candidates c JOIN product_share ps USING (item_id)
    JOIN product_taste pt USING (item_id)
    JOIN cust_group cg ON cg.member_id = c.member_id
    JOIN group_prior gp ON gp.grp = cg.grp AND gp.category = ps.category
    LEFT JOIN customer_cat cc ON cc.member_id = c.member_id AND cc.category = ps.category
    LEFT JOIN customer_brand cb ON cb.member_id = c.member_id AND cb.brand = pt.brand
    LEFT JOIN customer_price cp ON cp.member_id = c.member_id
   CROSS JOIN (VALUES ('rule: category mixture + brand', 0.5, 0.0), ('rule: category mixture + price', 0.0, 1.0),
                      ('rule: category mixture + brand + price', 0.5, 1.0)) v(method, brand, price)) r
 WHERE rank <= 10;

-- rule "item-to-item": customers who clicked this also clicked; a product scores the sum,
-- over the customer's clicked products j before the cut, of co-clickers(i, j) / √(pos_i · pos_j),
-- then popularity
CREATE TEMP TABLE clicked AS SELECT DISTINCT member_id, item_id FROM known WHERE label = 1;
CREATE TEMP TABLE cooc AS
SELECT a.item_id AS i, b.item_id AS j, count(*) AS c
  FROM clicked a JOIN clicked b ON b.member_id = a.member_id AND b.item_id <> a.item_id
 GROUP BY a.item_id, b.item_id;
INSERT INTO ranked
SELECT 'rule: item-to-item', member_id, item_id, rank FROM (
  SELECT c.member_id, c.item_id,
         row_number() OVER (PARTITION BY c.member_id ORDER BY coalesce(s.score, 0) DESC, pp.pos DESC,
                            c.item_id)::int AS rank
    FROM candidates c JOIN product_pos pp USING (item_id)
    LEFT JOIN (SELECT b.member_id, co.i AS item_id, sum(co.c / sqrt(pi.pos * pj.pos)) AS score
                 FROM (SELECT DISTINCT member_id, item_id FROM before_cut WHERE label = 1) b
                 JOIN cooc co ON co.j = b.item_id
                 JOIN product_pos pi ON pi.item_id = co.i JOIN product_pos pj ON pj.item_id = co.j
                GROUP BY b.member_id, co.i) s
      ON s.member_id = c.member_id AND s.item_id = c.item_id) r
 WHERE rank <= 10;

-- diagnostic: limaml's click probability given a view, times how often the
-- product is viewed (its share of the known rows): expected clicks, not clicks per view
INSERT INTO ranked
SELECT 'limaml adapted × views', member_id, item_id, rank FROM (
  SELECT c.member_id, c.item_id,
         row_number() OVER (PARTITION BY c.member_id
                            ORDER BY limaml_score(a.embedding, k.code) * (pv.views + 1) DESC, c.item_id)::int AS rank
    FROM candidates c JOIN emb_adapted a USING (member_id) JOIN codes k USING (item_id)
    JOIN (SELECT p.product_id::bigint AS item_id, count(k.member_id) AS views
            FROM shop_products p LEFT JOIN known k ON k.item_id = p.product_id GROUP BY p.product_id) pv USING (item_id)) r
 WHERE rank <= 10;

-- ---- per-customer metrics
INSERT INTO shop_eval
SELECT :seed, m.method, e.member_id, e.n_before,
       count(f.item_id) / 10.0, (count(v.item_id) > 0)::int, count(v.item_id)::real / n.relevant
  FROM evaluated e
 CROSS JOIN (SELECT DISTINCT method FROM ranked) m
  JOIN (SELECT member_id, count(*) AS relevant FROM relevant GROUP BY member_id) n USING (member_id)
  LEFT JOIN ranked r ON r.method = m.method AND r.member_id = e.member_id
  LEFT JOIN fav_product f ON f.member_id = r.member_id AND f.item_id = r.item_id
  LEFT JOIN relevant v ON v.member_id = r.member_id AND v.item_id = r.item_id
 GROUP BY m.method, e.member_id, e.n_before, n.relevant;

SELECT :seed AS seed, t.seconds AS train_seconds, t.epochs, round(t.val_auc_cold::numeric, 3) AS val_auc_cold,
       round(t.val_auc_adapted::numeric, 3) AS val_auc_adapted,
       (SELECT count(*) FROM evaluated) AS evaluated_customers
  FROM shop_eval_train t WHERE t.seed = :seed;
