-- the wide head: item biases, and a member bias and vector fitted by ridge after the inner loop;
-- training on every row, random split points, weight decay and a cosine schedule
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
\set seed 0.7
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

-- items whose features say nothing: only their identity carries the taste
CREATE VIEW w_src AS
SELECT pi.member_id, pi.member_features, '{1}'::real[] AS item_features, pi.label, pi.ts, it.item_id
  FROM planted_interactions pi JOIN planted_items it ON it.features = pi.item_features;
CREATE VIEW w_train AS SELECT * FROM w_src WHERE member_id > 100;

-- bad shapes and settings, and nothing half-written
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'planted_interactions', wide => true) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'w_train', item_buckets => 0, wide => true) $$);
-- a source with item_id brings item ids (a row per item) and the wide head by default
SELECT limaml_create_model('w_default', 'w_train') > 0 AS created;
SELECT config->'item_buckets' AS buckets, config->'wide' AS wide, config->'wide_rank' AS rank,
       config->'ridge_lambda' AS lambda
  FROM limaml_model WHERE name = 'w_default';
SELECT limaml_create_model('w_none', 'w_train', item_buckets => 0) > 0 AS created;
SELECT config ? 'wide' AS has_wide FROM limaml_model WHERE name = 'w_none';
-- the source's items each get a row of their own: an exact vocabulary, ascending ids
SELECT jsonb_array_length(config->'item_vocab') = (SELECT count(DISTINCT item_id) FROM w_train) AS every_item,
       (SELECT bool_and(v::bigint < lead) FROM (SELECT v, lead(v::bigint) OVER (ORDER BY o) AS lead
          FROM jsonb_array_elements_text(config->'item_vocab') WITH ORDINALITY e(v, o)) x
         WHERE lead IS NOT NULL) AS ascending
  FROM limaml_model WHERE name = 'w_default';
SELECT count(*) FROM limaml_train('w_default', epochs => 2);
-- an id outside the vocabulary is the unknown item, to the bit
SELECT limaml_score(e, '{1}', 999999) = limaml_score(e, '{1}', NULL::bigint) AS unseen_is_unknown,
       limaml_score(e, '{1}', 3) <> limaml_score(e, '{1}', NULL::bigint) AS known_differs
  FROM (SELECT limaml_adapt_agg('w_default', member_features, item_features, label, ts, item_id) AS e
          FROM w_src WHERE member_id = 5) a;
-- the vocabulary travels with the model's JSON and must be well formed there
SELECT limaml_model_import('w_default_copy', limaml_model_export('w_default')) IS NOT NULL AS imported;
SELECT (SELECT config->'item_vocab' FROM limaml_model WHERE name = 'w_default')
     = (SELECT config->'item_vocab' FROM limaml_model WHERE name = 'w_default_copy') AS same_vocab;
SELECT pg_temp.err($$ SELECT limaml_model_import('x', jsonb_set(limaml_model_export('w_default'),
       '{config,item_vocab,0}', '1000000')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('x', jsonb_set(limaml_model_export('w_default'),
       '{config,item_vocab}', '[1, 2]')) $$);
SELECT count(*) AS nothing_imported FROM limaml_model WHERE name = 'x';
SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name IN ('w_default', 'w_default_copy', 'w_none');
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'w_train', item_buckets => 64, wide => true, wide_rank => -1) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'w_train', item_buckets => 64, wide => true, wide_rank => 300) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'w_train', item_buckets => 64, wide => true, ridge_lambda => 0) $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'w_train', item_buckets => 64, wide => true, ridge_lambda => 'NaN') $$);
SELECT pg_temp.err($$ SELECT limaml_create_model('x', 'w_train', item_buckets => 64, wide => true, ridge_lambda => NULL) $$);
SELECT count(*) AS nothing_created FROM limaml_model WHERE name = 'x';
-- wide_rank => NULL is the default: 16 factors on a labelled source (64 for positive-only logs)
SELECT limaml_create_model('x', 'w_train', item_buckets => 64, wide => true, wide_rank => NULL) > 0 AS created;
SELECT config->'wide_rank' AS rank FROM limaml_model WHERE name = 'x';
SELECT limaml_drop_model('x');

SELECT limaml_create_model('w', 'w_train', embedding_dim => 8, item_buckets => 128, item_embedding_dim => 8,
                           wide => true, wide_rank => 4, ridge_lambda => 2, seed => 2) > 0 AS created;
SELECT config->'wide' AS wide, config->'wide_rank' AS rank, config->'ridge_lambda' AS lambda
  FROM limaml_model WHERE name = 'w';

SELECT pg_temp.err($$ SELECT count(*) FROM limaml_train('w', support_weight => 1.5) $$);
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_train('w', weight_decay => -1) $$);
SELECT pg_temp.err($$ SELECT count(*) FROM limaml_train('w', lr_schedule => 'step') $$);
SELECT count(*) AS versions FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'w';

SELECT count(*) FROM limaml_train('w', epochs => 15, outer_lr => 0.03, validation_fraction => 0,
                                  support_weight => 0.5, random_splits => true, weight_decay => 0.01,
                                  lr_schedule => 'cosine');
-- NULL options mean the measured defaults; 0.1.0's training is one call away
SELECT limaml_create_model('w_d', 'w_train', embedding_dim => 4, seed => 1) > 0 AS created;
SELECT count(*) FROM limaml_train('w_d', epochs => 1);
SELECT count(*) FROM limaml_train('w_d', epochs => 1, support_weight => 0, random_splits => false,
                                  weight_decay => 0, lr_schedule => 'constant');
SELECT v.version, v.training->'support_weight' AS sw, v.training->'random_splits' AS rs,
       v.training->'weight_decay' AS wd, v.training->'lr_schedule' AS schedule
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'w_d' AND v.version > 0
 ORDER BY v.version;
SELECT limaml_drop_model('w_d');
SELECT training->'support_weight' AS sw, training->'random_splits' AS rs, training->'weight_decay' AS wd,
       training->'lr_schedule' AS schedule
  FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'w' AND v.version = m.active_version;

-- embeddings: e[8], then the member bias and vector (1 + 4); zero for a cold start
CREATE TABLE w_emb AS
SELECT member_id, limaml_adapt_agg('w', member_features, item_features, label, ts, item_id) AS e
  FROM w_src WHERE member_id <= 100 GROUP BY member_id;
SELECT (limaml_embedding_info(e)).dim AS dim FROM w_emb LIMIT 1;
SELECT limaml_embedding_array(limaml_adapt(100000, 'w'))::real[] IS NOT NULL AS cold_made,
       (SELECT bool_and(x = 0) FROM unnest((limaml_embedding_array(limaml_adapt(100000, 'w')))[9:13]) x) AS cold_wide_zero,
       (SELECT bool_or(x <> 0) FROM w_emb, unnest((limaml_embedding_array(e))[9:13]) x) AS adapted_wide_moves;

-- limaml_adapt gives the aggregate's bytes (members of the model's source)
SELECT count(*) FILTER (WHERE e IS DISTINCT FROM limaml_adapt(member_id, 'w')) AS adapt_differs
  FROM (SELECT member_id, limaml_adapt_agg('w', member_features, item_features, label, ts, item_id) AS e
          FROM w_train WHERE member_id <= 140 GROUP BY member_id) a;

-- every serving path agrees: features + id, the item code, limaml_top_k
SELECT count(*) FILTER (WHERE abs(limaml_score(e, '{1}'::real[], it.item_id)
                                  - limaml_score(e, limaml_item_encode('w', '{1}'::real[], NULL, it.item_id))) > 1e-5)
       AS code_differs
  FROM w_emb, planted_items it;

-- held-out members: the favourite genre's items rank above the others
SELECT avg(s) FILTER (WHERE it.genre = pm.fav) - avg(s) FILTER (WHERE it.genre <> pm.fav) > 0.06 AS favourites_first
  FROM w_emb JOIN planted_members pm USING (member_id), planted_items it,
       LATERAL (SELECT limaml_score(e, '{1}'::real[], it.item_id) AS s) sc;
-- and the wide head ranks them better than the same model without it, and than the baselines
CREATE VIEW w_test AS SELECT * FROM w_src WHERE member_id <= 100;
SELECT limaml_create_model('w_deep', 'w_train', embedding_dim => 8, item_buckets => 128, item_embedding_dim => 8,
                           wide => false, seed => 2) > 0 AS created;
SELECT count(*) FROM limaml_train('w_deep', epochs => 15, outer_lr => 0.03, validation_fraction => 0);
SELECT w.auc > d.auc + 0.05 AS wide_beats_deep, w.member_auc > d.member_auc + 0.05 AS wide_beats_deep_per_member,
       w.auc > greatest(p.auc, b.auc) + 0.05 AS wide_beats_baselines
  FROM limaml_evaluate('w', 'w_test') w, limaml_evaluate('w_deep', 'w_test') d,
       limaml_evaluate('w', 'w_test') p, limaml_evaluate('w', 'w_test') b
 WHERE w.segment = 'all' AND w.predictor = 'adapted' AND d.segment = 'all' AND d.predictor = 'adapted'
   AND p.segment = 'all' AND p.predictor = 'popularity' AND b.segment = 'all' AND b.predictor = 'bias';

-- the JSON round trip keeps every score
SELECT limaml_model_import('w_copy', limaml_model_export('w')) IS NOT NULL AS imported;
SELECT count(*) FILTER (WHERE limaml_score(w_emb.e, '{1}'::real[], it.item_id) <>
                              limaml_score(c.e, '{1}'::real[], it.item_id)) AS copy_differs
  FROM w_emb, planted_items it,
       LATERAL (SELECT limaml_adapt_agg('w_copy', member_features, item_features, label, ts, item_id) AS e
                  FROM w_src s WHERE s.member_id = w_emb.member_id) c
 WHERE w_emb.member_id <= 10;
SELECT jsonb_array_length(limaml_model_export('w')->'wide_table') AS wide_rows,
       jsonb_array_length(limaml_model_export('w')->'wide_table'->0) AS wide_cols;
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(limaml_model_export('w'), '{wide_table}', '[[1]]')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(limaml_model_export('w'), '{config,ridge_lambda}', '-1')) $$);
SELECT count(*) AS nothing_imported FROM limaml_model WHERE name = 'bad';

-- a wide section wider than every layer (rank 256, layers of 2; found by fuzz_model_config):
-- an item code scores as its features, where the plan's scratch buffer overflowed
SELECT limaml_create_model('w_rank', 'w_train', embedding_dim => 2, meta_hidden => '{2}',
                           global_hidden => '{2}', item_buckets => 16, item_embedding_dim => 1,
                           wide => true, wide_rank => 256, seed => 4) > 0 AS created;
SELECT count(*) AS scored,
       count(*) FILTER (WHERE abs(limaml_score(e, '{1}'::real[], it.item_id)
                                  - limaml_score(e, limaml_item_encode('w_rank', '{1}'::real[], NULL, it.item_id))) > 1e-5)
       AS code_differs
  FROM (SELECT limaml_adapt_agg('w_rank', member_features, item_features, label, ts, item_id) AS e
          FROM w_src WHERE member_id <= 5 GROUP BY member_id) m, planted_items it;

SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name IN ('w', 'w_copy', 'w_deep', 'w_rank');
DROP TABLE w_emb;
DROP VIEW w_test, w_train, w_src;
DROP TABLE planted_interactions, planted_members, planted_items;
