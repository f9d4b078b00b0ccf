-- compatibility: model JSON format versions 1 and 2, all-zero item-ID rows at import,
-- and Meta-SGD refusing an explicit adapt_lr
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- the same with the detail and the hint
CREATE FUNCTION pg_temp.err_full(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
	hint text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || SQLERRM || E'\nDETAIL: ' || detail || E'\nHINT: ' || hint;
END $$;

\set n_members 100
\set n_items 32
\set n_genres 8
\set per_member 20
\set p_fav 0.9
\set p_other 0.1
\set seed 0.7
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- ------------------------------------------------------------ Meta-SGD ignores adapt_lr: say so

SELECT pg_temp.err_full($$ SELECT limaml_create_model('x', 'planted_interactions', meta_sgd => true, adapt_lr => 0.5) $$);
-- any explicit value, even the training rate
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'planted_interactions', meta_sgd => true, inner_lr => 0.5, adapt_lr => 0.5) $$);
SELECT count(*) AS nothing_created FROM limaml_model WHERE name = 'x';
-- adapt_steps still applies; adapt_lr => NULL is the default; without Meta-SGD adapt_lr is used
SELECT limaml_create_model('i_sgd', 'planted_interactions', meta_sgd => true, adapt_steps => 3, adapt_lr => NULL) > 0 AS created;
SELECT limaml_create_model('i_lr', 'planted_interactions', meta_sgd => false, adapt_lr => 0.5) > 0 AS created;
SELECT name, config->'meta_sgd' AS meta_sgd, config->'adapt_steps' AS adapt_steps, config->'adapt_lr' AS adapt_lr
  FROM limaml_model WHERE name IN ('i_sgd', 'i_lr') ORDER BY name;

-- ------------------------------------------------------------ format versions

SELECT limaml_create_model('i_plain', 'planted_interactions', embedding_dim => 6, support_size => 10, seed => 4) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('i_plain', epochs => 2, outer_lr => 0.01);
CREATE TEMP TABLE pj AS SELECT limaml_model_export('i_plain') AS j;
SELECT j->'format_version' AS exported_format_version, j->'config' ? 'wide' AS has_wide FROM pj;
-- the documents below are edited: as format 2 (no identity), as a user's own tool writes them
UPDATE pj SET j = j - 'model_uuid' - 'content_hash' || '{"format_version": 2}';
-- a 0.1.0 export: format_version 1, none of 0.2.0's fields; it imports and scores the same
SELECT limaml_model_import('i_v1', jsonb_set(j #- '{config,wide}' #- '{config,wide_rank}' #- '{config,ridge_lambda}',
                                             '{format_version}', '1')) AS version
  FROM pj;
SELECT (SELECT params FROM limaml_model_version JOIN limaml_model USING (model_id) WHERE name = 'i_v1')
     = (SELECT params FROM limaml_model_version v JOIN limaml_model m USING (model_id)
         WHERE m.name = 'i_plain' AND v.version = m.active_version) AS same_params;
SELECT (limaml_model_export('i_v1') - 'name' - 'version' - 'model_uuid' - 'content_hash' || '{"format_version": 2}')
     = (j - 'name' - 'version') AS exports_as_version_3 FROM pj;
SELECT count(*) AS pairs, count(*) FILTER (WHERE limaml_score(a.e, it.features) = limaml_score(b.e, it.features)) AS equal
  FROM (SELECT member_id, limaml_adapt_agg('i_plain', member_features, item_features, label ORDER BY ts) AS e
          FROM planted_interactions WHERE member_id <= 10 GROUP BY member_id) a
  JOIN (SELECT member_id, limaml_adapt_agg('i_v1', member_features, item_features, label ORDER BY ts) AS e
          FROM planted_interactions WHERE member_id <= 10 GROUP BY member_id) b USING (member_id)
 CROSS JOIN planted_items it;
-- other versions are refused
SELECT pg_temp.err_full($$ SELECT limaml_model_import('bad', jsonb_set(j, '{format_version}', '4')) FROM pj $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{format_version}', '0')) FROM pj $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{format_version}', '-1')) FROM pj $$);

-- ------------------------------------------------------------ all-zero item-ID rows

CREATE VIEW i_src AS
SELECT pi.member_id, pi.member_features, '{1}'::real[] AS item_features, pi.label, pi.ts, it.item_id
  FROM planted_interactions pi JOIN planted_items it ON it.features = pi.item_features;
SELECT limaml_create_model('i_id', 'i_src', embedding_dim => 4, item_buckets => 64, item_embedding_dim => 3, wide => false,
                           support_size => 10, seed => 3) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('i_id', epochs => 2, outer_lr => 0.03, validation_fraction => 0);
CREATE TEMP TABLE ij AS SELECT limaml_model_export('i_id') - 'model_uuid' - 'content_hash' || '{"format_version": 2}' AS j;
-- the export lists every all-zero row but the unknown one (the last), in bucket order
SELECT jsonb_array_length(j->'item_embeddings_untrained') AS listed,
       (SELECT count(*) FROM jsonb_array_elements(j->'item_embeddings') WITH ORDINALITY r(row, n)
         WHERE n <= 64 AND row = '[0, 0, 0]') AS zero_rows,
       (SELECT array_agg(b::int) FROM jsonb_array_elements(j->'item_embeddings_untrained') b)
     = (SELECT array_agg((n - 1)::int ORDER BY n) FROM jsonb_array_elements(j->'item_embeddings') WITH ORDINALITY r(row, n)
         WHERE n <= 64 AND row = '[0, 0, 0]') AS same_rows,
       jsonb_array_length(j->'item_embeddings_untrained') BETWEEN 1 AND 63 AS some_trained_some_not
  FROM ij;
-- round trip
SELECT limaml_model_import('i_id_copy', j) AS version FROM ij;
SELECT (limaml_model_export('i_id_copy') - 'name' - 'version' - 'model_uuid' - 'content_hash' || '{"format_version": 2}')
     = (j - 'name' - 'version') AS same_export FROM ij;
-- format 1 had no list: zero rows keep meaning "never trained", with a warning
SELECT limaml_model_import('i_id_v1', jsonb_set(j - 'item_embeddings_untrained', '{format_version}', '1')) AS version FROM ij;
SELECT (limaml_model_export('i_id_v1') - 'name' - 'version' - 'model_uuid' - 'content_hash' || '{"format_version": 2}')
     = (j - 'name' - 'version') AS same_export FROM ij;
-- format 2 without the list, or with a row left out, is refused: those items would be served as unknown
SELECT pg_temp.err_full($$ SELECT limaml_model_import('bad', j - 'item_embeddings_untrained') FROM ij $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{item_embeddings_untrained}',
                                                                  (j->'item_embeddings_untrained') - 0)) FROM ij $$);
-- a trained row that is all zeros (a padding row, say): item 1 hashes to bucket 1 of 64 (README's vector)
SELECT (j->'item_embeddings'->1) <> '[0, 0, 0]' AS bucket_1_trained FROM ij;
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{item_embeddings,1}', '[0, 0, 0]')) FROM ij $$);
-- listing it says it was never trained: it imports, and item 1 scores as the unknown item
SELECT limaml_model_import('i_id_pad', jsonb_set(jsonb_set(j, '{item_embeddings,1}', '[0, 0, 0]'),
                                                 '{item_embeddings_untrained}', (j->'item_embeddings_untrained') || '1'))
       AS version FROM ij;
SELECT limaml_score(e, '{1}'::real[], 1) = limaml_score(e, '{1}'::real[], NULL) AS item_1_is_unknown,
       limaml_score(e, '{1}'::real[], 2) <> limaml_score(e, '{1}'::real[], NULL) AS item_2_is_not
  FROM (SELECT limaml_adapt_agg('i_id_pad', member_features, item_features, label, ts, item_id) AS e
          FROM i_src WHERE member_id = 1) a;
-- the list must hold never-trained buckets, each once
SELECT pg_temp.err_full($$ SELECT limaml_model_import('bad', jsonb_set(j, '{item_embeddings_untrained}',
                                                                       (j->'item_embeddings_untrained') || '1')) FROM ij $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{item_embeddings_untrained}',
                                                                  (j->'item_embeddings_untrained') || (j->'item_embeddings_untrained'->0))) FROM ij $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{item_embeddings_untrained}', '[64]')) FROM ij $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{item_embeddings_untrained}', '[-1]')) FROM ij $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{item_embeddings_untrained}', '[0.5]')) FROM ij $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{item_embeddings_untrained}', '["3"]')) FROM ij $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(j, '{item_embeddings_untrained}', '3')) FROM ij $$);

-- ------------------------------------------------------------ the wide head needs format 2

SELECT limaml_create_model('i_wide', 'i_src', embedding_dim => 4, item_buckets => 64, item_embedding_dim => 3,
                           wide => true, wide_rank => 2, seed => 3) > 0 AS created;
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(limaml_model_export('i_wide'), '{format_version}', '1')) $$);
SELECT limaml_model_import('i_wide_copy', limaml_model_export('i_wide')) AS version;
SELECT count(*) AS nothing_imported FROM limaml_model WHERE name = 'bad';

SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name LIKE 'i\_%';
DROP VIEW i_src;
DROP TABLE planted_interactions, planted_members, planted_items;
