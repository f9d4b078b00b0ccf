-- positive-only logs: negatives => n samples n negatives per positive row from an items
-- relation, deterministically for the seed, in training and in adaptation
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

\set n_members 400
\set n_items 64
\set n_genres 8
\set per_member 30
\set p_fav 0.9
\set p_other 0.1
\set seed 0.3
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- only the positive events survive, with their item ids
CREATE TABLE n_src AS
SELECT pi.member_id, pi.member_features, pi.item_features, pi.label, pi.ts, it.item_id
  FROM planted_interactions pi JOIN planted_items it ON it.features = pi.item_features
 WHERE pi.label = 1;
CREATE VIEW n_train AS SELECT * FROM n_src WHERE member_id > 100;
CREATE VIEW n_items AS SELECT item_id, features FROM planted_items;

-- bad input, each with its SQLSTATE, and nothing half-written
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'n_train', negatives => 4) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'n_train', negatives => 0, items => 'n_items') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'n_train', negatives => 101, items => 'n_items') $$);
CREATE VIEW n_items_text AS SELECT item_id, features::text AS features FROM planted_items;
CREATE VIEW n_items_noid AS SELECT genre, features FROM planted_items;
CREATE VIEW n_items_3 AS SELECT item_id, features FROM planted_items WHERE item_id <= 3;
CREATE VIEW n_items_none AS SELECT item_id, features FROM planted_items WHERE false;
CREATE VIEW n_items_dim AS SELECT item_id, features[1:3] AS features FROM planted_items;
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'n_train', negatives => 4, items => 'n_items_text') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'n_train', negatives => 4, items => 'n_items_noid') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'n_train', negatives => 3, items => 'n_items_3') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'n_train', negatives => 2, items => 'n_items_none') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'n_train', negatives => 2, items => 'n_items_dim') $$);
CREATE VIEW n_items_dup AS SELECT item_id, features FROM planted_items UNION ALL SELECT 1, features FROM planted_items WHERE item_id = 2;
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'n_train', negatives => 2, items => 'n_items_dup') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'n_train', negatives => 2, items => 'n_items', loss => 'mse') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'planted_interactions', negatives => 2, items => 'n_items') $$);
SELECT count(*) AS nothing_created FROM limaml_model WHERE name = 'x';
-- items without negatives is kept and harmless
SELECT limaml_create_model('n_idle', 'n_train', items => 'n_items_3', item_buckets => 0) > 0 AS created;
SELECT items, config ? 'negatives' AS has_negatives FROM limaml_model WHERE name = 'n_idle';
SELECT limaml_drop_model('n_idle');

-- four negatives per positive row; support_size and query_size count source rows
SELECT limaml_create_model('n', 'n_train', embedding_dim => 8, item_buckets => 0, support_size => 4,
                           query_size => 2, negatives => 4, items => 'n_items', seed => 3) > 0 AS created;
SELECT items, config->'negatives' AS negatives FROM limaml_model WHERE name = 'n';
SELECT count(*) FROM limaml_train('n', epochs => 10, outer_lr => 0.03, validation_fraction => 0);

-- the same training again gives the same parameters
SELECT limaml_create_model('n_again', 'n_train', embedding_dim => 8, item_buckets => 0, support_size => 4,
                           query_size => 2, negatives => 4, items => 'n_items', seed => 3) > 0 AS created;
SELECT count(*) FROM limaml_train('n_again', epochs => 10, outer_lr => 0.03, validation_fraction => 0);
SELECT a.params = b.params AS same_params, a.version = b.version AS same_version
  FROM limaml_model_version a JOIN limaml_model ma ON ma.model_id = a.model_id AND a.version = ma.active_version,
       limaml_model_version b JOIN limaml_model mb ON mb.model_id = b.model_id AND b.version = mb.active_version
 WHERE ma.name = 'n' AND mb.name = 'n_again';
SELECT limaml_model_export('n') - 'name' - 'model_uuid' = limaml_model_export('n_again') - 'name' - 'model_uuid' AS same_export;
SELECT limaml_drop_model('n_again');

-- limaml_adapt gives the aggregate's bytes, negatives and all
SELECT count(*) AS members, count(*) FILTER (WHERE e IS DISTINCT FROM limaml_adapt(member_id, 'n')) AS adapt_differs
  FROM (SELECT member_id, limaml_adapt_agg('n', member_features, item_features, label, ts, item_id) AS e
          FROM n_train GROUP BY member_id) a;
-- the aggregate needs ts and item_id: they key the negatives
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('n', member_features, item_features, label ORDER BY ts) FROM n_src $$);
SELECT pg_temp.err($$ SELECT limaml_adapt_agg('n', member_features, item_features, label, ts) FROM n_src $$);

-- held-out members: the favourite genre's items score above the others (measured margins
-- 0.11 and 0.14 on two planted seeds) ...
CREATE TABLE n_emb AS
SELECT 'n' AS model, member_id, limaml_adapt_agg('n', member_features, item_features, label, ts, item_id) AS e
  FROM n_src WHERE member_id <= 100 GROUP BY member_id;
CREATE VIEW n_margin AS
SELECT model, avg(s) FILTER (WHERE it.genre = pm.fav) - avg(s) FILTER (WHERE it.genre <> pm.fav) AS margin
  FROM n_emb JOIN planted_members pm USING (member_id), planted_items it,
       LATERAL (SELECT limaml_score(e, it.features) AS s) sc
 GROUP BY model;
SELECT margin > 0.06 AS favourites_first FROM n_margin WHERE model = 'n';
-- ... far better than the same model without negatives, which only ever saw label 1 (margin 0)
SELECT limaml_create_model('n_pos', 'n_train', embedding_dim => 8, item_buckets => 0, support_size => 20,
                           query_size => 10, seed => 3) > 0 AS created;
SELECT count(*) FROM limaml_train('n_pos', epochs => 10, outer_lr => 0.03, validation_fraction => 0);
INSERT INTO n_emb
SELECT 'n_pos', member_id, limaml_adapt_agg('n_pos', member_features, item_features, label, ts)
  FROM n_src WHERE member_id <= 100 GROUP BY member_id;
SELECT n.margin > p.margin + 0.05 AS negatives_help
  FROM n_margin n, n_margin p WHERE n.model = 'n' AND p.model = 'n_pos';
-- and adapting beats the cold model and the popularity baseline on held-out members' query rows,
-- negatives included (measured AUC on two planted seeds: adapted 0.64-0.66, cold 0.55-0.59,
-- popularity 0.45-0.53)
CREATE VIEW n_test AS SELECT * FROM n_src WHERE member_id <= 100;
SELECT a.auc > c.auc + 0.03 AS adapted_beats_cold, a.auc > p.auc + 0.08 AS adapted_beats_popularity
  FROM limaml_evaluate('n', 'n_test') a, limaml_evaluate('n', 'n_test') c, limaml_evaluate('n', 'n_test') p
 WHERE a.segment = 'all' AND a.predictor = 'adapted' AND c.segment = 'all' AND c.predictor = 'cold'
   AND p.segment = 'all' AND p.predictor = 'popularity';

-- an import has no items relation until one is set
SELECT limaml_model_import('n_copy', limaml_model_export('n'), 'n_train') IS NOT NULL AS imported;
SELECT pg_temp.err($$ SELECT limaml_adapt(101, 'n_copy') $$);
UPDATE limaml_model SET items = 'n_items' WHERE name = 'n_copy';
SELECT limaml_embedding_array(limaml_adapt(101, 'n_copy')) = limaml_embedding_array(limaml_adapt(101, 'n')) AS copy_same;

-- a dropped items relation fails clearly
CREATE VIEW n_items_gone AS SELECT * FROM n_items;
UPDATE limaml_model SET items = 'n_items_gone' WHERE name = 'n_copy';
SELECT limaml_adapt(101, 'n_copy') IS NOT NULL AS adapted;
DROP VIEW n_items_gone;
SELECT regexp_replace(pg_temp.err($$ SELECT limaml_adapt(101, 'n_copy') $$), 'OID [0-9]+', 'OID N') AS err;
SELECT regexp_replace(pg_temp.err($$ SELECT count(*) FROM limaml_train('n_copy', epochs => 1) $$), 'OID [0-9]+', 'OID N') AS err;

-- with item ids, the wide head's factors start from what members share (the top singular
-- subspace of the normalised positive matrix): most of their variance lies between the 8
-- planted genres, and training keeps it there (the ALS start of explicit labels: 0.23)
SELECT limaml_create_model('n_ids', 'n_train', negatives => 4, items => 'n_items', wide_rank => 8,
                           seed => 3) > 0 AS created;
SELECT count(*) FROM limaml_train('n_ids', epochs => 2);
WITH d AS (SELECT limaml_model_export('n_ids') AS j),
     f AS (SELECT it.genre, k, (d.j->'wide_table'->(v.o::int - 1)->>k)::float8 AS val
             FROM d, jsonb_array_elements_text(d.j->'config'->'item_vocab') WITH ORDINALITY v(id, o)
             JOIN planted_items it ON it.item_id = v.id::bigint,
                  generate_series(1, (d.j->'config'->>'wide_rank')::int) k),
     g AS (SELECT genre, k, val, avg(val) OVER (PARTITION BY genre, k) AS genre_mean,
                  avg(val) OVER (PARTITION BY k) AS mean
             FROM f)
SELECT sum((genre_mean - mean) ^ 2) / sum((val - mean) ^ 2) > 0.6 AS between_genres
  FROM g;

-- defaults follow the kind of label: with negatives, wide_features, learn_lambda and fold_in
-- (with the wide head, which item ids bring) and history are on and the wide head has 64
-- factors; false turns each off; a labelled source keeps them off, with 16 factors
SELECT limaml_create_model('n_off', 'n_train', negatives => 4, items => 'n_items', wide_features => false,
                           learn_lambda => false, history => false, fold_in => false) > 0 AS created;
SELECT limaml_create_model('n_labelled', 'n_train') > 0 AS created;
SELECT name, (config->>'item_buckets')::int > 0 AS item_ids, coalesce((config->>'wide')::bool, false) AS wide,
       config->>'wide_rank' AS wide_rank,
       coalesce((config->>'wide_features')::bool, false) AS wide_features,
       coalesce((config->>'learn_lambda')::bool, false) AS learn_lambda,
       coalesce((config->>'fold_in')::bool, false) AS fold_in,
       coalesce((config->>'history')::bool, false) AS history
  FROM limaml_model WHERE name IN ('n', 'n_ids', 'n_off', 'n_labelled') ORDER BY name;

SELECT count(limaml_drop_model(name)) FROM limaml_model
 WHERE name IN ('n', 'n_pos', 'n_copy', 'n_ids', 'n_off', 'n_labelled');
DROP VIEW n_margin;
DROP TABLE n_emb;
DROP VIEW n_items_dup, n_items_text, n_items_noid, n_items_3, n_items_none, n_items_dim, n_test, n_train, n_items;
DROP TABLE n_src, planted_interactions, planted_members, planted_items;
