-- Names and operations (issue 11, section 4): maml_order, numeric argument
-- types, the kept epoch and loss-jump warnings, limaml_models,
-- limaml_drop_version, internal functions.  Per-epoch NOTICEs carry losses
-- whose last digits vary by CPU; WARNINGs are shown without their DETAIL.
SET client_min_messages = warning;
\set VERBOSITY terse

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM, '(OID|model id) \d+', '\1 N', 'g'), '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', 'UUID', 'g');
END $$;

\set n_members 120
\set n_items 32
\set n_genres 4
\set per_member 20
\set p_fav 0.9
\set p_other 0.1
\set seed 0.27
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- ------------------------------------------------------------ maml_order

SELECT limaml_create_model('op', 'planted_interactions', embedding_dim => 4, seed => 3) > 0 AS created;
SELECT count(*) FROM limaml_train('op', epochs => 2, maml_order => 2);
SELECT training->>'maml_order' AS maml_order, training ? 'order' AS has_order
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'op' AND v.version = 1;
SELECT pg_temp.err($$ SELECT * FROM limaml_train('op', maml_order => 3) $$);
-- the reserved word is gone from the signature
SELECT pg_temp.err($$ SELECT * FROM limaml_train('op', "order" => 2) $$);
SELECT 'maml_order' = ANY (proargnames) AS renamed, NOT 'order' = ANY (proargnames) AS no_order
  FROM pg_proc WHERE proname = 'limaml_train';
-- positional calls are unchanged: the eighth argument is the order
SELECT count(*) FROM limaml_train('op', 1, 32, 0.005, 0.1, NULL, NULL, 2);
SELECT training->>'maml_order' AS maml_order
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'op' AND v.version = 2;

-- ------------------------------------------------- numeric argument types

-- double precision variables, numeric and int literals
DO $$
DECLARE
	lr double precision := 0.01;
	fraction numeric := 0.2;
	clip int := 5;
BEGIN
	PERFORM limaml_train('op', epochs => 1, outer_lr => lr, validation_fraction => fraction,
						 clip_norm => clip, support_weight => 0.5, weight_decay => 0);
	PERFORM limaml_create_model('op_types', 'planted_interactions', embedding_dim => 4,
								inner_lr => lr * 10, adapt_lr => 0.5, seed => 3);
	PERFORM limaml_evaluate('op', query_fraction => fraction, validation_fraction => 1);
	PERFORM limaml_evaluate_members('op', query_fraction => 0.25::double precision);
END $$;
SELECT (config->>'inner_lr')::real AS inner_lr, (config->>'adapt_lr')::real AS adapt_lr
  FROM limaml_model WHERE name = 'op_types';
SELECT training->>'outer_lr' AS outer_lr, training->>'validation_fraction' AS validation_fraction,
       training->>'clip_norm' AS clip_norm
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'op' AND v.version = 3;
-- range checks are unchanged
SELECT pg_temp.err($$ SELECT * FROM limaml_train('op', outer_lr => 2::double precision) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('op', validation_fraction => 0.95) $$);
-- int parameters take int (and smallint): a bigint argument needs ::int
SELECT pg_temp.err($$ SELECT * FROM limaml_train('op', epochs => 1::bigint) $$);

-- values are kept at float32: real and double precision arguments train the same bits
SELECT limaml_create_model('op_r', 'planted_interactions', embedding_dim => 4, seed => 5, inner_lr => 0.5::real) > 0 AS r,
       limaml_create_model('op_d', 'planted_interactions', embedding_dim => 4, seed => 5, inner_lr => 0.5::double precision) > 0 AS d;
SELECT count(*) FROM limaml_train('op_r', epochs => 2, outer_lr => 0.005::real, validation_fraction => 0.1::real);
SELECT count(*) FROM limaml_train('op_d', epochs => 2, outer_lr => 0.005::double precision, validation_fraction => 0.1);
SELECT (limaml_model_export('op_r') - 'name' - 'model_uuid') = (limaml_model_export('op_d') - 'name' - 'model_uuid') AS identical_exports,
       (SELECT training->>'outer_lr' FROM limaml_model_version v JOIN limaml_model m USING (model_id)
         WHERE m.name = 'op_d' AND v.version = 1) AS stored_outer_lr;

-- ------------------------------------------------- kept epoch and jumps

CREATE TEMP TABLE run AS SELECT * FROM limaml_train('op', epochs => 3, outer_lr => 0.01);
SELECT epoch, kept FROM run ORDER BY epoch;
CREATE TEMP TABLE run_es AS
SELECT * FROM limaml_train('op', epochs => 15, outer_lr => 0.05, patience => 2, validation_fraction => 0.3);
SELECT count(*) FILTER (WHERE kept) AS kept_rows,
       (SELECT epoch FROM run_es WHERE kept) = (SELECT (training->>'kept_epoch')::int
          FROM limaml_model_version v JOIN limaml_model m USING (model_id)
         WHERE m.name = 'op' AND v.version = m.active_version) AS kept_is_recorded,
       (SELECT epoch FROM run_es WHERE kept) = (SELECT epoch FROM run_es ORDER BY val_loss_adapted, epoch LIMIT 1)
         AS kept_is_best
  FROM run_es;
-- a loss that more than doubles warns (rates far too high): the adapted
-- validation loss, else the training loss
SELECT limaml_create_model('op_jump', 'planted_interactions', embedding_dim => 4, seed => 3, inner_lr => 10) > 0 AS created;
SELECT count(*) FROM limaml_train('op_jump', epochs => 2, outer_lr => 1, validation_fraction => 0.3,
                                  lr_schedule => 'constant', weight_decay => 0);
SELECT limaml_create_model('op_jump2', 'planted_interactions', embedding_dim => 4, seed => 3, inner_lr => 20) > 0 AS created;
SELECT count(*) FROM limaml_train('op_jump2', epochs => 2, outer_lr => 1, validation_fraction => 0,
                                  lr_schedule => 'constant', weight_decay => 0);

-- ------------------------------------------------------------ limaml_models

CALL limaml_refresh('op');
SELECT name, owner = current_user::regrole AS own, source, loss, active_version, versions,
       parameters, bytes = versions * parameters * 4 AS bytes_ok, created_at <= trained_at AS times_ok,
       training_seconds >= 0 AS timed, kept_epoch <= epochs_run AS kept_ok,
       train_loss > 0 AS train_loss, val_loss_adapted > 0 AS val_loss, val_auc_adapted > 0 AS val_auc,
       embeddings
  FROM limaml_models WHERE name LIKE 'op%' ORDER BY name;
-- the initialization and versions from before 0.3.0 have no training record
SELECT training_seconds, kept_epoch, train_loss FROM limaml_models WHERE name = 'op_types';
SELECT count(*) AS columns, count(*) FILTER (WHERE col_description('limaml_models'::regclass, attnum) IS NULL) AS uncommented
  FROM pg_attribute WHERE attrelid = 'limaml_models'::regclass AND attnum > 0;
SELECT obj_description('limaml_models'::regclass, 'pg_class') IS NOT NULL AS commented;

-- row-level security applies: a role sees the models it owns or was granted
CREATE ROLE op_user;
SET ROLE op_user;
SELECT count(*) AS visible FROM limaml_models;
RESET ROLE;
SELECT limaml_grant('op', 'op_user');
SET ROLE op_user;
-- a grantee sees the model and its embeddings, not its parameters
SELECT name, active_version, versions, parameters, embeddings FROM limaml_models;
SELECT pg_temp.err($$ SELECT limaml_drop_version('op', 1) $$);
SELECT pg_temp.err($$ SELECT limaml_drop_version('op_r', 0) $$);
RESET ROLE;

-- ------------------------------------------------------- limaml_drop_version

SELECT version FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'op' ORDER BY version;
SELECT active_version FROM limaml_model WHERE name = 'op';
SELECT pg_temp.err($$ SELECT limaml_drop_version('op', 5) $$);
SELECT limaml_drop_version('op', 99) AS dropped;
SELECT pg_temp.err($$ SELECT limaml_drop_version('nope', 1) $$);
-- the newest version stays even when another is active: its number is never reused
UPDATE limaml_model SET active_version = 4 WHERE name = 'op';
SELECT pg_temp.err($$ SELECT limaml_drop_version('op', 5) $$);
UPDATE limaml_model SET active_version = 5 WHERE name = 'op';
-- an embedding made by version 5, scored before a newer version appears
CREATE TEMP TABLE old_emb AS SELECT embedding FROM limaml_meta_embedding WHERE model = 'op' AND member_id = 1;
SELECT limaml_score(embedding, '{1,0,0,0}') > 0 AS scored FROM old_emb;
SELECT count(*) FROM limaml_train('op', epochs => 1);
SELECT pg_temp.err($$ SELECT limaml_drop_version('op', 5) $$);
SELECT limaml_drop_version('op', 5, force => true) AS dropped;
SELECT count(*) AS embeddings_left FROM limaml_meta_embedding WHERE model = 'op';
-- this backend's cached version 5 is gone too
SELECT pg_temp.err($$ SELECT limaml_score(embedding, '{1,0,0,0}') FROM old_emb $$);
-- the initialization is a version like any other; a missing one is skipped
SELECT limaml_drop_version('op', 0) AS dropped;
SELECT limaml_drop_version('op', 0) AS dropped_again;
SELECT limaml_drop_version('op', 2) AS dropped, limaml_drop_version('op', NULL) IS NULL AS strict;
SELECT version FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'op' ORDER BY version;
SELECT versions, bytes = versions * parameters * 4 AS bytes_ok FROM limaml_models WHERE name = 'op';
-- the model keeps working; new versions take new numbers
SELECT count(*) FROM limaml_train('op', epochs => 1);
SELECT active_version FROM limaml_model WHERE name = 'op';
SELECT limaml_adapt(1, 'op') IS NOT NULL AS adapted;

-- --------------------------------------------------------- internal functions

-- every trigger and aggregate support function says so, and nothing else does
SELECT p.oid::regprocedure AS internal_function
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'limaml'
 WHERE obj_description(p.oid, 'pg_proc') LIKE 'internal:%'
 ORDER BY p.oid::regprocedure::text;
SELECT count(*) AS unmarked
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'limaml'
 WHERE (p.prorettype IN ('trigger'::regtype, 'internal'::regtype) OR 'internal'::regtype = ANY (p.proargtypes))
   AND obj_description(p.oid, 'pg_proc') NOT LIKE 'internal:%';

SELECT limaml_drop_model(name) FROM limaml_model WHERE name LIKE 'op%' ORDER BY name;
DROP ROLE op_user;
DROP TABLE planted_interactions, planted_members, planted_items;
