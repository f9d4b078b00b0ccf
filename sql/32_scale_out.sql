-- scaling out (issue 10) on one server: limaml_publish needs Citus,
-- limaml_publish_apply checks its snapshot, and the aggregate naming its
-- model by uuid (for postgres_fdw) gives the bytes of the text form;
-- limaml_refresh into an embeddings table
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

-- refresh into an embeddings table of one's own (Citus: distributed and
-- co-located with the source): the bytes of limaml_adapt, then fresh
CREATE TABLE scale_embedding (member_id bigint PRIMARY KEY, embedding bytea NOT NULL,
							  model_version int, source_ts timestamptz, source_rows bigint);
CALL limaml_refresh('scale', batch_size => 15, embeddings => 'scale_embedding');
SELECT count(*) AS members,
	   count(*) FILTER (WHERE e.embedding = limaml_adapt(e.member_id, 'scale')) AS as_limaml_adapt,
	   count(*) FILTER (WHERE e.model_version = 0 AND e.source_rows = 12) AS fingerprinted
  FROM scale_embedding e;
UPDATE scale_embedding SET source_rows = 0 WHERE member_id = 5;
CALL limaml_refresh('scale', embeddings => 'scale_embedding');
SELECT source_rows FROM scale_embedding WHERE member_id = 5;
-- tables of another shape
\set SHOW_CONTEXT never
CREATE TABLE scale_wrong (member_id bigint PRIMARY KEY, embedding text, model_version int);
CALL limaml_refresh('scale', embeddings => 'scale_wrong');
CREATE TABLE scale_no_key (member_id bigint, embedding bytea, model_version int, source_ts timestamptz,
						   source_rows bigint);
CALL limaml_refresh('scale', embeddings => 'scale_no_key');
CALL limaml_refresh('scale', embeddings => 'no_such_table');
DROP TABLE scale_embedding, scale_wrong, scale_no_key;

SELECT limaml_drop_model('scale');
DROP TABLE planted_rows, planted_interactions, planted_members, planted_items;
