-- limaml_adapt and limaml_adapt_agg: meta embeddings of members
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM, '(OID|model id) \d+', '\1 N', 'g'), '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', 'UUID', 'g');
END $$;

\set n_members 200
\set n_items 64
\set n_genres 8
\set per_member 30
\set p_fav 0.9
\set p_other 0.1
\set seed 0.3
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- members with 5, 20, 21 and 30 rows: fewer, exactly, just more and many more
-- than the support size of 20
CREATE TABLE ad_src AS
SELECT * FROM planted_interactions
 WHERE ts <= timestamptz '2026-01-01' + make_interval(mins => (ARRAY[5, 20, 21, 30])[1 + member_id % 4]);
CREATE INDEX ON ad_src (member_id, ts);
SELECT n, count(*) AS members
  FROM (SELECT member_id, count(*) AS n FROM ad_src GROUP BY member_id) s GROUP BY n ORDER BY n;

SELECT limaml_create_model('ad', 'ad_src', support_size => 20, seed => 5) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('ad', epochs => 3, outer_lr => 0.01);

-- ------------------------------------------------------------ limaml_adapt

-- the only model is the default
SELECT limaml_adapt(1) = limaml_adapt(1, 'ad') AS default_is_the_only_model;
SELECT model, member_id, model_version, n_support FROM limaml_meta_embedding;

-- every member: one row each, n_support = min(rows, support_size)
SELECT count(*) AS adapted FROM (SELECT DISTINCT member_id FROM ad_src) m, limaml_adapt(m.member_id, 'ad') e
 WHERE e IS NOT NULL;
SELECT count(*) AS rows, count(DISTINCT member_id) AS members FROM limaml_meta_embedding WHERE model = 'ad';
SELECT e.n_support, s.n AS source_rows, count(*) AS members
  FROM limaml_meta_embedding e JOIN (SELECT member_id, count(*) AS n FROM ad_src GROUP BY member_id) s USING (member_id)
 WHERE e.model = 'ad' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT bool_and(model_version = 1) AS active_version FROM limaml_meta_embedding WHERE model = 'ad';
-- the stored bytea is the returned one, and its header agrees with the row
SELECT count(*) AS consistent
  FROM limaml_meta_embedding e, limaml_embedding_info(e.embedding) i
 WHERE e.model = 'ad' AND i.model = e.model AND i.version = e.model_version AND i.n_support = e.n_support;
SELECT limaml_adapt(7, 'ad') = (SELECT embedding FROM limaml_meta_embedding WHERE model = 'ad' AND member_id = 7)
       AS stored_as_returned;
-- members differ from each other
SELECT count(DISTINCT limaml_embedding_array(embedding)) AS distinct_vectors, count(*) AS members
  FROM limaml_meta_embedding WHERE model = 'ad';

-- adapting again replaces the row; after training, with the new version
CREATE TEMP TABLE before AS SELECT member_id, embedding, updated_at FROM limaml_meta_embedding WHERE model = 'ad';
SELECT limaml_adapt(3, 'ad') = (SELECT embedding FROM before WHERE member_id = 3) AS same_again;
SELECT count(*) AS rows FROM limaml_meta_embedding WHERE model = 'ad' AND member_id = 3;
SELECT count(*) AS epochs FROM limaml_train('ad', epochs => 1, outer_lr => 0.01);
SELECT limaml_adapt(3, 'ad') <> (SELECT embedding FROM before WHERE member_id = 3) AS changed;
SELECT member_id, model_version, n_support FROM limaml_meta_embedding WHERE model = 'ad' AND member_id IN (3, 4) ORDER BY 1;
SELECT e.updated_at >= b.updated_at AS refreshed
  FROM limaml_meta_embedding e JOIN before b USING (member_id) WHERE e.model = 'ad' AND member_id = 3;
SELECT count(*) AS rows, count(DISTINCT member_id) AS members FROM limaml_meta_embedding WHERE model = 'ad';
-- inside a rolled back transaction nothing stays
BEGIN;
SELECT limaml_adapt(5000, 'ad') IS NOT NULL AS adapted;
SELECT count(*) FROM limaml_meta_embedding WHERE member_id = 5000;
ROLLBACK;
SELECT count(*) FROM limaml_meta_embedding WHERE member_id = 5000;

-- ------------------------------------------------------------ choosing the model

SELECT limaml_create_model('ad_small', 'ad_src', support_size => 7, seed => 6, embedding_dim => 8) > 0 AS created;
SELECT pg_temp.err($$ SELECT limaml_adapt(1) $$);
SET limaml.default_model = 'ad_small';
SELECT (limaml_embedding_info(limaml_adapt(1))).model;
SELECT model, n_support FROM limaml_meta_embedding WHERE member_id = 1 ORDER BY model;
SELECT (limaml_embedding_info(limaml_adapt(1, 'ad'))).model AS explicit_name_wins;
SELECT (limaml_embedding_info(limaml_adapt_agg(NULL, member_features, item_features, label ORDER BY ts))).model
  FROM ad_src WHERE member_id = 1;
SET limaml.default_model = '';
SELECT pg_temp.err($$ SELECT limaml_adapt(1) $$);
RESET limaml.default_model;
SELECT pg_temp.err($$ SELECT limaml_adapt(NULL, 'ad') $$);

-- ------------------------------------------------------------ cold start

-- members without rows: n_support 0, one shared embedding
SELECT limaml_adapt(100000, 'ad') = limaml_adapt(100001, 'ad') AS same_cold_embedding;
SELECT member_id, n_support FROM limaml_meta_embedding WHERE member_id >= 100000 ORDER BY 1;
SELECT (limaml_embedding_info(limaml_adapt(100000, 'ad'))).n_support;
SELECT limaml_embedding_array(limaml_adapt(100000, 'ad')) <> limaml_embedding_array(limaml_adapt(1, 'ad'))
       AS differs_from_adapted;

-- a members relation gives cold members their features
CREATE TABLE ad_members AS SELECT member_id, member_features FROM planted_members;
INSERT INTO ad_members VALUES (1001, '{1, 0.5, -0.5}'), (1002, '{-1, 0.2, 0.3}'), (1003, '{1, 0.5, -0.5}'),
                              (1004, NULL);
SELECT limaml_create_model('ad_m', 'ad_src', members => 'ad_members', support_size => 20, seed => 5) > 0 AS created;
SELECT limaml_adapt(1001, 'ad_m') <> limaml_adapt(1002, 'ad_m') AS features_matter,
       limaml_adapt(1001, 'ad_m') = limaml_adapt(1003, 'ad_m') AS same_features_same_embedding,
       limaml_adapt(1001, 'ad_m') <> limaml_adapt(2000, 'ad_m') AS unknown_member_differs;
SELECT member_id, n_support FROM limaml_meta_embedding WHERE model = 'ad_m' ORDER BY 1;
-- the model has member features, so NULL ones are an error
SELECT pg_temp.err($$ SELECT limaml_adapt(1004, 'ad_m') $$);
-- a member with rows takes its features from its newest source row, as limaml_adapt_agg does
SELECT limaml_adapt(9, 'ad_m') = (SELECT limaml_adapt_agg('ad_m', member_features, item_features, label ORDER BY ts)
                                    FROM ad_src WHERE member_id = 9) AS source_features_win;
-- the same initialization without a members relation: cold members get zero features
SELECT limaml_create_model('ad_nom', 'ad_src', support_size => 20, seed => 5) > 0 AS created;
SELECT limaml_embedding_array(limaml_adapt(1001, 'ad_nom')) = limaml_embedding_array(limaml_adapt(2000, 'ad_m'))
       AS zero_features;
SELECT limaml_embedding_array(limaml_adapt(9, 'ad_nom')) = limaml_embedding_array(limaml_adapt(9, 'ad_m'))
       AS same_model_same_vector;

-- ------------------------------------------------------------ limaml_adapt_agg

-- one scan for all members gives exactly limaml_adapt's bytea, whatever the row count
CREATE FUNCTION pg_temp.agg_matches(model text) RETURNS TABLE (n_support int, members bigint, equal bigint)
LANGUAGE sql AS $$
	SELECT (limaml_embedding_info(a.e)).n_support, count(*),
	       count(*) FILTER (WHERE a.e = limaml_adapt(a.member_id, model))
	  FROM (SELECT member_id, limaml_adapt_agg(model, member_features, item_features, label ORDER BY ts) AS e
	          FROM ad_src GROUP BY member_id) a
	 GROUP BY 1 ORDER BY 1
$$;
SELECT * FROM pg_temp.agg_matches('ad');
-- a support size of 7 wraps the ring several times
SELECT * FROM pg_temp.agg_matches('ad_small');
SELECT * FROM pg_temp.agg_matches('ad_m');

-- without ORDER BY the newest rows are whichever come last: order matters
SELECT (SELECT limaml_adapt_agg('ad', member_features, item_features, label ORDER BY ts DESC)
          FROM ad_src WHERE member_id = 3)
    <> limaml_adapt(3, 'ad') AS order_matters;
-- with support_size 7 only the newest 7 rows count
SELECT (SELECT limaml_adapt_agg('ad_small', member_features, item_features, label ORDER BY ts)
          FROM ad_src WHERE member_id = 3)
     = (SELECT limaml_adapt_agg('ad_small', member_features, item_features, label ORDER BY ts)
          FROM (SELECT * FROM ad_src WHERE member_id = 3 ORDER BY ts DESC LIMIT 7) s) AS newest_rows_only;
-- any rows, not only the source's: the newest row's member features count
SELECT (SELECT limaml_adapt_agg('ad', member_features, item_features, label ORDER BY ts) FROM ad_src WHERE member_id = 1)
    <> (SELECT limaml_adapt_agg('ad', CASE WHEN ts = max_ts THEN '{9,9,9}'::real[] ELSE member_features END,
                                item_features, label ORDER BY ts)
          FROM (SELECT *, max(ts) OVER () AS max_ts FROM ad_src WHERE member_id = 1) s) AS newest_features_count;
SELECT (SELECT limaml_adapt_agg('ad', member_features, item_features, label ORDER BY ts) FROM ad_src WHERE member_id = 1)
     = (SELECT limaml_adapt_agg('ad', CASE WHEN ts = min_ts THEN '{9,9,9}'::real[] ELSE member_features END,
                                item_features, label ORDER BY ts)
          FROM (SELECT *, min(ts) OVER () AS min_ts FROM ad_src WHERE member_id = 1) s) AS older_features_ignored;
-- no rows: NULL (a cold start needs limaml_adapt)
SELECT limaml_adapt_agg('ad', member_features, item_features, label) IS NULL AS no_rows FROM ad_src WHERE false;
-- the aggregate writes nothing
SELECT count(*) AS before FROM limaml_meta_embedding WHERE member_id = 3 AND model = 'ad';
DELETE FROM limaml_meta_embedding WHERE member_id = 3;
SELECT limaml_adapt_agg('ad', member_features, item_features, label ORDER BY ts) IS NOT NULL
  FROM ad_src WHERE member_id = 3;
SELECT count(*) AS after FROM limaml_meta_embedding WHERE member_id = 3;
-- several models in one query, one per group
SELECT count(*) AS members,
       count(*) FILTER (WHERE e = limaml_adapt(member_id, CASE WHEN member_id % 2 = 0 THEN 'ad' ELSE 'ad_small' END))
       AS equal
  FROM (SELECT member_id,
               limaml_adapt_agg(CASE WHEN member_id % 2 = 0 THEN 'ad' ELSE 'ad_small' END,
                                member_features, item_features, label ORDER BY ts) AS e
          FROM ad_src GROUP BY member_id) a;
-- a featureless model, too
CREATE VIEW ad_nofeat AS SELECT member_id, NULL::real[] AS member_features, item_features, label, ts FROM ad_src;
SELECT limaml_create_model('ad_nf', 'ad_nofeat', support_size => 20) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('ad_nf', epochs => 2, outer_lr => 0.01);
SELECT count(*) AS members,
       count(*) FILTER (WHERE e = limaml_adapt(member_id, 'ad_nf')) AS equal,
       count(DISTINCT limaml_embedding_array(e)) > 1 AS rows_matter
  FROM (SELECT member_id, limaml_adapt_agg('ad_nf', member_features, item_features, label ORDER BY ts) AS e
          FROM ad_nofeat GROUP BY member_id) a;
-- without inner steps every featureless member gets the learned vector
SELECT limaml_create_model('ad_nf0', 'ad_nofeat', inner_steps => 0) > 0 AS created;
SELECT count(DISTINCT limaml_embedding_array(limaml_adapt(member_id, 'ad_nf0'))) AS distinct_vectors
  FROM (SELECT DISTINCT member_id FROM ad_src UNION ALL SELECT 424242) m;

-- ------------------------------------------------------------ bad input

SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, NULL, label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, item_features[1:3], label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, item_features || '{1}'::real[], label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, '{}', label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, '{NaN,0,0,0,0,0,0,0}', label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, '{Infinity,0,0,0,0,0,0,0}', label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, '{NULL,0,0,0,0,0,0,0}', label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, '{{0,0,0,0},{0,0,0,0}}', label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, item_features, 2) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, item_features, -0.5) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, item_features, 'NaN') FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', member_features, item_features, NULL) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', NULL, item_features, label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', '{1,2}', item_features, label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad', '{1,2,NaN}', item_features, label) FROM ad_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('nope', member_features, item_features, label) FROM ad_src WHERE member_id = 1 $$);
-- featureless: member features must be NULL or empty
SELECT limaml_adapt_agg('ad_nf', '{}', item_features, label ORDER BY ts)
     = limaml_adapt_agg('ad_nf', NULL, item_features, label ORDER BY ts) AS empty_is_none
  FROM ad_src WHERE member_id = 1;
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad_nf', member_features, item_features, label) FROM ad_src WHERE member_id = 1 $$);
-- mse models take any finite label
SELECT limaml_create_model('ad_mse', 'ad_src', loss => 'mse') > 0 AS created;
SELECT limaml_adapt_agg('ad_mse', member_features, item_features, (label * 100 - 50)::real ORDER BY ts) IS NOT NULL AS ok
  FROM ad_src WHERE member_id = 1;
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('ad_mse', member_features, item_features, '-Infinity') FROM ad_src WHERE member_id = 1 $$);

-- limaml_adapt checks the rows it reads; a failure leaves the stored embedding alone
CREATE TEMP TABLE stored7 AS SELECT embedding FROM limaml_meta_embedding WHERE model = 'ad' AND member_id = 7;
INSERT INTO ad_src VALUES (7, '{0,0,0}', '{NaN,0,0,0,0,0,0,0}', 1, '2027-01-01');
SELECT pg_temp.err($$ SELECT limaml_adapt(7, 'ad') $$);
UPDATE ad_src SET item_features = NULL WHERE member_id = 7 AND ts = '2027-01-01';
SELECT pg_temp.err($$ SELECT limaml_adapt(7, 'ad') $$);
UPDATE ad_src SET item_features = '{0,0,0}' WHERE member_id = 7 AND ts = '2027-01-01';
SELECT pg_temp.err($$ SELECT limaml_adapt(7, 'ad') $$);
UPDATE ad_src SET item_features = '{0,0,0,0,0,0,0,0}', label = 3 WHERE member_id = 7 AND ts = '2027-01-01';
SELECT pg_temp.err($$ SELECT limaml_adapt(7, 'ad') $$);
UPDATE ad_src SET label = NULL WHERE member_id = 7 AND ts = '2027-01-01';
SELECT pg_temp.err($$ SELECT limaml_adapt(7, 'ad') $$);
UPDATE ad_src SET label = 1, member_features = NULL WHERE member_id = 7 AND ts = '2027-01-01';
SELECT pg_temp.err($$ SELECT limaml_adapt(7, 'ad') $$);
UPDATE ad_src SET member_features = '{0,0,0,0}' WHERE member_id = 7 AND ts = '2027-01-01';
SELECT pg_temp.err($$ SELECT limaml_adapt(7, 'ad') $$);
SELECT embedding = (SELECT embedding FROM stored7) AS untouched
  FROM limaml_meta_embedding WHERE model = 'ad' AND member_id = 7;
-- the bad row is older than the newest support_size rows: not read
UPDATE ad_src SET member_features = '{0,0,0}', item_features = '{NaN,0,0,0,0,0,0,0}', ts = '2020-01-01'
 WHERE member_id = 7 AND ts = '2027-01-01';
SELECT pg_temp.err($$ SELECT limaml_adapt(7, 'ad') $$);
DELETE FROM ad_src WHERE member_id = 7 AND ts = '2020-01-01';

SELECT limaml_drop_model(name) FROM limaml_model ORDER BY name;
SELECT count(*) AS embeddings_left FROM limaml_meta_embedding;
DROP VIEW ad_nofeat;
DROP TABLE ad_src, ad_members;
DROP TABLE planted_interactions, planted_members, planted_items;
