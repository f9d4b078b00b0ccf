-- limaml_adapt_agg in parallel: the 5-argument form orders rows by ts itself,
-- so partial states from any split combine into the same bytea
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

\set n_members 200
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

-- rows in random physical order, so every worker sees part of every member;
-- members 1-40 get ties in ts: two more rows (one with the other label, one
-- with the same label and other items) at their newest ts and at the ts of
-- their 20th newest row (the support boundary)
SELECT setseed(0.25);
CREATE TABLE pa_src AS
SELECT * FROM (
	SELECT * FROM planted_interactions
	UNION ALL
	SELECT p.member_id, p.member_features, i.features, (CASE f.flip WHEN 1 THEN 1 - p.label ELSE p.label END)::real, p.ts
	  FROM planted_interactions p CROSS JOIN (VALUES (0), (1)) f(flip)
	  JOIN planted_items i ON i.item_id = 1 + (p.member_id + f.flip) % 64
	 WHERE p.member_id <= 40
	   AND p.ts IN (timestamptz '2026-01-01' + interval '30 min', timestamptz '2026-01-01' + interval '11 min')
) s ORDER BY random();
SELECT count(*) AS rows, count(DISTINCT member_id) AS members,
       count(*) - count(DISTINCT (member_id, ts)) AS tied_rows FROM pa_src;
CREATE INDEX ON pa_src (member_id, ts);
ANALYZE pa_src;

SELECT limaml_create_model('pa', 'pa_src', support_size => 20, seed => 3) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('pa', epochs => 2, outer_lr => 0.01);

-- ------------------------------------------------------------ the reference

SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE pa_serial AS
SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts) AS e
  FROM pa_src GROUP BY member_id;

-- the same as limaml_adapt (ties included: both break them by label, then items)
SELECT count(*) AS members, count(*) FILTER (WHERE e = limaml_adapt(member_id, 'pa')) AS equal
  FROM pa_serial;
-- the same as the ORDER BY form wherever ts has no ties
SELECT count(*) AS members, count(*) FILTER (WHERE s.e = o.e) AS equal
  FROM pa_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label ORDER BY ts) AS e
          FROM pa_src GROUP BY member_id) o USING (member_id)
 WHERE member_id > 40;
-- and with the tie order spelled out, everywhere
SELECT count(*) AS members, count(*) FILTER (WHERE s.e = o.e) AS equal
  FROM pa_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label
                                           ORDER BY ts, label, item_features) AS e
          FROM pa_src GROUP BY member_id) o USING (member_id);
-- whatever order the rows arrive in
SELECT count(*) AS members,
       count(*) FILTER (WHERE s.e = o.desc_order AND s.e = o.random_order AND s.e = o.by_label) AS equal
  FROM pa_serial s
  JOIN (SELECT member_id,
               limaml_adapt_agg('pa', member_features, item_features, label, ts ORDER BY ts DESC) AS desc_order,
               limaml_adapt_agg('pa', member_features, item_features, label, ts ORDER BY random()) AS random_order,
               limaml_adapt_agg('pa', member_features, item_features, label, ts ORDER BY label, ts DESC) AS by_label
          FROM pa_src GROUP BY member_id) o USING (member_id);
-- embeddings differ between members, and from the cold start
SELECT count(DISTINCT e) AS distinct_embeddings FROM pa_serial;

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
SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts) AS e
  FROM pa_src GROUP BY member_id;
CREATE TEMP TABLE pa_par_hash AS
SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts) AS e
  FROM pa_src GROUP BY member_id;
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM pa_serial s JOIN pa_par_hash p USING (member_id);

-- partial group aggregation over sorted partial input
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts) AS e
  FROM pa_src GROUP BY member_id;
CREATE TEMP TABLE pa_par_sort AS
SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts) AS e
  FROM pa_src GROUP BY member_id;
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM pa_serial s JOIN pa_par_sort p USING (member_id);
RESET enable_hashagg;

-- the workers alone (another split), and the plan really ran in parallel
SET parallel_leader_participation = off;
SELECT pg_temp.plan_nodes($$ SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts)
                               FROM pa_src GROUP BY member_id $$) AS nodes;
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM pa_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts) AS e
          FROM pa_src GROUP BY member_id) p USING (member_id);
RESET parallel_leader_participation;

-- a single aggregate over all rows of one member, split across workers
SELECT (SELECT limaml_adapt_agg('pa', member_features, item_features, label, ts)
          FROM pa_src WHERE member_id = 7)
     = (SELECT e FROM pa_serial WHERE member_id = 7) AS one_member_equal;

-- ------------------------------------------------------------ partitionwise

-- the recommended layout: hash-partitioned by member_id; each partition is
-- aggregated, adaptation included, by one worker
CREATE TABLE pa_part (LIKE pa_src) PARTITION BY HASH (member_id);
CREATE TABLE pa_part_0 PARTITION OF pa_part FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE pa_part_1 PARTITION OF pa_part FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE pa_part_2 PARTITION OF pa_part FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE pa_part_3 PARTITION OF pa_part FOR VALUES WITH (MODULUS 4, REMAINDER 3);
INSERT INTO pa_part SELECT * FROM pa_src;
ANALYZE pa_part;
SET enable_partitionwise_aggregate = on;

EXPLAIN (COSTS OFF)
SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts) AS e
  FROM pa_part GROUP BY member_id;
SELECT pg_temp.plan_nodes($$ SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts)
                               FROM pa_part GROUP BY member_id $$) AS nodes;
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM pa_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts) AS e
          FROM pa_part GROUP BY member_id) p USING (member_id);

-- the ORDER BY form runs partitionwise in workers too
EXPLAIN (COSTS OFF)
SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label ORDER BY ts, label, item_features) AS e
  FROM pa_part GROUP BY member_id;
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM pa_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label
                                           ORDER BY ts, label, item_features) AS e
          FROM pa_part GROUP BY member_id) p USING (member_id);
RESET enable_partitionwise_aggregate;

RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET min_parallel_index_scan_size;
RESET max_parallel_workers_per_gather;
RESET enable_indexscan;
RESET enable_bitmapscan;

-- ------------------------------------------------------------ hash aggregation spills

-- the state is serializable, so hash aggregation keeps to work_mem by spilling
SET max_parallel_workers_per_gather = 0;
SET enable_sort = off;
SET enable_indexscan = off;
SET work_mem = '64kB';
SELECT max((node ->> 'HashAgg Batches')::int) > 1 AS spilled
  FROM pg_temp.plan($$ SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts)
                         FROM pa_src GROUP BY member_id $$) node;
SELECT count(*) AS members, count(*) FILTER (WHERE p.e = s.e) AS equal
  FROM pa_serial s
  JOIN (SELECT member_id, limaml_adapt_agg('pa', member_features, item_features, label, ts) AS e
          FROM pa_src GROUP BY member_id) p USING (member_id);
RESET work_mem;
RESET enable_sort;
RESET enable_indexscan;
RESET max_parallel_workers_per_gather;

-- ------------------------------------------------------------ bad input

SELECT pg_temp.err($$ SELECT limaml_adapt_agg('pa', member_features, item_features, label, NULL::timestamptz) FROM pa_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('pa', member_features, NULL, label, ts) FROM pa_src WHERE member_id = 1 $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('pa', member_features, item_features, 2, ts) FROM pa_src WHERE member_id = 1 $$);
SELECT limaml_adapt_agg('pa', member_features, item_features, label, ts) IS NULL AS no_rows FROM pa_src WHERE false;

SELECT limaml_drop_model(name) FROM limaml_model ORDER BY name;
DROP TABLE pa_part, pa_src;
DROP TABLE planted_interactions, planted_members, planted_items;
