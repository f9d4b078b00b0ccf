-- adaptation with item ids: limaml_adapt and the item_id forms of
-- limaml_adapt_agg return the same bytea, serially and in parallel
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '(OID|model id) \d+', '\1 N', 'g');
END $$;

-- the nodes of a plan as it ran, and their node types
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF json LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) ' || q INTO plan;
	RETURN QUERY WITH RECURSIVE n(node) AS (
		SELECT plan -> 0 -> 'Plan'
		UNION ALL
		SELECT c FROM n, json_array_elements(n.node -> 'Plans') c)
	SELECT node FROM n;
END $$;
CREATE FUNCTION pg_temp.plan_nodes(q text) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(DISTINCT coalesce(node ->> 'Partial Mode' || ' ', '') || (node ->> 'Node Type'), ', ')
	       || '; workers launched: ' || (max((node ->> 'Workers Launched')::int) > 0)
	  FROM pg_temp.plan(q) node
$$;

\set n_members 160
\set n_items 64
\set n_genres 8
\set per_member 30
\set p_fav 0.9
\set p_other 0.1
\set seed 0.4
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- the interactions with their item ids
CREATE VIEW it_view AS
SELECT pi.*, it.item_id
  FROM planted_interactions pi JOIN planted_items it ON it.features = pi.item_features;

-- rows in random physical order; members divisible by 10 have unknown
-- (NULL) item ids for every third row.  Members 1-30 get ties in ts at
-- their newest ts and at the ts of their 20th newest row (the support
-- boundary, 13 min once the newest ts has three rows): two rows equal to
-- the original but for the item id (another id, and NULL), so only the
-- item id decides which of the three rows at the boundary is kept
SELECT setseed(0.125);
CREATE TABLE it_src AS
SELECT * FROM (
	SELECT member_id, member_features, item_features, label, ts,
	       CASE WHEN member_id % 10 = 0 AND extract(minute FROM ts)::int % 3 = 0 THEN NULL ELSE item_id END AS item_id
	  FROM it_view
	UNION ALL
	SELECT v.member_id, v.member_features, v.item_features, v.label, v.ts,
	       CASE f.k WHEN 1 THEN v.item_id + 1000 + v.member_id END
	  FROM it_view v CROSS JOIN (VALUES (1), (2)) f(k)
	 WHERE v.member_id <= 30
	   AND v.ts IN (timestamptz '2026-01-01' + interval '30 min', timestamptz '2026-01-01' + interval '13 min')
) s ORDER BY random();
SELECT count(*) AS rows, count(DISTINCT member_id) AS members, count(*) - count(item_id) AS null_item_ids,
       count(*) - count(DISTINCT (member_id, ts)) AS tied_rows,
       count(*) - count(DISTINCT (member_id, ts, label, item_features)) AS tied_but_item_id FROM it_src;
CREATE INDEX ON it_src (member_id, ts);
ANALYZE it_src;

SELECT limaml_create_model('it', 'it_src', support_size => 20, seed => 3,
                           item_buckets => 64, item_embedding_dim => 4) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('it', epochs => 3, outer_lr => 0.01);

-- ------------------------------------------------------------ the reference

SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE it_serial AS
SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts, item_id) AS e
  FROM it_src GROUP BY member_id;

-- the same as limaml_adapt (ties included: both break them by label, items, then item id)
SELECT count(*) AS members, count(*) FILTER (WHERE e = limaml_adapt(member_id, 'it')) AS equal
  FROM it_serial;
SELECT count(*) AS stored, count(*) FILTER (WHERE n_support = 20) AS full_support
  FROM limaml_meta_embedding WHERE model = 'it';
-- the same as the ORDER BY form wherever ts has no ties
SELECT count(*) AS members, count(*) FILTER (WHERE s.e = o.e) AS equal
  FROM it_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, item_id ORDER BY ts) AS e
          FROM it_src GROUP BY member_id) o USING (member_id)
 WHERE member_id > 30;
-- and with the tie order spelled out (a NULL item id least), everywhere
SELECT count(*) AS members, count(*) FILTER (WHERE s.e = o.e) AS equal
  FROM it_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, item_id
                                           ORDER BY ts, label, item_features, item_id NULLS FIRST) AS e
          FROM it_src GROUP BY member_id) o USING (member_id);
-- whatever order the rows arrive in
SELECT count(*) AS members,
       count(*) FILTER (WHERE s.e = o.desc_order AND s.e = o.random_order AND s.e = o.by_item) AS equal
  FROM it_serial s
  JOIN (SELECT member_id,
               limaml_adapt_agg('it', member_features, item_features, label, ts, item_id ORDER BY ts DESC) AS desc_order,
               limaml_adapt_agg('it', member_features, item_features, label, ts, item_id ORDER BY random()) AS random_order,
               limaml_adapt_agg('it', member_features, item_features, label, ts, item_id
                                ORDER BY item_id DESC NULLS FIRST, ts DESC) AS by_item
          FROM it_src GROUP BY member_id) o USING (member_id);
SELECT count(DISTINCT e) AS distinct_embeddings FROM it_serial;

-- ------------------------------------------------------------ item ids matter

-- the item ids change the embedding (the trained item-ID rows enter the inner loop)
SELECT count(*) FILTER (WHERE s.e <> o.e) > 100 AS item_ids_matter
  FROM it_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts) AS e
          FROM it_src GROUP BY member_id) o USING (member_id);
-- the forms without item_id: every row is the unknown item, as a NULL item id
SELECT count(*) AS members,
       count(*) FILTER (WHERE o.e = o.e_null AND o.ob = o.ob_null AND o.e = o.ob) AS equal
  FROM (SELECT member_id,
               limaml_adapt_agg('it', member_features, item_features, label, ts) AS e,
               limaml_adapt_agg('it', member_features, item_features, label, ts, NULL::bigint) AS e_null,
               limaml_adapt_agg('it', member_features, item_features, label
                                ORDER BY ts, label, item_features) AS ob,
               limaml_adapt_agg('it', member_features, item_features, label, NULL::bigint
                                ORDER BY ts, label, item_features) AS ob_null
          FROM it_src WHERE member_id > 30 GROUP BY member_id) o;
-- a member whose item ids are all NULL: limaml_adapt agrees with the forms without item_id
CREATE TABLE it_unknown AS
SELECT member_id + 100000 AS member_id, member_features, item_features, label, ts, NULL::bigint AS item_id
  FROM it_src WHERE member_id = 42;
INSERT INTO it_src SELECT * FROM it_unknown;
SELECT limaml_adapt(100042, 'it') = (SELECT limaml_adapt_agg('it', member_features, item_features, label, ts)
                                       FROM it_unknown) AS unknown_items_equal,
       limaml_adapt(100042, 'it') <> (SELECT e FROM it_serial WHERE member_id = 42) AS differs_from_known;
DELETE FROM it_src WHERE member_id = 100042;
-- at the boundary the greatest item id is kept, NULL least: swapping the
-- tied rows' ids changes the kept row's bucket, and so the embedding
SELECT count(*) AS members, count(*) FILTER (WHERE s.e <> o.e) AS changed
  FROM it_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts,
                                           CASE WHEN ts = timestamptz '2026-01-01' + interval '13 min'
                                                THEN -coalesce(item_id, -1) ELSE item_id END) AS e
          FROM it_src WHERE member_id <= 30 GROUP BY member_id) o USING (member_id);

-- ------------------------------------------------------------ parallel plans

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET min_parallel_index_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_indexscan = off;
SET enable_bitmapscan = off;

-- partial hash aggregation in the workers, combined in the leader
EXPLAIN (COSTS OFF)
SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts, item_id) AS e
  FROM it_src GROUP BY member_id;
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM it_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts, item_id) AS e
          FROM it_src GROUP BY member_id) p USING (member_id);

-- partial group aggregation over sorted partial input
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts, item_id) AS e
  FROM it_src GROUP BY member_id;
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM it_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts, item_id) AS e
          FROM it_src GROUP BY member_id) p USING (member_id);
RESET enable_hashagg;

-- the workers alone (another split), and the plan really ran in parallel
SET parallel_leader_participation = off;
SELECT pg_temp.plan_nodes($$ SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts, item_id)
                               FROM it_src GROUP BY member_id $$) AS nodes;
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM it_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts, item_id) AS e
          FROM it_src GROUP BY member_id) p USING (member_id);
RESET parallel_leader_participation;

-- a single aggregate over all rows of one tied member, split across workers
SELECT pg_temp.plan_nodes($$ SELECT limaml_adapt_agg('it', member_features, item_features, label, ts, item_id)
                               FROM it_src WHERE member_id = 7 $$) AS nodes;
SELECT (SELECT limaml_adapt_agg('it', member_features, item_features, label, ts, item_id)
          FROM it_src WHERE member_id = 7)
     = (SELECT e FROM it_serial WHERE member_id = 7) AS one_member_equal;
-- the form without item_id in parallel on the item-ID model
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM (SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts, NULL::bigint) AS e
          FROM it_src GROUP BY member_id) p
  JOIN (SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts) AS e
          FROM it_src GROUP BY member_id) s USING (member_id);

RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET min_parallel_index_scan_size;
RESET max_parallel_workers_per_gather;
RESET enable_indexscan;
RESET enable_bitmapscan;

-- ------------------------------------------------------------ hash aggregation spills

SET max_parallel_workers_per_gather = 0;
SET enable_sort = off;
SET enable_indexscan = off;
SET work_mem = '64kB';
SELECT max((node ->> 'HashAgg Batches')::int) > 1 AS spilled
  FROM pg_temp.plan($$ SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts, item_id)
                         FROM it_src GROUP BY member_id $$) node;
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM it_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('it', member_features, item_features, label, ts, item_id) AS e
          FROM it_src GROUP BY member_id) p USING (member_id);
RESET work_mem;
RESET enable_sort;
RESET enable_indexscan;
RESET max_parallel_workers_per_gather;

-- ------------------------------------------------------------ models without item-ID embeddings

-- an item id for a model without item-ID embeddings is an error; without it, as before
SELECT limaml_create_model('it_plain', 'it_src', support_size => 20, item_buckets => 0, seed => 3) > 0 AS created;
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it_plain', member_features, item_features, label, item_id ORDER BY ts) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it_plain', member_features, item_features, label, ts, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it_plain', member_features, item_features, label, ts, NULL::bigint) FROM it_src WHERE member_id = 1 $$);
SELECT limaml_adapt(50, 'it_plain') = limaml_adapt_agg('it_plain', member_features, item_features, label, ts)
       AS plain_equal
  FROM it_src WHERE member_id = 50;
-- limaml_adapt of an item-ID model needs the source's item_id column, of an integer type
CREATE TABLE it_small AS SELECT * FROM it_src WHERE member_id <= 5;
SELECT limaml_create_model('it_v', 'it_small', support_size => 20, item_buckets => 8) > 0 AS created;
SELECT limaml_adapt(1, 'it_v') IS NOT NULL AS adapted;
ALTER TABLE it_small DROP COLUMN item_id;
SELECT pg_temp.err($$ SELECT limaml_adapt(1, 'it_v') $$);
ALTER TABLE it_small ADD COLUMN item_id text;
SELECT pg_temp.err($$ SELECT limaml_adapt(1, 'it_v') $$);

-- ------------------------------------------------------------ bad input

SELECT pg_temp.err($$ SELECT limaml_adapt_agg(NULL, member_features, item_features, label, ts, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg(NULL, member_features, item_features, label, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('nope', member_features, item_features, label, ts, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it', member_features, item_features, label, NULL, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it', member_features, NULL, label, ts, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it', member_features, item_features[1:3], label, ts, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it', member_features, item_features || '{1}'::real[], label, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it', '{1,2}', item_features, label, ts, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it', NULL, item_features, label, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it', member_features, item_features, 2, ts, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it', member_features, item_features, NULL, item_id) FROM it_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt(NULL, 'it') $$);
-- an untyped NULL after label could be a ts or an item id
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('it', member_features, item_features, label, NULL) FROM it_src WHERE member_id = 1 $$);
SELECT limaml_adapt_agg('it', member_features, item_features, label, ts, item_id) IS NULL AS no_rows FROM it_src WHERE false;
SELECT limaml_adapt_agg('it', member_features, item_features, label, item_id) IS NULL AS no_rows FROM it_src WHERE false;

-- limaml_refresh adapts an item-ID model with its item ids: the same bytea as limaml_adapt
DELETE FROM limaml_meta_embedding WHERE model = 'it';
CALL limaml_refresh('it', batch_size => 50);
SELECT count(*) AS refreshed,
       count(*) FILTER (WHERE m.embedding = limaml_adapt(m.member_id, 'it')) AS same_as_adapt
  FROM limaml_meta_embedding m WHERE m.model = 'it';

SELECT limaml_drop_model(name) FROM limaml_model ORDER BY name;
DROP TABLE it_src, it_unknown, it_small;
DROP VIEW it_view;
DROP TABLE planted_interactions, planted_members, planted_items;
