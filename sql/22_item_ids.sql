-- serving with hashed item-ID embeddings: limaml_score(e, features, item_id),
-- item codes of (features, item_id) and limaml_top_k give the same bits
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '(OID|model id) \d+', '\1 N', 'g');
END $$;

\set n_members 120
\set n_items 40
\set n_genres 8
\set per_member 10
\set p_fav 0.9
\set p_other 0.1
\set seed 0.25
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- training sees items 1..36 only; 37..40 and 1000 are new items
CREATE VIEW ii_src AS
SELECT pi.member_id, pi.member_features, pi.item_features, pi.label, pi.ts, it.item_id
  FROM planted_interactions pi JOIN planted_items it ON it.features = pi.item_features
 WHERE it.item_id <= 36;
SELECT limaml_create_model('ii', 'ii_src', embedding_dim => 8, meta_hidden => '{16}', global_hidden => '{16, 8}',
                           inner_steps => 2, support_size => 8, query_size => 2, seed => 5,
                           item_buckets => 64, item_embedding_dim => 4) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('ii', epochs => 3, outer_lr => 0.03, validation_fraction => 0);
SELECT count(limaml_adapt(member_id, 'ii')) AS adapted FROM planted_members;
CREATE VIEW ii_items AS SELECT item_id, features FROM planted_items;
CREATE TEMP TABLE ii_pairs AS
SELECT m.member_id, m.embedding AS e, i.item_id, i.features
  FROM limaml_meta_embedding m CROSS JOIN planted_items i WHERE m.model = 'ii';

-- the array path and item codes of (features, item_id): identical bits
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE limaml_score(e, features, item_id) =
                              limaml_score(e, limaml_item_encode('ii', features, item_id => item_id))) AS identical
  FROM ii_pairs;
-- no item id: the unknown item, in every form
SELECT count(*) FILTER (WHERE limaml_score(e, features) = limaml_score(e, features, NULL)) AS two_arg_is_unknown,
       count(*) FILTER (WHERE limaml_score(e, limaml_item_encode('ii', features)) = limaml_score(e, features, NULL)) AS code_is_unknown
  FROM ii_pairs;
-- the item id matters: trained ids differ from the unknown item, and items
-- 1 and 2 with item 1's features score differently
SELECT count(*) FILTER (WHERE limaml_score(e, features, item_id) <> limaml_score(e, features, NULL)) > 0.9 * count(*) AS ids_matter
  FROM ii_pairs WHERE item_id <= 36;
SELECT count(*) AS members,
       count(*) FILTER (WHERE limaml_score(e, features, 1) <> limaml_score(e, features, 2)) AS differ
  FROM ii_pairs WHERE item_id = 1;
-- an item never seen in training (its bucket was never trained) scores like the unknown item
SELECT count(*) FILTER (WHERE limaml_score(e, features, 1000) = limaml_score(e, features, NULL)) = count(*) AS new_is_unknown,
       count(*) FILTER (WHERE limaml_score(e, limaml_item_encode('ii', features, item_id => 1000)) =
                              limaml_score(e, features, NULL)) = count(*) AS new_code_is_unknown
  FROM ii_pairs;

-- limaml_top_k reads the relation's item_id: the LATERAL query with item ids, exactly
CREATE FUNCTION pg_temp.lateral_top(k int) RETURNS TABLE (member_id bigint, item_id bigint, score real, rank bigint)
LANGUAGE sql AS $$
	SELECT m.member_id, t.item_id, t.s, row_number() OVER (PARTITION BY m.member_id ORDER BY t.s DESC, t.item_id)
	  FROM limaml_meta_embedding m
	 CROSS JOIN LATERAL (SELECT i.item_id, limaml_score(m.embedding, i.features, i.item_id) AS s
	                       FROM ii_items i ORDER BY 2 DESC, 1 LIMIT k) t
	 WHERE m.model = 'ii'
$$;
CREATE FUNCTION pg_temp.same(k int) RETURNS TABLE (rows bigint, identical bigint)
LANGUAGE sql AS $$
	SELECT count(*), count(*) FILTER (WHERE h.item_id = l.item_id AND h.score = l.score)
	  FROM limaml_top_k('ii', 'ii_items', k) h
	  FULL JOIN pg_temp.lateral_top(k) l USING (member_id, rank)
$$;
SELECT * FROM pg_temp.same(5);
SELECT * FROM pg_temp.same(40);
-- and every score of top_k equals the code's
SELECT count(*) AS rows,
       count(*) FILTER (WHERE h.score = limaml_score(p.e, limaml_item_encode('ii', p.features, item_id => p.item_id))) AS identical
  FROM limaml_top_k('ii', 'ii_items', 40) h JOIN ii_pairs p USING (member_id, item_id);

-- errors keep the feature dimension (8), not the item input's (12)
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,2}', 1) FROM ii_pairs LIMIT 1 $$);
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,0,0,0,0,0,0,0,0,0,0,0}', 1) FROM ii_pairs LIMIT 1 $$);
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,0,0,0,0,0,0,NaN}'::real[], 1) FROM ii_pairs LIMIT 1 $$);
SELECT limaml_score(e, NULL::real[], 1) IS NULL AS null_features FROM ii_pairs LIMIT 1;
SELECT pg_temp.err($$ SELECT limaml_item_encode('ii', '{1,2}', item_id => 3) $$);
SELECT pg_temp.err($$ SELECT limaml_item_encode('ii', '{1,0,0,0,0,0,0,NaN}', item_id => 3) $$);
SELECT len FROM limaml_item_code_info(limaml_item_encode('ii', '{1,0,0,0,0,0,0,0}', item_id => 3));

-- a model without item_buckets ignores the item id
SELECT limaml_create_model('ii_plain', 'ii_src', embedding_dim => 8, global_hidden => '{16, 8}', item_buckets => 0, seed => 5) > 0 AS created;
SELECT count(limaml_adapt(member_id, 'ii_plain')) AS adapted FROM planted_members WHERE member_id <= 10;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE limaml_score(m.embedding, i.features, i.item_id) = limaml_score(m.embedding, i.features)) AS same_score,
       count(*) FILTER (WHERE limaml_item_encode('ii_plain', i.features, item_id => i.item_id) =
                              limaml_item_encode('ii_plain', i.features)) AS same_code
  FROM limaml_meta_embedding m CROSS JOIN planted_items i WHERE m.model = 'ii_plain';

SELECT count(limaml_drop_model(name)) AS dropped FROM limaml_model WHERE name LIKE 'ii%';
DROP VIEW ii_items, ii_src;
DROP TABLE planted_interactions, planted_members, planted_items;
