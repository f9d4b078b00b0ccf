-- limaml_refresh: what is stale, what is refreshed, and the progress record
-- (its NOTICEs carry timings, so they stay hidden)
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM, '(OID|model id) \d+', '\1 N', 'g'), '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', 'UUID', 'g');
END $$;

\set n_members 120
\set n_items 64
\set n_genres 8
\set per_member 25
\set p_fav 0.9
\set p_other 0.1
\set seed 0.7
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

CREATE TABLE rf_src AS SELECT * FROM planted_interactions;
CREATE INDEX ON rf_src (member_id, ts);
SELECT limaml_create_model('rf', 'rf_src', support_size => 20, seed => 4) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('rf', epochs => 1, outer_lr => 0.01);

-- every embedding is limaml_adapt's, at the active version, with its fingerprint
CREATE FUNCTION pg_temp.check_fresh(model text) RETURNS TABLE (embeddings bigint, as_adapt bigint, current bigint,
                                                              fingerprinted bigint)
LANGUAGE sql AS $$
	SELECT count(*),
	       count(*) FILTER (WHERE e.embedding = (SELECT limaml_adapt_agg(model, member_features, item_features, label, ts)
	                                               FROM rf_src s WHERE s.member_id = e.member_id)
	                         OR (e.n_support = 0 AND NOT EXISTS (SELECT FROM rf_src s WHERE s.member_id = e.member_id))),
	       count(*) FILTER (WHERE e.model_version = (SELECT active_version FROM limaml_model WHERE name = model)),
	       count(*) FILTER (WHERE e.source_ts IS NOT DISTINCT FROM (SELECT max(ts) FROM rf_src s WHERE s.member_id = e.member_id)
	                          AND e.source_rows = (SELECT count(*) FROM rf_src s WHERE s.member_id = e.member_id))
	  FROM limaml_meta_embedding e WHERE e.model = $1
$$;
CREATE FUNCTION pg_temp.progress() RETURNS TABLE (state text, members_done bigint, members_total bigint,
                                                   batches_done int, batches_total int, percent numeric)
LANGUAGE sql AS $$
	SELECT state, members_done, members_total, batches_done, batches_total, percent
	  FROM limaml_refresh_status WHERE model = 'rf'
$$;

-- ------------------------------------------------------------ first refresh

-- nothing adapted yet: every member, in batches of 50
CALL limaml_refresh('rf', 50);
SELECT * FROM pg_temp.progress();
SELECT * FROM pg_temp.check_fresh('rf');
SELECT n_support, count(*) AS members FROM limaml_meta_embedding WHERE model = 'rf' GROUP BY 1 ORDER BY 1;
SELECT pid = pg_backend_pid() AS this_backend, finished_at >= started_at AS finished, model_version,
       batch_size FROM limaml_refresh_progress WHERE model = 'rf';

-- nothing changed: nothing to do, and nothing rewritten
CREATE TEMP TABLE rf_before AS SELECT member_id, updated_at FROM limaml_meta_embedding WHERE model = 'rf';
CALL limaml_refresh('rf', 50);
SELECT * FROM pg_temp.progress();
SELECT count(*) AS rewritten FROM limaml_meta_embedding e JOIN rf_before b USING (member_id)
 WHERE e.model = 'rf' AND e.updated_at <> b.updated_at;

-- ------------------------------------------------------------ what is stale

-- new rows (members 1-3), a late row older than the newest (member 4), a
-- deleted row (member 5), all rows deleted (member 6), a new member (1000),
-- a member adapted on its own with limaml_adapt (member 7: fresh already)
INSERT INTO rf_src SELECT member_id, member_features, item_features, 1 - label, ts + interval '1 hour'
  FROM rf_src WHERE member_id IN (1, 2, 3) AND ts = (SELECT max(ts) FROM rf_src);
INSERT INTO rf_src SELECT member_id, member_features, item_features, 1 - label, ts - interval '30 seconds'
  FROM rf_src WHERE member_id = 4 AND ts = (SELECT max(ts) FROM rf_src WHERE member_id = 4);
DELETE FROM rf_src WHERE member_id = 5 AND ts = (SELECT min(ts) FROM rf_src WHERE member_id = 5);
DELETE FROM rf_src WHERE member_id = 6;
INSERT INTO rf_src SELECT 1000, member_features, item_features, label, ts FROM rf_src WHERE member_id = 8;
INSERT INTO rf_src SELECT member_id, member_features, item_features, 1 - label, ts + interval '2 hours'
  FROM rf_src WHERE member_id = 7 AND ts = (SELECT max(ts) FROM rf_src WHERE member_id = 7);
SELECT limaml_adapt(7, 'rf') IS NOT NULL AS adapted_alone;
SELECT * FROM pg_temp.check_fresh('rf');

DELETE FROM rf_before;
INSERT INTO rf_before SELECT member_id, updated_at FROM limaml_meta_embedding WHERE model = 'rf';
CALL limaml_refresh('rf', 2);
SELECT * FROM pg_temp.progress();
SELECT array_agg(member_id ORDER BY member_id) AS refreshed
  FROM limaml_meta_embedding e LEFT JOIN rf_before b USING (member_id)
 WHERE e.model = 'rf' AND e.updated_at IS DISTINCT FROM b.updated_at;
SELECT * FROM pg_temp.check_fresh('rf');
-- the member without rows now has the cold-start embedding
SELECT member_id, n_support, source_ts, source_rows FROM limaml_meta_embedding
 WHERE model = 'rf' AND member_id = 6;

-- ------------------------------------------------------------ a new model version

SELECT count(*) AS epochs FROM limaml_train('rf', epochs => 1, outer_lr => 0.01);
CALL limaml_refresh('rf');
SELECT * FROM pg_temp.progress();
SELECT * FROM pg_temp.check_fresh('rf');

-- embeddings written by the aggregate without a fingerprint are refreshed once
UPDATE limaml_meta_embedding SET source_ts = NULL, source_rows = NULL WHERE model = 'rf' AND member_id <= 10;
CALL limaml_refresh('rf');
SELECT members_done FROM pg_temp.progress();
CALL limaml_refresh('rf');
SELECT members_done FROM pg_temp.progress();

-- ------------------------------------------------------------ errors

-- (top-level statements: inside pg_temp.err the procedure could not commit)
\set VERBOSITY terse
CALL limaml_refresh('nope');
CALL limaml_refresh('rf', 0);
CALL limaml_refresh('rf', NULL);
\set VERBOSITY default
-- it commits, so it cannot run inside a transaction block or a function
INSERT INTO rf_src SELECT member_id, member_features, item_features, label, ts + interval '3 hours'
  FROM rf_src WHERE member_id = 9 AND ts = (SELECT max(ts) FROM rf_src WHERE member_id = 9);
BEGIN;
SELECT pg_temp.err($$ CALL limaml_refresh('rf') $$);
ROLLBACK;
CALL limaml_refresh('rf');
SELECT members_done FROM pg_temp.progress();

SELECT limaml_drop_model(name) FROM limaml_model ORDER BY name;
SELECT count(*) AS embeddings_left FROM limaml_meta_embedding;
DELETE FROM limaml_refresh_progress;
DROP TABLE rf_src;
DROP TABLE planted_interactions, planted_members, planted_items;
