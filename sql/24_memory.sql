-- limaml.max_work_mem: training and adaptation refuse with 54000 before they allocate more
-- working memory than the setting allows, and store nothing (issue 9)
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

\set n_members 40
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

-- a wide support window: its work areas are what training and adaptation need
SELECT limaml_create_model('w', 'planted_interactions', embedding_dim => 4, global_hidden => '{256,256}',
                           support_size => 20000, query_size => 20000, seed => 1) > 0 AS created;
SHOW limaml.max_work_mem;
-- only a superuser sets it
CREATE ROLE w_user;
SET ROLE w_user;
SELECT pg_temp.err($$ SET limaml.max_work_mem = '100GB' $$);
RESET ROLE;
DROP ROLE w_user;
SET limaml.max_work_mem = '16MB';
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_train('w', epochs => 1) $$);
SELECT count(*) AS versions_still_one FROM limaml_model_version v JOIN limaml_model m USING (model_id)
 WHERE m.name = 'w';
SELECT pg_temp.err($$ SELECT limaml_adapt(1, 'w') $$);
SELECT count(*) AS no_embedding FROM limaml_meta_embedding WHERE model = 'w';
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('w', member_features, item_features, label, ts)
                        FROM planted_interactions WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('w', member_features, item_features, label ORDER BY ts)
                        FROM planted_interactions WHERE member_id = 1 $$);
\set VERBOSITY terse
CALL limaml_refresh('w');
\set VERBOSITY default
SELECT count(*) AS refresh_stored_nothing FROM limaml_meta_embedding WHERE model = 'w';
-- the same calls within the setting work
RESET limaml.max_work_mem;
SELECT count(*) AS epochs FROM limaml_train('w', epochs => 1);
SELECT length(limaml_adapt(1, 'w')) > 0 AS adapted;
SELECT limaml_drop_model('w');

-- a member's rows are checked as they stream in: every row of a member is kept when
-- episodes draw random splits, so one member with very many rows does not fit
CREATE TABLE w_rows AS SELECT * FROM planted_interactions;
INSERT INTO w_rows
SELECT 1, member_features, item_features, label, ts + g * interval '1 second'
  FROM planted_interactions, generate_series(1, 2000) g WHERE member_id = 1;
SELECT limaml_create_model('w2', 'w_rows', embedding_dim => 4, global_hidden => '{8}',
                           support_size => 3, query_size => 2, seed => 1) > 0 AS created;
SET limaml.max_work_mem = '1MB';
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_train('w2', epochs => 1, random_splits => true) $$);
SELECT count(*) AS versions_still_one FROM limaml_model_version v JOIN limaml_model m USING (model_id)
 WHERE m.name = 'w2';
-- the newest split keeps only support_size + query_size rows per member: it fits
SELECT count(*) AS epochs FROM limaml_train('w2', epochs => 1, random_splits => false);
RESET limaml.max_work_mem;
SELECT limaml_drop_model('w2');
DROP TABLE w_rows;

-- within the default setting, the largest support window of wide features is refused
-- with 54000 rather than failing an allocation (XX000) or taking gigabytes
CREATE VIEW w_wide AS
SELECT member_id, member_features, array_fill(0.5::real, ARRAY[4096]) AS item_features, label, ts
  FROM planted_interactions;
SELECT limaml_create_model('w3', 'w_wide', embedding_dim => 4, global_hidden => '{}',
                           support_size => 100000, seed => 1) > 0 AS created;
SELECT pg_temp.err($$ SELECT limaml_adapt(1, 'w3') $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('w3', member_features, item_features, label, ts)
                        FROM w_wide WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_train('w3', epochs => 1) $$);
SELECT limaml_drop_model('w3');
DROP VIEW w_wide;

-- a model version is one bytea: at most 1 GB of parameters whatever limaml.max_model_size says
CREATE VIEW w_ids AS SELECT pi.*, 1::bigint AS item_id FROM planted_interactions pi;
SET limaml.max_model_size = '4GB';
SELECT pg_temp.err($$ SELECT limaml_create_model('w4', 'w_ids', item_buckets => 400000,
                                                 item_embedding_dim => 1024) $$);
RESET limaml.max_model_size;
SELECT count(*) AS nothing_created FROM limaml_model WHERE name = 'w4';
DROP VIEW w_ids;

SELECT count(*) AS models_left FROM limaml_model WHERE name LIKE 'w%';
DROP TABLE planted_interactions, planted_members, planted_items;
