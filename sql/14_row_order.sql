-- one row order for training, evaluation and adaptation: ts, then item_id
-- (NULL least) for models with item-ID embeddings, then label, then
-- item_features, so members whose rows share timestamps give the same
-- results whatever the physical order of the source
SET client_min_messages = warning;

-- 12 members of 24 rows in 6 timestamps (4 rows each); item ids repeat and
-- are sometimes NULL, labels and features tie within a timestamp, and
-- rows 2j and 2j + 1 share their features (but not their item id); one
-- more member whose order rests on labels -0 and 0 being equal, as in SQL
CREATE TEMP VIEW ro_rows AS
SELECT m::bigint AS member_id, ARRAY[m / 12.0, 1]::real[] AS member_features,
       ARRAY[sin(m + k / 2), cos(k / 2), (k / 2 % 3) / 4.0]::real[] AS item_features,
       ((m + k * k) % 3 = 0)::int::real AS label,
       timestamptz '2026-01-01' + (k / 4) * interval '1 min' AS ts,
       CASE WHEN k % 7 = 3 THEN NULL ELSE (m * 5 + k * 3) % 11 END::bigint AS item_id,
       k
  FROM generate_series(1, 12) m, generate_series(0, 23) k
UNION ALL
-- member 13: 10 rows at one ts, labels -0 and 0 (equal in SQL) among them
SELECT 13, ARRAY[1, 1]::real[], ARRAY[k % 5, 0.5, -k]::real[],
       (CASE WHEN k % 3 = 0 THEN '-0' WHEN k % 3 = 1 THEN '0' ELSE '1' END)::real,
       timestamptz '2026-01-01', k, k
  FROM generate_series(0, 9) k;

-- the same rows, inserted in two different orders
CREATE TABLE ro_a AS SELECT member_id, member_features, item_features, label, ts, item_id
  FROM ro_rows ORDER BY member_id, k;
CREATE TABLE ro_b AS SELECT member_id, member_features, item_features, label, ts, item_id
  FROM ro_rows ORDER BY md5(member_id || '/' || k);
CREATE INDEX ro_a_member_ts ON ro_a (member_id, ts);
CREATE INDEX ro_b_member_ts ON ro_b (member_id, ts);
ANALYZE ro_a;
ANALYZE ro_b;
SELECT count(*) AS rows, count(*) - count(DISTINCT (member_id, ts)) AS rows_sharing_ts,
       count(*) - count(DISTINCT (member_id, ts, label, item_features)) AS rows_tied_but_item_id,
       count(*) FILTER (WHERE item_id IS NULL) AS null_item_ids
  FROM ro_a;
SELECT (SELECT array_agg(t::text ORDER BY ctid) FROM ro_a t)
       IS DISTINCT FROM (SELECT array_agg(t::text ORDER BY ctid) FROM ro_b t) AS physical_orders_differ;
-- ordered by member_id, ts alone (the order of training before 0.2.0) the
-- tied rows come out in an order that depends on the physical one
SELECT (SELECT array_agg(t::text ORDER BY member_id, ts) FROM ro_a t)
       IS DISTINCT FROM (SELECT array_agg(t::text ORDER BY member_id, ts) FROM ro_b t)
       AS member_ts_alone_differs;

-- support_size 6 cuts through the ties of a member's two newest timestamps
SELECT limaml_create_model(n, s, embedding_dim => 4, meta_hidden => '{8}', global_hidden => '{8}',
                           inner_steps => 2, support_size => 6, query_size => 3, seed => 7,
                           item_buckets => b, item_embedding_dim => 3) > 0 AS created
  FROM (VALUES ('ro_a', 'ro_a', 0), ('ro_b', 'ro_b', 0), ('ro_ai', 'ro_a', 8), ('ro_bi', 'ro_b', 8))
       v(n, s, b);

-- ------------------------------------------------------------ training

CREATE TEMP TABLE ro_train AS
SELECT n, array_agg(t::text ORDER BY t.epoch) AS epochs
  FROM unnest('{ro_a,ro_b,ro_ai,ro_bi}'::text[]) n,
       LATERAL limaml_train(n, epochs => 2, meta_batch => 4, outer_lr => 0.05,
                            validation_fraction => 0.25) t
 GROUP BY n;
SELECT (SELECT epochs FROM ro_train WHERE n = 'ro_a') = (SELECT epochs FROM ro_train WHERE n = 'ro_b')
       AS same_training_losses,
       (SELECT epochs FROM ro_train WHERE n = 'ro_ai') = (SELECT epochs FROM ro_train WHERE n = 'ro_bi')
       AS same_training_losses_item_ids;
-- the trained parameters, bit for bit (export prints floats exactly)
SELECT limaml_model_export('ro_a') - 'name' - 'model_uuid' = limaml_model_export('ro_b') - 'name' - 'model_uuid' AS same_parameters,
       limaml_model_export('ro_ai') - 'name' - 'model_uuid' = limaml_model_export('ro_bi') - 'name' - 'model_uuid'
       AS same_parameters_item_ids;

-- ------------------------------------------------------------ evaluation

SELECT (SELECT array_agg(e::text ORDER BY e.segment, e.predictor) FROM limaml_evaluate('ro_a') e)
       = (SELECT array_agg(e::text ORDER BY e.segment, e.predictor) FROM limaml_evaluate('ro_b') e) AS same_evaluation,
       (SELECT array_agg(e::text ORDER BY e.segment, e.predictor) FROM limaml_evaluate('ro_ai') e)
       = (SELECT array_agg(e::text ORDER BY e.segment, e.predictor) FROM limaml_evaluate('ro_bi') e)
       AS same_evaluation_item_ids;

-- ------------------------------------------------------------ adaptation

-- limaml_refresh (the aggregate's order) first, limaml_adapt then overwrites
CALL limaml_refresh('ro_b');
CALL limaml_refresh('ro_bi');
CREATE TEMP TABLE ro_refreshed AS
SELECT model, member_id, embedding FROM limaml_meta_embedding WHERE model IN ('ro_b', 'ro_bi');

CREATE TEMP TABLE ro_emb AS
SELECT m AS member_id,
       limaml_adapt(m, 'ro_a') AS a, limaml_adapt(m, 'ro_b') AS b,
       limaml_adapt(m, 'ro_ai') AS ai, limaml_adapt(m, 'ro_bi') AS bi
  FROM generate_series(1, 13) m;

-- the same embedding from either physical order (the bytea names its model,
-- so compare the floats, as text to tell -0 from 0)
SELECT count(*) AS members,
       count(*) FILTER (WHERE limaml_embedding_array(a)::text = limaml_embedding_array(b)::text) AS equal,
       count(*) FILTER (WHERE limaml_embedding_array(ai)::text = limaml_embedding_array(bi)::text)
       AS equal_item_ids
  FROM ro_emb;

-- limaml_adapt_agg's parallel forms over either table: limaml_adapt bit for bit
SELECT count(*) AS members,
       count(*) FILTER (WHERE ga.e = x.a AND gb.e = x.a) AS equal,
       count(*) FILTER (WHERE ga.ei = x.ai AND gb.ei = x.ai) AS equal_item_ids
  FROM ro_emb x
  JOIN (SELECT member_id, limaml_adapt_agg('ro_a', member_features, item_features, label, ts) AS e,
               limaml_adapt_agg('ro_ai', member_features, item_features, label, ts, item_id) AS ei
          FROM ro_a GROUP BY member_id) ga USING (member_id)
  JOIN (SELECT member_id, limaml_adapt_agg('ro_a', member_features, item_features, label, ts) AS e,
               limaml_adapt_agg('ro_ai', member_features, item_features, label, ts, item_id) AS ei
          FROM ro_b GROUP BY member_id) gb USING (member_id);

-- the ORDER BY forms agree with the documented order written out ...
SELECT count(*) AS members,
       count(*) FILTER (WHERE g.e = x.a) AS equal,
       count(*) FILTER (WHERE g.ei = x.ai) AS equal_item_ids
  FROM ro_emb x
  JOIN (SELECT member_id,
               limaml_adapt_agg('ro_a', member_features, item_features, label
                                ORDER BY ts, label, item_features, member_features) AS e,
               limaml_adapt_agg('ro_ai', member_features, item_features, label, item_id
                                ORDER BY ts, item_id NULLS FIRST, label, item_features, member_features) AS ei
          FROM ro_b GROUP BY member_id) g USING (member_id);
-- ... and tell the two tables apart on ORDER BY ts alone: the ties matter
SELECT count(*) FILTER (WHERE ga.e <> gb.e) > 0 AS ts_alone_depends_on_physical_order
  FROM (SELECT member_id, limaml_adapt_agg('ro_ai', member_features, item_features, label, item_id
                                           ORDER BY ts) AS e
          FROM ro_a GROUP BY member_id) ga
  JOIN (SELECT member_id, limaml_adapt_agg('ro_ai', member_features, item_features, label, item_id
                                           ORDER BY ts) AS e
          FROM ro_b GROUP BY member_id) gb USING (member_id);

-- limaml_refresh stored the same bytea
SELECT count(*) AS members,
       count(*) FILTER (WHERE r.embedding = CASE r.model WHEN 'ro_b' THEN x.b ELSE x.bi END) AS equal
  FROM ro_refreshed r JOIN ro_emb x USING (member_id);

-- a member's newest rows still come from the (member_id, ts) index: the
-- tiebreak sorts only the rows of a timestamp (limaml_adapt's query)
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT member_features, item_features, label, ts, item_id FROM ro_a WHERE member_id = 3
 ORDER BY ts DESC, item_id DESC NULLS LAST, label DESC, item_features DESC,
          member_features DESC NULLS LAST LIMIT 6;
RESET enable_seqscan;
RESET enable_bitmapscan;
