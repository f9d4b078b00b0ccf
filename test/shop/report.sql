-- Markdown report of shop_eval (filled by test/shop/evaluate.sql, one run per seed):
--   psql -At -v boot=200 -f test/shop/report.sql
-- Every number is the mean over seeds of the mean over evaluated customers; the
-- interval is a 95 % percentile bootstrap over customers (resampled within each
-- seed and activity segment, :boot times).  The best SQL rule is the one with the
-- highest overall hit rate.

\set ON_ERROR_STOP 1
\if :{?boot} \else \set boot 200 \endif
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.5) \g /dev/null

CREATE TEMP TABLE ev AS
SELECT e.seed, e.method, s.segment, s.ord, e.prec_fav, e.hit, e.recall,
       row_number() OVER (PARTITION BY e.seed, s.segment, e.method ORDER BY e.customer_id)::int AS idx
  FROM shop_eval e,
       LATERAL (SELECT CASE WHEN e.n_before = 0 THEN '0 (new)' WHEN e.n_before <= 5 THEN '1–5'
                            WHEN e.n_before <= 20 THEN '6–20' WHEN e.n_before <= 50 THEN '21–50' ELSE '51+' END AS segment,
                       CASE WHEN e.n_before = 0 THEN 0 WHEN e.n_before <= 5 THEN 1
                            WHEN e.n_before <= 20 THEN 2 WHEN e.n_before <= 50 THEN 3 ELSE 4 END AS ord) s;
CREATE TEMP TABLE strata AS
SELECT seed, segment, count(*)::int AS n FROM ev WHERE method = 'popularity' GROUP BY seed, segment ORDER BY seed, segment;

-- b = 0: the sample itself; b = 1 … :boot: resamples (weights = times drawn)
CREATE TEMP TABLE weights AS
SELECT 0 AS b, seed, segment, idx, 1 AS w FROM ev WHERE method = 'popularity'
UNION ALL
SELECT b, seed, segment, idx, count(*)::int
  FROM (SELECT b, s.seed, s.segment, 1 + floor(random() * s.n)::int AS idx
          FROM strata s CROSS JOIN generate_series(1, :boot) b CROSS JOIN LATERAL generate_series(1, s.n) j) d
 GROUP BY b, seed, segment, idx;

CREATE TEMP TABLE stratum AS
SELECT w.b, w.seed, w.segment, e.method, sum(w.w) AS n,
       sum(w.w * e.prec_fav) / sum(w.w) AS prec_fav, sum(w.w * e.hit) / sum(w.w) AS hit,
       sum(w.w * e.recall) / sum(w.w) AS recall
  FROM weights w JOIN ev e USING (seed, segment, idx)
 GROUP BY w.b, w.seed, w.segment, e.method;

-- per segment: mean over seeds; overall: per seed the customer mean, then mean over seeds
CREATE TEMP TABLE stat AS
SELECT b, method, segment, avg(prec_fav) AS prec_fav, avg(hit) AS hit, avg(recall) AS recall
  FROM stratum GROUP BY b, method, segment
UNION ALL
SELECT b, method, 'all', avg(prec_fav), avg(hit), avg(recall)
  FROM (SELECT b, seed, method, sum(n * prec_fav) / sum(n) AS prec_fav, sum(n * hit) / sum(n) AS hit,
               sum(n * recall) / sum(n) AS recall
          FROM stratum GROUP BY b, seed, method) s
 GROUP BY b, method;

CREATE TEMP TABLE summary AS
SELECT p.method, p.segment, p.metric, p.v,
       percentile_cont(0.025) WITHIN GROUP (ORDER BY x.v) AS lo,
       percentile_cont(0.975) WITHIN GROUP (ORDER BY x.v) AS hi
  FROM (SELECT method, segment, 'prec_fav' AS metric, prec_fav AS v, b FROM stat
        UNION ALL SELECT method, segment, 'hit', hit, b FROM stat
        UNION ALL SELECT method, segment, 'recall', recall, b FROM stat) x
  JOIN (SELECT method, segment, 'prec_fav' AS metric, prec_fav AS v FROM stat WHERE b = 0
        UNION ALL SELECT method, segment, 'hit', hit FROM stat WHERE b = 0
        UNION ALL SELECT method, segment, 'recall', recall FROM stat WHERE b = 0) p
       USING (method, segment, metric)
 WHERE x.b > 0
 GROUP BY p.method, p.segment, p.metric, p.v;

CREATE TEMP TABLE best AS
SELECT method FROM summary WHERE method LIKE 'rule:%' AND segment = 'all' AND metric = 'hit'
 ORDER BY v DESC, method LIMIT 1;

CREATE TEMP TABLE segs AS
SELECT segment, ord, round(avg(n), 0) AS customers FROM (
  SELECT s.segment, min(e.ord) AS ord, s.seed, s.n FROM strata s JOIN ev e USING (seed, segment)
   GROUP BY s.segment, s.seed, s.n) z GROUP BY segment, ord
UNION ALL
SELECT 'all', 9, round(sum(n)::numeric / count(DISTINCT seed), 0) FROM strata;

CREATE FUNCTION pg_temp.cell(v float8, lo float8, hi float8) RETURNS text LANGUAGE sql AS
$$ SELECT format('%s [%s, %s]', to_char(v, 'FM0.000'), to_char(lo, 'FM0.000'), to_char(hi, 'FM0.000')) $$;

SELECT format(E'\n### %s\n\nSeeds: %s (mean over seeds, 95 %% bootstrap interval over customers). Customers: held out, with a later click or purchase of a product new to them; number per seed. Best SQL rule (highest overall hit rate): %s.\n',
              t.title, (SELECT count(DISTINCT seed) FROM shop_eval), (SELECT method FROM best))
       || E'\n| events before the cut | customers | limaml adapted | limaml cold | conventional network | popularity | best SQL rule |\n|---|---|---|---|---|---|---|\n'
       || string_agg(format('| %s | %s | %s | %s | %s | %s | %s |', g.segment, g.customers,
                            (SELECT pg_temp.cell(v, lo, hi) FROM summary WHERE method = 'limaml adapted' AND segment = g.segment AND metric = t.metric),
                            (SELECT pg_temp.cell(v, lo, hi) FROM summary WHERE method = 'limaml cold' AND segment = g.segment AND metric = t.metric),
                            (SELECT pg_temp.cell(v, lo, hi) FROM summary WHERE method = 'conventional network' AND segment = g.segment AND metric = t.metric),
                            (SELECT pg_temp.cell(v, lo, hi) FROM summary WHERE method = 'popularity' AND segment = g.segment AND metric = t.metric),
                            (SELECT pg_temp.cell(v, lo, hi) FROM summary s, best WHERE s.method = best.method AND segment = g.segment AND metric = t.metric)),
                     E'\n' ORDER BY g.ord)
  FROM (VALUES (1, 'prec_fav', 'Top-10 precision in the favourite categories'),
               (2, 'hit', 'Top-10 hit rate (a later click or purchase among the 10)'),
               (3, 'recall', 'Top-10 recall of later clicked or bought products')) t(ord, metric, title)
  CROSS JOIN segs g
 GROUP BY t.ord, t.metric, t.title ORDER BY t.ord;

SELECT E'\n### Every method, all customers\n\n| method | precision in favourites | hit rate | recall |\n|---|---|---|---|\n'
       || string_agg(format('| %s | %s | %s | %s |', m.method,
                            (SELECT pg_temp.cell(v, lo, hi) FROM summary WHERE method = m.method AND segment = 'all' AND metric = 'prec_fav'),
                            (SELECT pg_temp.cell(v, lo, hi) FROM summary WHERE method = m.method AND segment = 'all' AND metric = 'hit'),
                            (SELECT pg_temp.cell(v, lo, hi) FROM summary WHERE method = m.method AND segment = 'all' AND metric = 'recall')),
                     E'\n' ORDER BY m.method LIKE 'rule:%', m.method)
  FROM (SELECT DISTINCT method FROM shop_eval) m;

SELECT E'\n### Training\n\n| seed | seconds | epochs | validation AUC cold | validation AUC adapted |\n|---|---|---|---|---|\n'
       || string_agg(format('| %s | %s | %s | %s | %s |', seed, seconds, epochs,
                            to_char(val_auc_cold, 'FM0.000'), to_char(val_auc_adapted, 'FM0.000')), E'\n' ORDER BY seed)
  FROM shop_eval_train;
