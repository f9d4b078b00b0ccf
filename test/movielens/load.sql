-- MovieLens 100K loader: psql -v dir=/path/to/ml-100k -f test/movielens/load.sql
--
-- Builds schema movielens with the raw files and limaml sources:
--   members(member_id, member_features)       age bucket (7) + gender (1) + occupation (21)
--   interactions_bce / interactions_mse       limaml sources: label rating >= 4, or the rating
-- Item features: 19 genres + release-year bucket (7); item_id kept for item-ID embeddings.

DROP SCHEMA IF EXISTS movielens CASCADE;
CREATE SCHEMA movielens;
SET search_path = movielens, public;

CREATE TABLE ratings (user_id int, item_id int, rating int, unix_ts bigint);
CREATE TABLE users (user_id int, age int, gender text, occupation text, zip text);
CREATE TABLE items (item_id int, title text, release_date text, video_date text, url text,
                    g0 int, g1 int, g2 int, g3 int, g4 int, g5 int, g6 int, g7 int, g8 int, g9 int,
                    g10 int, g11 int, g12 int, g13 int, g14 int, g15 int, g16 int, g17 int, g18 int);
CREATE TABLE occupations (name text, idx serial);

\set ratings_file :dir '/u.data'
\set users_file :dir '/u.user'
\set items_file :dir '/u.item'
\set occupations_file :dir '/u.occupation'
COPY ratings FROM :'ratings_file' (FORMAT text, DELIMITER E'\t');
COPY users FROM :'users_file' (FORMAT csv, DELIMITER '|', QUOTE E'\x01');
COPY items FROM :'items_file' (FORMAT csv, DELIMITER '|', QUOTE E'\x01', ENCODING 'LATIN1');
COPY occupations (name) FROM :'occupations_file' (FORMAT text);

-- one-hot helper: position idx (0-based) of n
CREATE FUNCTION one_hot(idx int, n int) RETURNS real[] LANGUAGE sql IMMUTABLE AS
$$ SELECT array_agg((i = idx)::int::real ORDER BY i) FROM generate_series(0, n - 1) i $$;

CREATE TABLE members AS
SELECT u.user_id::bigint AS member_id,
       one_hot(CASE WHEN u.age < 18 THEN 0 WHEN u.age < 25 THEN 1 WHEN u.age < 35 THEN 2
                    WHEN u.age < 45 THEN 3 WHEN u.age < 50 THEN 4 WHEN u.age < 56 THEN 5 ELSE 6 END, 7)
       || ARRAY[(u.gender = 'F')::int::real]
       || one_hot(o.idx - 1, (SELECT count(*)::int FROM occupations)) AS member_features
  FROM users u JOIN occupations o ON o.name = u.occupation;

CREATE TABLE item_vectors AS
SELECT i.item_id::bigint AS item_id,
       ARRAY[g0, g1, g2, g3, g4, g5, g6, g7, g8, g9, g10, g11, g12, g13, g14, g15, g16, g17, g18]::real[]
       || one_hot(CASE WHEN y IS NULL THEN 6 WHEN y < 1960 THEN 0 WHEN y < 1970 THEN 1
                       WHEN y < 1980 THEN 2 WHEN y < 1990 THEN 3 WHEN y < 1995 THEN 4 ELSE 5 END, 7)
       AS item_features
  FROM items i,
       LATERAL (SELECT nullif(substring(i.release_date from '\d{4}$'), '')::int AS y) r;

CREATE TABLE interactions AS
SELECT r.user_id::bigint AS member_id, m.member_features, v.item_id, v.item_features,
       r.rating, to_timestamp(r.unix_ts) AS ts
  FROM ratings r
  JOIN members m ON m.member_id = r.user_id
  JOIN item_vectors v ON v.item_id = r.item_id;
CREATE INDEX ON interactions (member_id, ts);

-- 20 % of members are held out of training entirely, by a hash of their id
CREATE TABLE held_out AS
SELECT member_id FROM members WHERE abs(hashint8(member_id)) % 5 = 0;

CREATE VIEW interactions_bce AS
SELECT member_id, member_features, item_features, (rating >= 4)::int::real AS label, ts, item_id
  FROM interactions;
CREATE VIEW interactions_mse AS
SELECT member_id, member_features, item_features, rating::real AS label, ts, item_id
  FROM interactions;
CREATE VIEW train_bce AS SELECT * FROM interactions_bce WHERE member_id NOT IN (SELECT member_id FROM held_out);
CREATE VIEW test_bce AS SELECT * FROM interactions_bce WHERE member_id IN (SELECT member_id FROM held_out);
CREATE VIEW train_mse AS SELECT * FROM interactions_mse WHERE member_id NOT IN (SELECT member_id FROM held_out);
CREATE VIEW test_mse AS SELECT * FROM interactions_mse WHERE member_id IN (SELECT member_id FROM held_out);

ANALYZE;
RESET search_path;
