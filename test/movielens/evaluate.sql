-- MovieLens protocol (run by test/movielens/evaluate.sh after load.sql):
--   20 % of members are held out entirely (movielens.held_out); models are
--   meta-trained on the rest; held-out members are adapted on their older
--   interactions and evaluated on their newest 20 %, by activity segment.
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
                                       "order" => r.ord);
    INSERT INTO timings VALUES (r.model, round(extract(epoch FROM clock_timestamp() - t0)::numeric, 2));
  END LOOP;
END $$;

CREATE TEMP TABLE results AS
SELECT r.model, r.label, r.loss, e.*
  FROM runs r,
       LATERAL limaml_evaluate(r.model, ('movielens.test_' || r.loss)::regclass,
                               segments => '{30,60,150}', query_fraction => 0.2) e;

\echo
\echo '== bce (rating >= 4): AUC on held-out members'' newest 20 %, pooled and per member'
SELECT segment, max(members) AS members,
       round(max(auc_cold) FILTER (WHERE model = 'ml_bce_fo')::numeric, 3) AS "cold",
       round(max(auc_adapted) FILTER (WHERE model = 'ml_bce_fo')::numeric, 3) AS "LiMAML-1",
       round(max(auc_adapted) FILTER (WHERE model = 'ml_bce_so')::numeric, 3) AS "LiMAML-2",
       round(max(auc_adapted) FILTER (WHERE model = 'ml_bce_bil')::numeric, 3) AS "LiMAML-1 bilinear",
       round(max(auc_adapted) FILTER (WHERE model = 'ml_bce_id')::numeric, 3) AS "LiMAML-1 item ids",
       round(max(auc_adapted) FILTER (WHERE model = 'ml_bce_conv')::numeric, 3) AS "conventional",
       round(max(auc_adapted) FILTER (WHERE model = 'ml_bce_conv_id')::numeric, 3) AS "conventional item ids",
       round(max(member_auc_adapted) FILTER (WHERE model = 'ml_bce_fo')::numeric, 3) AS "LiMAML-1 per member",
       round(max(member_auc_adapted) FILTER (WHERE model = 'ml_bce_id')::numeric, 3) AS "LiMAML-1 item ids per member",
       round(max(member_auc_adapted) FILTER (WHERE model = 'ml_bce_conv')::numeric, 3) AS "conventional per member",
       round(max(member_auc_adapted) FILTER (WHERE model = 'ml_bce_conv_id')::numeric, 3) AS "conventional item ids per member"
  FROM results WHERE loss = 'bce'
 GROUP BY segment ORDER BY min(CASE segment WHEN 'all' THEN 2 ELSE 1 END), min(substring(segment from '^\d+')::int);

\echo '== mse (the rating): MAE on held-out members'' newest 20 %'
SELECT segment, max(members) AS members,
       round(max(mae_cold) FILTER (WHERE model = 'ml_mse_fo')::numeric, 3) AS "cold",
       round(max(mae_adapted) FILTER (WHERE model = 'ml_mse_fo')::numeric, 3) AS "LiMAML-1",
       round(max(mae_adapted) FILTER (WHERE model = 'ml_mse_so')::numeric, 3) AS "LiMAML-2",
       round(max(mae_adapted) FILTER (WHERE model = 'ml_mse_bil')::numeric, 3) AS "LiMAML-1 bilinear",
       round(max(mae_adapted) FILTER (WHERE model = 'ml_mse_id')::numeric, 3) AS "LiMAML-1 item ids",
       round(max(mae_adapted) FILTER (WHERE model = 'ml_mse_conv')::numeric, 3) AS "conventional",
       round(max(mae_adapted) FILTER (WHERE model = 'ml_mse_conv_id')::numeric, 3) AS "conventional item ids"
  FROM results WHERE loss = 'mse'
 GROUP BY segment ORDER BY min(CASE segment WHEN 'all' THEN 2 ELSE 1 END), min(substring(segment from '^\d+')::int);

\echo '== training time (seconds)'
SELECT r.model, r.label, t.seconds FROM runs r JOIN timings t USING (model) ORDER BY r.loss, r.model;
