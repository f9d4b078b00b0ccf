-- limaml_create_model, the catalog, limaml_drop_model, argument validation
SET client_min_messages = warning;

-- one line per error case: SQLSTATE and message (OIDs and model ids masked)
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '(OID|model id) \d+', '\1 N', 'g');
END $$;

-- the configuration keys every model has (later versions may add keys)
CREATE FUNCTION pg_temp.cfg(model text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_object_agg(k, config->k)
	  FROM limaml_model, unnest(ARRAY['member_dim', 'item_dim', 'embedding_dim', 'meta_hidden', 'global_hidden',
	                                  'loss', 'inner_steps', 'inner_lr', 'adapt_steps', 'adapt_lr',
	                                  'support_size', 'query_size', 'seed']) k
	 WHERE name = model
$$;

-- catalog rows, for "a failed call writes nothing"
CREATE FUNCTION pg_temp.catalog_rows() RETURNS text LANGUAGE sql AS $$
	SELECT format('models %s, versions %s, embeddings %s',
		(SELECT count(*) FROM limaml_model),
		(SELECT count(*) FROM limaml_model_version),
		(SELECT count(*) FROM limaml_meta_embedding))
$$;

\set n_members 60
\set n_items 32
\set n_genres 8
\set per_member 12
\set p_fav 0.9
\set p_other 0.1
\set seed 0.11
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- nothing yet
SELECT pg_temp.catalog_rows();
SELECT pg_temp.err($$ SELECT limaml_adapt(1) $$);

-- ------------------------------------------------------------ creation

-- defaults: feature dimensions inferred from the source
SELECT limaml_create_model('m_default', 'planted_interactions') > 0 AS created;
SELECT name, source, members, active_version, pg_temp.cfg(name) AS config
  FROM limaml_model WHERE name = 'm_default';
-- version 0 is the initialization: meta block 3*32+32 + 32*16+16, global (16+8)*64+64 + 64+1
SELECT v.version, v.training, octet_length(v.params) / 4 AS n_params,
       (3*32+32 + 32*16+16) + ((16+8)*64+64 + 64+1) AS expected_params
  FROM limaml_model_version v JOIN limaml_model m USING (model_id)
 WHERE m.name = 'm_default';
SELECT created_at <= now() AS created_in_past FROM limaml_model WHERE name = 'm_default';

-- explicit dimensions and hyperparameters; the source may be empty then
CREATE TABLE empty_src (LIKE planted_interactions);
SELECT limaml_create_model('m_explicit', 'empty_src', embedding_dim => 4,
       meta_hidden => '{8, 6}', global_hidden => '{}', loss => 'mse',
       inner_steps => 0, inner_lr => 0.25, support_size => 7, query_size => 3,
       seed => -42, member_dim => 5, item_dim => 2) > 0 AS created;
SELECT name, source, active_version, pg_temp.cfg(name) AS config FROM limaml_model WHERE name = 'm_explicit';
-- meta 5*8+8 + 8*6+6 + 6*4+4, global (4+2)*1+1
SELECT octet_length(v.params) / 4 AS n_params, (5*8+8 + 8*6+6 + 6*4+4) + ((4+2)*1+1) AS expected
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'm_explicit';
-- adaptation may use other steps and rate than training
SELECT limaml_create_model('m_adapt', 'planted_interactions', inner_steps => 2, inner_lr => 0.5,
       adapt_steps => 10, adapt_lr => 0.125) > 0 AS created;
SELECT config->'inner_steps' AS inner_steps, config->'inner_lr' AS inner_lr,
       config->'adapt_steps' AS adapt_steps, config->'adapt_lr' AS adapt_lr
  FROM limaml_model WHERE name = 'm_adapt';
SELECT limaml_drop_model('m_adapt');
-- Meta-SGD: one learned inner rate per meta parameter, stored after the global block
SELECT limaml_create_model('m_sgd', 'planted_interactions', meta_sgd => true) > 0 AS created;
SELECT config->'meta_sgd' AS meta_sgd, octet_length(v.params) / 4 AS n_params,
       2 * (3*32+32 + 32*16+16) + ((16+8)*64+64 + 64+1) AS expected
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'm_sgd';
SELECT count(*) AS epochs FROM limaml_train('m_sgd', epochs => 1, outer_lr => 0.01);
SELECT limaml_drop_model('m_sgd');
-- only one of the dimensions given: the other is inferred
SELECT limaml_create_model('m_half', 'planted_interactions', item_dim => 8) > 0 AS created;
SELECT config->'member_dim' AS member_dim, config->'item_dim' AS item_dim
  FROM limaml_model WHERE name = 'm_half';
-- an empty source cannot tell the dimensions
SELECT pg_temp.err($$ SELECT limaml_create_model('m_nodims', 'empty_src') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('m_nodims', 'empty_src', member_dim => 3) $$);

-- featureless: member_features NULL in every row, the meta block is a learned vector
CREATE VIEW planted_nofeat AS
SELECT member_id, NULL::real[] AS member_features, item_features, label, ts
  FROM planted_interactions;
SELECT limaml_create_model('m_nofeat', 'planted_nofeat', embedding_dim => 6) > 0 AS created;
SELECT config->'member_dim' AS member_dim, config->'meta_hidden' AS meta_hidden
  FROM limaml_model WHERE name = 'm_nofeat';
-- meta block: 6 biases only; global (6+8)*64+64 + 64+1
SELECT octet_length(v.params) / 4 AS n_params, 6 + ((6+8)*64+64 + 64+1) AS expected
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'm_nofeat';
-- the learned vector starts in U(-0.1, 0.1)
SELECT bool_and(abs(x) < 0.1) AS small, count(DISTINCT x) = 6 AS distinct_values
  FROM unnest(limaml_embedding_array(limaml_adapt(-1, 'm_nofeat'))) x;
-- and trains
SELECT count(*) AS epochs FROM limaml_train('m_nofeat', epochs => 2, outer_lr => 0.01);

-- a members relation
SELECT limaml_create_model('m_members', 'planted_interactions', members => 'planted_members',
       loss => 'mse') > 0 AS created;
SELECT name, source, members, config->>'loss' AS loss FROM limaml_model WHERE name = 'm_members';

-- several models side by side
SELECT name, active_version, config->>'loss' AS loss, config->'embedding_dim' AS dim
  FROM limaml_model ORDER BY name;
SELECT m.name, count(*) AS versions, min(v.version) AS first, max(v.version) AS last
  FROM limaml_model m JOIN limaml_model_version v USING (model_id) GROUP BY m.name ORDER BY m.name;
SELECT count(DISTINCT model_id) = count(*) AS distinct_ids FROM limaml_model;

-- duplicate name
SELECT pg_temp.err($$ SELECT limaml_create_model('m_default', 'planted_interactions') $$);
-- names are case sensitive text, not identifiers
SELECT limaml_create_model('M_Default', 'planted_interactions', embedding_dim => 2) > 0 AS created;
SELECT limaml_drop_model('M_Default');

-- ------------------------------------------------------------ unknown model

SELECT pg_temp.err($$ SELECT limaml_drop_model('nope') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('nope') $$);
SELECT pg_temp.err($$ SELECT limaml_model_export('nope') $$);
SELECT pg_temp.err($$ SELECT limaml_adapt(1, 'nope') $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('nope', member_features, item_features, label)
                        FROM planted_interactions $$);
SELECT pg_temp.err($$ SELECT limaml_model_export('m_default', 99) $$);
SET limaml.default_model = 'nope';
SELECT pg_temp.err($$ SELECT limaml_adapt(1) $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg(NULL, member_features, item_features, label)
                        FROM planted_interactions $$);
RESET limaml.default_model;
-- several models and no default
SELECT pg_temp.err($$ SELECT limaml_adapt(1) $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg(NULL, member_features, item_features, label)
                        FROM planted_interactions $$);

-- ------------------------------------------------------------ source shapes

CREATE TABLE src_no_ts (member_id bigint, member_features real[], item_features real[], label real);
CREATE VIEW src_no_label AS SELECT member_id, member_features, item_features, ts FROM planted_interactions;
-- (integer, numeric, boolean and timestamp types are accepted: 23_sources)
CREATE VIEW src_text_member AS
SELECT member_id::text AS member_id, member_features, item_features, label, ts FROM planted_interactions;
CREATE VIEW src_text_label AS
SELECT member_id, member_features, item_features, label::text AS label, ts FROM planted_interactions;
CREATE VIEW src_text_items AS
SELECT member_id, member_features, item_features::text[] AS item_features, label, ts FROM planted_interactions;
CREATE VIEW src_ts_text AS
SELECT member_id, member_features, item_features, label, ts::text AS ts FROM planted_interactions;
CREATE TABLE members_no_features (member_id bigint);
CREATE TABLE members_text_features (member_id bigint, member_features text[]);

SELECT pg_temp.catalog_rows();
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_no_ts') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_no_label') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_text_member') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_text_label') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_text_items') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_ts_text') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'pg_class') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'no_such_table') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', members => 'members_no_features') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', members => 'members_text_features') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', members => 'planted_items') $$);

-- ------------------------------------------------------------ absurd hyperparameters

SELECT pg_temp.err($$ SELECT limaml_create_model(NULL, 'planted_interactions') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('', 'planted_interactions') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', NULL) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', embedding_dim => 0) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', embedding_dim => -1) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', embedding_dim => 100000) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', embedding_dim => NULL) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', meta_hidden => '{0}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', meta_hidden => '{-3}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', meta_hidden => '{5000}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', meta_hidden => '{1,1,1,1,1,1,1,1,1}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', meta_hidden => '{8,NULL}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', meta_hidden => '{{8},{8}}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', meta_hidden => NULL) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', global_hidden => '{0}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', global_hidden => '{5000}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', global_hidden => '{1,1,1,1,1,1,1,1,1}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', global_hidden => '{NULL}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', global_hidden => NULL) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', loss => 'foo') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', loss => 'BCE') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', loss => NULL) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', inner_steps => -1) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', inner_steps => 100000) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', inner_lr => 0) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', inner_lr => -1) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', inner_lr => 'NaN') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', inner_lr => 'Infinity') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', inner_lr => 1000) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', adapt_steps => -1) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', adapt_steps => 2000) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', adapt_lr => 0) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', adapt_lr => 'NaN') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', adapt_lr => 1000) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', support_size => 0) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', support_size => -5) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', query_size => 0) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', seed => NULL) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', member_dim => 5000) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', member_dim => -1) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', item_dim => 0) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', item_dim => -1) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'planted_interactions', item_dim => 5000) $$);
-- none of the failures wrote anything
SELECT pg_temp.catalog_rows();

-- ------------------------------------------------------------ training arguments

SELECT pg_temp.err($$ SELECT * FROM limaml_train(NULL) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', epochs => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', epochs => -1) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', epochs => 1000000000) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', epochs => NULL) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', meta_batch => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', meta_batch => -1) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', outer_lr => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', outer_lr => -0.001) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', outer_lr => 'NaN') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', outer_lr => 'Infinity') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', outer_lr => 2) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', validation_fraction => -0.1) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', validation_fraction => 0.95) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', validation_fraction => 'NaN') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', clip_norm => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', clip_norm => -1) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', clip_norm => 'NaN') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', patience => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', patience => -3) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', maml_order => 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default', maml_order => 3) $$);
SELECT pg_temp.catalog_rows();

-- ------------------------------------------------------------ training data

-- an empty source
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_explicit') $$);

-- three members, all drawn for validation: none left to train on
CREATE TABLE three_src AS SELECT * FROM planted_interactions WHERE member_id <= 3;
SELECT limaml_create_model('m_three', 'three_src') > 0 AS created;
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_three', validation_fraction => 0.9) $$);
SELECT count(*) AS epochs FROM limaml_train('m_three', epochs => 1, validation_fraction => 0);
SELECT limaml_drop_model('m_three');
DROP TABLE three_src;

-- one bad row among good ones: every row is checked, nothing is stored
CREATE TABLE tr_src (LIKE planted_interactions);
SELECT limaml_create_model('m_tr', 'tr_src', member_dim => 3, item_dim => 8) > 0 AS created;
SELECT limaml_create_model('m_tr_mse', 'tr_src', member_dim => 3, item_dim => 8, loss => 'mse') > 0 AS created;
CREATE FUNCTION pg_temp.train_with(bad_row text, model text DEFAULT 'm_tr') RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE tr_src;
	INSERT INTO tr_src SELECT * FROM planted_interactions WHERE member_id <= 20;
	EXECUTE 'INSERT INTO tr_src ' || bad_row;
	RETURN pg_temp.err(format('SELECT * FROM limaml_train(%L, epochs => 1)', model));
END $$;
SELECT pg_temp.catalog_rows();
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', NULL, 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,8,9}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,NaN}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,Infinity}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,-Infinity}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,NULL}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{{1,2,3,4},{5,6,7,8}}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, NULL, '{1,2,3,4,5,6,7,8}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2}', '{1,2,3,4,5,6,7,8}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,NaN}', '{1,2,3,4,5,6,7,8}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT NULL, '{1,2,3}', '{1,2,3,4,5,6,7,8}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,8}', 2, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,8}', -1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,8}', 'NaN', now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,8}', 'Infinity', now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,8}', NULL, now() $$);
-- mse: any finite label, but still finite
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,8}', 'NaN', now() $$, 'm_tr_mse');
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,8}', '-Infinity', now() $$, 'm_tr_mse');
SELECT pg_temp.catalog_rows();
-- the same data with good rows only trains and stores a version
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,8}', 1, now() $$);
SELECT pg_temp.train_with($$ SELECT 5, '{1,2,3}', '{1,2,3,4,5,6,7,8}', 2.5, now() $$, 'm_tr_mse');
SELECT name, active_version FROM limaml_model WHERE name IN ('m_tr', 'm_tr_mse') ORDER BY name;
SELECT pg_temp.catalog_rows();

-- a model whose member_dim disagrees with its source
SELECT limaml_create_model('m_wide', 'planted_interactions', member_dim => 5) > 0 AS created;
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_wide', epochs => 1) $$);
SELECT limaml_drop_model('m_wide');

-- a source dropped after the model was created
CREATE TABLE doomed AS SELECT * FROM planted_interactions;
SELECT limaml_create_model('m_doomed', 'doomed') > 0 AS created;
DROP TABLE doomed;
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_doomed', epochs => 1) $$);
SELECT pg_temp.err($$ SELECT limaml_adapt(1, 'm_doomed') $$);
SELECT limaml_drop_model('m_doomed');

-- ------------------------------------------------------------ drop

SELECT limaml_adapt(m, 'm_default') IS NOT NULL AS adapted FROM generate_series(1, 3) m;
SELECT limaml_adapt(m, 'm_explicit') IS NOT NULL AS adapted FROM generate_series(1, 2) m;
SELECT model, count(*) FROM limaml_meta_embedding GROUP BY model ORDER BY model;
SELECT limaml_drop_model('m_default');
SELECT count(*) AS models FROM limaml_model WHERE name = 'm_default';
SELECT model, count(*) FROM limaml_meta_embedding GROUP BY model ORDER BY model;
SELECT pg_temp.err($$ SELECT limaml_drop_model('m_default') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('m_default') $$);
-- the name is free again
SELECT limaml_create_model('m_default', 'planted_interactions') > 0 AS created;
SELECT active_version FROM limaml_model WHERE name = 'm_default';

SELECT limaml_drop_model(name) FROM limaml_model ORDER BY name;
SELECT pg_temp.catalog_rows();

DROP TABLE src_no_ts, members_no_features, members_text_features, tr_src, empty_src;
DROP VIEW planted_nofeat, src_no_label, src_text_member, src_text_label, src_text_items, src_ts_text;
DROP TABLE planted_interactions, planted_members, planted_items;
