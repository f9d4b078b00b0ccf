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

-- one row per segment plus the total; members and rows add up
CREATE TEMP TABLE ev AS
SELECT 'maml' AS m, * FROM limaml_evaluate('ev_maml', 'ev_test', segments => '{10,29}')
UNION ALL
SELECT 'conv', * FROM limaml_evaluate('ev_conv', 'ev_test', segments => '{10,29}');
SELECT m, segment, members, query_rows FROM ev ORDER BY m, segment;
SELECT m, sum(members) FILTER (WHERE segment <> 'all') = max(members) FILTER (WHERE segment = 'all') AS members_add_up
  FROM ev GROUP BY m ORDER BY m;
-- bce reports AUC and logloss, no MAE/RMSE
SELECT bool_and(auc_cold IS NOT NULL AND logloss_adapted IS NOT NULL AND mae_adapted IS NULL AND rmse_adapted IS NULL) AS bce_metrics
  FROM ev WHERE segment = 'all';
-- on held-out members, adapted LiMAML beats its cold start and the conventional model
SELECT (SELECT auc_adapted FROM ev WHERE m = 'maml' AND segment = 'all') >
       (SELECT auc_cold FROM ev WHERE m = 'maml' AND segment = 'all') + 0.1 AS adapted_beats_cold,
       (SELECT auc_adapted FROM ev WHERE m = 'maml' AND segment = 'all') >
       (SELECT auc_adapted FROM ev WHERE m = 'conv' AND segment = 'all') + 0.05 AS maml_beats_conventional,
       (SELECT logloss_adapted FROM ev WHERE m = 'maml' AND segment = 'all') <
       (SELECT logloss_adapted FROM ev WHERE m = 'conv' AND segment = 'all') AS maml_logloss_lower,
       (SELECT member_auc_adapted FROM ev WHERE m = 'maml' AND segment = 'all') >
       (SELECT member_auc_adapted FROM ev WHERE m = 'conv' AND segment = 'all') AS per_member_auc_higher;
-- the conventional model does not adapt: cold equals adapted
SELECT auc_cold = auc_adapted AS conventional_does_not_adapt FROM ev WHERE m = 'conv' AND segment = 'all';
-- query_fraction: the newest 20 % of 30 rows are 6 query rows per member
SELECT members, query_rows FROM limaml_evaluate('ev_maml', 'ev_test', query_fraction => 0.2) WHERE segment = 'all';
-- validation_fraction picks the training split's validation members
SELECT members < 100 AND members > 0 AS some_members
  FROM limaml_evaluate('ev_maml', 'ev_test', validation_fraction => 0.5) WHERE segment = 'all';
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

-- mse reports MAE and RMSE
CREATE VIEW ev_ratings AS
SELECT member_id, member_features, item_features, (label * 4 + 1)::real AS label, ts FROM planted_interactions;
SELECT limaml_create_model('ev_mse', 'ev_ratings', embedding_dim => 8, loss => 'mse', seed => 3) > 0 AS created;
SELECT count(*) FROM limaml_train('ev_mse', epochs => 10, outer_lr => 0.01);
SELECT mae_adapted < mae_cold AS mae_improves, rmse_adapted < rmse_cold AS rmse_improves,
       auc_adapted IS NULL AND logloss_adapted IS NULL AS no_bce_metrics
  FROM limaml_evaluate('ev_mse', validation_fraction => 0.1) WHERE segment = 'all';

-- second order, Meta-SGD and episodes train and adapt
SELECT limaml_create_model('ev_so', 'ev_train', embedding_dim => 8, seed => 3, meta_sgd => true) > 0 AS created;
SELECT count(*) FROM limaml_train('ev_so', epochs => 10, outer_lr => 0.01, "order" => 2, episodes => 3);
SELECT training->>'method' AS method, training->>'order' AS ord, training->>'episodes' AS episodes
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'ev_so' AND v.version = 1;
SELECT auc_adapted > auc_cold + 0.1 AS second_order_adapts
  FROM limaml_evaluate('ev_so', 'ev_test') WHERE segment = 'all';
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
SELECT auc_adapted > auc_cold AS streamed_model_adapts
  FROM limaml_evaluate('ev_st', 'ev_test') WHERE segment = 'all';
SELECT training->>'streamed' AS streamed, training->>'clip_norm' AS clip_norm
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'ev_st' AND v.version = 1;
SELECT pg_temp.err($$ SELECT * FROM limaml_train('ev_st', clip_norm => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('ev_st', patience => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('ev_st', "order" => 3) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('ev_st', episodes => 0) $$);

SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name LIKE 'ev\_%';
DROP VIEW ev_train, ev_test, ev_ratings, ev_big;
DROP TABLE planted_interactions, planted_members, planted_items;
