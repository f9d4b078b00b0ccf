-- limaml_evaluate, the conventional baseline (inner_steps 0), second order,
-- Meta-SGD, episodes, training controls and streaming training
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

\set n_members 400
\set n_items 64
\set n_genres 8
\set per_member 30
\set p_fav 0.9
\set p_other 0.1
\set seed 0.3
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- members 1..100 are held out of training entirely
CREATE VIEW ev_train AS SELECT * FROM planted_interactions WHERE member_id > 100;
CREATE VIEW ev_test AS SELECT * FROM planted_interactions WHERE member_id <= 100;

SELECT limaml_create_model('ev_maml', 'ev_train', embedding_dim => 8, seed => 3) > 0 AS created;
SELECT limaml_create_model('ev_conv', 'ev_train', embedding_dim => 8, seed => 3, inner_steps => 0) > 0 AS created;
SELECT count(*) FROM limaml_train('ev_maml', epochs => 15, outer_lr => 0.01, validation_fraction => 0);
SELECT count(*) FROM limaml_train('ev_conv', epochs => 15, outer_lr => 0.01, validation_fraction => 0);
SELECT training->>'method' AS method FROM limaml_model_version v JOIN limaml_model m USING (model_id)
 WHERE m.name IN ('ev_maml', 'ev_conv') AND v.version = 1 ORDER BY m.name;

-- one row per segment and predictor plus the total; members and rows add up
CREATE TEMP TABLE ev AS
SELECT 'maml' AS m, * FROM limaml_evaluate('ev_maml', 'ev_test', segments => '{10,29}')
UNION ALL
SELECT 'conv', * FROM limaml_evaluate('ev_conv', 'ev_test', segments => '{10,29}');
SELECT m, segment, members, query_rows FROM ev WHERE predictor = 'adapted' ORDER BY m, segment;
SELECT m, sum(members) FILTER (WHERE segment <> 'all') = max(members) FILTER (WHERE segment = 'all') AS members_add_up
  FROM ev WHERE predictor = 'cold' GROUP BY m ORDER BY m;
SELECT segment, predictor, members FROM limaml_evaluate('ev_maml', 'ev_test', segments => '{}');
-- bce reports AUC, NDCG and logloss, no MAE/RMSE
SELECT bool_and(auc IS NOT NULL AND member_auc IS NOT NULL AND ndcg10 IS NOT NULL AND logloss IS NOT NULL
                AND mae IS NULL AND rmse IS NULL) AS bce_metrics
  FROM ev WHERE segment = 'all' AND predictor IN ('cold', 'adapted', 'bias');
-- ev_test has no item_id column: no popularity; bias is the member's level
SELECT bool_and(auc IS NULL AND ndcg10 IS NULL AND logloss IS NULL) AS no_popularity
  FROM ev WHERE predictor = 'popularity';
-- on held-out members, adapted LiMAML beats its cold start and the conventional model
CREATE TEMP VIEW ev_all AS SELECT * FROM ev WHERE segment = 'all';
SELECT (SELECT auc FROM ev_all WHERE m = 'maml' AND predictor = 'adapted') >
       (SELECT auc FROM ev_all WHERE m = 'maml' AND predictor = 'cold') + 0.05 AS adapted_beats_cold,
       (SELECT auc FROM ev_all WHERE m = 'maml' AND predictor = 'adapted') >
       (SELECT auc FROM ev_all WHERE m = 'conv' AND predictor = 'adapted') + 0.05 AS maml_beats_conventional,
       (SELECT logloss FROM ev_all WHERE m = 'maml' AND predictor = 'adapted') <
       (SELECT logloss FROM ev_all WHERE m = 'conv' AND predictor = 'adapted') AS maml_logloss_lower,
       (SELECT member_auc FROM ev_all WHERE m = 'maml' AND predictor = 'adapted') >
       (SELECT member_auc FROM ev_all WHERE m = 'conv' AND predictor = 'adapted') AS per_member_auc_higher,
       (SELECT ndcg10 FROM ev_all WHERE m = 'maml' AND predictor = 'adapted') >
       (SELECT ndcg10 FROM ev_all WHERE m = 'maml' AND predictor = 'cold') AS ndcg_improves;
-- the conventional model does not adapt: cold equals adapted
SELECT (SELECT auc FROM ev_all WHERE m = 'conv' AND predictor = 'cold') =
       (SELECT auc FROM ev_all WHERE m = 'conv' AND predictor = 'adapted') AS conventional_does_not_adapt;
-- the baselines do not depend on the model
SELECT bool_and(a.auc = b.auc AND a.ndcg10 = b.ndcg10 AND a.logloss = b.logloss) AS same_bias
  FROM ev a JOIN ev b USING (segment, predictor) WHERE a.m = 'maml' AND b.m = 'conv' AND predictor = 'bias';

-- with item ids in the source, the popularity and bias baselines rank items;
-- planted tastes make item popularity uninformative, adaptation is not
CREATE VIEW ev_test_ids AS
SELECT pi.*, it.item_id FROM planted_interactions pi JOIN planted_items it ON it.features = pi.item_features
 WHERE pi.member_id <= 100;
CREATE TEMP VIEW evi AS SELECT * FROM limaml_evaluate('ev_maml', 'ev_test_ids') WHERE segment = 'all';
SELECT bool_and(auc IS NOT NULL AND ndcg10 IS NOT NULL AND member_auc IS NOT NULL) AS baselines_defined
  FROM evi WHERE predictor IN ('popularity', 'bias');
SELECT (SELECT auc FROM evi WHERE predictor = 'adapted') > (SELECT auc FROM evi WHERE predictor = 'popularity') + 0.1
         AS adapted_auc_beats_popularity,
       (SELECT auc FROM evi WHERE predictor = 'adapted') > (SELECT auc FROM evi WHERE predictor = 'bias') + 0.1
         AS adapted_auc_beats_bias,
       (SELECT ndcg10 FROM evi WHERE predictor = 'adapted') > (SELECT ndcg10 FROM evi WHERE predictor = 'popularity')
         AS adapted_ndcg_beats_popularity,
       (SELECT member_auc FROM evi WHERE predictor = 'adapted') > (SELECT member_auc FROM evi WHERE predictor = 'bias')
         AS adapted_member_auc_beats_bias;
-- the model's own rows do not change
SELECT bool_and(a.auc = b.auc AND a.ndcg10 = b.ndcg10) AS same_model_rows
  FROM evi a JOIN ev_all b USING (predictor) WHERE b.m = 'maml' AND predictor IN ('cold', 'adapted');

-- query_fraction: the newest 20 % of 30 rows are 6 query rows per member
SELECT members, query_rows FROM limaml_evaluate('ev_maml', 'ev_test', query_fraction => 0.2)
 WHERE segment = 'all' AND predictor = 'adapted';
-- validation_fraction picks the training split's validation members
SELECT members < 100 AND members > 0 AS some_members
  FROM limaml_evaluate('ev_maml', 'ev_test', validation_fraction => 0.5) WHERE segment = 'all' AND predictor = 'cold';
-- bad arguments
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate('ev_maml', segments => '{20,10}') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate('ev_maml', segments => '{0}') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate('ev_maml', segments => '{5,NULL}') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate('ev_maml', segments => array(SELECT generate_series(1, 101))) $$);
SELECT count(*) AS rows_without_bounds FROM limaml_evaluate('ev_maml', 'ev_test', segments => '{}');
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate('ev_maml', query_fraction => 1.5) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate('ev_maml', validation_fraction => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate('nope') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate(NULL) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate('ev_maml', segments => NULL) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate_members(NULL) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate_members('ev_maml', query_fraction => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_evaluate_members('nope') $$);

-- the baselines by hand: three members, items 10 and 20, the newest row of each
-- is its query row (query_size 1).  Statistics rows (the others): 4, 2, 2, 1, so
-- mu = 2.25; item 10: sum 6 over 2, item 20: sum 3 over 2.
--   popularity(10) = (6 + 10 mu) / (2 + 10) = 2.375, popularity(20) = 2.125
--   errors 5 - 2.375, 3 - 2.125, 3 - 2.375: MAE 4.125 / 3 = 1.375
--   b_10 = (6 - 2 mu) / (2 + 25) = 1/18, b_20 = -1/18
--   member 1: b_u = ((4 - mu - 1/18) + (2 - mu + 1/18)) / (2 + 10) = 0.125,   prediction 2.430556
--   member 2: b_u = (2 - mu - 1/18) / (1 + 10) = -0.027778,                  prediction 2.166667
--   member 3: b_u = (1 - mu + 1/18) / (1 + 10) = -0.108586,                  prediction 2.196970
--   bias MAE (2.569444 + 0.833333 + 0.803030) / 3 = 1.401936
-- without item_id: popularity NULL, bias = mu + b_u (b_i = 0):
--   predictions 2.375, 2.227273, 2.136364: MAE (2.625 + 0.772727 + 0.863636) / 3 = 1.420455
CREATE TABLE ev_tiny (member_id bigint, member_features real[], item_features real[], label real,
                      ts timestamptz, item_id bigint);
INSERT INTO ev_tiny VALUES
  (1, '{0}', '{1}', 4, '2026-01-01', 10), (1, '{0}', '{1}', 2, '2026-01-02', 20), (1, '{0}', '{1}', 5, '2026-01-03', 10),
  (2, '{0}', '{1}', 2, '2026-01-01', 10), (2, '{0}', '{1}', 3, '2026-01-02', 20),
  (3, '{0}', '{1}', 1, '2026-01-01', 20), (3, '{0}', '{1}', 3, '2026-01-02', 10);
CREATE VIEW ev_tiny_no_ids AS SELECT member_id, member_features, item_features, label, ts FROM ev_tiny;
SELECT limaml_create_model('ev_tiny', 'ev_tiny', embedding_dim => 2, loss => 'mse', support_size => 10,
                           query_size => 1, item_buckets => 0, seed => 3) > 0 AS created;
SELECT predictor, members, query_rows, round(mae::numeric, 5) AS mae, round(rmse::numeric, 5) AS rmse, ndcg10
  FROM limaml_evaluate('ev_tiny', segments => '{}') WHERE segment = 'all' AND predictor IN ('popularity', 'bias');
SELECT predictor, round(mae::numeric, 5) AS mae
  FROM limaml_evaluate('ev_tiny', 'ev_tiny_no_ids', segments => '{}') WHERE segment = 'all' AND predictor IN ('popularity', 'bias');
SELECT member_id, n_total, query_rows, predictor, round(mae::numeric, 5) AS mae
  FROM limaml_evaluate_members('ev_tiny') WHERE predictor IN ('popularity', 'bias') ORDER BY member_id, predictor;
-- a model trained elsewhere: its source adds the rows of members the evaluated
-- source does not have (member 9: item 10 rated 1, item 20 rated 5), not those
-- of members it has (member 1's row in ev_tiny_train is ignored).  mu = 15 / 6;
-- item 10: sum 7 over 3, item 20: sum 8 over 3;
--   popularity(10) = (7 + 25) / 13, popularity(20) = (8 + 25) / 13
--   MAE (5 - 32/13 + 3 - 33/13 + 3 - 32/13) / 3 = (143 - 97) / 39 = 1.179487
CREATE TABLE ev_tiny_train (LIKE ev_tiny);
INSERT INTO ev_tiny_train VALUES
  (9, '{0}', '{1}', 1, '2026-01-01', 10), (9, '{0}', '{1}', 5, '2026-01-02', 20), (1, '{0}', '{1}', 1, '2026-01-01', 20);
SELECT limaml_create_model('ev_tiny2', 'ev_tiny_train', embedding_dim => 2, loss => 'mse', support_size => 10,
                           query_size => 1, item_buckets => 0, seed => 3) > 0 AS created;
SELECT predictor, round(mae::numeric, 5) AS mae
  FROM limaml_evaluate('ev_tiny2', 'ev_tiny', segments => '{}') WHERE segment = 'all' AND predictor = 'popularity';

-- mse reports MAE and RMSE
CREATE VIEW ev_ratings AS
SELECT pi.member_id, pi.member_features, pi.item_features, (pi.label * 4 + 1)::real AS label, pi.ts, it.item_id
  FROM planted_interactions pi JOIN planted_items it ON it.features = pi.item_features;
SELECT limaml_create_model('ev_mse', 'ev_ratings', embedding_dim => 8, loss => 'mse', seed => 3) > 0 AS created;
SELECT count(*) FROM limaml_train('ev_mse', epochs => 10, outer_lr => 0.01);
CREATE TEMP TABLE evs AS SELECT * FROM limaml_evaluate('ev_mse', validation_fraction => 0.1) WHERE segment = 'all';
SELECT (SELECT mae FROM evs WHERE predictor = 'adapted') < (SELECT mae FROM evs WHERE predictor = 'cold') AS mae_improves,
       (SELECT rmse FROM evs WHERE predictor = 'adapted') < (SELECT rmse FROM evs WHERE predictor = 'cold') AS rmse_improves,
       bool_and(auc BETWEEN 0 AND 1 AND member_auc BETWEEN 0 AND 1 AND logloss IS NULL AND mae IS NOT NULL
                AND ndcg10 IS NOT NULL) AS mse_metrics,
       -- auc and member_auc are the concordance of the predictions with the values
       (SELECT auc FROM evs WHERE predictor = 'adapted') > (SELECT auc FROM evs WHERE predictor = 'cold') AS adapted_ranks_better,
       (SELECT member_auc FROM evs WHERE predictor = 'adapted') > (SELECT member_auc FROM evs WHERE predictor = 'cold')
         AS adapted_ranks_members_better
  FROM evs;
-- per member: the same members and rows, and the mean NDCG is the aggregate's
CREATE TEMP TABLE evm AS SELECT * FROM limaml_evaluate_members('ev_mse', validation_fraction => 0.1);
SELECT count(DISTINCT member_id) = (SELECT members FROM evs WHERE predictor = 'cold') AS same_members,
       sum(query_rows) FILTER (WHERE predictor = 'cold') = (SELECT query_rows FROM evs WHERE predictor = 'cold') AS same_rows
  FROM evm;
SELECT bool_and(abs(m.ndcg - e.ndcg10) < 1e-5) AS same_ndcg
  FROM (SELECT predictor, avg(ndcg10) AS ndcg FROM evm GROUP BY predictor) m JOIN evs e USING (predictor);
-- popularity as documented: item statistics from every row except the
-- evaluated members' query rows (their newest 10)
WITH r AS (
  SELECT s.*, member_id IN (SELECT member_id FROM evm)
              AND row_number() OVER (PARTITION BY member_id ORDER BY ts DESC) <= 10 AS is_query
    FROM ev_ratings s),
mu AS (SELECT avg(label) AS mu FROM r WHERE NOT is_query),
items AS (SELECT item_id, sum(label) AS s, count(*) AS n FROM r WHERE NOT is_query GROUP BY item_id)
SELECT abs(avg(abs(r.label - (coalesce(i.s, 0) + 10 * mu) / (coalesce(i.n, 0) + 10))) -
           (SELECT mae FROM evs WHERE predictor = 'popularity')) < 1e-4 AS popularity_as_documented
  FROM r CROSS JOIN mu LEFT JOIN items i USING (item_id) WHERE r.is_query;

-- second order, Meta-SGD and episodes train and adapt
SELECT limaml_create_model('ev_so', 'ev_train', embedding_dim => 8, seed => 3, meta_sgd => true) > 0 AS created;
SELECT count(*) FROM limaml_train('ev_so', epochs => 10, outer_lr => 0.01, maml_order => 2, episodes => 3);
SELECT training->>'method' AS method, training->>'maml_order' AS ord, training->>'episodes' AS episodes
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'ev_so' AND v.version = 1;
SELECT (SELECT auc FROM limaml_evaluate('ev_so', 'ev_test') WHERE segment = 'all' AND predictor = 'adapted') >
       (SELECT auc FROM limaml_evaluate('ev_so', 'ev_test') WHERE segment = 'all' AND predictor = 'cold') + 0.1
         AS second_order_adapts;
SELECT jsonb_array_length(limaml_model_export('ev_so')->'inner_rates') AS rate_layers,
       (limaml_model_export('ev_so')->'config'->>'meta_sgd')::boolean AS meta_sgd;

-- early stopping keeps the best epoch's parameters
SELECT limaml_create_model('ev_es', 'ev_train', embedding_dim => 8, seed => 3) > 0 AS created;
CREATE TEMP TABLE es AS SELECT * FROM limaml_train('ev_es', epochs => 60, outer_lr => 0.05, patience => 3, validation_fraction => 0.3);
SELECT count(*) < 60 AS stopped_early FROM es;
SELECT (training->>'kept_epoch')::int = (SELECT epoch FROM es ORDER BY val_loss_adapted, epoch LIMIT 1) AS kept_best
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'ev_es' AND v.version = 1;

-- gradient clipping, and streaming when the data exceeds maintenance_work_mem
CREATE VIEW ev_big AS
SELECT * FROM planted_interactions
UNION ALL
SELECT member_id + 1000, member_features, item_features, label, ts FROM planted_interactions;
SELECT limaml_create_model('ev_st', 'ev_big', embedding_dim => 8, seed => 3) > 0 AS created;
SET maintenance_work_mem = '1MB';
SELECT count(*) FROM limaml_train('ev_st', epochs => 2, outer_lr => 0.01, clip_norm => 1.0, validation_fraction => 0.2);
RESET maintenance_work_mem;
SELECT (SELECT auc FROM limaml_evaluate('ev_st', 'ev_test') WHERE segment = 'all' AND predictor = 'adapted') >
       (SELECT auc FROM limaml_evaluate('ev_st', 'ev_test') WHERE segment = 'all' AND predictor = 'cold')
         AS streamed_model_adapts;
SELECT training->>'streamed' AS streamed, training->>'clip_norm' AS clip_norm
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'ev_st' AND v.version = 1;
SELECT pg_temp.err($$ SELECT * FROM limaml_train('ev_st', clip_norm => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('ev_st', patience => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('ev_st', maml_order => 3) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('ev_st', episodes => 0) $$);

SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name LIKE 'ev\_%';
DROP VIEW evi, ev_all;
DROP VIEW ev_train, ev_test, ev_test_ids, ev_ratings, ev_big, ev_tiny_no_ids;
DROP TABLE ev_tiny, ev_tiny_train;
DROP TABLE planted_interactions, planted_members, planted_items;
