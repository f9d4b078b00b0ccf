-- Synthetic shop event log: psql [-v n_customers=5000] [-v n_products=600]
--                                 [-v n_categories=12] [-v seed=1] -f test/shop/generate.sql
--
-- Deterministic for a given seed (setseed; parallel query off so rows draw
-- their random numbers in one fixed order).  Creates, dropping old ones:
--   shop_categories(category_id, category, weight)   category popularity (skewed)
--   shop_products(product_id, category, price, brand)
--   shop_customers(customer_id, country, signup_date, age)
--   shop_truth(customer_id, category)                 2-3 favourite categories:
--                                                      for evaluation only, never a feature
--   shop_taste(customer_id, brand, price_taste)     favourite brand and price taste:
--                                                      for evaluation only, never a feature
--   shop_events(customer_id, product_id, event_type, created_at)
--                                                      'view', 'click', 'purchase'
--
-- What it models:
--   * a customer's first favourite follows its profile half of the time
--     ((country, age band) -> category), the others are drawn by category
--     popularity: the profile hints weakly at one favourite;
--   * activity is log-normal: most customers have a handful of events, a few
--     hundreds; customers who signed up during the log's six months have fewer;
--   * every event starts with a product view (an impression); the viewed
--     product's category is one of the favourites with probability 0.4
--     (views are broad), otherwise drawn by category popularity; within a
--     category popular products (Zipf-like) are viewed more;
--   * a view becomes a click with probability 0.35 in a favourite category and
--     0.08 elsewhere, a click a purchase with probability 0.3 / 0.12, a few
--     seconds / minutes later.  So clicks and purchases follow the favourites,
--     noisily;
--   * taste beyond categories, with -v taste=full (the default, taste=categories,
--     leaves it out and gives the category-only log of the earlier measurements,
--     event for event): each customer also has a favourite brand (the brand of a
--     random product of one of its favourite categories), whose products it
--     clicks brand_lift (2) times as often, and a price taste
--     t ~ 0.5 · age z-score + N(0, 0.75) that multiplies the click probability
--     by exp(0.5 · t · z), z the product's log price standardised within its
--     category (budget customers click a category's cheaper products, premium
--     ones its dearer); capped at 0.9.
-- The log runs from 2026-01-01 to 2026-07-01.

\if :{?n_customers} \else \set n_customers 5000 \endif
\if :{?n_products} \else \set n_products 600 \endif
\if :{?n_categories} \else \set n_categories 12 \endif
\if :{?seed} \else \set seed 1 \endif
\if :{?taste} \else \set taste categories \endif
\if :{?brand_lift} \else \set brand_lift 2 \endif

SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;

DROP TABLE IF EXISTS shop_categories, shop_products, shop_customers, shop_truth, shop_taste, shop_events CASCADE;
DROP TABLE IF EXISTS shop_customers_draw, pg_temp.shop_fav_draw, pg_temp.shop_product_draw,
                     pg_temp.shop_imp, pg_temp.shop_cum_cat, pg_temp.shop_cum_prod,
                     pg_temp.shop_taste_draw, pg_temp.shop_price_z;

SELECT setseed(((:seed)::bigint % 1999 - 999) / 1000.0);

-- categories: popularity weight 1 / (rank)^0.7
CREATE TABLE shop_categories AS
SELECT c AS category_id,
       coalesce((ARRAY['electronics','books','fashion','home','beauty','sports','toys','grocery',
                       'garden','music','health','automotive'])[c + 1], 'category_' || c) AS category,
       1.0 / power(c + 1, 0.7) AS weight
  FROM generate_series(0, :n_categories - 1) c;

-- products: categories round robin; popularity Zipf-like within the category
-- (rank^-1, jittered); log-normal price around a category level; 6 brands
-- per category (skewed) plus a few brands sold in every category
CREATE TEMP TABLE shop_product_draw AS
SELECT p, random() AS u1, random() AS u2, random() AS u_brand, random() AS u_brand2, random() AS u_pop
  FROM generate_series(1, :n_products) p;

CREATE TABLE shop_products AS
SELECT p AS product_id, c.category,
       round((exp(ln(8 + 25 * ((c.category_id * 5) % 12)) + 0.6 * z))::numeric, 2) AS price,
       CASE WHEN u_brand < 0.12 THEN 'global_' || floor(u_brand * 100)::int % 4
            ELSE c.category || '_' || floor(power(u_brand2, 2) * 6)::int END AS brand,
       power((p - 1) / :n_categories + 1, -1.0) * (0.7 + 0.6 * u_pop) AS popularity
  FROM shop_product_draw r,
       LATERAL (SELECT sqrt(-2 * ln(1 - r.u1)) * cos(2 * pi() * r.u2) AS z) n,
       shop_categories c
 WHERE c.category_id = (p - 1) % :n_categories
 ORDER BY p;

-- customers: skewed countries, age ~ N(38, 12) in [18, 80], sign-ups over
-- 2.5 years, more of them recently; activity log-normal (median ~8 views)
CREATE TEMP TABLE shop_customers_draw AS
SELECT cu AS customer_id,
       (ARRAY['DE','FR','GB','IT','ES','NL','PL','SE'])[
           CASE WHEN u_c < 0.25 THEN 1 WHEN u_c < 0.45 THEN 2 WHEN u_c < 0.62 THEN 3 WHEN u_c < 0.74 THEN 4
                WHEN u_c < 0.84 THEN 5 WHEN u_c < 0.91 THEN 6 WHEN u_c < 0.96 THEN 7 ELSE 8 END] AS country,
       date '2024-01-01' + floor(power(u_s, 0.7) * 911)::int AS signup_date,
       least(80, greatest(18, round(38 + 12 * sqrt(-2 * ln(1 - u_a1)) * cos(2 * pi() * u_a2))))::int AS age,
       exp(2.0 + 1.25 * sqrt(-2 * ln(1 - u_n1)) * cos(2 * pi() * u_n2)) AS activity,
       u_hint, u_fav
  FROM generate_series(1, :n_customers) cu,
       LATERAL (SELECT random() AS u_c, random() AS u_s, random() AS u_a1, random() AS u_a2,
                       random() AS u_n1, random() AS u_n2, random() AS u_hint, random() AS u_fav,
                       cu AS _cu) r
 ORDER BY cu;

CREATE TABLE shop_customers AS
SELECT customer_id, country, signup_date, age FROM shop_customers_draw ORDER BY customer_id;

-- favourites: 2 or 3; the first is the profile's category half of the time
-- (country and age band pick it), the rest drawn without replacement by
-- category popularity (exponential race: -ln(u) / weight, smallest first)
CREATE TEMP TABLE shop_fav_draw AS
SELECT d.customer_id, c AS category_id, random() AS u
  FROM shop_customers_draw d, LATERAL generate_series(0, :n_categories - 1) c;

CREATE TABLE shop_truth AS
WITH hinted AS (
  SELECT customer_id,
         CASE WHEN u_hint < 0.5
              THEN (array_position(ARRAY['DE','FR','GB','IT','ES','NL','PL','SE'], country) * 5
                    + CASE WHEN age < 30 THEN 0 WHEN age < 45 THEN 1 ELSE 2 END * 4) % :n_categories
         END AS hint,
         2 + (u_fav < 0.5)::int AS n_fav
    FROM shop_customers_draw),
ranked AS (
  SELECT f.customer_id, f.category_id, h.n_fav,
         row_number() OVER (PARTITION BY f.customer_id
                            ORDER BY (f.category_id IS NOT DISTINCT FROM h.hint) DESC,
                                     -ln(1 - f.u) / w.weight) AS r
    FROM shop_fav_draw f JOIN hinted h USING (customer_id)
    JOIN shop_categories w USING (category_id))
SELECT r.customer_id, c.category
  FROM ranked r JOIN shop_categories c USING (category_id)
 WHERE r.r <= r.n_fav
 ORDER BY r.customer_id, c.category;

-- cumulative distributions for drawing a category, and a product within it
CREATE TEMP TABLE shop_cum_cat AS
SELECT category, coalesce(sum(weight) OVER w_prev, 0) / sum(weight) OVER () AS lo,
       sum(weight) OVER w / sum(weight) OVER () AS hi
  FROM shop_categories
WINDOW w AS (ORDER BY category_id), w_prev AS (ORDER BY category_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING);

CREATE TEMP TABLE shop_cum_prod AS
SELECT product_id, category,
       coalesce(sum(popularity) OVER w_prev, 0) / sum(popularity) OVER (PARTITION BY category) AS lo,
       sum(popularity) OVER w / sum(popularity) OVER (PARTITION BY category) AS hi
  FROM shop_products
WINDOW w AS (PARTITION BY category ORDER BY product_id),
       w_prev AS (PARTITION BY category ORDER BY product_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING);

-- impressions: the customer's active span in the log is from max(sign-up,
-- 2026-01-01) to 2026-07-01; the number of views scales with it
CREATE TEMP TABLE shop_imp AS
SELECT d.customer_id, k,
       span.t0 + (span.t1 - span.t0) * random() AS viewed_at,
       random() AS u_fav, random() AS u_cat, random() AS u_prod, random() AS u_click,
       random() AS u_buy, random() AS u_dt1, random() AS u_dt2
  FROM shop_customers_draw d,
       LATERAL (SELECT greatest(timestamp '2026-01-01', d.signup_date::timestamp) AS t0,
                       timestamp '2026-07-01' AS t1) span,
       LATERAL generate_series(1, least(800, greatest(1, round(d.activity
                   * extract(epoch FROM span.t1 - span.t0) / extract(epoch FROM interval '181 days'))))::int) k
 ORDER BY d.customer_id, k;

-- taste beyond categories, drawn after everything above so that taste=categories
-- keeps the category-only log's random stream
CREATE TEMP TABLE shop_taste_draw AS
SELECT d.customer_id, d.age, r.*
  FROM shop_customers_draw d,
       LATERAL (SELECT random() AS u_t1, random() AS u_t2, random() AS u_cat, random() AS u_brand,
                       d.customer_id AS _cu) r
 ORDER BY d.customer_id;

CREATE TABLE shop_taste AS
WITH favs AS (
  SELECT customer_id, array_agg(category ORDER BY category) AS favs FROM shop_truth GROUP BY customer_id),
pick AS (
  SELECT t.customer_id, t.age, t.u_t1, t.u_t2, t.u_brand,
         f.favs[1 + floor(t.u_cat * array_length(f.favs, 1))::int] AS category
    FROM shop_taste_draw t JOIN favs f USING (customer_id))
SELECT k.customer_id,
       CASE WHEN :'taste' = 'full' THEN
            (SELECT p.brand FROM shop_products p WHERE p.category = k.category ORDER BY p.product_id
              OFFSET floor(k.u_brand * (SELECT count(*) FROM shop_products q WHERE q.category = k.category))::int
              LIMIT 1) END AS brand,
       CASE WHEN :'taste' = 'full' THEN
            0.5 * (k.age - 38) / 12.0 + 0.75 * sqrt(-2 * ln(1 - k.u_t1)) * cos(2 * pi() * k.u_t2)
            ELSE 0 END AS price_taste
  FROM pick k
 ORDER BY k.customer_id;

-- the product's log price standardised within its category
CREATE TEMP TABLE shop_price_z AS
SELECT product_id,
       coalesce((ln(price) - avg(ln(price)) OVER w) / nullif(stddev_pop(ln(price)) OVER w, 0), 0) AS z
  FROM shop_products
WINDOW w AS (PARTITION BY category);

CREATE TABLE shop_events AS
WITH imp AS (
  SELECT i.*, f.favs, coalesce(CASE WHEN i.u_fav < 0.4
                            THEN f.favs[1 + floor(i.u_cat * array_length(f.favs, 1))::int] END,
                       cc.category) AS category
    FROM shop_imp i
    JOIN (SELECT customer_id, array_agg(category ORDER BY category) AS favs FROM shop_truth GROUP BY customer_id) f
         USING (customer_id)
    JOIN shop_cum_cat cc ON i.u_cat >= cc.lo AND i.u_cat < cc.hi),
viewed AS (
  SELECT imp.customer_id, cp.product_id, imp.viewed_at,
         (imp.category = ANY (imp.favs)) AS fav, imp.u_click, imp.u_buy, imp.u_dt1, imp.u_dt2,
         least(0.9, CASE WHEN imp.category = ANY (imp.favs) THEN 0.35 ELSE 0.08 END
                    * CASE WHEN p.brand = t.brand THEN :brand_lift ELSE 1 END
                    * exp(0.5 * t.price_taste * pz.z)) AS p_click
    FROM imp JOIN shop_cum_prod cp
      ON cp.category = imp.category AND imp.u_prod >= cp.lo AND imp.u_prod < cp.hi
    JOIN shop_products p ON p.product_id = cp.product_id
    JOIN shop_price_z pz ON pz.product_id = cp.product_id
    JOIN shop_taste t ON t.customer_id = imp.customer_id)
SELECT customer_id, product_id, event_type, created_at
  FROM (SELECT customer_id, product_id, 'view' AS event_type, viewed_at AS created_at FROM viewed
        UNION ALL
        SELECT customer_id, product_id, 'click', viewed_at + make_interval(secs => 2 + 60 * u_dt1)
          FROM viewed WHERE u_click < p_click
        UNION ALL
        SELECT customer_id, product_id, 'purchase', viewed_at + make_interval(secs => 120 + 1800 * u_dt2)
          FROM viewed WHERE u_click < p_click
                        AND u_buy < CASE WHEN fav THEN 0.3 ELSE 0.12 END) e
 WHERE created_at < timestamp '2026-07-01'
 ORDER BY customer_id, created_at, product_id, event_type;

DROP TABLE shop_customers_draw, shop_fav_draw, shop_product_draw, shop_imp, shop_cum_cat, shop_cum_prod,
           shop_taste_draw, shop_price_z;
ALTER TABLE shop_products DROP COLUMN popularity;
CREATE INDEX ON shop_events (customer_id, created_at);
ANALYZE shop_categories, shop_products, shop_customers, shop_truth, shop_taste, shop_events;
