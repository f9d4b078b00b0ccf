-- Sources as users have them: integer ids, numeric and integer arrays,
-- boolean and numeric labels, timestamp and date times, read with the same
-- bits as limaml's own types; every mismatch in one error; per-member reads
-- served by the user's own index; limaml_check_source
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	msg text;
	det text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(msg, '(OID|model id) \d+', '\1 N', 'g'), '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', 'UUID', 'g')
		|| coalesce(E'\n' || nullif(det, ''), '');
END $$;

-- one log, three typings: limaml's own, and two others holding the same values
SELECT setseed(0.25);
CREATE TABLE base AS
SELECT m, k,
       ARRAY[round((random() - 0.5)::numeric, 2), round((random() - 0.5)::numeric, 2)] AS mf,
       ARRAY[(m + k) % 3, (m * k) % 2, 1] AS itf,
       (m + k) % 5 + 1 AS item,
       random() < CASE WHEN (m + k) % 3 = m % 3 THEN 0.9 ELSE 0.2 END AS lab,
       date '2026-01-01' + k AS day
  FROM generate_series(1, 60) m, generate_series(1, 12) k;

CREATE TABLE src_real AS
SELECT m::bigint AS member_id, mf::real[] AS member_features, itf::real[] AS item_features,
       lab::int::real AS label, day::timestamptz AS ts, item::bigint AS item_id FROM base;
CREATE TABLE src_int AS
SELECT m::int AS member_id, mf AS member_features, itf AS item_features,
       lab AS label, day::timestamp AS ts, item::int AS item_id FROM base;
CREATE TABLE src_small AS
SELECT m::smallint AS member_id, mf::float8[] AS member_features, itf::smallint[] AS item_features,
       lab::int::numeric AS label, day AS ts, item::smallint AS item_id FROM base;
CREATE INDEX ON src_int (member_id, ts);

SELECT limaml_create_model(name, src, embedding_dim => 4, meta_hidden => '{8}', global_hidden => '{8}',
                           inner_steps => 2, support_size => 6, query_size => 3, seed => 5) > 0 AS created
  FROM (VALUES ('t_real', 'src_real'::regclass), ('t_int', 'src_int'), ('t_small', 'src_small')) v(name, src);
SELECT name, count(*) AS epochs FROM (VALUES ('t_real'), ('t_int'), ('t_small')) v(name),
       LATERAL limaml_train(name, epochs => 2, meta_batch => 8, outer_lr => 0.01) GROUP BY name ORDER BY name;

-- identical parameters and embeddings
SELECT limaml_model_export('t_int') - 'name' - 'model_uuid' = limaml_model_export('t_real') - 'name' - 'model_uuid' AS int_same,
       limaml_model_export('t_small') - 'name' - 'model_uuid' = limaml_model_export('t_real') - 'name' - 'model_uuid' AS small_same,
       jsonb_array_length(limaml_model_export('t_real') -> 'item_embeddings') AS item_rows;
SELECT count(*) FILTER (WHERE limaml_embedding_array(limaml_adapt(member_id, 't_int'))
                            = limaml_embedding_array(limaml_adapt(member_id, 't_real'))
                          AND limaml_embedding_array(limaml_adapt(member_id, 't_small'))
                            = limaml_embedding_array(limaml_adapt(member_id, 't_real'))) AS same_embeddings,
       count(*) AS members
  FROM generate_series(1, 60) member_id;
-- evaluation reads the converted rows too
SELECT (SELECT count(*) FROM limaml_evaluate('t_int')) AS rows,
       (SELECT count(*) FROM (SELECT * FROM limaml_evaluate('t_int') EXCEPT SELECT * FROM limaml_evaluate('t_real')
                              UNION ALL
                              SELECT * FROM limaml_evaluate('t_small') EXCEPT SELECT * FROM limaml_evaluate('t_real')) d)
         AS differing;
-- limaml_refresh adapts with the aggregate over the converted rows: the same bytes
DELETE FROM limaml_meta_embedding WHERE model = 't_int' AND member_id <= 10;
UPDATE limaml_meta_embedding SET source_rows = 0 WHERE model = 't_int' AND member_id BETWEEN 11 AND 20;
CREATE TEMP TABLE before_refresh AS
SELECT member_id, limaml_embedding_array(embedding) AS e FROM limaml_meta_embedding WHERE model = 't_real';
CALL limaml_refresh('t_int');
SELECT count(*) FILTER (WHERE limaml_embedding_array(e.embedding) = b.e) AS same_after_refresh, count(*) AS members
  FROM limaml_meta_embedding e JOIN before_refresh b USING (member_id) WHERE e.model = 't_int';
-- the same over smallint ids, double precision arrays, numeric labels and dates
DELETE FROM limaml_meta_embedding WHERE model = 't_small' AND member_id > 30;
CALL limaml_refresh('t_small');
SELECT count(*) FILTER (WHERE limaml_embedding_array(e.embedding) = b.e) AS same_after_refresh, count(*) AS members
  FROM limaml_meta_embedding e JOIN before_refresh b USING (member_id) WHERE e.model = 't_small';
-- a member id beyond the column type's range has no rows: the cold start
SELECT limaml_embedding_info(limaml_adapt(99999999999, 't_int')) IS NOT NULL AS cold,
       (limaml_embedding_info(limaml_adapt(99999, 't_small'))).n_support AS n_support;
-- limaml_top_k reads an items relation of integer ids and arrays as it reads real[] ones
CREATE TABLE items_int AS SELECT i AS item_id, ARRAY[i % 3, i % 2, 1] AS features FROM generate_series(1, 6) i;
CREATE TABLE items_real AS SELECT item_id::bigint AS item_id, features::real[] AS features FROM items_int;
SELECT (SELECT count(*) FROM limaml_top_k('t_real', 'items_int', 3)) AS ranked,
       (SELECT count(*) FROM (SELECT * FROM limaml_top_k('t_real', 'items_int', 3)
                              EXCEPT SELECT * FROM limaml_top_k('t_real', 'items_real', 3)) d) AS differing;

-- per-member reads use the index on the user's int column (default settings):
-- the table's own counters see index scans and no sequential scan
CREATE TABLE big_int AS
SELECT (i % 1500)::int AS member_id, ARRAY[(i % 7)::numeric / 7] AS member_features,
       ARRAY[i % 3, 1] AS item_features, (i % 2 = 0) AS label,
       timestamp '2026-01-01' + make_interval(mins => i) AS ts
  FROM generate_series(1, 30000) i;
CREATE INDEX big_int_member_ts ON big_int (member_id, ts);
ANALYZE big_int;
SELECT limaml_create_model('t_big', 'big_int', embedding_dim => 2, meta_hidden => '{4}', global_hidden => '{4}',
                           support_size => 5, query_size => 2) > 0 AS created;
-- (a backend flushes its statistics when idle after a statement that forced it)
CREATE FUNCTION pg_temp.scans(rel regclass) RETURNS TABLE (seq bigint, idx bigint) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();
	RETURN QUERY SELECT coalesce(s.seq_scan, 0), coalesce(s.idx_scan, 0) FROM pg_stat_user_tables s WHERE s.relid = rel;
END $$;
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE scans0 AS SELECT * FROM pg_temp.scans('big_int');
SELECT count(limaml_adapt(m, 't_big')) AS adapted FROM generate_series(1, 20) m;
SELECT pg_stat_force_next_flush();
SELECT s.seq - b.seq AS seq_scans, s.idx - b.idx >= 20 AS index_scans
  FROM pg_temp.scans('big_int') s, scans0 b;
-- the control: a view casting member_id hides the index, and the same reads scan the table
CREATE VIEW big_cast AS SELECT member_id::bigint AS member_id, member_features, item_features, label, ts FROM big_int;
SELECT limaml_create_model('t_cast', 'big_cast', embedding_dim => 2, meta_hidden => '{4}', global_hidden => '{4}',
                           support_size => 5, query_size => 2) > 0 AS created;
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE scans1 AS SELECT * FROM pg_temp.scans('big_int');
SELECT count(limaml_adapt(m, 't_cast')) AS adapted FROM generate_series(1, 3) m;
SELECT pg_stat_force_next_flush();
SELECT s.seq - b.seq >= 3 AS seq_scans, s.idx - b.idx AS index_scans
  FROM pg_temp.scans('big_int') s, scans1 b;

-- every mismatch in one error, with the accepted types
CREATE TABLE src_bad (member_id text, member_features jsonb, item_features real[], label text, ts int);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_bad') $$);
CREATE TABLE src_missing (member_id int, item_features int[], label boolean);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_missing') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_real', item_buckets => 8) $$) AS ok_item_ids;
CREATE VIEW src_text_item AS SELECT member_id, member_features, item_features, label, ts, item_id::text AS item_id FROM src_real;
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_text_item', item_buckets => 8) $$);
CREATE TABLE items_bad (item_id numeric, features text);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'src_real', negatives => 1, items => 'items_bad') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_top_k('t_real', 'items_bad') $$);
-- non-finite values: double precision beyond real, numeric NaN; bce labels out of range
CREATE TABLE src_huge AS SELECT member_id, member_features::float8[] AS member_features,
       item_features::float8[] || 1e300::float8 AS item_features, label, ts FROM src_real;
SELECT pg_temp.err($$ SELECT limaml_create_model('bad_huge', 'src_huge', item_dim => 4) $$) AS created,
       pg_temp.err($$ SELECT limaml_train('bad_huge', epochs => 1) $$) AS train;
CREATE TABLE src_nan AS SELECT member_id, member_features::numeric[] AS member_features,
       item_features::numeric[] || 'NaN'::numeric AS item_features, label, ts FROM src_real;
SELECT pg_temp.err($$ SELECT limaml_create_model('bad_nan', 'src_nan') $$) AS created,
       pg_temp.err($$ SELECT limaml_train('bad_nan', epochs => 1) $$) AS train;
CREATE TABLE src_two AS SELECT member_id, member_features, item_features, (label::int * 2) AS label, ts FROM src_int;
SELECT pg_temp.err($$ SELECT limaml_create_model('bad_two', 'src_two') $$) AS created,
       pg_temp.err($$ SELECT limaml_train('bad_two', epochs => 1) $$) AS train;

-- limaml_score: NULL in, NULL out (a NULL item_id is still the unknown item)
SELECT limaml_score(NULL::bytea, '{1,0,1}'::real[]) IS NULL AS null_embedding,
       limaml_score(limaml_adapt(1, 't_real'), NULL::real[]) IS NULL AS null_features,
       limaml_score(limaml_adapt(1, 't_real'), NULL) IS NULL AS untyped,
       limaml_score(limaml_adapt(1, 't_real'), NULL::bytea) IS NULL AS null_code,
       limaml_score(NULL::bytea, '{1,0,1}'::real[], 3) IS NULL AS null_embedding_id,
       limaml_score(limaml_adapt(1, 't_real'), '{1,0,1}'::real[], NULL) IS NOT NULL AS null_id_scores;
SELECT m.member_id, limaml_score(e.embedding, '{1,0,1}') IS NULL AS no_score
  FROM (VALUES (1::bigint), (424242)) m(member_id)
  LEFT JOIN limaml_meta_embedding e ON e.member_id = m.member_id AND e.model = 't_real' ORDER BY 1;
SELECT proname, pg_get_function_identity_arguments(oid) AS args, proisstrict
  FROM pg_proc WHERE proname = 'limaml_score' ORDER BY 2;

-- limaml_refresh inside a transaction block fails at once, stale members or not
BEGIN;
SELECT pg_temp.err($$ CALL limaml_refresh('t_int') $$);
ROLLBACK;
BEGIN;
CALL limaml_refresh('t_real');
ROLLBACK;
CREATE FUNCTION refresh_in_function() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	CALL limaml_refresh('t_real');
END $$;
SELECT refresh_in_function();
DROP FUNCTION refresh_in_function();
CALL limaml_refresh('t_real');
SELECT state FROM limaml_refresh_status WHERE model = 't_real';


-- limaml_check_source: nothing to say about a good source
SELECT * FROM limaml_check_source('src_int', support_size => 6, query_size => 3);
-- a planted bad one: NULLs, an unscaled feature, ragged arrays, short members, few positives, no index
CREATE TABLE src_rough AS
SELECT m::int AS member_id,
       CASE WHEN m = 1 THEN NULL ELSE ARRAY[m * 100.0, 0.5] END AS member_features,
       CASE WHEN k = 1 AND m = 2 THEN ARRAY[1, 0, 1] ELSE ARRAY[k % 2, 1] END AS item_features,
       CASE WHEN m = 3 AND k = 2 THEN NULL ELSE (m = 4 AND k = 1) END AS label,
       CASE WHEN k = 3 THEN NULL ELSE timestamp '2026-01-01' + make_interval(hours => k) END AS ts
  FROM generate_series(1, 40) m, generate_series(1, m % 7 + 1) k;
SELECT * FROM limaml_check_source('src_rough');
-- mse: a constant target, and one far from unit scale; non-finite values
CREATE VIEW src_const AS SELECT member_id, member_features, item_features, 3::real AS label, ts FROM src_real;
SELECT * FROM limaml_check_source('src_const', 'mse', 6, 3);
CREATE VIEW src_wide AS SELECT member_id, member_features, item_features, (label::int * 1000 + member_id)::numeric AS label, ts FROM src_int;
SELECT severity, "check", detail FROM limaml_check_source('src_wide', 'mse', 6, 3);
SELECT severity, "check", detail FROM limaml_check_source('src_nan', 'bce', 6, 3);
SELECT severity, "check", detail FROM limaml_check_source('src_two', 'bce', 6, 3);
-- the negatives the model will sample count in the balance: all-positive is fine with them
CREATE VIEW src_all_pos AS SELECT member_id, member_features, item_features, 1 AS label, ts FROM src_int;
SELECT severity, "check", detail FROM limaml_check_source('src_all_pos', 'bce', 6, 3) WHERE "check" = 'labels';
SELECT count(*) AS label_rows FROM limaml_check_source('src_all_pos', 'bce', 6, 3, negatives => 4) WHERE "check" = 'labels';
SELECT severity, "check", detail FROM limaml_check_source('src_all_pos', 'bce', 6, 3, negatives => 100) WHERE "check" = 'labels';
SELECT pg_temp.err($$ SELECT * FROM limaml_check_source('src_all_pos', 'mse', 6, 3, negatives => 4) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_check_source('src_all_pos', 'bce', 6, 3, negatives => 0) $$);
DROP VIEW src_all_pos;
-- types: every mismatch, and nothing else read
SELECT * FROM limaml_check_source('src_bad');
-- bad input
SELECT pg_temp.err($$ SELECT * FROM limaml_check_source(NULL) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_check_source('no_such_relation') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_check_source(4242424::oid::regclass) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_check_source('src_int', 'hinge') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_check_source('src_int', support_size => 0) $$);

SELECT count(limaml_drop_model(name)) AS dropped FROM limaml_model
 WHERE name IN ('t_real', 't_int', 't_small', 't_big', 't_cast', 'bad', 'bad_huge', 'bad_nan', 'bad_two');
DELETE FROM limaml_refresh_progress WHERE model IN ('t_real', 't_int', 't_small');
DROP VIEW src_text_item, src_const, src_wide, big_cast;
DROP TABLE base, src_real, src_int, src_small, items_int, items_real, big_int, src_bad, src_missing,
           items_bad, src_huge, src_nan, src_two, src_rough;
