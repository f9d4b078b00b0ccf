-- an empty bytea where a meta embedding belongs (kept last: it has crashed
-- the backend, and a crash also breaks the connection of the test after it)
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TABLE tiny (member_id bigint, member_features real[], item_features real[], label real, ts timestamptz);
INSERT INTO tiny VALUES (1, '{1}', '{1,0}', 1, '2026-01-01'), (1, '{1}', '{0,1}', 0, '2026-01-02');
SELECT limaml_create_model('tiny', 'tiny', embedding_dim => 2) > 0 AS created;
CREATE TEMP TABLE good AS SELECT limaml_adapt(1, 'tiny') AS e;

SELECT pg_temp.err($$ SELECT limaml_embedding_array(''::bytea) $$);
SELECT pg_temp.err($$ SELECT limaml_embedding_info(''::bytea) $$);
-- after a good embedding, and as the first one a limaml_score call site sees
SELECT pg_temp.err($$ SELECT limaml_score(x, '{0,0}') FROM (SELECT 1, e FROM good UNION ALL SELECT 2, '') v(n, x) $$);
SELECT pg_temp.err($$ SELECT limaml_score(''::bytea, '{0,0}') $$);
SELECT pg_temp.err($$ SELECT limaml_score(x, '{0,0}') FROM (SELECT 1, ''::bytea UNION ALL SELECT 2, e FROM good) v(n, x) $$);

SELECT limaml_drop_model('tiny');
DROP TABLE tiny;
