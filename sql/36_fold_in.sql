-- fold_in: the wide head's factor weights become w_f + a · Σ_s y_s f_s over the support rows
-- (PureSVD's folded-in member beside the solve); a is chosen after training from a grid, by
-- the validation members' top-10 hit rate over the items relation, and adaptation stores
-- w_f + a · h, so serving and the embedding format stay as they are
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

\set n_members 300
\set n_items 48
\set n_genres 6
\set per_member 30
\set p_fav 0.9
\set p_other 0.1
\set seed 0.5
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

CREATE TABLE f_src AS
SELECT pi.member_id, pi.member_features, pi.item_features, pi.label, pi.ts, it.item_id
  FROM planted_interactions pi JOIN planted_items it ON it.features = pi.item_features
 WHERE pi.label = 1;
CREATE VIEW f_train AS SELECT * FROM f_src WHERE member_id > 60;
CREATE VIEW f_items AS SELECT item_id, features FROM planted_items;

-- it needs negatives (an items relation to rank) and the wide head with factors; nothing half-written
SELECT pg_temp.err($$ SELECT limaml_create_model('f', 'f_train', fold_in => true) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('f', 'f_train', negatives => 4, items => 'f_items', wide => false, fold_in => true) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('f', 'f_train', negatives => 4, items => 'f_items', wide_rank => 0, fold_in => true) $$);
SELECT count(*) AS nothing_created FROM limaml_model WHERE name = 'f';

SELECT limaml_create_model('f', 'f_train', negatives => 4, items => 'f_items', embedding_dim => 4,
                           wide_rank => 4, fold_in => true, seed => 1) > 0 AS created;
SELECT config->'fold_in' AS fold_in FROM limaml_model WHERE name = 'f';
-- version 0 starts as a model without the term: a = 0
SELECT limaml_model_export('f')->'fold_in_weight' AS a_start;

-- without validation members there is nothing to choose it on: it stays 0
SELECT limaml_create_model('f_fixed', 'f_train', negatives => 4, items => 'f_items', embedding_dim => 4,
                           wide_rank => 4, fold_in => true, seed => 1) > 0 AS created;
SELECT count(*) FROM limaml_train('f_fixed', epochs => 1, validation_fraction => 0);
SELECT v.training->'fold_in_weight' AS stays, v.training->'fold_in_members' AS members
  FROM limaml_model m JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
 WHERE m.name = 'f_fixed';

-- training chooses a: the grid's best hit rate (the smallest a among ties), in the version's
-- record and in the export
SELECT count(*) FROM limaml_train('f', epochs => 4, validation_fraction => 0.3);
WITH v AS (SELECT v.training FROM limaml_model m
             JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
            WHERE m.name = 'f'),
     g AS (SELECT k::float8 AS a, x::float8 AS hit FROM v, jsonb_each_text(v.training->'fold_in_hit_rate') t(k, x))
SELECT (SELECT count(*) FROM g) AS grid,
       (v.training->>'fold_in_members')::int > 0 AS members,
       (v.training->>'fold_in_weight')::float8 =
         (SELECT a FROM g ORDER BY hit DESC, a LIMIT 1) AS best_of_grid,
       (v.training->>'fold_in_weight')::float8 = (limaml_model_export('f')->>'fold_in_weight')::float8
         AS export_agrees
  FROM v;

-- streamed (the source beyond maintenance_work_mem), the validation members' pass chooses it too
CREATE VIEW f_big AS
SELECT member_id + 1000 * c AS member_id, member_features, item_features, label, ts, item_id
  FROM f_train, generate_series(0, 7) c;
SELECT limaml_create_model('f_st', 'f_big', negatives => 4, items => 'f_items', embedding_dim => 4,
                           wide_rank => 4, fold_in => true, seed => 1) > 0 AS created;
SET maintenance_work_mem = '1MB';
SELECT count(*) FROM limaml_train('f_st', epochs => 1, validation_fraction => 0.3);
RESET maintenance_work_mem;
SELECT v.training->>'streamed' AS streamed, (v.training->>'fold_in_members')::int > 100 AS members,
       v.training->'fold_in_hit_rate' ? (v.training->>'fold_in_weight') AS weight_of_grid
  FROM limaml_model m JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
 WHERE m.name = 'f_st';

-- adaptation stores w_f + a · h: with a = 1 against a = 0 only the factor weights move, by h
CREATE TABLE f_doc AS SELECT (limaml_model_export('f') - 'model_uuid' - 'content_hash')
                             || '{"format_version": 2}' AS j;
SELECT limaml_model_import('f_a0', jsonb_set(j, '{fold_in_weight}', '0')) IS NOT NULL AS imported,
       limaml_model_import('f_a1', jsonb_set(j, '{fold_in_weight}', '1')) IS NOT NULL AS imported
  FROM f_doc;
UPDATE limaml_model SET items = 'f_items' WHERE name IN ('f_a0', 'f_a1');
WITH e AS (SELECT limaml_embedding_array(limaml_adapt_agg('f_a0', member_features, item_features, label, ts, item_id)) AS e0,
                  limaml_embedding_array(limaml_adapt_agg('f_a1', member_features, item_features, label, ts, item_id)) AS e1
             FROM f_src WHERE member_id = 1),
     d AS (SELECT o, e1[o] - e0[o] AS diff FROM e, generate_series(1, array_length(e0, 1)) o)
SELECT (SELECT array_length(e0, 1) FROM e) AS floats,
       max(abs(diff)) FILTER (WHERE o <= 4 + 1 + 6) < 1e-6 AS deep_bias_features_same,
       max(abs(diff)) FILTER (WHERE o > 4 + 1 + 6) > 1e-2 AS factor_weights_move
  FROM d;

-- the JSON round trip keeps every score
CREATE TABLE f_emb AS
SELECT member_id, limaml_adapt_agg('f', member_features, item_features, label, ts, item_id) AS e
  FROM f_src WHERE member_id <= 10 GROUP BY member_id;
SELECT limaml_model_import('f_copy', limaml_model_export('f')) IS NOT NULL AS imported;
UPDATE limaml_model SET items = 'f_items' WHERE name = 'f_copy';
SELECT count(*) FILTER (WHERE limaml_score(f_emb.e, it.features, it.item_id) <>
                              limaml_score(c.e, it.features, it.item_id)) AS copy_differs
  FROM f_emb, planted_items it,
       LATERAL (SELECT limaml_adapt_agg('f_copy', member_features, item_features, label, ts, item_id) AS e
                  FROM f_src s WHERE s.member_id = f_emb.member_id) c;

-- the content hash covers a: an edited document is refused
SELECT left(pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(limaml_model_export('f'),
       '{fold_in_weight}', '0.5')) $$), 46) AS edited;
-- bad a: missing, not a number, beyond real; nothing imported
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', j - 'fold_in_weight') FROM f_doc $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{fold_in_weight}', '"x"')) FROM f_doc $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{fold_in_weight}', '1e300')) FROM f_doc $$);
SELECT count(*) AS nothing_imported FROM limaml_model WHERE name = 'bad';

SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name LIKE 'f%';
DROP TABLE f_emb, f_doc;
DROP VIEW f_big, f_items, f_train;
DROP TABLE f_src, planted_interactions, planted_items, planted_members;
