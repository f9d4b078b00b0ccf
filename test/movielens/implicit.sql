-- MovieLens 100K as a positive-only log (run by test/movielens/implicit.sh after load.sql):
-- every rating is a "watched" event, label 1, and limaml samples the negatives
-- (negatives => 4 from the movies relation).  For each seed, limaml is trained on the members
-- not held out; each held-out member is adapted on its older events and every method ranks
-- the movies it has not watched yet; its newest ceil(20 %) events are the ones to find.
-- psql variables: seeds, boot, create_args, train_args ('' or ', ' and named arguments).

\set ON_ERROR_STOP 1
\if :{?create_args} \else \set create_args '' \endif
\if :{?train_args} \else \set train_args '' \endif
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
\pset footer off

\ir implicit_split.sql

-- ---- baselines, on what the model sees: training members' events and held-out ones' older events
CREATE TEMP TABLE known AS
SELECT member_id, item_id, item_features FROM movielens.watched_train
UNION ALL SELECT member_id, item_id, item_features FROM before;
CREATE TEMP TABLE item_pop AS
SELECT m.item_id, count(k.member_id) AS pop, m.features
  FROM movielens.movies m LEFT JOIN known k USING (item_id) GROUP BY m.item_id, m.features;
-- the genre mixture: P(genre | member) ∝ the member's events in it + 2 · its share of all events;
-- a movie scores its popularity times the mean lift P(genre | member) / share over its genres
CREATE TEMP TABLE genre_share AS
SELECT g, sum(p.pop * p.features[g]) / sum(sum(p.pop * p.features[g])) OVER () AS share
  FROM item_pop p, generate_series(1, 19) g GROUP BY g;
CREATE TEMP TABLE member_genre AS
WITH counts AS (SELECT b.member_id, g, sum(b.item_features[g]) AS n
                  FROM before b, generate_series(1, 19) g GROUP BY b.member_id, g)
SELECT c.member_id, c.g, (c.n + 2 * s.share) / (sum(c.n) OVER (PARTITION BY c.member_id) + 2) / s.share AS lift
  FROM counts c JOIN genre_share s USING (g) WHERE s.share > 0;
CREATE TEMP TABLE ranked (seed int, method text, member_id bigint, item_id bigint, rank int);
INSERT INTO ranked
SELECT 0, 'popularity', member_id, item_id, rank FROM (
  SELECT c.member_id, c.item_id,
         row_number() OVER (PARTITION BY c.member_id ORDER BY p.pop DESC, c.item_id)::int AS rank
    FROM candidates c JOIN item_pop p USING (item_id)) r WHERE rank <= 10;
INSERT INTO ranked
SELECT 0, 'rule: genre mixture', member_id, item_id, rank FROM (
  SELECT c.member_id, c.item_id,
         row_number() OVER (PARTITION BY c.member_id
                            ORDER BY p.pop * coalesce(l.lift, 1) DESC, c.item_id)::int AS rank
    FROM candidates c JOIN item_pop p USING (item_id)
    LEFT JOIN (SELECT c2.member_id, c2.item_id, avg(mg.lift) AS lift
                 FROM candidates c2 JOIN item_pop p2 USING (item_id)
                 JOIN member_genre mg ON mg.member_id = c2.member_id AND p2.features[mg.g] = 1
                GROUP BY c2.member_id, c2.item_id) l
      ON l.member_id = c.member_id AND l.item_id = c.item_id) r WHERE rank <= 10;

-- item-to-item ("members who watched this also watched"): a movie scores the sum, over the
-- member's older movies j, of co-watchers(i, j) / √(pop_i · pop_j)
CREATE TEMP TABLE cooc AS
SELECT a.item_id AS i, b.item_id AS j, count(*) AS c
  FROM known a JOIN known b ON b.member_id = a.member_id AND b.item_id <> a.item_id
 WHERE b.item_id IN (SELECT item_id FROM before)
 GROUP BY a.item_id, b.item_id;
INSERT INTO ranked
SELECT 0, 'rule: item-to-item', member_id, item_id, rank FROM (
  SELECT c.member_id, c.item_id,
         row_number() OVER (PARTITION BY c.member_id ORDER BY coalesce(s.score, 0) DESC, p.pop DESC, c.item_id)::int AS rank
    FROM candidates c JOIN item_pop p USING (item_id)
    LEFT JOIN (SELECT b.member_id, co.i AS item_id, sum(co.c / sqrt(pi.pop * pj.pop)) AS score
                 FROM before b JOIN cooc co ON co.j = b.item_id
                 JOIN item_pop pi ON pi.item_id = co.i JOIN item_pop pj ON pj.item_id = co.j
                GROUP BY b.member_id, co.i) s
      ON s.member_id = c.member_id AND s.item_id = c.item_id) r WHERE rank <= 10;

-- ---- limaml, one model per seed
SELECT set_config('limaml_bench.seeds', :'seeds', false),
       set_config('limaml_bench.create_args', :'create_args', false),
       set_config('limaml_bench.train_args', :'train_args', false) \g /dev/null
CREATE TEMP TABLE timings (seed int, seconds numeric);
DO $$
DECLARE s int; t0 timestamptz;
BEGIN
  FOR s IN 1 .. current_setting('limaml_bench.seeds')::int LOOP
    PERFORM limaml_drop_model(name) FROM limaml_model WHERE name = 'ml_implicit_' || s;
    EXECUTE format('SELECT limaml_create_model(%L, ''movielens.watched_train'', negatives => 4, '
                   'items => ''movielens.movies'', seed => %s %s)',
                   'ml_implicit_' || s, s, current_setting('limaml_bench.create_args'));
    t0 := clock_timestamp();
    EXECUTE format('SELECT count(*) FROM limaml_train(%L %s)', 'ml_implicit_' || s,
                   current_setting('limaml_bench.train_args'));
    INSERT INTO timings VALUES (s, extract(epoch FROM clock_timestamp() - t0));
    EXECUTE format($q$
      INSERT INTO ranked
      WITH emb AS (
        SELECT member_id, limaml_adapt_agg(%1$L, member_features, item_features, label, ts, item_id
                                           ORDER BY ts, item_id) AS embedding
          FROM before GROUP BY member_id),
      codes AS (SELECT item_id, limaml_item_encode(%1$L, features, item_id => item_id) AS code FROM movielens.movies)
      SELECT %2$s, 'limaml', member_id, item_id, rank FROM (
        SELECT c.member_id, c.item_id,
               row_number() OVER (PARTITION BY c.member_id ORDER BY limaml_score(e.embedding, k.code) DESC,
                                  c.item_id)::int AS rank
          FROM candidates c JOIN emb e USING (member_id) JOIN codes k USING (item_id)) r
       WHERE rank <= 10 $q$, 'ml_implicit_' || s, s);
  END LOOP;
END $$;
-- the fold-in term (fold_in): the a each seed's model chose on its validation members
SELECT 'seed ' || substr(m.name, 13) || ': fold-in a ' || (v.training->>'fold_in_weight')
  FROM limaml_model m JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
 WHERE m.name LIKE 'ml_implicit_%' AND v.training ? 'fold_in_weight' ORDER BY m.name;

-- ---- per member: hit (one of its later movies in the 10), recall, NDCG@10
CREATE TEMP TABLE pm AS
SELECT r.seed, r.method, e.member_id, e.n_total,
       (count(l.item_id) > 0)::int AS hit,
       count(l.item_id)::float8 / nl.n AS recall,
       coalesce(sum(1 / log(2, r.rank + 1)) FILTER (WHERE l.item_id IS NOT NULL), 0)
         / (SELECT sum(1 / log(2, j + 1)) FROM generate_series(1, least(10, nl.n)::int) j) AS ndcg10
  FROM evaluated e
  JOIN (SELECT member_id, count(*) AS n FROM later GROUP BY member_id) nl USING (member_id)
  JOIN ranked r USING (member_id)
  LEFT JOIN later l ON l.member_id = r.member_id AND l.item_id = r.item_id
 GROUP BY r.seed, r.method, e.member_id, e.n_total, nl.n;
CREATE TEMP TABLE seg AS
SELECT member_id, CASE WHEN n_total <= 30 THEN '1-30' WHEN n_total <= 60 THEN '31-60'
                       WHEN n_total <= 150 THEN '61-150' ELSE '151+' END AS segment FROM evaluated;

-- mean over seeds of the member mean; 95 % bootstrap interval over members (all members)
SELECT setseed(0.5) \g /dev/null
CREATE TEMP TABLE draws AS
SELECT b, 1 + floor(random() * (SELECT count(*) FROM evaluated))::int AS pick
  FROM generate_series(1, :boot) b, generate_series(1, (SELECT count(*)::int FROM evaluated)) j;
CREATE TEMP TABLE numbered AS SELECT member_id, row_number() OVER (ORDER BY member_id)::int AS i FROM evaluated;
CREATE TEMP TABLE method_member AS
SELECT method, member_id, avg(hit) AS hit, avg(recall) AS recall, avg(ndcg10) AS ndcg10
  FROM pm GROUP BY method, member_id;
CREATE TEMP TABLE boot AS
SELECT d.b, m.method, avg(m.hit) AS hit, avg(m.recall) AS recall, avg(m.ndcg10) AS ndcg10
  FROM draws d JOIN numbered n ON n.i = d.pick JOIN method_member m USING (member_id)
 GROUP BY d.b, m.method;

\echo
\echo '### All held-out members (mean over seeds; 95 % bootstrap interval over members)'
\echo
\echo '| method | members | hit rate @10 | recall @10 | NDCG@10 |'
\echo '|---|---|---|---|---|'
SELECT format('| %s | %s | %s [%s, %s] | %s [%s, %s] | %s [%s, %s] |', m.method, count(*),
              to_char(avg(m.hit), 'FM0.000'),
              to_char((SELECT percentile_cont(0.025) WITHIN GROUP (ORDER BY hit) FROM boot b WHERE b.method = m.method), 'FM0.000'),
              to_char((SELECT percentile_cont(0.975) WITHIN GROUP (ORDER BY hit) FROM boot b WHERE b.method = m.method), 'FM0.000'),
              to_char(avg(m.recall), 'FM0.000'),
              to_char((SELECT percentile_cont(0.025) WITHIN GROUP (ORDER BY recall) FROM boot b WHERE b.method = m.method), 'FM0.000'),
              to_char((SELECT percentile_cont(0.975) WITHIN GROUP (ORDER BY recall) FROM boot b WHERE b.method = m.method), 'FM0.000'),
              to_char(avg(m.ndcg10), 'FM0.000'),
              to_char((SELECT percentile_cont(0.025) WITHIN GROUP (ORDER BY ndcg10) FROM boot b WHERE b.method = m.method), 'FM0.000'),
              to_char((SELECT percentile_cont(0.975) WITHIN GROUP (ORDER BY ndcg10) FROM boot b WHERE b.method = m.method), 'FM0.000'))
  FROM method_member m GROUP BY m.method ORDER BY m.method;

\echo
\echo '### Hit rate @10 by the member''s number of ratings'
\echo
\echo '| ratings | limaml | popularity | genre mixture | item-to-item | members |'
\echo '|---|---|---|---|---|---|'
SELECT format('| %s | %s | %s | %s | %s | %s |', segment,
              to_char(avg(hit) FILTER (WHERE method = 'limaml'), 'FM0.000'),
              to_char(avg(hit) FILTER (WHERE method = 'popularity'), 'FM0.000'),
              to_char(avg(hit) FILTER (WHERE method = 'rule: genre mixture'), 'FM0.000'),
              to_char(avg(hit) FILTER (WHERE method = 'rule: item-to-item'), 'FM0.000'),
              count(*) FILTER (WHERE method = 'popularity'))
  FROM method_member JOIN seg USING (member_id) JOIN evaluated USING (member_id)
 GROUP BY segment ORDER BY min(n_total);

\echo
SELECT 'training: ' || round(avg(seconds), 1) || ' s per model' FROM timings;
