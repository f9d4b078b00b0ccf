-- Planted-preference interactions: every member has one favourite genre.
-- Labels are 1 with probability :p_fav for items of that genre and :p_other
-- otherwise, so a member's own interactions reveal its taste while the
-- population looks uniform.  Member features are noise except one weak
-- hint (is the favourite in the first half of the genres?).
--
-- psql variables (all required): n_members, n_items, n_genres, per_member,
-- p_fav, p_other, seed (a float in [-1, 1] for setseed).
-- Creates planted_items, planted_members, planted_interactions.

SELECT setseed(:seed);

CREATE TABLE planted_items AS
SELECT i::bigint AS item_id,
       i % :n_genres AS genre,
       (SELECT array_agg((CASE WHEN g = i % :n_genres THEN 1.0 ELSE 0.0 END
                          + (random() - 0.5) * 0.2)::real ORDER BY g)
          FROM generate_series(0, :n_genres - 1) g) AS features
  FROM generate_series(1, :n_items) i;

CREATE TABLE planted_members AS
SELECT m::bigint AS member_id,
       fav,
       ARRAY[(fav < :n_genres / 2)::int + (random() - 0.5) * 1.5,
             random() - 0.5, random() - 0.5]::real[] AS member_features
  FROM generate_series(1, :n_members) m,
       LATERAL (SELECT (m * 7 + (m / :n_genres)) % :n_genres AS fav) f;

CREATE TABLE planted_interactions AS
SELECT pm.member_id,
       pm.member_features,
       it.features AS item_features,
       (random() < CASE WHEN it.genre = pm.fav THEN :p_fav ELSE :p_other END)::int::real AS label,
       timestamptz '2026-01-01' + make_interval(mins => k) AS ts
  FROM planted_members pm
 CROSS JOIN generate_series(1, :per_member) k
 CROSS JOIN LATERAL (SELECT 1 + floor(random() * :n_items)::int + 0 * k * pm.member_id AS pick) p
  JOIN planted_items it ON it.item_id = p.pick;

CREATE INDEX ON planted_interactions (member_id, ts);
ANALYZE planted_items, planted_members, planted_interactions;
