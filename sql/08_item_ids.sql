-- hashed item-ID embeddings: creation, training, evaluation, JSON
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
\set seed 0.7
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- items whose features say nothing: only their identity carries the taste
CREATE VIEW id_src AS
SELECT pi.member_id, pi.member_features, '{1}'::real[] AS item_features, pi.label, pi.ts, it.item_id
  FROM planted_interactions pi JOIN planted_items it ON it.features = pi.item_features;
CREATE VIEW id_train AS SELECT * FROM id_src WHERE member_id > 100;
CREATE VIEW id_test AS SELECT * FROM id_src WHERE member_id <= 100;

-- creation: the source needs item_id bigint
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'planted_interactions', item_buckets => 64) $$);
CREATE VIEW id_text AS SELECT member_id, member_features, item_features, label, ts, item_id::text AS item_id FROM id_src;
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'id_text', item_buckets => 64) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'id_train', item_buckets => -1) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'id_train', item_buckets => 100000000) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'id_train', item_buckets => 64, item_embedding_dim => 0) $$);
SELECT count(*) AS nothing_created FROM limaml_model WHERE name = 'x';

SELECT limaml_create_model('id_on', 'id_train', embedding_dim => 8, item_buckets => 128, item_embedding_dim => 8, seed => 2) > 0 AS created;
SELECT limaml_create_model('id_off', 'id_train', embedding_dim => 8, item_buckets => 0, seed => 2) > 0 AS created;
SELECT config->'item_buckets' AS buckets, config->'item_embedding_dim' AS dim, config->'item_dim' AS item_features
  FROM limaml_model WHERE name = 'id_on';
-- E starts at zero: every row is "never trained"
SELECT bool_and(r::text = '0') AS zero_table
  FROM jsonb_array_elements(limaml_model_export('id_on')->'item_embeddings') row, jsonb_array_elements(row) r;

SELECT count(*) FROM limaml_train('id_on', epochs => 20, outer_lr => 0.03, validation_fraction => 0, episodes => 4);
SELECT count(*) FROM limaml_train('id_off', epochs => 20, outer_lr => 0.03, validation_fraction => 0, episodes => 4);
-- the item table learned: trained rows moved, and the unknown row is their mean
SELECT count(*) FILTER (WHERE row <> (SELECT jsonb_agg(0) FROM generate_series(1, 8))) > 20 AS rows_trained
  FROM jsonb_array_elements(limaml_model_export('id_on')->'item_embeddings') row;

-- held-out members: with features that say nothing, only the item-ID model can rank
SELECT (SELECT auc FROM limaml_evaluate('id_on', 'id_test') WHERE segment = 'all' AND predictor = 'adapted') >
       (SELECT auc FROM limaml_evaluate('id_off', 'id_test') WHERE segment = 'all' AND predictor = 'adapted') + 0.08 AS item_ids_win,
       (SELECT member_auc FROM limaml_evaluate('id_on', 'id_test') WHERE segment = 'all' AND predictor = 'adapted') > 0.58 AS ranks_within_members;

-- second order and the bilinear term with item ids
SELECT limaml_create_model('id_so', 'id_train', embedding_dim => 4, item_buckets => 32, item_embedding_dim => 4,
                           bilinear => true, meta_sgd => true, seed => 2) > 0 AS created;
SELECT count(*) FROM limaml_train('id_so', epochs => 3, outer_lr => 0.01, maml_order => 2, episodes => 2);
SELECT jsonb_array_length(limaml_model_export('id_so')->'bilinear'->0) AS p_cols;

-- JSON round trip, to the bit
SELECT limaml_model_import('id_copy', limaml_model_export('id_on'), 'id_train') AS version;
SELECT (limaml_model_export('id_copy') - 'name' - 'version' - 'model_uuid') = (limaml_model_export('id_on') - 'name' - 'version' - 'model_uuid') AS same_export;
SELECT (SELECT auc FROM limaml_evaluate('id_copy', 'id_test') WHERE segment = 'all' AND predictor = 'adapted') =
       (SELECT auc FROM limaml_evaluate('id_on', 'id_test') WHERE segment = 'all' AND predictor = 'adapted') AS same_quality;
CREATE TEMP TABLE ij AS SELECT limaml_model_export('id_on') AS j;
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', j - 'item_embeddings') FROM ij $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{item_embeddings}', (j->'item_embeddings') - 0)) FROM ij $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{config,item_buckets}', '-3')) FROM ij $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('id_off', j) FROM ij $$);

SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name LIKE 'id\_%';
DROP VIEW id_train, id_test, id_text, id_src;
DROP TABLE planted_interactions, planted_members, planted_items;
