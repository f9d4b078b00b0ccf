-- hardening: explicit versions, segment labels at INT_MAX, forged embedding and item-code
-- headers, non-finite parameters at import and at load
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

\set n_members 60
\set n_items 16
\set n_genres 4
\set per_member 12
\set p_fav 0.9
\set p_other 0.1
\set seed 0.3
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

SELECT limaml_create_model('h', 'planted_interactions', embedding_dim => 4, seed => 1) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('h', epochs => 1);
SELECT active_version FROM limaml_model WHERE name = 'h';

-- an explicit version must exist: negative is a bad argument, a missing one does not exist
SELECT pg_temp.err($$ SELECT limaml_item_encode('h', '{1,0,0,0}', version => -5) $$);
SELECT pg_temp.err($$ SELECT limaml_item_encode('h', '{1,0,0,0}', version => -1) $$);
SELECT pg_temp.err($$ SELECT limaml_item_encode('h', '{1,0,0,0}', version => 7) $$);
SELECT pg_temp.err($$ SELECT limaml_model_export('h', version => -5) $$);
SELECT pg_temp.err($$ SELECT limaml_model_export('h', version => 7) $$);
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_evaluate('h', version => -5) $$);
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_evaluate('h', version => 7) $$);
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_evaluate_members('h', version => -5) $$);
-- version 0 (the untrained one) and the active one still work
SELECT (limaml_item_code_info(limaml_item_encode('h', '{1,0,0,0}', version => 0))).version;
SELECT (limaml_item_code_info(limaml_item_encode('h', '{1,0,0,0}', version => 1))).version;
SELECT (limaml_model_export('h', version => 0))->'version' AS exported;
-- a NULL version then an explicit bad one in one query: the cached plan does not hide it
SELECT pg_temp.err($$ SELECT count(limaml_item_encode('h', '{1,0,0,0}', version => v))
                        FROM (VALUES (NULL::int), (-1)) t(v) $$);

-- segment labels past INT_MAX
SELECT segment FROM limaml_evaluate('h', segments => '{2147483647}') WHERE predictor = 'adapted';
SELECT segment FROM limaml_evaluate('h', segments => '{5,2147483646,2147483647}') WHERE predictor = 'adapted';

-- forged headers with a valid CRC-32C: the checksum detects corruption, not forgery
\set ECHO none
\ir test/data/crc32c.sql
\set ECHO all

CREATE TABLE h_forged AS
SELECT limaml_adapt(1, 'h') AS e, limaml_item_encode('h', '{1,0,0,0}') AS c;
-- the SQL CRC-32C reproduces what limaml wrote
SELECT pg_temp.reseal(e) = e AS embedding_sealed, pg_temp.reseal(c) = c AS code_sealed FROM h_forged;
SELECT limaml_score(e, c) IS NOT NULL AS scores, (limaml_embedding_info(e)).n_support > 0 AS adapted
  FROM h_forged;
-- meta embedding: a negative n_support (bytes 28-31), NaN and infinity in the payload (from byte 44)
SELECT pg_temp.err(format('SELECT limaml_embedding_info(%L::bytea)',
                          pg_temp.reseal(overlay(e PLACING '\xffffffff'::bytea FROM 29)))) FROM h_forged;
SELECT pg_temp.err(format('SELECT limaml_score(%L::bytea, %L::bytea)',
                          pg_temp.reseal(overlay(e PLACING '\x0000c07f'::bytea FROM 45)), c)) FROM h_forged;
SELECT pg_temp.err(format('SELECT limaml_score(%L::bytea, ''{1,0,0,0}'')',
                          pg_temp.reseal(overlay(e PLACING '\x000080ff'::bytea FROM length(e) - 3)))) FROM h_forged;
SELECT pg_temp.err(format('SELECT limaml_embedding_array(%L::bytea)',
                          pg_temp.reseal(overlay(e PLACING '\x0000807f'::bytea FROM 49)))) FROM h_forged;
-- the same bytes without a new checksum are corruption
SELECT pg_temp.err(format('SELECT limaml_embedding_info(%L::bytea)',
                          overlay(e PLACING '\xffffffff'::bytea FROM 29))) FROM h_forged;
-- item code: non-zero reserved flags (bytes 28-31), NaN and infinity in the payload
SELECT pg_temp.err(format('SELECT limaml_item_code_info(%L::bytea)',
                          pg_temp.reseal(overlay(c PLACING '\x01000000'::bytea FROM 29)))) FROM h_forged;
SELECT pg_temp.err(format('SELECT limaml_score(%L::bytea, %L::bytea)',
                          e, pg_temp.reseal(overlay(c PLACING '\x00000080'::bytea FROM 29)))) FROM h_forged;
SELECT pg_temp.err(format('SELECT limaml_score(%L::bytea, %L::bytea)',
                          e, pg_temp.reseal(overlay(c PLACING '\x0000c07f'::bytea FROM 45)))) FROM h_forged;
SELECT pg_temp.err(format('SELECT limaml_item_code_info(%L::bytea)',
                          pg_temp.reseal(overlay(c PLACING '\x000080ff'::bytea FROM length(c) - 3)))) FROM h_forged;
-- a forged but well-formed header still reads: finite values, zero flags, n_support 0
SELECT (limaml_embedding_info(pg_temp.reseal(overlay(e PLACING '\x00000000'::bytea FROM 29)))).n_support,
       limaml_score(pg_temp.reseal(overlay(e PLACING '\x0000803f'::bytea FROM 45)), c) IS NOT NULL AS scores
  FROM h_forged;
DROP TABLE h_forged;

-- non-finite parameters: import refuses them (JSON has no NaN; 1e400 overflows to infinity)
SELECT pg_temp.err($$ SELECT limaml_model_import('h_bad', jsonb_set(limaml_model_export('h'),
                      '{meta,0,weight,0,0}', '1e400')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('h_bad', jsonb_set(limaml_model_export('h'),
                      '{global,0,bias,0}', '-1e400')) $$);
SELECT count(*) AS nothing_imported FROM limaml_model WHERE name = 'h_bad';
-- and a version whose stored params hold a NaN (superuser DML on the catalog) fails cleanly at load
CREATE TABLE h_emb AS SELECT limaml_adapt(2, 'h') AS e, limaml_model_export('h') AS good;
UPDATE limaml_model_version v SET params = overlay(params PLACING '\x0000c07f'::bytea FROM 9)
  FROM limaml_model m WHERE m.model_id = v.model_id AND m.name = 'h' AND v.version = 1;
SELECT pg_temp.err($$ SELECT limaml_adapt(2, 'h') $$);
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,0,0,0}') FROM h_emb $$);
SELECT pg_temp.err($$ SELECT limaml_item_encode('h', '{1,0,0,0}') $$);
SELECT pg_temp.err($$ SELECT limaml_model_export('h') $$);
-- a failed load frees what it allocated
CREATE TEMP TABLE h_ctx AS SELECT count(*) AS n FROM pg_backend_memory_contexts WHERE name = 'limaml model';
DO $$ BEGIN FOR i IN 1 .. 50 LOOP PERFORM pg_temp.err('SELECT limaml_model_export(''h'')'); END LOOP; END $$;
SELECT count(*) - (SELECT n FROM h_ctx) AS leaked FROM pg_backend_memory_contexts WHERE name = 'limaml model';
DROP TABLE h_ctx;
UPDATE limaml_model_version v SET params = overlay(params PLACING '\x0000807f'::bytea FROM length(params) - 3)
  FROM limaml_model m WHERE m.model_id = v.model_id AND m.name = 'h' AND v.version = 0;
SELECT pg_temp.err($$ SELECT limaml_model_export('h', version => 0) $$);
-- the hint's way out: a good export of the version restores its parameters (same identity)
SELECT limaml_model_import('h', good) AS version FROM h_emb;
SELECT length(limaml_adapt(2, 'h')) > 24 AS adapts;
DROP TABLE h_emb;

-- limaml_adapt_agg adapts a group with one model: a model argument that changes within a
-- group is an error, not silently the first row's (issue 9)
SELECT limaml_model_import('h2', limaml_model_export('h')) IS NOT NULL AS second_model;
SELECT pg_temp.err($$ SELECT limaml_adapt_agg(CASE WHEN ts < '2026-01-01 00:05' THEN 'h' ELSE 'h2' END,
                                              member_features, item_features, label, ts)
                        FROM planted_interactions WHERE member_id = 3 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg(CASE WHEN ts < '2026-01-01 00:05' THEN 'h' END,
                                              member_features, item_features, label ORDER BY ts)
                        FROM planted_interactions WHERE member_id = 3 $$);
-- the same model in every row, and one model per group, are fine
SELECT count(DISTINCT e) AS embeddings
  FROM (SELECT limaml_adapt_agg(m, member_features, item_features, label, ts) AS e
          FROM planted_interactions, unnest('{h,h2}'::text[]) m WHERE member_id = 3 GROUP BY m) g;
SELECT limaml_drop_model('h2');

-- limaml.max_model_size caps a model's parameters at creation and import (issue 9)
SET limaml.max_model_size = '1MB';
CREATE VIEW h_ids AS SELECT pi.*, 1::bigint AS item_id FROM planted_interactions pi;
SELECT pg_temp.err($$ SELECT limaml_create_model('big', 'h_ids', item_buckets => 100000) $$);
SELECT count(*) AS nothing_created FROM limaml_model WHERE name = 'big';
RESET limaml.max_model_size;
-- absurd shapes in an import: a clear limit, not an allocation failure
SELECT pg_temp.err($$ SELECT limaml_model_import('big', jsonb_set(jsonb_set(limaml_model_export('h'),
       '{config,item_buckets}', '10000000'), '{config,item_embedding_dim}', '1024')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('big', jsonb_set(limaml_model_export('h'),
       '{config,global_hidden}', '[4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096]')) $$);
SELECT count(*) AS nothing_imported FROM limaml_model WHERE name = 'big';
-- only a superuser sets it
CREATE ROLE h_user;
SET ROLE h_user;
SELECT pg_temp.err($$ SET limaml.max_model_size = '100GB' $$);
RESET ROLE;
DROP ROLE h_user;
DROP VIEW h_ids;

-- an embedding made by a dropped model scores again once the model's export is imported:
-- the import keeps its identity (UUID, version, content hash), so these are the very
-- parameters that made it (issue 10; before 0.3.0 it was an orphan to re-adapt)
SELECT limaml_create_model('o', 'planted_interactions', embedding_dim => 4, seed => 5) > 0 AS created;
SELECT count(*) FROM limaml_train('o', epochs => 1);
CALL limaml_refresh('o');
CREATE TABLE h_orphan AS SELECT *, limaml_score(embedding, '{1,0,0,0}') AS score
  FROM limaml_meta_embedding WHERE model = 'o' AND member_id = 7;
CREATE TABLE h_export AS SELECT limaml_model_export('o') AS j;
SELECT limaml_drop_model('o');
SELECT left(pg_temp.err($$ SELECT limaml_score(embedding, '{1,0,0,0}') FROM h_orphan $$), 5) AS dropped_model;
SELECT limaml_model_import('o', j, source => 'planted_interactions') = (SELECT model_version FROM h_orphan)
       AS same_version_number
  FROM h_export;
SELECT limaml_score(embedding, '{1,0,0,0}') = score AS scores_as_before FROM h_orphan;
INSERT INTO limaml_meta_embedding SELECT model, member_id, embedding, model_version, n_support, updated_at,
       source_ts, source_rows FROM h_orphan;
CALL limaml_refresh('o');
SELECT count(*) AS stored, bool_and(embedding = (SELECT embedding FROM h_orphan)) FILTER (WHERE member_id = 7) AS kept
  FROM limaml_meta_embedding WHERE model = 'o';
DROP TABLE h_orphan, h_export;
SELECT limaml_drop_model('o');

SELECT limaml_drop_model('h');
DROP TABLE planted_interactions, planted_members, planted_items;
