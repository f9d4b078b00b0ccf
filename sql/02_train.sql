-- limaml_train on planted preferences: learning, versions, determinism
-- (per-epoch NOTICEs carry losses whose last digits vary by CPU)
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '(OID|model id) \d+', '\1 N', 'g');
END $$;

\set n_members 300
\set n_items 64
\set n_genres 8
\set per_member 30
\set p_fav 0.9
\set p_other 0.1
\set seed 0.42
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- ------------------------------------------------------------ learning

SELECT limaml_create_model('tr', 'planted_interactions', seed => 7) > 0 AS created;
CREATE TEMP TABLE tr_run1 AS
SELECT * FROM limaml_train('tr', epochs => 20, outer_lr => 0.01, validation_fraction => 0.3);
-- one row per epoch, in order
SELECT count(*) AS epochs, array_agg(epoch ORDER BY epoch) = array(SELECT generate_series(1, 20)) AS in_order
  FROM tr_run1;
-- every metric is defined and sane
SELECT bool_and(train_loss > 0 AND val_loss_cold > 0 AND val_loss_adapted > 0) AS positive_losses,
       bool_and(val_auc_cold BETWEEN 0 AND 1 AND val_auc_adapted BETWEEN 0 AND 1) AS aucs_in_range
  FROM tr_run1;
-- adaptation to the member's own rows beats the cold start, and training helped
SELECT val_auc_adapted > val_auc_cold + 0.1 AS adapted_auc_wins,
       val_loss_adapted < val_loss_cold AS adapted_loss_wins,
       val_auc_adapted > 0.65 AS adapted_auc_good
  FROM tr_run1 WHERE epoch = 20;
SELECT (SELECT train_loss FROM tr_run1 WHERE epoch = 20) < (SELECT train_loss FROM tr_run1 WHERE epoch = 1)
       AS train_loss_fell;

-- the new version is active and records how it was trained
SELECT active_version FROM limaml_model WHERE name = 'tr';
SELECT v.version, v.training->'method' AS method, v.training->'maml_order' AS maml_order, v.training->'from_version' AS from_version,
       v.training->'epochs' AS epochs, v.training->'meta_batch' AS meta_batch,
       (v.training->>'outer_lr')::real AS outer_lr, (v.training->>'validation_fraction')::real AS validation_fraction,
       jsonb_array_length(v.training->'history') AS history
  FROM limaml_model_version v JOIN limaml_model m USING (model_id)
 WHERE m.name = 'tr' ORDER BY v.version;
-- the stored history is what limaml_train returned (stored with 6 significant digits)
SELECT count(*) AS epochs_matching
  FROM tr_run1 r
  JOIN LATERAL jsonb_array_elements((SELECT v.training->'history' FROM limaml_model_version v
                                       JOIN limaml_model m USING (model_id)
                                      WHERE m.name = 'tr' AND v.version = 1)) h
    ON (h->>'epoch')::int = r.epoch
 WHERE abs((h->>'train_loss')::float8 - r.train_loss) <= 1e-5 * r.train_loss
   AND abs((h->>'val_loss_cold')::float8 - r.val_loss_cold) <= 1e-5 * r.val_loss_cold
   AND abs((h->>'val_loss_adapted')::float8 - r.val_loss_adapted) <= 1e-5 * r.val_loss_adapted
   AND abs((h->>'val_auc_cold')::float8 - r.val_auc_cold) <= 1e-5
   AND abs((h->>'val_auc_adapted')::float8 - r.val_auc_adapted) <= 1e-5;
-- trained parameters differ from the initialization
SELECT (SELECT params FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'tr' AND version = 0)
    <> (SELECT params FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'tr' AND version = 1)
       AS params_changed;

-- training again continues from the active version and adds another
SELECT count(*) AS epochs FROM limaml_train('tr', epochs => 2, meta_batch => 1000, outer_lr => 0.001);
SELECT active_version FROM limaml_model WHERE name = 'tr';
SELECT v.version, v.training->'from_version' AS from_version, v.training->'epochs' AS epochs,
       v.training->'meta_batch' AS meta_batch
  FROM limaml_model_version v JOIN limaml_model m USING (model_id)
 WHERE m.name = 'tr' ORDER BY v.version;
-- older versions are kept, untouched
SELECT count(*) AS versions FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'tr';

-- without validation members the validation columns are NULL
SELECT epoch, train_loss > 0 AS has_train_loss, val_loss_cold, val_loss_adapted, val_auc_cold, val_auc_adapted
  FROM limaml_train('tr', epochs => 2, outer_lr => 0.001, validation_fraction => 0);
SELECT v.training->'validation_fraction' AS validation_fraction,
       v.training->'history'->0->'val_auc_cold' AS val_auc_cold
  FROM limaml_model_version v JOIN limaml_model m USING (model_id)
 WHERE m.name = 'tr' AND v.version = m.active_version;

-- a training error stores no version and leaves the active one alone
SELECT pg_temp.err($$ SELECT * FROM limaml_train('tr', epochs => 0) $$);
SELECT active_version FROM limaml_model WHERE name = 'tr';

-- ------------------------------------------------------------ determinism

-- same seed, same data, same training: byte-identical parameters and metrics
SELECT limaml_create_model('det_a', 'planted_interactions', seed => 11) > 0 AS created;
SELECT limaml_create_model('det_b', 'planted_interactions', seed => 11) > 0 AS created;
SELECT limaml_create_model('det_c', 'planted_interactions', seed => 12) > 0 AS created;
CREATE FUNCTION pg_temp.params(model text, ver int) RETURNS bytea LANGUAGE sql AS $$
	SELECT v.params FROM limaml_model_version v JOIN limaml_model m USING (model_id)
	 WHERE m.name = model AND v.version = ver
$$;
SELECT pg_temp.params('det_a', 0) = pg_temp.params('det_b', 0) AS same_init,
       pg_temp.params('det_a', 0) <> pg_temp.params('det_c', 0) AS other_seed_other_init;
CREATE TEMP TABLE det_a AS SELECT * FROM limaml_train('det_a', epochs => 4, meta_batch => 16, outer_lr => 0.01);
CREATE TEMP TABLE det_b AS SELECT * FROM limaml_train('det_b', epochs => 4, meta_batch => 16, outer_lr => 0.01);
CREATE TEMP TABLE det_c AS SELECT * FROM limaml_train('det_c', epochs => 4, meta_batch => 16, outer_lr => 0.01);
SELECT pg_temp.params('det_a', 1) = pg_temp.params('det_b', 1) AS same_params,
       pg_temp.params('det_a', 1) <> pg_temp.params('det_c', 1) AS other_seed_other_params;
SELECT count(*) AS identical_epochs
  FROM det_a a JOIN det_b b USING (epoch)
 WHERE a.train_loss = b.train_loss AND a.val_loss_cold = b.val_loss_cold
   AND a.val_loss_adapted = b.val_loss_adapted AND a.val_auc_cold = b.val_auc_cold
   AND a.val_auc_adapted = b.val_auc_adapted;
SELECT count(*) AS identical_epochs FROM det_a a JOIN det_c c USING (epoch) WHERE a.train_loss = c.train_loss;
SELECT (SELECT training->'history' FROM limaml_model_version v JOIN limaml_model m USING (model_id)
         WHERE m.name = 'det_a' AND version = 1)
     = (SELECT training->'history' FROM limaml_model_version v JOIN limaml_model m USING (model_id)
         WHERE m.name = 'det_b' AND version = 1) AS same_history;
-- a second round from version 1 stays in step too
SELECT count(*) FROM limaml_train('det_a', epochs => 1, outer_lr => 0.01);
SELECT count(*) FROM limaml_train('det_b', epochs => 1, outer_lr => 0.01);
SELECT pg_temp.params('det_a', 2) = pg_temp.params('det_b', 2) AS same_params,
       pg_temp.params('det_a', 2) <> pg_temp.params('det_a', 1) AS moved;
-- the same seed and different hyperparameters give different results
SELECT count(*) FROM limaml_train('det_b', epochs => 1, meta_batch => 8, outer_lr => 0.01);
SELECT pg_temp.params('det_b', 3) <> pg_temp.params('det_a', 2) AS differs;

-- ------------------------------------------------------------ variants

-- exact second-order MAML, Meta-SGD rates, and no inner loop at all
SELECT limaml_create_model('tr_o2', 'planted_interactions', seed => 7, inner_steps => 2) > 0 AS created;
SELECT count(*) AS epochs, bool_and(train_loss > 0) AS finite
  FROM limaml_train('tr_o2', epochs => 2, outer_lr => 0.01, maml_order => 2);
SELECT v.training->'method' AS method, v.training->'maml_order' AS maml_order
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'tr_o2' AND v.version = 1;
SELECT limaml_create_model('tr_sgd', 'planted_interactions', seed => 7, meta_sgd => true) > 0 AS created;
CREATE TEMP TABLE sgd_run AS
SELECT * FROM limaml_train('tr_sgd', epochs => 15, outer_lr => 0.01, validation_fraction => 0.3);
SELECT val_auc_adapted > val_auc_cold + 0.1 AS adapted_auc_wins FROM sgd_run WHERE epoch = 15;
SELECT v.training->'method' AS method
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'tr_sgd' AND v.version = 1;
SELECT limaml_create_model('tr_conv', 'planted_interactions', seed => 7, inner_steps => 0) > 0 AS created;
SELECT count(*) AS epochs,
       bool_and(val_loss_cold = val_loss_adapted AND val_auc_cold = val_auc_adapted) AS nothing_to_adapt
  FROM limaml_train('tr_conv', epochs => 3, outer_lr => 0.01, validation_fraction => 0.3);
SELECT v.training->'method' AS method
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'tr_conv' AND v.version = 1;

-- ------------------------------------------------------------ mse

CREATE VIEW planted_value AS
SELECT member_id, member_features, item_features, (label * 4 - 1)::real AS label, ts
  FROM planted_interactions;
SELECT limaml_create_model('tr_mse', 'planted_value', loss => 'mse', inner_lr => 0.1, seed => 3) > 0 AS created;
CREATE TEMP TABLE mse_run AS
SELECT * FROM limaml_train('tr_mse', epochs => 20, outer_lr => 0.01, validation_fraction => 0.3);
SELECT count(*) AS epochs,
       -- for mse the AUC columns are the concordance of predictions and values
       bool_and(val_auc_cold BETWEEN 0 AND 1 AND val_auc_adapted BETWEEN 0 AND 1) AS concordance_for_mse,
       bool_and(val_loss_cold > 0 AND val_loss_adapted > 0) AS positive_losses
  FROM mse_run;
SELECT val_loss_adapted < val_loss_cold AS adapted_loss_wins, val_auc_adapted > val_auc_cold AS adapted_ranks_better
  FROM mse_run WHERE epoch = 20;
SELECT (SELECT train_loss FROM mse_run WHERE epoch = 20) < (SELECT train_loss FROM mse_run WHERE epoch = 1)
       AS train_loss_fell;
SELECT (v.training->'history'->0->>'val_auc_adapted')::float8 BETWEEN 0 AND 1 AS auc_in_history
  FROM limaml_model_version v JOIN limaml_model m USING (model_id)
 WHERE m.name = 'tr_mse' AND v.version = 1;

-- ------------------------------------------------------------ divergence

-- absurd targets and steps blow the parameters up: an error, no version
CREATE TABLE huge AS
SELECT member_id, member_features, item_features, (label * 1e30)::real AS label, ts
  FROM planted_interactions WHERE member_id <= 50;
SELECT limaml_create_model('tr_huge', 'huge', loss => 'mse', inner_lr => 100, inner_steps => 20) > 0 AS created;
SELECT pg_temp.err($$ SELECT * FROM limaml_train('tr_huge', epochs => 3, outer_lr => 1) $$);
SELECT active_version FROM limaml_model WHERE name = 'tr_huge';
SELECT count(*) AS versions FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'tr_huge';

-- ------------------------------------------------------------ members with few rows

-- members with a single row (no support set) and two rows still train
CREATE TABLE sparse AS
SELECT * FROM planted_interactions p
 WHERE p.ts <= timestamptz '2026-01-01' + make_interval(mins => 1 + (p.member_id % 3)::int);
SELECT count(*) AS rows, count(DISTINCT member_id) AS members FROM sparse;
SELECT limaml_create_model('tr_sparse', 'sparse') > 0 AS created;
SELECT count(*) AS epochs, bool_and(train_loss > 0) AS finite
  FROM limaml_train('tr_sparse', epochs => 2, outer_lr => 0.01);

SELECT limaml_drop_model(name) FROM limaml_model ORDER BY name;
SELECT count(*) AS versions_left FROM limaml_model_version;
DROP TABLE huge, sparse;
DROP VIEW planted_value;
DROP TABLE planted_interactions, planted_members, planted_items;
