-- limaml_score: ranking items for members in SQL
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM, '(OID|model id) \d+', '\1 N', 'g'), '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', 'UUID', 'g');
END $$;

\set n_members 300
\set n_items 64
\set n_genres 8
\set per_member 30
\set p_fav 0.9
\set p_other 0.1
\set seed 0.5
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

SELECT limaml_create_model('sc', 'planted_interactions', seed => 1) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('sc', epochs => 20, outer_lr => 0.01);

-- the same parameters over a source without rows: every member is a cold start
-- with its own features from the members relation
CREATE VIEW no_rows AS SELECT * FROM planted_interactions WHERE false;
SELECT limaml_model_import('sc_cold', limaml_model_export('sc'), 'no_rows', 'planted_members') AS version;

CREATE TABLE emb AS
SELECT member_id, fav, limaml_adapt(member_id, 'sc') AS adapted, limaml_adapt(member_id, 'sc_cold') AS cold
  FROM planted_members;
SELECT count(*) AS members, bool_and((limaml_embedding_info(cold)).n_support = 0) AS all_cold,
       bool_and((limaml_embedding_info(adapted)).n_support = 30) AS all_adapted
  FROM emb;

-- ------------------------------------------------------------ ranking

-- top 5 of the 64 items: mostly the member's planted favourite genre once
-- adapted, far more often than from the cold start (chance is 1/8)
CREATE TEMP TABLE hits AS
SELECT m.member_id,
       (SELECT avg((t.genre = m.fav)::int) FROM (SELECT i.genre FROM planted_items i
                ORDER BY limaml_score(m.adapted, i.features) DESC, i.item_id LIMIT 5) t) AS adapted_hits,
       (SELECT avg((t.genre = m.fav)::int) FROM (SELECT i.genre FROM planted_items i
                ORDER BY limaml_score(m.cold, i.features) DESC, i.item_id LIMIT 5) t) AS cold_hits
  FROM emb m WHERE m.member_id <= 50;
SELECT count(*) AS members, avg(adapted_hits) > 0.6 AS adapted_hit_rate_high,
       avg(adapted_hits) > avg(cold_hits) + 0.3 AS adapted_far_above_cold,
       avg(cold_hits) < 0.4 AS cold_hit_rate_low
  FROM hits;

-- the favourite genre scores higher than the rest for most members
SELECT avg((fav_score > other_score)::int) > 0.9 AS favourite_scores_higher
  FROM (SELECT m.member_id,
               avg(limaml_score(m.adapted, i.features)) FILTER (WHERE i.genre = m.fav) AS fav_score,
               avg(limaml_score(m.adapted, i.features)) FILTER (WHERE i.genre <> m.fav) AS other_score
          FROM emb m CROSS JOIN planted_items i GROUP BY m.member_id) s;

-- bce scores are probabilities
SELECT count(*) AS pairs, bool_and(s > 0 AND s < 1) AS probabilities
  FROM (SELECT limaml_score(m.adapted, i.features) AS s FROM emb m CROSS JOIN planted_items i) s;

-- ------------------------------------------------------------ LATERAL over many members

-- one query over 40 members equals 40 single-member queries
CREATE TEMP TABLE lateral_top AS
SELECT m.member_id, array_agg(t.item_id ORDER BY t.rank) AS items, array_agg(t.score ORDER BY t.rank) AS scores
  FROM emb m
 CROSS JOIN LATERAL (SELECT i.item_id, limaml_score(m.adapted, i.features) AS score,
                            row_number() OVER (ORDER BY limaml_score(m.adapted, i.features) DESC, i.item_id) AS rank
                       FROM planted_items i
                      ORDER BY limaml_score(m.adapted, i.features) DESC, i.item_id LIMIT 10) t
 WHERE m.member_id <= 40
 GROUP BY m.member_id;
CREATE FUNCTION pg_temp.top10(member bigint, OUT items bigint[], OUT scores real[]) LANGUAGE plpgsql AS $$
DECLARE
	e bytea;
BEGIN
	-- a query of its own, with a fresh limaml_score call site
	EXECUTE 'SELECT adapted FROM emb WHERE member_id = $1' INTO e USING member;
	EXECUTE 'SELECT array_agg(item_id ORDER BY s DESC, item_id), array_agg(s ORDER BY s DESC, item_id)
	           FROM (SELECT item_id, limaml_score($1, features) AS s FROM planted_items
	                  ORDER BY 2 DESC, item_id LIMIT 10) t' INTO items, scores USING e;
END $$;
SELECT count(*) AS members,
       count(*) FILTER (WHERE l.items = s.items) AS same_items,
       count(*) FILTER (WHERE l.scores = s.scores) AS same_scores
  FROM lateral_top l, pg_temp.top10(l.member_id) s;
-- embeddings alternating row by row (items outer, members inner) score the same
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE x.s = limaml_score(m.adapted, i.features)) AS equal
  FROM (SELECT i.item_id, m.member_id, limaml_score(m.adapted, i.features) AS s
          FROM planted_items i CROSS JOIN (SELECT * FROM emb WHERE member_id <= 10 OFFSET 0) m) x
  JOIN planted_items i USING (item_id) JOIN emb m USING (member_id);
-- adapted and cold embeddings of different model versions in one query
SELECT count(*) AS pairs, count(*) FILTER (WHERE a <> c) AS differ
  FROM (SELECT limaml_score(CASE WHEN i.item_id % 2 = 0 THEN m.adapted ELSE m.cold END, i.features) AS a,
               limaml_score(CASE WHEN i.item_id % 2 = 0 THEN m.cold ELSE m.adapted END, i.features) AS c
          FROM emb m CROSS JOIN planted_items i WHERE m.member_id <= 5) s;

-- ------------------------------------------------------------ versions

-- an embedding keeps scoring with the version that produced it, after training
CREATE TEMP TABLE before AS
SELECT m.member_id, i.item_id, limaml_score(m.adapted, i.features) AS s
  FROM emb m CROSS JOIN planted_items i WHERE m.member_id <= 5;
SELECT count(*) AS epochs FROM limaml_train('sc', epochs => 2, outer_lr => 0.01);
SELECT count(*) AS pairs, count(*) FILTER (WHERE b.s = limaml_score(m.adapted, i.features)) AS unchanged
  FROM before b JOIN emb m USING (member_id) JOIN planted_items i USING (item_id);
-- re-adapting moves the member to the new version
SELECT (limaml_embedding_info(limaml_adapt(1, 'sc'))).version AS new_version,
       (limaml_embedding_info(adapted)).version AS old_version
  FROM emb WHERE member_id = 1;
SELECT count(*) FILTER (WHERE b.s <> limaml_score(limaml_adapt(1, 'sc'), i.features)) > 0 AS new_scores
  FROM before b JOIN planted_items i USING (item_id) WHERE b.member_id = 1;

-- ------------------------------------------------------------ mse

CREATE VIEW planted_value AS
SELECT member_id, member_features, item_features, (label * 4 - 1)::real AS label, ts FROM planted_interactions;
SELECT limaml_create_model('sc_mse', 'planted_value', loss => 'mse', inner_lr => 0.1, seed => 3) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('sc_mse', epochs => 10, outer_lr => 0.01);
-- values, not probabilities
SELECT count(*) FILTER (WHERE s < 0 OR s > 1) > 0 AS outside_unit_interval
  FROM (SELECT limaml_score(limaml_adapt(m.member_id, 'sc_mse'), i.features) AS s
          FROM planted_members m CROSS JOIN planted_items i WHERE m.member_id <= 20) s;
-- and still rank the favourite genre first
SELECT avg((fav_score > other_score)::int) > 0.7 AS favourite_scores_higher
  FROM (SELECT m.member_id,
               avg(limaml_score(e, i.features)) FILTER (WHERE i.genre = m.fav) AS fav_score,
               avg(limaml_score(e, i.features)) FILTER (WHERE i.genre <> m.fav) AS other_score
          FROM (SELECT *, limaml_adapt(member_id, 'sc_mse') AS e FROM planted_members WHERE member_id <= 50) m
         CROSS JOIN planted_items i GROUP BY m.member_id) s;

-- ------------------------------------------------------------ bad input

CREATE TEMP TABLE one AS SELECT adapted AS e FROM emb WHERE member_id = 1;
SELECT octet_length(e) AS bytes FROM one;
-- NULL in, NULL out
SELECT limaml_score(NULL, '{1,0,0,0,0,0,0,0}'::real[]) IS NULL AS null_embedding,
       limaml_score(e, NULL) IS NULL AS null_features FROM one;
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,0,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(e, '{}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(e, '{NaN,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(e, '{0,0,0,0,0,0,0,-Infinity}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(e, '{{1,0,0,0},{0,0,0,0}}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,0,0,0,NULL,0,0,0}') FROM one $$);
-- the bytea is checked: payload, header fields (format 2: uuid at 8, version 24,
-- n_support 28, content hash 32, checksum 40), length, origin
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 50, get_byte(e, 50) # 1), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 107, get_byte(e, 107) # 128), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 0, get_byte(e, 0) # 1), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 4, 3), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 6, 17), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 8, get_byte(e, 8) # 1), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 24, get_byte(e, 24) # 1), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 28, get_byte(e, 28) # 1), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 32, get_byte(e, 32) # 1), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 40, get_byte(e, 40) # 1), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(substring(e from 1 for 10), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(substring(e from 1 for 44), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(substring(e from 1 for 104), '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(e || '\x00'::bytea, '{1,0,0,0,0,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(decode(repeat('deadbeef', 22), 'hex'), '{1,0,0,0,0,0,0,0}') $$);
SELECT pg_temp.err($$ SELECT limaml_score('\x00'::bytea, '{1,0,0,0,0,0,0,0}') $$);
-- a bad embedding after good ones in the same query
SELECT pg_temp.err($$ SELECT limaml_score(x, '{1,0,0,0,0,0,0,0}')
                        FROM (VALUES (1, (SELECT e FROM one)), (2, (SELECT substring(e from 1 for 10) FROM one))) v(n, x) $$);
SELECT pg_temp.err($$ SELECT limaml_score(x, '{1,0,0,0,0,0,0,0}')
                        FROM (VALUES (1, (SELECT e FROM one)), (2, (SELECT set_byte(e, 60, get_byte(e, 60) # 1) FROM one))) v(n, x) $$);
-- the untouched embedding still scores
SELECT limaml_score(e, '{1,0,0,0,0,0,0,0}') BETWEEN 0 AND 1 AS ok FROM one;

-- an embedding of a dropped model: its version is gone (the cached copy too)
CREATE TEMP TABLE doomed AS SELECT limaml_adapt(1, 'sc_cold') AS e;
SELECT limaml_score(e, '{1,0,0,0,0,0,0,0}') BETWEEN 0 AND 1 AS scores_before FROM doomed;
SELECT limaml_drop_model('sc_cold');
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,0,0,0,0,0,0,0}') FROM doomed $$);
SELECT pg_temp.err($$ SELECT limaml_score(cold, '{1,0,0,0,0,0,0,0}') FROM emb WHERE member_id = 2 $$);
-- a new model of the same name does not adopt old embeddings
SELECT limaml_model_import('sc_cold', limaml_model_export('sc'), 'no_rows', 'planted_members') AS version;
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,0,0,0,0,0,0,0}') FROM doomed $$);

SELECT limaml_drop_model(name) FROM limaml_model ORDER BY name;
DROP TABLE emb;
DROP VIEW no_rows, planted_value;
DROP TABLE planted_interactions, planted_members, planted_items;
