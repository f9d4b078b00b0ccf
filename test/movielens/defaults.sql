-- MovieLens with limaml's DEFAULTS (run by test/movielens/defaults.sh after load.sql):
-- 20 % of members are held out of training (movielens.held_out); for each seed, LiMAML
-- (every argument at its default) and the conventional network (the same, inner_steps => 0:
-- same features, item ids, wide part and training options, no adaptation) are trained on the
-- rest; held-out members are adapted on their older rows and scored on their newest 20 %,
-- next to the popularity and bias baselines of limaml_evaluate on the same rows.
-- psql variables: seeds, boot, create_args ('' or ', ' and extra named arguments).

\set ON_ERROR_STOP 1
\if :{?create_args} \else \set create_args '' \endif
SET client_min_messages = warning;
\pset footer off

CREATE TEMP TABLE runs AS
SELECT s AS seed, l AS loss, k AS kind, format('ml_%s_%s_%s', l, k, s) AS model
  FROM generate_series(1, :seeds) s, unnest('{bce,mse}'::text[]) l, unnest('{limaml,conventional}'::text[]) k;

SELECT count(limaml_create_model(model, ('movielens.train_' || loss)::regclass, loss => loss, seed => seed,
                                 inner_steps => CASE kind WHEN 'conventional' THEN 0 ELSE 5 END :create_args))
  FROM runs \g /dev/null

\if :{?train_args} \else \set train_args '' \endif
SELECT set_config('limaml_bench.train_args', :'train_args', false) \g /dev/null
CREATE TEMP TABLE timings (model text, seconds numeric);
DO $$
DECLARE r record; t0 timestamptz;
BEGIN
  FOR r IN SELECT * FROM runs ORDER BY model LOOP
    t0 := clock_timestamp();
    EXECUTE format('SELECT count(*) FROM limaml_train(%L %s)', r.model, current_setting('limaml_bench.train_args'));
    INSERT INTO timings VALUES (r.model, extract(epoch FROM clock_timestamp() - t0));
  END LOOP;
END $$;

-- a learned ridge λ (learn_lambda): its values for w₀, each item-feature column (wide_features), w_f
SELECT r.model, v.training->'ridge_lambda_learned' AS ridge_lambda_learned
  FROM runs r JOIN limaml_model m ON m.name = r.model
  JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
 WHERE v.training ? 'ridge_lambda_learned' ORDER BY r.model;

-- per member and predictor; the baselines come from the LiMAML runs (they do not depend on the model)
CREATE TEMP TABLE pm AS
SELECT r.seed, r.loss, CASE WHEN e.predictor IN ('popularity', 'bias') THEN e.predictor
                            WHEN r.kind = 'conventional' THEN 'conventional'
                            ELSE 'limaml ' || e.predictor END AS method,
       e.member_id, e.n_total, e.query_rows, e.auc, e.ndcg10, e.mae
  FROM runs r, LATERAL limaml_evaluate_members(r.model, ('movielens.test_' || r.loss)::regclass,
                                               query_fraction => 0.2) e
 WHERE (r.kind = 'limaml') OR e.predictor = 'adapted';
CREATE TEMP TABLE pooled AS
SELECT r.seed, r.loss, CASE WHEN e.predictor IN ('popularity', 'bias') THEN e.predictor
                            WHEN r.kind = 'conventional' THEN 'conventional'
                            ELSE 'limaml ' || e.predictor END AS method,
       e.segment, e.members, e.auc, e.mae
  FROM runs r, LATERAL limaml_evaluate(r.model, ('movielens.test_' || r.loss)::regclass,
                                       segments => '{30,60,150}', query_fraction => 0.2) e
 WHERE (r.kind = 'limaml') OR e.predictor = 'adapted';

-- segments by the member's number of ratings
CREATE TEMP TABLE seg AS
SELECT DISTINCT member_id, n_total, CASE WHEN n_total <= 30 THEN '1-30' WHEN n_total <= 60 THEN '31-60'
                                         WHEN n_total <= 150 THEN '61-150' ELSE '151+' END AS segment
  FROM pm;

-- bootstrap over members: :boot resamples of the members of each segment (and of all), the
-- same resamples for every method, seed and metric
SELECT setseed(0.5) \g /dev/null
CREATE TEMP TABLE draws AS
WITH groups AS (SELECT segment AS grp, member_id FROM seg UNION ALL SELECT 'all', member_id FROM seg),
numbered AS (SELECT grp, member_id, row_number() OVER (PARTITION BY grp ORDER BY member_id) AS i,
                    count(*) OVER (PARTITION BY grp) AS m FROM groups)
SELECT g.grp, b, n.member_id
  FROM (SELECT DISTINCT grp, m FROM numbered) g
 CROSS JOIN generate_series(1, :boot) b
 CROSS JOIN LATERAL (SELECT 1 + floor(random() * g.m)::int AS pick FROM generate_series(1, g.m::int) k
                      WHERE b > 0) p
  JOIN numbered n ON n.grp = g.grp AND n.i = p.pick;

-- a metric's mean over seeds on all members of a group, and its 2.5/97.5 % bootstrap percentiles
CREATE TEMP TABLE per_member AS
SELECT pm.*, s.segment FROM pm JOIN seg s USING (member_id);
CREATE TEMP TABLE point AS
SELECT grp, loss, method,
       avg(auc) AS member_auc, avg(ndcg10) AS ndcg10, sum(mae * query_rows) / sum(query_rows) AS mae
  FROM (SELECT segment AS grp, * FROM per_member UNION ALL SELECT 'all', * FROM per_member) x
 GROUP BY 1, 2, 3;
CREATE TEMP TABLE boot AS
SELECT d.grp, p.loss, p.method, d.b,
       avg(p.auc) AS member_auc, avg(p.ndcg10) AS ndcg10, sum(p.mae * p.query_rows) / sum(p.query_rows) AS mae
  FROM draws d JOIN per_member p USING (member_id)
 GROUP BY 1, 2, 3, 4;
CREATE TEMP TABLE ci AS
SELECT grp, loss, method,
       percentile_cont(0.025) WITHIN GROUP (ORDER BY member_auc) AS auc_lo,
       percentile_cont(0.975) WITHIN GROUP (ORDER BY member_auc) AS auc_hi,
       percentile_cont(0.025) WITHIN GROUP (ORDER BY ndcg10) AS ndcg_lo,
       percentile_cont(0.975) WITHIN GROUP (ORDER BY ndcg10) AS ndcg_hi,
       percentile_cont(0.025) WITHIN GROUP (ORDER BY mae) AS mae_lo,
       percentile_cont(0.975) WITHIN GROUP (ORDER BY mae) AS mae_hi
  FROM boot GROUP BY 1, 2, 3;

CREATE FUNCTION pg_temp.fmt(x float8, lo float8, hi float8) RETURNS text LANGUAGE sql AS
$$ SELECT CASE WHEN x IS NULL THEN '' ELSE to_char(x, 'FM0.000') || coalesce(' [' || to_char(lo, 'FM0.000') || ', ' || to_char(hi, 'FM0.000') || ']', '') END $$;
CREATE TEMP VIEW grp_order AS SELECT * FROM (VALUES ('1-30', 1), ('31-60', 2), ('61-150', 3), ('151+', 4), ('all', 5)) v(grp, o);

\echo
\echo '### bce (rating >= 4): pooled AUC, mean over seeds (min-max over seeds)'
SELECT g.grp AS segment, max(p.members) AS members, string_agg(format('%s %s (%s-%s)', method, to_char(a, 'FM0.000'), to_char(lo, 'FM0.000'), to_char(hi, 'FM0.000')), ' | ' ORDER BY method) AS "pooled AUC"
  FROM grp_order g
  JOIN (SELECT CASE segment WHEN 'all' THEN 'all' ELSE replace(segment, '+', '+') END AS grp, method, avg(auc) a, min(auc) lo, max(auc) hi, max(members) members
          FROM pooled WHERE loss = 'bce' AND method <> 'limaml cold' GROUP BY 1, 2) p ON p.grp = g.grp
 GROUP BY g.grp, g.o ORDER BY g.o;

\echo '### bce: per-member AUC and NDCG@10, mean over seeds [95 % bootstrap interval over members]'
SELECT p.grp AS segment, p.method, pg_temp.fmt(p.member_auc, c.auc_lo, c.auc_hi) AS "per-member AUC",
       pg_temp.fmt(p.ndcg10, c.ndcg_lo, c.ndcg_hi) AS "NDCG@10"
  FROM point p JOIN ci c USING (grp, loss, method) JOIN grp_order g USING (grp)
 WHERE p.loss = 'bce' ORDER BY g.o, p.method;

\echo '### mse (the rating): MAE, mean over seeds [95 % bootstrap interval over members]'
SELECT p.grp AS segment, p.method, pg_temp.fmt(p.mae, c.mae_lo, c.mae_hi) AS "MAE",
       pg_temp.fmt(p.ndcg10, c.ndcg_lo, c.ndcg_hi) AS "NDCG@10"
  FROM point p JOIN ci c USING (grp, loss, method) JOIN grp_order g USING (grp)
 WHERE p.loss = 'mse' ORDER BY g.o, p.method;

\echo '### training time (seconds, mean over seeds)'
SELECT r.loss, r.kind, round(avg(t.seconds), 2) AS seconds FROM runs r JOIN timings t USING (model) GROUP BY 1, 2 ORDER BY 1, 2;

-- Ranking the liked items (rating >= 4) with each model, on the same held-out query rows
-- (each member's newest ceil(0.2 n - 1e-6) rows by (ts, item_id), as limaml_evaluate splits them;
-- adapted on the rows before them): what a model trained on the ratings (mse) gives a
-- recommender that ranks by predicted rating, next to the bce model trained on the >= 4 label.
CREATE TEMP TABLE rk_rows AS
SELECT member_id, member_features, item_features, label AS rating, ts, item_id,
       row_number() OVER (PARTITION BY member_id ORDER BY ts, item_id) AS k,
       count(*) OVER (PARTITION BY member_id) AS n
  FROM movielens.test_mse;
CREATE TEMP TABLE rk_pred AS
SELECT r.seed, r.loss, r.kind, q.member_id, q.rating >= 4 AS liked,
       limaml_score(e.embedding, q.item_features, q.item_id) AS score
  FROM runs r
 CROSS JOIN LATERAL (SELECT member_id,
                            limaml_adapt_agg(r.model, member_features, item_features,
                                             CASE r.loss WHEN 'bce' THEN (rating >= 4)::int::real ELSE rating END,
                                             ts, item_id) AS embedding
                       FROM rk_rows WHERE k <= n - ceil(0.2 * n - 1e-6) GROUP BY member_id) e
  JOIN rk_rows q ON q.member_id = e.member_id AND q.k > q.n - ceil(0.2 * q.n - 1e-6);
-- AUC by Mann-Whitney with mid-ranks for ties; NULL without both classes
CREATE FUNCTION pg_temp.auc(s float8[], p bool[]) RETURNS float8 LANGUAGE sql AS $$
  WITH x AS (SELECT v, l, rank() OVER (ORDER BY v) + (count(*) OVER (PARTITION BY v) - 1) / 2.0 AS r
               FROM unnest(s, p) u(v, l))
  SELECT CASE WHEN bool_and(l) OR NOT bool_or(l) THEN NULL ELSE
         (sum(r) FILTER (WHERE l) - sum(l::int) * (sum(l::int) + 1) / 2.0) / (sum(l::int) * sum((NOT l)::int)) END
    FROM x $$;
\echo
\echo '### ranking the liked items (rating >= 4): pooled and per-member AUC, mean over seeds'
WITH pooled AS (SELECT seed, loss, kind, pg_temp.auc(array_agg(score), array_agg(liked)) AS auc
                  FROM rk_pred GROUP BY seed, loss, kind),
     per_member AS (SELECT seed, loss, kind, avg(auc) AS auc
                      FROM (SELECT seed, loss, kind, pg_temp.auc(array_agg(score), array_agg(liked)) AS auc
                              FROM rk_pred GROUP BY seed, loss, kind, member_id) m
                     GROUP BY seed, loss, kind)
SELECT loss AS trained_on, kind, round(avg(p.auc)::numeric, 3) AS pooled_auc, round(avg(m.auc)::numeric, 3) AS member_auc
  FROM pooled p JOIN per_member m USING (seed, loss, kind)
 GROUP BY loss, kind ORDER BY loss, kind;
