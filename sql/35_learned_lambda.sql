-- learn_lambda: the wide head's ridge λ is fitted through the solve on the validation
-- members' adapted query loss (λ = exp ρ for the member bias, for each item-feature
-- column and for the factor weights), stored with the version and used by adaptation
-- and serving
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
\set seed 0.4
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

CREATE VIEW l_src AS
SELECT pi.member_id, pi.member_features, pi.item_features, pi.label, pi.ts, it.item_id
  FROM planted_interactions pi JOIN planted_items it ON it.features = pi.item_features;
CREATE VIEW l_train AS SELECT * FROM l_src WHERE member_id > 60;
CREATE VIEW l_test AS SELECT * FROM l_src WHERE member_id <= 60;

-- it needs the wide head; nothing half-written
SELECT pg_temp.err($$ SELECT limaml_create_model('l', 'l_train', wide => false, learn_lambda => true) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('l', 'l_train', item_buckets => 0, learn_lambda => true) $$);
SELECT count(*) AS nothing_created FROM limaml_model WHERE name = 'l';

SELECT limaml_create_model('ll', 'l_train', embedding_dim => 4, wide_rank => 2, wide_features => true,
                           ridge_lambda => 2, learn_lambda => true, seed => 1) > 0 AS created;
SELECT config->'learn_lambda' AS learn_lambda, config->'ridge_lambda' AS ridge_lambda
  FROM limaml_model WHERE name = 'll';
-- version 0: every group starts at ln ridge_lambda: w₀, the 6 genre columns, the factors
SELECT array_agg(round(x::numeric, 4)) AS log_lambda_start
  FROM jsonb_array_elements_text(limaml_model_export('ll')->'ridge_log_lambda'->0) x;
-- without validation members there is nothing to fit it on: it stays
SELECT limaml_create_model('ll_fixed', 'l_train', embedding_dim => 4, wide_rank => 2, wide_features => true,
                           ridge_lambda => 2, learn_lambda => true, seed => 1) > 0 AS created;
SELECT count(*) FROM limaml_train('ll_fixed', epochs => 1, validation_fraction => 0);
SELECT v.training->'ridge_lambda_learned' AS stays
  FROM limaml_model m JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
 WHERE m.name = 'll_fixed';
SELECT count(*) FROM limaml_train('ll', epochs => 6, validation_fraction => 0.3);
-- training moves it, each column its own way; the version's training record gives λ,
-- the export ln λ
SELECT jsonb_array_length(v.training->'ridge_lambda_learned') AS groups,
       bool_and(x::float8 > 0) AS positive, bool_or(abs(x::float8 - 2) > 1e-3) AS moved,
       count(DISTINCT round(x::numeric, 3)) > 2 AS columns_differ,
       bool_and(abs(ln(x::float8) - (limaml_model_export('ll')->'ridge_log_lambda'->0->>(o - 1)::int)::float8) < 1e-4)
         AS export_agrees
  FROM limaml_model m JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version,
       jsonb_array_elements_text(v.training->'ridge_lambda_learned') WITH ORDINALITY t(x, o)
 WHERE m.name = 'll'
 GROUP BY v.training;

-- streamed (the source beyond maintenance_work_mem), the validation members' pass fits it too
CREATE VIEW l_big AS
SELECT member_id + 1000 * c AS member_id, member_features, item_features, label, ts, item_id
  FROM l_train, generate_series(0, 7) c;
SELECT limaml_create_model('ll_st', 'l_big', embedding_dim => 4, wide_rank => 2, wide_features => true,
                           ridge_lambda => 2, learn_lambda => true, seed => 1) > 0 AS created;
SET maintenance_work_mem = '1MB';
SELECT count(*) FROM limaml_train('ll_st', epochs => 2, validation_fraction => 0.3);
RESET maintenance_work_mem;
SELECT v.training->>'streamed' AS streamed,
       (SELECT bool_or(abs(x::float8 - 2) > 1e-3) FROM jsonb_array_elements_text(v.training->'ridge_lambda_learned') x) AS moved
  FROM limaml_model m JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
 WHERE m.name = 'll_st';

-- the JSON round trip keeps every score
CREATE TABLE l_emb AS
SELECT member_id, limaml_adapt_agg('ll', member_features, item_features, label, ts, item_id) AS e
  FROM l_test GROUP BY member_id;
SELECT limaml_model_import('ll_copy', limaml_model_export('ll')) IS NOT NULL AS imported;
SELECT count(*) FILTER (WHERE limaml_score(l_emb.e, it.features, it.item_id) <>
                              limaml_score(c.e, it.features, it.item_id)) AS copy_differs
  FROM l_emb, planted_items it,
       LATERAL (SELECT limaml_adapt_agg('ll_copy', member_features, item_features, label, ts, item_id) AS e
                  FROM l_src s WHERE s.member_id = l_emb.member_id) c
 WHERE l_emb.member_id <= 10;

-- the content hash covers ln λ: an exported document with another λ is refused
SELECT left(pg_temp.err($$ SELECT limaml_model_import('ll_stiff', jsonb_set(limaml_model_export('ll'),
       '{ridge_log_lambda}', to_jsonb(ARRAY[array_fill(13.8155, ARRAY[8])]))) $$), 46) AS edited;
-- adaptation uses the stored λ: at λ = 1e6 the member's wide weights all but vanish
SELECT limaml_model_import('ll_stiff', jsonb_set((limaml_model_export('ll') - 'model_uuid' - 'content_hash')
                                                 || '{"format_version": 2}',
                                                 '{ridge_log_lambda}', to_jsonb(ARRAY[array_fill(13.8155, ARRAY[8])])))
       IS NOT NULL AS imported;
SELECT (SELECT max(abs(x)) FROM l_emb, unnest((limaml_embedding_array(e))[5:]) x WHERE member_id = 1) > 1e-2
         AS learned_weights_move,
       (SELECT max(abs(y)) FROM unnest((limaml_embedding_array(
          (SELECT limaml_adapt_agg('ll_stiff', member_features, item_features, label, ts, item_id)
             FROM l_src WHERE member_id = 1)))[5:]) y) < 1e-3 AS stiff_weights_vanish;
-- another λ is another model: its content hash differs
SELECT count(DISTINCT v.content_hash) AS hashes
  FROM limaml_model m JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
 WHERE m.name IN ('ll', 'll_stiff');

-- bad ln λ: missing, the wrong shape, out of range; nothing imported
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', limaml_model_export('ll') - 'ridge_log_lambda') $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(limaml_model_export('ll'),
       '{ridge_log_lambda}', '[[0, 0]]')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(limaml_model_export('ll'),
       '{ridge_log_lambda}', '[[0, 0, 0, 0, 0, 0, 0, 14]]')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(jsonb_set(limaml_model_export('ll'),
       '{config,wide}', 'false'), '{config,wide_features}', 'false')) $$);
SELECT count(*) AS nothing_imported FROM limaml_model WHERE name = 'bad';

SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name IN ('ll', 'll_copy', 'll_stiff', 'll_fixed', 'll_st');
DROP TABLE l_emb;
DROP VIEW l_big, l_test, l_train, l_src;
DROP TABLE planted_interactions, planted_items, planted_members;
