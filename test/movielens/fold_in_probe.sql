-- A probe for the next model change (run by test/movielens/fold_in_probe.sh after load.sql):
-- on the positive-only split of implicit.sql, limaml's logit plus a · f_i · Σ_j f_j, the
-- model's own trained factors f (its exported wide table) folded in over the member's older
-- movies j.  Top-10 hit rate for several a (a = 0 is limaml as it is).  One seed.
-- psql variables: seed, create_args ('' or ', ' and named arguments).

\set ON_ERROR_STOP 1
\if :{?create_args} \else \set create_args '' \endif
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
\ir implicit_split.sql

SELECT limaml_create_model('probe', 'movielens.watched_train', negatives => 4, items => 'movielens.movies',
                           seed => :seed :create_args) \g /dev/null
SELECT count(*) FROM limaml_train('probe') \g /dev/null
CREATE TEMP TABLE emb AS
SELECT member_id, limaml_adapt_agg('probe', member_features, item_features, label, ts, item_id ORDER BY ts, item_id) AS e
  FROM before GROUP BY member_id;
CREATE TEMP TABLE codes AS
SELECT item_id, limaml_item_encode('probe', features, item_id => item_id) AS c FROM movielens.movies;
CREATE TEMP TABLE base AS
SELECT c.member_id, c.item_id, limaml_score(e.e, k.c) AS p
  FROM candidates c JOIN emb e USING (member_id) JOIN codes k USING (item_id);

-- the trained factors: the wide table's rows (bias, f[r]) in vocabulary order
CREATE TEMP TABLE factors AS
WITH x AS (SELECT limaml_model_export('probe') AS j)
SELECT v.id::bigint AS item_id,
       ARRAY(SELECT f::float8 FROM jsonb_array_elements_text(x.j->'wide_table'->(v.o::int - 1)) WITH ORDINALITY t(f, q)
              WHERE q > 1 ORDER BY q) AS f
  FROM x, jsonb_array_elements_text(x.j->'config'->'item_vocab') WITH ORDINALITY v(id, o);
CREATE TEMP TABLE folded AS
SELECT member_id, array_agg(s ORDER BY d) AS h
  FROM (SELECT b.member_id, d, sum(f.f[d]) AS s
          FROM before b JOIN factors f USING (item_id), generate_series(1, (SELECT max(cardinality(f)) FROM factors)) d
         GROUP BY b.member_id, d) x
 GROUP BY member_id;
CREATE TEMP TABLE dots AS
SELECT c.member_id, c.item_id, (SELECT sum(x * y) FROM unnest(f.f, h.h) u(x, y)) AS dp
  FROM candidates c JOIN factors f USING (item_id) JOIN folded h USING (member_id);

\echo '| a | hit rate @10 |'
\echo '|---|---|'
SELECT format('| %s | %s |', a, to_char(avg(hit), 'FM0.000')) FROM (
  SELECT a, r.member_id, (count(l.item_id) > 0)::int AS hit
    FROM (SELECT a, b.member_id, b.item_id,
                 row_number() OVER (PARTITION BY a, b.member_id
                                    ORDER BY ln(b.p / (1 - b.p)) + a * coalesce(d.dp, 0) DESC, b.item_id) AS rank
            FROM base b LEFT JOIN dots d USING (member_id, item_id),
                 unnest(ARRAY[0, 0.001, 0.003, 0.01, 0.03, 0.1]::float8[]) a) r
    LEFT JOIN later l ON l.member_id = r.member_id AND l.item_id = r.item_id
   WHERE r.rank <= 10
   GROUP BY a, r.member_id) z
 GROUP BY a ORDER BY a;
