-- serving helpers (issue 11 §3): cold embeddings, limaml_adapt without rows
-- or features, limaml_alter_model, limaml_recommend, limaml_top_k's column
-- names and exclusions
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	msg text;
	hint text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(msg, '(OID|model id) \d+', '\1 N', 'g'), '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', 'UUID', 'g')
		|| coalesce(E'\nHINT: ' || nullif(hint, ''), '');
END $$;

\set n_members 200
\set n_items 40
\set n_genres 8
\set per_member 8
\set p_fav 0.9
\set p_other 0.1
\set seed 0.31
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- a shop-like source: integer ids, the item id of every row, an index on (member_id, ts)
CREATE TABLE sh_events AS
SELECT p.member_id::int AS member_id, p.member_features, p.item_features, p.label, p.ts, i.item_id::int AS item_id
  FROM planted_interactions p JOIN planted_items i ON i.features = p.item_features;
CREATE INDEX ON sh_events (member_id, ts);
CREATE TABLE sh_items AS SELECT item_id::int AS item_id, features FROM planted_items;

SELECT limaml_create_model('sh', 'sh_events', embedding_dim => 8, meta_hidden => '{16}',
                           global_hidden => '{16}', inner_steps => 2, support_size => 8, query_size => 2,
                           seed => 5, item_buckets => 0) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('sh', epochs => 1, outer_lr => 0.01);

-- ------------------------------------------------------------ cold start

-- profiles of members without rows, as double precision[]
CREATE TABLE sh_profiles (member_id int PRIMARY KEY, member_features double precision[]);
INSERT INTO sh_profiles VALUES (9001, '{0.5, -0.25, 0.125}'), (9002, '{1.1, 0.3, -0.7}'), (9003, '{0, 0, 0}');
SELECT limaml_alter_model('sh', members => 'sh_profiles');
SELECT members::text FROM limaml_model WHERE name = 'sh';
-- limaml_adapt reads the new members relation at once (the model row update invalidates the cache);
-- the cold embedding of the same features is the same bytea, whatever numeric array type carries them
SELECT p.member_id,
       limaml_adapt(p.member_id, 'sh') = limaml_cold_embedding('sh', p.member_features) AS float8,
       limaml_adapt(p.member_id, 'sh') = limaml_cold_embedding('sh', p.member_features::real[]) AS real,
       limaml_adapt(p.member_id, 'sh') = limaml_cold_embedding('sh', p.member_features::numeric[]) AS numeric,
       (limaml_embedding_info(limaml_cold_embedding('sh', p.member_features))).n_support
  FROM sh_profiles p ORDER BY 1;
SELECT limaml_cold_embedding('sh', ARRAY[0, 0, 0]) = limaml_cold_embedding('sh') AS int_zeros_are_none;
-- a member with neither rows nor features: a NOTICE, and the cold embedding of zero features
SET client_min_messages = notice;
SELECT limaml_adapt(424242, 'sh') = limaml_cold_embedding('sh') AS zero_features;
SET client_min_messages = warning;
-- limaml_adapt_agg has no row to aggregate: NULL, as any aggregate over no rows
SELECT limaml_adapt_agg('sh', member_features::real[], item_features, label, ts) IS NULL AS agg_null
  FROM sh_events WHERE member_id = 424242;
-- NULL features: NULL, as limaml_score
SELECT limaml_cold_embedding('sh', NULL::real[]) IS NULL AS null_in_null_out;
-- bad input
SELECT pg_temp.err($$ SELECT limaml_cold_embedding('sh', ARRAY[1, 2]::real[]) $$);
SELECT pg_temp.err($$ SELECT limaml_cold_embedding('sh', ARRAY[1, 'NaN', 2]::float8[]) $$);
SELECT pg_temp.err($$ SELECT limaml_cold_embedding('sh', ARRAY[1, 'Infinity', 2]::real[]) $$);
SELECT pg_temp.err($$ SELECT limaml_cold_embedding('sh', ARRAY[1, NULL, 2]::real[]) $$);
SELECT pg_temp.err($$ SELECT limaml_cold_embedding('sh', ARRAY['a', 'b', 'c']) $$);
SELECT pg_temp.err($$ SELECT limaml_cold_embedding('sh', ARRAY[[1, 2, 3]]::real[]) $$);
SELECT pg_temp.err($$ SELECT limaml_cold_embedding('nope', ARRAY[1, 2, 3]) $$);
SELECT limaml_cold_embedding(NULL) IS NULL AS null_model_null;
CREATE TABLE sh_nofeat AS SELECT member_id, '{}'::real[] AS member_features, item_features, label, ts FROM sh_events;
SELECT limaml_create_model('sh_nofeat', 'sh_nofeat', embedding_dim => 4, meta_hidden => '{8}',
                           global_hidden => '{8}', inner_steps => 1, support_size => 4, query_size => 2) > 0 AS created;
SELECT pg_temp.err($$ SELECT limaml_cold_embedding('sh_nofeat', ARRAY[1.5]) $$);
SELECT limaml_cold_embedding('sh_nofeat', '{}'::real[]) = limaml_cold_embedding('sh_nofeat') AS empty_is_none;
-- no NOTICE for a model without member features: the cold embedding is all there is
SET client_min_messages = notice;
SELECT limaml_adapt(424242, 'sh_nofeat') = limaml_cold_embedding('sh_nofeat') AS cold;
SET client_min_messages = warning;

-- ------------------------------------------------------ limaml_alter_model

-- nothing, or both setting and clearing
SELECT pg_temp.err($$ SELECT limaml_alter_model('sh') $$);
SELECT pg_temp.err($$ SELECT limaml_alter_model('sh', members => 'sh_profiles', clear_members => true) $$);
SELECT pg_temp.err($$ SELECT limaml_alter_model(NULL, members => 'sh_profiles') $$);
SELECT pg_temp.err($$ SELECT limaml_alter_model('nope', members => 'sh_profiles') $$);
-- the checks of limaml_create_model: columns (all at once), then feature lengths
CREATE TABLE sh_bad_members (id int, member_features text);
SELECT pg_temp.err($$ SELECT limaml_alter_model('sh', members => 'sh_bad_members') $$);
CREATE TABLE sh_short_members (member_id bigint, member_features real[]);
INSERT INTO sh_short_members VALUES (1, '{1, 2}');
SELECT pg_temp.err($$ SELECT limaml_alter_model('sh', members => 'sh_short_members') $$);
CREATE VIEW sh_short_src AS SELECT member_id, member_features, item_features[1:3] AS item_features, label, ts FROM sh_events;
SELECT pg_temp.err($$ SELECT limaml_alter_model('sh', source => 'sh_short_src') $$);
CREATE VIEW sh_bad_src AS SELECT member_id::text AS member_id, item_features, label::text AS label, ts FROM sh_events;
SELECT pg_temp.err($$ SELECT limaml_alter_model('sh', source => 'sh_bad_src') $$);
CREATE VIEW sh_short_items AS SELECT item_id, features[1:2] AS features FROM sh_items;
SELECT pg_temp.err($$ SELECT limaml_alter_model('sh', items => 'sh_short_items') $$);
-- nothing half-written: the relations are as before
SELECT source::text, members::text, items::text FROM limaml_model WHERE name = 'sh';
-- a new source of the same shape, the items, and clearing members
CREATE VIEW sh_events_v AS SELECT * FROM sh_events;
SELECT limaml_alter_model('sh', source => 'sh_events_v', items => 'sh_items', clear_members => true);
SELECT source::text, members::text, items::text FROM limaml_model WHERE name = 'sh';
SET client_min_messages = notice;
SELECT limaml_adapt(9001, 'sh') = limaml_cold_embedding('sh') AS profile_gone;
SET client_min_messages = warning;
SELECT limaml_alter_model('sh', source => 'sh_events', members => 'sh_profiles', clear_items => true);
SELECT source::text, members::text, items::text FROM limaml_model WHERE name = 'sh';
-- limaml_model_import into an existing model never ignores source or members
SELECT pg_temp.err($$ SELECT limaml_model_import('sh', limaml_model_export('sh'), members => 'sh_profiles') $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('sh', limaml_model_export('sh'), 'sh_events') $$);
SELECT max(version) AS versions_unchanged FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'sh';
-- owner only: another role gets 42501 when granted, 42704 otherwise
CREATE ROLE sh_other;
SET ROLE sh_other;
SELECT pg_temp.err($$ SELECT limaml_alter_model('sh', members => 'sh_profiles') $$);
SELECT pg_temp.err($$ SELECT limaml_cold_embedding('sh', ARRAY[1, 2, 3]) $$);
RESET ROLE;
SELECT limaml_grant('sh', 'sh_other');
SET ROLE sh_other;
SELECT pg_temp.err($$ SELECT limaml_alter_model('sh', members => 'sh_profiles') $$);
-- a grantee reads the model's relations with the owner's rights (no privilege on them)
SELECT limaml_cold_embedding('sh', ARRAY[0.5, -0.25, 0.125]) = limaml_adapt(9001, 'sh') AS granted_cold;
RESET ROLE;

-- -------------------------------------------------------- limaml_recommend

SELECT count(limaml_adapt(member_id, 'sh')) AS adapted FROM (SELECT DISTINCT member_id FROM sh_events) m;
-- what the member interacted with, and a relation of other exclusions
CREATE TABLE sh_exclude (member_id int, item_id int);
INSERT INTO sh_exclude SELECT m, i FROM generate_series(1, 200) m, generate_series(1, 40) i WHERE (m + i) % 5 = 0;
CREATE INDEX ON sh_exclude (member_id);
CREATE FUNCTION pg_temp.expected(member bigint, k int, excl regclass, seen boolean)
RETURNS TABLE (item_id bigint, score real, rank bigint) LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format($q$
	SELECT i.item_id::bigint, limaml_score(e.embedding, i.features, i.item_id),
	       row_number() OVER (ORDER BY limaml_score(e.embedding, i.features, i.item_id) DESC, i.item_id)
	  FROM sh_items i, limaml_meta_embedding e
	 WHERE e.model = 'sh' AND e.member_id = $1
	   AND NOT ($2 AND i.item_id IN (SELECT s.item_id FROM sh_events s WHERE s.member_id = $1))
	   AND i.item_id NOT IN (SELECT x.item_id FROM %s x WHERE x.member_id = $1)
	 ORDER BY 3 LIMIT $3$q$, coalesce(excl::text, '(SELECT NULL::int AS member_id, NULL::int AS item_id WHERE false)'))
	USING member, seen, k;
END $$;
CREATE FUNCTION pg_temp.same(member bigint, k int, excl regclass, seen boolean)
RETURNS TABLE (rows bigint, identical bigint) LANGUAGE sql AS $$
	SELECT count(*), count(*) FILTER (WHERE r.item_id = x.item_id AND r.score = x.score)
	  FROM limaml_recommend('sh', member, k, 'sh_items', excl, seen) r
	  FULL JOIN pg_temp.expected(member, k, excl, seen) x USING (rank)
$$;
SELECT m AS member, (pg_temp.same(m, 10, NULL, true)).* FROM generate_series(1, 5) m;
SELECT m AS member, (pg_temp.same(m, 10, 'sh_exclude', true)).* FROM generate_series(1, 5) m;
SELECT m AS member, (pg_temp.same(m, 7, 'sh_exclude', false)).* FROM generate_series(1, 3) m;
-- every item of the relation, best first, none the member has seen
SELECT count(*) AS rows, count(*) FILTER (WHERE item_id IN (SELECT item_id FROM sh_events WHERE member_id = 3)) AS seen,
       min(rank), max(rank) FROM limaml_recommend('sh', 3, 100, 'sh_items');
-- the same ranking as limaml_top_k with the same exclusions
CREATE VIEW sh_seen AS SELECT member_id, item_id FROM sh_events UNION ALL SELECT member_id, item_id FROM sh_exclude;
SELECT count(*) AS rows, count(*) FILTER (WHERE r.item_id = t.item_id AND r.score = t.score) AS identical
  FROM limaml_recommend('sh', 4, 10, 'sh_items', 'sh_exclude') r
  FULL JOIN (SELECT * FROM limaml_top_k('sh', 'sh_items', 10, '{4}', exclude => 'sh_seen')) t USING (rank);
-- an exclusion relation of item ids alone leaves them out for every member
CREATE TABLE sh_retired (item_id bigint);
INSERT INTO sh_retired SELECT generate_series(1, 40, 2);
SELECT count(*) AS rows, count(*) FILTER (WHERE item_id % 2 = 1) AS retired_shown
  FROM limaml_recommend('sh', 5, 100, 'sh_items', 'sh_retired', false);
-- a member without a stored embedding is adapted (and stored) first
DELETE FROM limaml_meta_embedding WHERE model = 'sh' AND member_id = 6;
SELECT count(*) AS rows FROM limaml_recommend('sh', 6, 5, 'sh_items');
SELECT count(*) AS stored FROM limaml_meta_embedding WHERE model = 'sh' AND member_id = 6;
SELECT * FROM pg_temp.same(6, 5, NULL, true);
-- a profile-only member: its cold embedding, nothing seen
SELECT count(*) AS rows FROM limaml_recommend('sh', 9002, 5, 'sh_items');
-- the model's items relation is the default
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('sh', 1) $$);
SELECT limaml_alter_model('sh', items => 'sh_items');
SELECT count(*) AS rows FROM limaml_recommend('sh', 1);
-- a grantee: the model's items and source are read as the owner, a relation it passes as itself
SET ROLE sh_other;
SELECT count(*) AS rows FROM limaml_recommend('sh', 1);
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('sh', 1, items => 'sh_items') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('sh', 1, exclude => 'sh_exclude') $$);
RESET ROLE;
-- bad input
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('sh', 1, 0) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('sh', NULL) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('nope', 1) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('sh', 1, items => 'sh_bad_members') $$);
CREATE TABLE sh_bad_exclude (member_id int, item text);
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('sh', 1, exclude => 'sh_bad_exclude') $$);
CREATE TABLE sh_bad_exclude2 (member_id int, item_id text);
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('sh', 1, exclude => 'sh_bad_exclude2') $$);
-- a source without item ids cannot tell seen items
SELECT count(limaml_adapt(member_id, 'sh_nofeat')) > 0 AS adapted FROM sh_nofeat WHERE member_id = 1;
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('sh_nofeat', 1, items => 'sh_items') $$);
SELECT count(*) AS rows FROM limaml_recommend('sh_nofeat', 1, items => 'sh_items', exclude_seen => false);

-- ----------------------------------------------- limaml_top_k's new arguments

-- columns named as the user's schema, of other accepted types (double precision[] holds real[] exactly)
CREATE VIEW sh_products AS SELECT item_id::smallint AS product_id, features::float8[] AS vec FROM sh_items;
SELECT count(*) AS rows, count(*) FILTER (WHERE a.item_id = b.item_id AND a.score = b.score) AS identical
  FROM limaml_top_k('sh', 'sh_items', 5, '{1,2,3}') a
  FULL JOIN limaml_top_k('sh', 'sh_products', 5, '{1,2,3}', id_column => 'product_id', features_column => 'vec') b
 USING (member_id, rank);
-- exclusion: the LATERAL ranking without the excluded pairs
SELECT count(*) AS rows,
       count(*) FILTER (WHERE t.item_id = x.item_id AND t.score = x.score) AS identical,
       count(*) FILTER (WHERE (t.member_id, t.item_id) IN (SELECT member_id, item_id FROM sh_exclude)) AS excluded_shown
  FROM limaml_top_k('sh', 'sh_items', 6, '{1,2,3,4,5}', exclude => 'sh_exclude') t
  FULL JOIN (SELECT m AS member_id, e.* FROM generate_series(1, 5) m, pg_temp.expected(m, 6, 'sh_exclude', false) e) x
 USING (member_id, rank);
-- wrong shapes: one error with a hint, never an internal query
SELECT pg_temp.err($$ SELECT * FROM limaml_top_k('sh', 'sh_products') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_top_k('sh', 'sh_products', id_column => 'product_id', features_column => 'nope') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_top_k('sh', 'sh_products', id_column => 'vec', features_column => 'product_id') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_top_k('sh', 'sh_items', id_column => NULL) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_top_k('sh', 'sh_items', exclude => 'sh_retired') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_top_k('sh', 'sh_items', exclude => 'sh_bad_exclude2') $$);

-- clean up
SELECT limaml_drop_model('sh');
SELECT limaml_drop_model('sh_nofeat');
DROP OWNED BY sh_other;
DROP ROLE sh_other;
DROP TABLE planted_interactions, planted_members, planted_items;
