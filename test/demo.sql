-- limaml demo: meta-train a LiMAML ranker on planted-preference data, adapt
-- every member in one set-based query, rank items in SQL, and compare the
-- adapted (personalized) ranking with the cold-start one.
--
-- Run through test/demo.sh (throwaway cluster), or on any database where
-- the extension is installed and the planted_* tables do not exist yet:
--   psql -X -q -v ON_ERROR_STOP=1 [-v n_members=5000 ...] -f test/demo.sql
-- Exits non-zero (ON_ERROR_STOP) when the final smoke checks fail.
--
-- psql variables (all optional):
--   n_members, n_items, n_genres, per_member, p_fav, p_other, seed
--                    planted-data sizes (see test/data/planted.sql)
--   epochs, outer_lr meta-training
--   show_members     members whose rankings are printed, as an array literal

\if :{?n_members}  \else \set n_members  2000 \endif
\if :{?n_items}    \else \set n_items    200  \endif
\if :{?n_genres}   \else \set n_genres   8    \endif
\if :{?per_member} \else \set per_member 40   \endif
\if :{?p_fav}      \else \set p_fav      0.9  \endif
\if :{?p_other}    \else \set p_other    0.1  \endif
\if :{?seed}       \else \set seed       0.5  \endif
\if :{?epochs}     \else \set epochs     30   \endif
\if :{?outer_lr}   \else \set outer_lr   0.01 \endif
\if :{?show_members} \else \set show_members '{1,2,3,42,1000}' \endif

\set ON_ERROR_STOP on
\pset footer off
-- limaml_train reports every epoch as a NOTICE; the table below shows them
SET client_min_messages = warning;

\echo
\echo '=== 1. Planted-preference data ==========================================='
\echo 'Every member has one favourite genre: label 1 with probability' :p_fav 'on its'
\echo 'items, and' :p_other 'elsewhere.  Member features carry only a weak hint'
\echo '(is the favourite in the first half of the genres?), so only a member''s'
\echo 'own interactions reveal its taste.'
\echo
\o /dev/null
\ir data/planted.sql
\o

SELECT (SELECT count(*) FROM planted_members) AS members,
       (SELECT count(*) FROM planted_items) AS items,
       :n_genres AS genres,
       count(*) AS interactions,
       count(DISTINCT pi.item_features) AS "items interacted",
       round(avg(label)::numeric, 4) AS positive_rate,
       round(avg(label) FILTER (WHERE it.genre = pm.fav)::numeric, 4) AS "pos. rate in fav genre",
       round(avg(label) FILTER (WHERE it.genre <> pm.fav)::numeric, 4) AS "pos. rate elsewhere"
  FROM planted_interactions pi
  JOIN planted_members pm USING (member_id)
  JOIN planted_items it ON it.features = pi.item_features;

\echo
\echo '=== 2. Model =============================================================='
CREATE EXTENSION limaml;

-- meta block: member features (3) -> 32 -> 16-d meta embedding
-- global block: [meta embedding ; item features (8)] -> 64 -> logit
-- adaptation: 5 SGD steps (lr 1.0) on the member's newest 50 interactions
SELECT limaml_create_model('demo', 'planted_interactions',
                           embedding_dim => 16, meta_hidden => '{32}', global_hidden => '{64}',
                           loss => 'bce', inner_steps => 5, inner_lr => 1.0,
                           support_size => 50, query_size => 10, seed => 0,
                           members => 'planted_members') AS model_id \gset

SELECT name, source, members,
       config->>'member_dim' AS member_dim, config->>'item_dim' AS item_dim,
       config->>'embedding_dim' AS emb_dim, config->>'meta_hidden' AS meta_hidden,
       config->>'global_hidden' AS global_hidden, config->>'inner_steps' AS inner_steps,
       config->>'inner_lr' AS inner_lr, config->>'support_size' AS support
  FROM limaml_model WHERE name = 'demo';

\echo
\echo '=== 3. Meta-training (first-order MAML) ==================================='
\echo 'cold = meta block on member features only; adapted = after the inner loop'
\echo 'on the member''s support rows.  20% of the members are held out for validation.'
\echo
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE train_log AS
SELECT * FROM limaml_train('demo', epochs => :epochs, meta_batch => 32,
                           outer_lr => :outer_lr, validation_fraction => 0.2);
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS train_s \gset

SELECT epoch,
       round(train_loss::numeric, 4)       AS train_loss,
       round(val_loss_cold::numeric, 4)    AS "val loss cold",
       round(val_loss_adapted::numeric, 4) AS "val loss adapted",
       round(val_auc_cold::numeric, 4)     AS "val AUC cold",
       round(val_auc_adapted::numeric, 4)  AS "val AUC adapted"
  FROM train_log ORDER BY epoch;

SELECT m.active_version AS version,
       (m.config->>'support_size')::int AS support_size,
       (SELECT count(*) FROM train_log) AS epochs_run
  FROM limaml_model m
 WHERE m.name = 'demo' \gset
\echo 'trained' :epochs_run 'epochs in' :train_s 's -> active version' :version

\echo
\echo '=== 4. Adaptation: one meta embedding per member ========================='
\echo 'All members in one scan: limaml_adapt_agg over each member''s rows in time'
\echo 'order (it keeps the newest support_size rows), upserted into limaml_meta_embedding.'
\echo
SELECT clock_timestamp() AS t0 \gset
INSERT INTO limaml_meta_embedding (model, member_id, embedding, model_version, n_support)
SELECT 'demo', member_id,
       limaml_adapt_agg('demo', member_features, item_features, label ORDER BY ts),
       :version, least(count(*), :support_size)
  FROM planted_interactions
 GROUP BY member_id
ON CONFLICT (model, member_id) DO UPDATE
   SET embedding = EXCLUDED.embedding, model_version = EXCLUDED.model_version,
       n_support = EXCLUDED.n_support, updated_at = now();
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS adapt_s \gset

SELECT model, model_version, count(*) AS members,
       min(n_support) AS min_support, max(n_support) AS max_support,
       min(octet_length(embedding)) AS bytes
  FROM limaml_meta_embedding GROUP BY model, model_version;
\echo 'adapted every member in' :adapt_s 's'

\echo
\echo 'One member on demand: limaml_adapt(42, ''demo'') reads member 42''s newest rows'
\echo 'from the source, upserts its embedding and returns the same bytea as the aggregate.'
SELECT embedding AS emb42_agg FROM limaml_meta_embedding
 WHERE model = 'demo' AND member_id = 42 \gset
SELECT i.*, octet_length(e) AS bytes, e = :'emb42_agg'::bytea AS "same as adapt_agg",
       (SELECT array_agg(round(x::numeric, 3))
          FROM unnest((limaml_embedding_array(e))[1:5]) x) AS "vector[1:5]"
  FROM limaml_adapt(42, 'demo') AS e, limaml_embedding_info(e) AS i;
SELECT embedding = :'emb42_agg'::bytea AS same42 FROM limaml_meta_embedding
 WHERE model = 'demo' AND member_id = 42 \gset

-- A new sign-up: known features (hinting at a first-half genre) but no
-- interactions yet.  The model's members relation supplies the features.
SELECT :n_members + 1 AS new_member \gset
INSERT INTO planted_members VALUES (:new_member, 1, '{1, 0, 0}');
\echo
\echo 'Cold start: new member' :new_member 'has features {1,0,0} but no interactions -> n_support 0.'
SELECT i.*, octet_length(e) AS bytes
  FROM limaml_adapt(:new_member, 'demo') AS e, limaml_embedding_info(e) AS i;

\echo
\echo '=== 5. Cold-start baseline for every member ==============================='
\echo 'The cold embedding of a member is the meta block applied to its features,'
\echo 'without any adaptation step.  limaml_adapt gives exactly that for a member'
\echo 'without interactions, so "demo_cold" is an exact copy of the trained model'
\echo '(export -> import) whose source is an empty view and whose members relation'
\echo 'is planted_members: limaml_adapt(member, ''demo_cold'') is the cold embedding.'
\echo
CREATE VIEW planted_no_interactions AS
SELECT * FROM planted_interactions WHERE false;
SELECT limaml_model_import('demo_cold', limaml_model_export('demo'),
                           source => 'planted_no_interactions',
                           members => 'planted_members') AS cold_version \gset
SELECT clock_timestamp() AS t0 \gset
SELECT count(limaml_adapt(member_id, 'demo_cold')) AS cold_members FROM planted_members \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS cold_s \gset
\echo 'cold embeddings for' :cold_members 'members in' :cold_s 's'
-- sanity: for the new member both models compute the same cold vector
SELECT limaml_embedding_array(c.embedding) = limaml_embedding_array(d.embedding) AS cold_replica_ok
  FROM limaml_meta_embedding c
  JOIN limaml_meta_embedding d USING (member_id)
 WHERE c.model = 'demo_cold' AND d.model = 'demo' AND member_id = :new_member \gset
SELECT model, model_version, count(*) AS members,
       min(n_support) AS min_support, max(n_support) AS max_support
  FROM limaml_meta_embedding GROUP BY model, model_version ORDER BY model;

\echo
\echo '=== 6. Ranking in SQL ====================================================='
\echo 'Top 10 of' :n_items 'items for every stored embedding (adapted and cold):'
\echo '  ORDER BY limaml_score(e.embedding, i.features) DESC LIMIT 10'
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE top10 AS
SELECT e.model, e.member_id, t.rank, t.item_id, t.genre, t.score
  FROM limaml_meta_embedding e
 CROSS JOIN LATERAL (
       SELECT row_number() OVER (ORDER BY s.score DESC, s.item_id) AS rank, s.*
         FROM (SELECT i.item_id, i.genre, limaml_score(e.embedding, i.features) AS score
                 FROM planted_items i
                ORDER BY limaml_score(e.embedding, i.features) DESC, i.item_id
                LIMIT 10) s) t;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS rank_s,
       count(DISTINCT (model, member_id)) AS ranked,
       count(DISTINCT (model, member_id)) * :n_items AS scored
  FROM top10 \gset
\echo 'scored' :scored 'member-item pairs and kept' :ranked 'top-10 lists in' :rank_s 's'

SELECT fav AS fav42 FROM planted_members WHERE member_id = 42 \gset
\echo
\echo 'Member 42 (planted favourite genre' :fav42'); * marks the favourite genre.'
\echo 'Cold scores are not calibrated: MAML trains the meta block as a starting point'
\echo 'for adaptation, and only the adapted loss is optimized.'
SELECT a.rank,
       a.item_id AS "adapted: item",
       a.genre || CASE WHEN a.genre = m.fav THEN ' *' ELSE '' END AS genre,
       round(a.score::numeric, 4) AS score,
       c.item_id AS "cold: item",
       c.genre || CASE WHEN c.genre = m.fav THEN ' *' ELSE '' END AS genre,
       round(c.score::numeric, 4) AS score
  FROM top10 a
  JOIN top10 c ON c.model = 'demo_cold' AND c.member_id = a.member_id AND c.rank = a.rank
  JOIN planted_members m ON m.member_id = a.member_id
 WHERE a.model = 'demo' AND a.member_id = 42
 ORDER BY a.rank;

\echo
\echo 'Genres of the top-10 items of a few members (hits = items in the favourite genre):'
SELECT m.member_id AS member, m.fav,
       string_agg(a.genre::text, ' ' ORDER BY a.rank) AS "adapted top-10 genres",
       count(*) FILTER (WHERE a.genre = m.fav) AS hits,
       (SELECT string_agg(c.genre::text, ' ' ORDER BY c.rank) FROM top10 c
         WHERE c.model = 'demo_cold' AND c.member_id = m.member_id) AS "cold top-10 genres",
       (SELECT count(*) FROM top10 c
         WHERE c.model = 'demo_cold' AND c.member_id = m.member_id AND c.genre = m.fav) AS hits
  FROM planted_members m
  JOIN top10 a ON a.model = 'demo' AND a.member_id = m.member_id
 WHERE m.member_id = ANY (:'show_members'::bigint[] || :new_member::bigint)
 GROUP BY m.member_id, m.fav
 ORDER BY m.member_id;
\echo '(member' :new_member 'is the new sign-up: its embedding is cold in both columns)'

\echo
\echo '=== 7. Summary ============================================================'
-- members with interactions only (the new sign-up has no adapted embedding)
SELECT round(avg((t.genre = m.fav)::int) FILTER (WHERE t.model = 'demo'), 4) AS hit_adapted,
       round(avg((t.genre = m.fav)::int) FILTER (WHERE t.model = 'demo_cold'), 4) AS hit_cold,
       count(DISTINCT t.member_id) AS hit_members
  FROM top10 t
  JOIN planted_members m USING (member_id)
 WHERE t.member_id IN (SELECT member_id FROM limaml_meta_embedding
                        WHERE model = 'demo' AND n_support > 0) \gset
SELECT epoch AS last_epoch,
       round(val_auc_cold::numeric, 4) AS auc_cold, round(val_auc_adapted::numeric, 4) AS auc_adapted,
       round(val_loss_cold::numeric, 4) AS loss_cold, round(val_loss_adapted::numeric, 4) AS loss_adapted
  FROM train_log ORDER BY epoch DESC LIMIT 1 \gset
-- Expected AUC of a perfect ranker (every favourite-genre item above every
-- other one) under the planted label noise; a finite sample can land a bit
-- above it.  a (b) is the share of positives (negatives) in the favourite genre.
SELECT round((a * (1 - b) + 0.5 * (a * b + (1 - a) * (1 - b)))::numeric, 4) AS auc_best
  FROM (SELECT q * :p_fav / (q * :p_fav + (1 - q) * :p_other) AS a,
               q * (1 - :p_fav) / (q * (1 - :p_fav) + (1 - q) * (1 - :p_other)) AS b
          FROM (SELECT 1.0 / :n_genres AS q) s) s \gset

SELECT metric, cold, adapted, note FROM (VALUES
  (1, 'validation AUC (last epoch, ' || :last_epoch || ')', :auc_cold, :auc_adapted,
      'noise ceiling ~' || :auc_best),
  (2, 'validation log loss (last epoch, ' || :last_epoch || ')', :loss_cold, :loss_adapted, ''),
  (3, 'top-10 hit rate, ' || :hit_members || ' members', :hit_cold, :hit_adapted,
      'chance ' || round(1.0 / :n_genres, 4) || ', perfect 1')
) t(i, metric, cold, adapted, note) ORDER BY i;
\echo 'timings: training' :train_s 's, adaptation' :adapt_s 's (all members), cold embeddings' :cold_s 's, ranking' :rank_s 's'

\echo
\echo 'Smoke checks:'
SELECT check_name AS check, ok AS pass FROM (VALUES
  (1, 'adapted validation AUC > cold', :auc_adapted > :auc_cold),
  (2, 'adapted hit rate >= cold + 0.25', :hit_adapted >= :hit_cold + 0.25),
  (3, 'limaml_adapt(42) = limaml_adapt_agg bytea', :'same42'::boolean),
  (4, 'demo_cold reproduces the cold vector', :'cold_replica_ok'::boolean)
) c(i, check_name, ok) ORDER BY i;
SELECT :auc_adapted > :auc_cold AND :hit_adapted >= :hit_cold + 0.25
       AND :'same42'::boolean AND :'cold_replica_ok'::boolean AS all_ok \gset
\if :all_ok
\echo 'PASS'
\else
DO $$ BEGIN RAISE EXCEPTION 'limaml demo: smoke check failed (see the table above)'; END $$;
\endif
