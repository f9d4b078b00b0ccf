-- Features from plain columns, owned by the model (issue 11 §2): transforms
-- declared at creation, fitted on the members and items relations, stored in
-- the config, applied identically by training, limaml_adapt, limaml_adapt_agg,
-- limaml_refresh, scoring, item codes, limaml_top_k and limaml_recommend;
-- export and import keep them; bad declarations fail with nothing written.
SET client_min_messages = warning;
SET extra_float_digits = 0;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	msg text;
	hint text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || msg || coalesce(E'\nHINT: ' || nullif(hint, ''), '');
END $$;

-- plain tables, no arrays: 60 members, 24 items, member m likes category m % 3
CREATE TABLE tf_members (member_id int PRIMARY KEY, country text, age int, joined date);
INSERT INTO tf_members
SELECT m, (ARRAY['DE', 'FR', 'IT'])[1 + m % 3], 20 + (m * 7) % 40, date '2025-01-01' + m * 3
  FROM generate_series(1, 60) m;
CREATE TABLE tf_items (item_id int PRIMARY KEY, category varchar, price numeric, brand text, tags real[]);
INSERT INTO tf_items
SELECT i, (ARRAY['a', 'b', 'c'])[1 + i % 3], 5 + (i * 13) % 90, CASE WHEN i = 1 THEN 'foobar' ELSE 'brand' || i % 5 END,
       ARRAY[i % 2, (i % 4) / 3.0]
  FROM generate_series(1, 24) i;
CREATE TABLE tf_events (member_id int, item_id int, label boolean, ts timestamp);
INSERT INTO tf_events
SELECT m, i, i % 3 = m % 3, timestamp '2026-01-01' + make_interval(hours => m * 24 + i)
  FROM generate_series(1, 60) m, generate_series(1, 24) i WHERE (m * 5 + i) % 3 <> 1;
CREATE INDEX ON tf_events (member_id, ts);
-- a source without feature arrays checks as one for declared features
SELECT severity, "check", detail FROM limaml_check_source('tf_events', support_size => 8, query_size => 4);

SELECT limaml_create_model('tf', 'tf_events', members => 'tf_members', items => 'tf_items',
       member_columns => '{"country": "onehot", "age": "standardize", "joined": "standardize"}',
       item_columns => '{"category": "onehot", "price": "log1p", "brand": {"hash": 32}, "tags": "array"}',
       embedding_dim => 4, meta_hidden => '{8}', global_hidden => '{8}', support_size => 8, query_size => 4,
       item_buckets => 0) > 0 AS created;

-- dimensions follow from the transforms: 3 + 1 unknown + 1 + 1; 3 + 1 + 1 + 32 + 2
SELECT config ->> 'member_dim' AS member_dim, config ->> 'item_dim' AS item_dim FROM limaml_model WHERE name = 'tf';
-- what is stored: per side, in jsonb's key order (shorter names first), the vector's order
SELECT t ->> 'column' AS column, t ->> 'transform' AS transform, t -> 'vocabulary' AS vocabulary,
       t -> 'buckets' AS buckets, t -> 'length' AS length,
       round((t ->> 'mean')::numeric, 4) AS mean, round((t ->> 'std')::numeric, 4) AS std
  FROM limaml_model, jsonb_array_elements(config -> 'transforms' -> 'member') t WHERE name = 'tf';
SELECT t ->> 'column' AS column, t ->> 'transform' AS transform, t -> 'vocabulary' AS vocabulary,
       t -> 'buckets' AS buckets, t -> 'length' AS length,
       round((t ->> 'mean')::numeric, 4) AS mean, round((t ->> 'std')::numeric, 4) AS std
  FROM limaml_model, jsonb_array_elements(config -> 'transforms' -> 'item') t WHERE name = 'tf';
-- the statistics are the relations' own
SELECT round(avg(age), 4) AS age_mean, round(stddev_pop(age), 4) AS age_std,
       (SELECT round(avg(ln(1 + price)), 4) FROM tf_items) AS log_price_mean FROM tf_members;

-- encoding a row: one-hot with the unknown slot, z-scores, NULLs
SELECT limaml_member_features('tf', m)::numeric(6,3)[] AS m1 FROM tf_members m WHERE member_id = 1;
SELECT limaml_member_features('tf', r)::numeric(6,3)[] AS unknown_country_null_age
  FROM (SELECT 'ES'::text AS country, NULL::int AS age, date '2025-01-01' + 93 AS joined) r;
SELECT limaml_member_features('tf', NULL::tf_members) AS no_row;
-- items: tags [2], brand [32], price [1], category [3 + 1]; the documented hash:
-- fnv1a64('foobar') mod 32 = 8, item 1's brand bucket
SELECT f[1:2]::numeric(6,3)[] AS tags, array_position(f[3:34], 1) - 1 AS brand_bucket,
       f[35]::numeric(6,3) AS price, f[36:39] AS category
  FROM (SELECT limaml_item_features('tf', i) AS f FROM tf_items i WHERE item_id = 1) x;

-- training, adaptation and refresh read the same encoded rows
\o /dev/null
SELECT * FROM limaml_train('tf', epochs => 3, meta_batch => 8);
\o
SELECT active_version FROM limaml_model WHERE name = 'tf';
-- limaml_adapt against limaml_adapt_agg over rows the user encodes with the same functions
SELECT count(*) AS members, count(*) FILTER (WHERE a = b) AS identical
  FROM (SELECT e.member_id,
               limaml_adapt(e.member_id, 'tf') AS a,
               limaml_adapt_agg('tf', limaml_member_features('tf', m), limaml_item_features('tf', i),
                                e.label::int, e.ts) AS b
          FROM tf_events e JOIN tf_members m USING (member_id) JOIN tf_items i USING (item_id)
         WHERE e.member_id <= 10 GROUP BY e.member_id) x;
CALL limaml_refresh('tf');
SELECT count(*) AS embeddings FROM limaml_meta_embedding WHERE model = 'tf';
-- refresh stored what limaml_adapt computes
SELECT count(*) FILTER (WHERE e.embedding = limaml_adapt(e.member_id, 'tf')) AS refresh_equals_adapt
  FROM limaml_meta_embedding e WHERE model = 'tf' AND member_id <= 10;

-- scoring: an item's row encoded, through limaml_score, item codes, limaml_top_k and limaml_recommend
CREATE TABLE tf_vectors AS SELECT item_id, limaml_item_features('tf', i) AS features FROM tf_items i;
CREATE TABLE tf_codes AS SELECT item_id, limaml_item_encode('tf', limaml_item_features('tf', i)) AS code FROM tf_items i;
SELECT count(*) AS scored, count(*) FILTER (WHERE limaml_score(e.embedding, limaml_item_features('tf', i)) = limaml_score(e.embedding, c.code)) AS code_equal
  FROM limaml_meta_embedding e, tf_items i JOIN tf_codes c USING (item_id) WHERE e.model = 'tf' AND e.member_id <= 5;
WITH lateral_rank AS (
  SELECT e.member_id, top.item_id, top.rank
    FROM limaml_meta_embedding e CROSS JOIN LATERAL (
      SELECT i.item_id, row_number() OVER (ORDER BY limaml_score(e.embedding, limaml_item_features('tf', i)) DESC, i.item_id) AS rank
        FROM tf_items i ORDER BY 2 LIMIT 5) top
   WHERE e.model = 'tf' AND e.member_id <= 6)
SELECT (SELECT count(*) FROM lateral_rank) AS lateral,
       (SELECT count(*) FROM limaml_top_k('tf', 'tf_items', 5, '{1,2,3,4,5,6}') t JOIN lateral_rank l USING (member_id, item_id, rank)) AS top_k_raw_rows,
       (SELECT count(*) FROM limaml_top_k('tf', 'tf_vectors', 5, '{1,2,3,4,5,6}') t JOIN lateral_rank l USING (member_id, item_id, rank)) AS top_k_vectors;
SELECT count(*) AS recommended, count(*) FILTER (WHERE item_id IN (SELECT item_id FROM tf_events WHERE member_id = 4)) AS seen
  FROM limaml_recommend('tf', 4, 5);
SELECT array_agg(r.item_id ORDER BY r.rank) = array_agg(t.item_id ORDER BY t.rank) AS recommend_is_top_k
  FROM limaml_recommend('tf', 4, 5, exclude_seen => false) r
  JOIN limaml_top_k('tf', 'tf_items', 5, '{4}') t USING (rank);
-- the planted preference: members of category m % 3 rank it first
SELECT round(avg((SELECT count(*) FROM limaml_top_k('tf', 'tf_items', 3, ARRAY[m::bigint]) t
                   WHERE t.item_id % 3 = m % 3)), 2) AS favourite_share_of_top3
  FROM generate_series(1, 60) m;

-- cold start: a profile-only member, through the members relation and through the function
INSERT INTO tf_members VALUES (999, 'IT', 33, date '2026-06-01');
SELECT limaml_adapt(999, 'tf') = limaml_cold_embedding('tf', limaml_member_features('tf', m)) AS cold_equal
  FROM tf_members m WHERE member_id = 999;

-- export and import keep the transforms; the import encodes and scores the same
SELECT limaml_model_import('tf_copy', limaml_model_export('tf'), source => 'tf_events', members => 'tf_members') AS version;
SELECT (SELECT config -> 'transforms' FROM limaml_model WHERE name = 'tf') =
       (SELECT config -> 'transforms' FROM limaml_model WHERE name = 'tf_copy') AS same_transforms,
       limaml_model_export('tf') -> 'config' -> 'transforms' = (SELECT config -> 'transforms' FROM limaml_model WHERE name = 'tf') AS exported;
SELECT limaml_alter_model('tf_copy', items => 'tf_items');
SELECT limaml_adapt(7, 'tf_copy') IS NOT NULL AS adapted,
       limaml_embedding_array(limaml_adapt(7, 'tf_copy')) = limaml_embedding_array(limaml_adapt(7, 'tf')) AS same_embedding;
-- edited transforms: the content hash covers them; without an identity (format 2), they must be the model's
SELECT pg_temp.err($$ SELECT limaml_model_import('tf_copy', jsonb_set(limaml_model_export('tf'), '{config,transforms,member,2,vocabulary}', '["DE", "FR", "XX"]')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('tf_copy', jsonb_set(jsonb_set(limaml_model_export('tf') - 'model_uuid' - 'content_hash', '{format_version}', '2'), '{config,transforms,member,2,vocabulary}', '["DE", "FR", "XX"]')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('tf_bad', jsonb_set(limaml_model_export('tf'), '{config,transforms,member,2,vocabulary}', '["FR", "DE", "IT"]')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('tf_bad', jsonb_set(limaml_model_export('tf'), '{config,transforms,member,2,vocabulary}', '["DE"]')) $$);

-- ---------------------------------------------------------------- bad input, nothing written
SELECT count(*) AS models_before FROM limaml_model \gset
-- a transform on a column of the wrong type (every such column in one error), and a missing one
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'tf_events', members => 'tf_members', items => 'tf_items',
       member_columns => '{"country": "log1p", "age": "onehot", "joined": "log1p", "height": "standardize"}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'tf_events', members => 'tf_members', items => 'tf_items',
       item_columns => '{"tags": "standardize"}') $$);
-- an unknown transform, a bad parameter
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'tf_events', members => 'tf_members', items => 'tf_items',
       member_columns => '{"country": "one-hot"}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'tf_events', members => 'tf_members', items => 'tf_items',
       member_columns => '{"country": {"hash": 0}}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'tf_events', members => 'tf_members', items => 'tf_items',
       member_columns => '{"age": {"standardize": 2}}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'tf_events', members => 'tf_members', items => 'tf_items',
       member_columns => '["country"]') $$);
-- a vocabulary too large for its limit
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'tf_events', members => 'tf_members', items => 'tf_items',
       item_columns => '{"brand": {"onehot": 3}}') $$);
-- transforms without the relation they read; a member_dim the transforms contradict
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'tf_events', items => 'tf_items',
       member_columns => '{"country": "onehot"}') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'tf_events', members => 'tf_members', items => 'tf_items',
       member_columns => '{"country": "onehot"}', item_columns => '{"category": "onehot"}', member_dim => 3) $$);
-- log1p of a value at or below -1, when fitting and when encoding
CREATE TABLE tf_neg (item_id int, price numeric);
INSERT INTO tf_neg VALUES (1, 3), (2, -1);
SELECT pg_temp.err($$ SELECT limaml_create_model('bad', 'tf_events', members => 'tf_members', items => 'tf_neg',
       member_columns => '{"country": "onehot"}', item_columns => '{"price": "log1p"}') $$);
SELECT pg_temp.err($$ SELECT limaml_item_features('tf', r) FROM (SELECT 'a'::text AS category, -2 AS price, 'x' AS brand, '{1,0}'::real[] AS tags) r $$);
SELECT pg_temp.err($$ SELECT limaml_item_features('tf', r) FROM (SELECT 'a'::text AS category, 2 AS price, 'x' AS brand, '{1,0,0}'::real[] AS tags) r $$);
SELECT count(*) = :models_before AS nothing_written FROM limaml_model;

-- feature columns missing at scoring time, or of another type
SELECT pg_temp.err($$ SELECT limaml_item_features('tf', r) FROM (SELECT 'a'::text AS category, 2 AS price) r $$);
SELECT pg_temp.err($$ SELECT limaml_item_features('tf', r) FROM (SELECT 1 AS category, 'x' AS price, 'x' AS brand, '{1,0}'::real[] AS tags) r $$);
CREATE VIEW tf_items_renamed AS SELECT item_id, category, price AS cost, brand, tags FROM tf_items;
SELECT pg_temp.err($$ SELECT * FROM limaml_top_k('tf', 'tf_items_renamed', 3) $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_recommend('tf', 1, 3, items => 'tf_items_renamed') $$);
SELECT pg_temp.err($$ SELECT limaml_alter_model('tf', items => 'tf_items_renamed') $$);
SELECT pg_temp.err($$ SELECT limaml_alter_model('tf', clear_members => true) $$);
SELECT count(*) FILTER (WHERE limaml_member_features('tf_copy', m) = limaml_member_features('tf', m)) AS copy_encodes_the_same
  FROM tf_members m;
-- a model without transforms reads arrays
CREATE VIEW tf_plain_src AS SELECT member_id, NULL::real[] AS member_features, ARRAY[1.0] AS item_features, label, ts FROM tf_events;
SELECT limaml_create_model('tf_plain', 'tf_plain_src', item_buckets => 0) > 0 AS created;
SELECT pg_temp.err($$ SELECT limaml_item_features('tf_plain', i) FROM tf_items i $$);
SELECT limaml_drop_model(name) FROM limaml_model WHERE name IN ('tf', 'tf_copy', 'tf_bad', 'tf_plain') ORDER BY name;
DROP TABLE tf_members, tf_items, tf_events, tf_vectors, tf_codes, tf_neg CASCADE;
