-- MovieLens protocol (run by test/movielens/evaluate.sh after load.sql):
--   20 % of members are held out entirely (movielens.held_out); models are
--   meta-trained on the rest; held-out members are adapted on their older
--   interactions and evaluated on their newest 20 %, by activity segment,
--   next to the popularity and bias baselines on the same query rows.
-- psql variables: epochs, episodes.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\pset footer off

CREATE TEMP TABLE runs (model text, label text, loss text, inner_steps int, ord int, bilinear bool, item_buckets int);
INSERT INTO runs VALUES
  ('ml_bce_fo',      'LiMAML, first order',             'bce', 5, 1, false, 0),
  ('ml_bce_so',      'LiMAML, second order',            'bce', 5, 2, false, 0),
  ('ml_bce_bil',     'LiMAML, first order, bilinear',   'bce', 5, 1, true,  0),
  ('ml_bce_id',      'LiMAML, first order, item ids',   'bce', 5, 1, false, 4096),
  ('ml_bce_conv',    'conventional',                    'bce', 0, 1, false, 0),
  ('ml_bce_conv_id', 'conventional, item ids',          'bce', 0, 1, false, 4096),
  ('ml_mse_fo',      'LiMAML, first order',             'mse', 5, 1, false, 0),
  ('ml_mse_so',      'LiMAML, second order',            'mse', 5, 2, false, 0),
  ('ml_mse_bil',     'LiMAML, first order, bilinear',   'mse', 5, 1, true,  0),
  ('ml_mse_id',      'LiMAML, first order, item ids',   'mse', 5, 1, false, 4096),
  ('ml_mse_conv',    'conventional',                    'mse', 0, 1, false, 0),
  ('ml_mse_conv_id', 'conventional, item ids',          'mse', 0, 1, false, 4096);

SELECT count(limaml_create_model(model, ('movielens.train_' || loss)::regclass,
                                 loss => loss, inner_steps => inner_steps, bilinear => bilinear,
                                 item_buckets => item_buckets,
                                 support_size => 100, query_size => 10, seed => 1))
  FROM runs \g /dev/null

CREATE TEMP TABLE timings (model text, seconds numeric);
SELECT set_config('movielens.epochs', :'epochs', false),
       set_config('movielens.episodes', :'episodes', false) \gset
DO $$
DECLARE r record; t0 timestamptz;
BEGIN
  FOR r IN SELECT * FROM runs LOOP
    t0 := clock_timestamp();
    PERFORM count(*) FROM limaml_train(r.model, epochs => current_setting('movielens.epochs')::int,
                                       outer_lr => 0.005, validation_fraction => 0.1,
                                       episodes => current_setting('movielens.episodes')::int,
                                       maml_order => r.ord);
    INSERT INTO timings VALUES (r.model, round(extract(epoch FROM clock_timestamp() - t0)::numeric, 2));
  END LOOP;
END $$;

CREATE TEMP TABLE results AS
SELECT r.model, r.label, r.loss, e.*
  FROM runs r,
       LATERAL limaml_evaluate(r.model, ('movielens.test_' || r.loss)::regclass,
                               segments => '{30,60,150}', query_fraction => 0.2) e;

-- one line per (loss, metric, segment, column) for \crosstabview: the
-- baselines and the cold start (from the first-order model's run; they do not
-- depend on the model), then every model adapted
CREATE TEMP VIEW board AS
SELECT e.loss, m.metric, e.segment,
       CASE e.segment WHEN 'all' THEN 1000000000 ELSE substring(e.segment from '^\d+')::int END AS seg_order,
       c.ord, c.col, round(m.value::numeric, 3) AS value
  FROM results e
  JOIN (VALUES (1, 'popularity', 'fo', 'popularity'), (2, 'bias', 'fo', 'bias'), (3, 'cold', 'fo', 'cold'),
               (4, 'LiMAML-1', 'fo', 'adapted'), (5, 'LiMAML-2', 'so', 'adapted'),
               (6, 'LiMAML-1 bilinear', 'bil', 'adapted'), (7, 'LiMAML-1 item ids', 'id', 'adapted'),
               (8, 'conventional', 'conv', 'adapted'), (9, 'conventional item ids', 'conv_id', 'adapted'))
       c (ord, col, run, predictor)
    ON e.model = 'ml_' || e.loss || '_' || c.run AND e.predictor = c.predictor
 CROSS JOIN LATERAL (VALUES ('auc', e.auc), ('member_auc', e.member_auc), ('ndcg10', e.ndcg10), ('mae', e.mae),
                            ('members', e.members)) m (metric, value)
 WHERE m.value IS NOT NULL;
CREATE TEMP VIEW members AS
SELECT DISTINCT loss, segment, seg_order, 0 AS ord, 'members' AS col, value::int AS value FROM board WHERE metric = 'members';

\echo
\echo '== bce (rating >= 4): AUC on held-out members'' newest 20 %, pooled'
\echo '   (popularity, bias: the baselines; cold: LiMAML-1 un-adapted; the others adapted)'
SELECT segment, col, value, ord, seg_order FROM board WHERE loss = 'bce' AND metric = 'auc'
UNION ALL SELECT segment, col, value, ord, seg_order FROM members WHERE loss = 'bce'
 ORDER BY seg_order \crosstabview segment col value ord
\echo '== bce: AUC per member (ranking within a member)'
SELECT segment, col, value, ord, seg_order FROM board WHERE loss = 'bce' AND metric = 'member_auc'
 ORDER BY seg_order \crosstabview segment col value ord
\echo '== bce: NDCG@10 per member (relevance: rating >= 4)'
SELECT segment, col, value, ord, seg_order FROM board WHERE loss = 'bce' AND metric = 'ndcg10'
 ORDER BY seg_order \crosstabview segment col value ord
\echo '== mse (the rating): MAE on held-out members'' newest 20 %'
SELECT segment, col, value, ord, seg_order FROM board WHERE loss = 'mse' AND metric = 'mae'
UNION ALL SELECT segment, col, value, ord, seg_order FROM members WHERE loss = 'mse'
 ORDER BY seg_order \crosstabview segment col value ord
\echo '== mse: NDCG@10 per member (relevance: the rating)'
SELECT segment, col, value, ord, seg_order FROM board WHERE loss = 'mse' AND metric = 'ndcg10'
 ORDER BY seg_order \crosstabview segment col value ord

\echo '== training time (seconds)'
SELECT r.model, r.label, t.seconds FROM runs r JOIN timings t USING (model) ORDER BY r.loss, r.model;
