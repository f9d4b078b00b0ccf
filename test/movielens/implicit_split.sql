-- MovieLens read as a positive-only log, the split (included by implicit.sql and
-- fold_in_probe.sql after load.sql): the sources movielens.watched (every rating a watched
-- event, label 1) and movielens.watched_train (less the held-out members), the item relation
-- movielens.movies, and temp tables of the held-out members' events: before (older, what they
-- are adapted on), later (the newest ceil(20 %), to find), evaluated (member_id, n_total) and
-- candidates (the movies each has not watched before).

CREATE VIEW movielens.watched AS
SELECT member_id, member_features, item_features, 1::real AS label, ts, item_id
  FROM movielens.interactions;
CREATE VIEW movielens.watched_train AS
SELECT * FROM movielens.watched WHERE member_id NOT IN (SELECT member_id FROM movielens.held_out);
CREATE VIEW movielens.movies AS SELECT item_id, item_features AS features FROM movielens.item_vectors;

-- held-out members' events in the row order, split: the newest ceil(0.2 n) are to find
CREATE TEMP TABLE ordered AS
SELECT w.*, row_number() OVER (PARTITION BY member_id ORDER BY ts, item_id) AS k,
       count(*) OVER (PARTITION BY member_id) AS n
  FROM movielens.watched w JOIN movielens.held_out USING (member_id);
CREATE TEMP TABLE before AS SELECT * FROM ordered WHERE k <= n - ceil(0.2 * n - 1e-6);
CREATE TEMP TABLE later AS SELECT member_id, item_id FROM ordered WHERE k > n - ceil(0.2 * n - 1e-6);
CREATE TEMP TABLE evaluated AS SELECT member_id, max(n)::int AS n_total FROM ordered GROUP BY member_id;
CREATE TEMP TABLE candidates AS
SELECT e.member_id, m.item_id
  FROM evaluated e CROSS JOIN movielens.movies m
 WHERE NOT EXISTS (SELECT 1 FROM before b WHERE b.member_id = e.member_id AND b.item_id = m.item_id);
ANALYZE before, later, evaluated, candidates;
