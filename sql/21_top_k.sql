-- limaml_top_k: every member's top k in one call, exactly what the LATERAL
-- query ordering by limaml_score DESC, item_id returns
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM, '(OID|model id) \d+', '\1 N', 'g'), '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', 'UUID', 'g');
END $$;

\set n_members 300
\set n_items 50
\set n_genres 8
\set per_member 8
\set p_fav 0.9
\set p_other 0.1
\set seed 0.75
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

SELECT limaml_create_model('tk', 'planted_interactions', embedding_dim => 8, meta_hidden => '{16}',
                           global_hidden => '{24, 8}', inner_steps => 2, support_size => 8, query_size => 2,
                           seed => 11) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('tk', epochs => 2, outer_lr => 0.01);
SELECT count(limaml_adapt(member_id, 'tk')) AS adapted FROM planted_members;
CREATE VIEW tk_items AS SELECT item_id, features FROM planted_items;

-- the LATERAL pattern, with ranks
CREATE FUNCTION pg_temp.lateral_top(model text, k int) RETURNS TABLE (member_id bigint, item_id bigint, score real, rank bigint)
LANGUAGE sql AS $$
	SELECT m.member_id, t.item_id, t.s, row_number() OVER (PARTITION BY m.member_id ORDER BY t.s DESC, t.item_id)
	  FROM limaml_meta_embedding m
	 CROSS JOIN LATERAL (SELECT i.item_id, limaml_score(m.embedding, i.features) AS s
	                       FROM tk_items i ORDER BY 2 DESC, 1 LIMIT k) t
	 WHERE m.model = lateral_top.model
$$;
CREATE FUNCTION pg_temp.same(k int, members bigint[] DEFAULT NULL, model text DEFAULT 'tk')
RETURNS TABLE (rows bigint, identical bigint)
LANGUAGE sql AS $$
	SELECT count(*), count(*) FILTER (WHERE h.item_id = l.item_id AND h.score = l.score)
	  FROM limaml_top_k(model, 'tk_items', k, members) h
	  FULL JOIN (SELECT * FROM pg_temp.lateral_top(model, k)
	              WHERE members IS NULL OR member_id = ANY (members)) l USING (member_id, rank)
$$;

-- every member, items and scores identical to LATERAL's
SELECT * FROM pg_temp.same(5);
SELECT * FROM pg_temp.same(1);
-- k beyond the number of items: all of them, ranked
SELECT * FROM pg_temp.same(80);
SELECT count(*) AS rows, count(DISTINCT member_id) AS members, max(rank) AS max_rank
  FROM limaml_top_k('tk', 'tk_items', 80);
-- some members
SELECT * FROM pg_temp.same(3, '{5,1,7,100000}');
SELECT array_agg(DISTINCT member_id ORDER BY member_id) AS members FROM limaml_top_k('tk', 'tk_items', 3, '{5,1,7,100000}');
SELECT count(*) AS rows FROM limaml_top_k('tk', 'tk_items', 3, '{}');
-- a small work_mem: many passes over the items, the same result
SET work_mem = '64kB';
SELECT * FROM pg_temp.same(7);
RESET work_mem;
-- rows of a member come ranked
SELECT bool_and(ok) AS ordered FROM (
	SELECT rank = row_number() OVER (PARTITION BY member_id ORDER BY score DESC, item_id) AS ok
	  FROM limaml_top_k('tk', 'tk_items', 5)) s;

-- members on two versions: each scored with its own, as limaml_score does
SELECT count(*) AS epochs FROM limaml_train('tk', epochs => 1, outer_lr => 0.01);
SELECT count(limaml_adapt(member_id, 'tk')) AS readapted FROM planted_members WHERE member_id % 2 = 0;
SELECT count(DISTINCT (limaml_embedding_info(embedding)).version) AS versions
  FROM limaml_meta_embedding WHERE model = 'tk';
SELECT * FROM pg_temp.same(5);

-- a model with the bilinear term: the same scores as limaml_score on the features
SELECT limaml_create_model('tkb', 'planted_interactions', embedding_dim => 8, meta_hidden => '{16}',
                           global_hidden => '{24}', support_size => 8, query_size => 2, seed => 12,
                           bilinear => true) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('tkb', epochs => 1, outer_lr => 0.01);
SELECT count(limaml_adapt(member_id, 'tkb')) AS adapted FROM planted_members;
SELECT * FROM pg_temp.same(5, NULL, 'tkb');
SELECT limaml_drop_model('tkb');

-- bad input
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_top_k('tk', 'tk_items', 0) $$);
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_top_k('tk', 'tk_items', NULL) $$);
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_top_k(NULL, 'tk_items') $$);
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_top_k('nope', 'tk_items') $$);
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_top_k('tk', 'planted_members') $$);
CREATE TABLE tk_bad AS SELECT item_id, features FROM planted_items;
UPDATE tk_bad SET features = NULL WHERE item_id = 7;
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_top_k('tk', 'tk_bad') $$);
UPDATE tk_bad SET features = '{1,2,3}' WHERE item_id = 7;
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_top_k('tk', 'tk_bad') $$);
UPDATE tk_bad SET features = '{0,0,0,0,0,0,0,NaN}' WHERE item_id = 7;
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_top_k('tk', 'tk_bad') $$);
-- an embedding whose version was dropped fails, as in limaml_score
SELECT (limaml_embedding_info(embedding)).version AS member_1_version
  FROM limaml_meta_embedding WHERE model = 'tk' AND member_id = 1;
DELETE FROM limaml_model_version
 WHERE model_id = (SELECT model_id FROM limaml_model WHERE name = 'tk') AND version = 1;
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_top_k('tk', 'tk_items', 3, '{1}') $$);
SELECT count(*) AS rows_of_member_2 FROM limaml_top_k('tk', 'tk_items', 3, '{2}');

SELECT limaml_drop_model('tk');
DROP TABLE tk_bad;
DROP VIEW tk_items;
DROP TABLE planted_interactions, planted_members, planted_items;
