-- scaling out (issue 10) on one server: limaml_publish needs Citus,
-- limaml_publish_apply checks its snapshot, and the aggregate naming its
-- model by uuid (for postgres_fdw) gives the bytes of the text form
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
	RETURN SQLSTATE || ': ' || regexp_replace(msg, '[0-9a-f]{8}-[0-9a-f-]{27}', 'UUID', 'g')
		|| coalesce(E'\nHINT: ' || nullif(hint, ''), '');
END $$;

\set n_members 40
\set n_items 16
\set n_genres 4
\set per_member 12
\set p_fav 0.9
\set p_other 0.1
\set seed 0.17
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

CREATE TABLE planted_rows AS
SELECT member_id, (hashtext(item_features::text) & 15)::bigint AS item_id, member_features,
	   item_features, label, ts FROM planted_interactions;
SELECT limaml_create_model('scale', 'planted_rows', embedding_dim => 4, support_size => 6,
						   query_size => 3, seed => 2) > 0 AS created;

-- publishing is for Citus clusters
SELECT pg_temp.err($$SELECT limaml_publish('scale')$$);
SELECT pg_temp.err($$SELECT limaml_publish_apply('{}')$$);

-- the uuid forms: the same bytes as the text forms
SELECT count(*) AS members,
	   count(*) FILTER (WHERE by_uuid = by_name AND by_uuid_ts = by_name_ts) AS same
  FROM (SELECT member_id,
			   limaml_adapt_agg((SELECT model_uuid FROM limaml_model WHERE name = 'scale'),
								member_features, item_features, label, item_id ORDER BY ts, item_id) AS by_uuid,
			   limaml_adapt_agg('scale', member_features, item_features, label, item_id ORDER BY ts, item_id) AS by_name,
			   limaml_adapt_agg((SELECT model_uuid FROM limaml_model WHERE name = 'scale'),
								member_features, item_features, label, ts, item_id) AS by_uuid_ts,
			   limaml_adapt_agg('scale', member_features, item_features, label, ts, item_id) AS by_name_ts
		  FROM planted_rows GROUP BY member_id) t;
SELECT limaml_adapt_agg((SELECT model_uuid FROM limaml_model WHERE name = 'scale'),
						member_features, item_features, label ORDER BY ts)
	 = limaml_adapt_agg('scale', member_features, item_features, label ORDER BY ts) AS same_without_ids
  FROM planted_rows WHERE member_id = 3;
SELECT pg_temp.err($$SELECT limaml_adapt_agg('00000000-0000-0000-0000-000000000001'::uuid,
	member_features, item_features, label) FROM planted_rows$$);
SELECT limaml_adapt_agg(NULL::uuid, member_features, item_features, label) IS NULL AS no_rows
  FROM planted_rows WHERE false;

SELECT limaml_drop_model('scale');
DROP TABLE planted_rows, planted_interactions, planted_members, planted_items;
