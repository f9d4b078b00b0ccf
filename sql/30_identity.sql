-- model identity (issue 10): a model UUID and a content hash per version, carried by
-- every meta embedding, item code and export, kept by import; a reader scores only
-- with the parameters that made the bytes, and otherwise fails clearly
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM, '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', 'UUID', 'g'),
											  '[0-9a-f]{64}', 'HASH', 'g');
END $$;

\set n_members 60
\set n_items 32
\set n_genres 4
\set per_member 12
\set p_fav 0.9
\set p_other 0.1
\set seed 0.3
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\ir test/data/crc32c.sql
\o
\set ECHO all

SELECT limaml_create_model('id', 'planted_interactions', embedding_dim => 4, meta_hidden => '{8}',
                           global_hidden => '{8}', support_size => 8, query_size => 2, seed => 3) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('id', epochs => 1, outer_lr => 0.01);
CALL limaml_refresh('id');

-- ------------------------------------------------------------ the catalog

-- every model has a UUID, every version the SHA-256 of its configuration and parameters
SELECT m.model_uuid IS NOT NULL AS has_uuid, count(*) AS versions,
       bool_and(octet_length(v.content_hash) = 32) AS sha256,
       bool_and(v.content_hash = limaml_content_hash(m.config, v.params)) AS hash_reproduces,
       count(DISTINCT v.content_hash) AS distinct_hashes
  FROM limaml_model m JOIN limaml_model_version v USING (model_id) WHERE m.name = 'id' GROUP BY 1;
SELECT pg_temp.err($$ SELECT limaml_content_hash(config, '\x00') FROM limaml_model WHERE name = 'id' $$);
SELECT pg_temp.err($$ INSERT INTO limaml_model_version (model_id, version, params, content_hash)
                      SELECT model_id, 9, '\x', '\x00' FROM limaml_model WHERE name = 'id' $$);

-- ------------------------------------------------------------ the embedding's identity

CREATE TEMP TABLE saved AS
SELECT e.member_id, e.embedding, e.model_version, limaml_score(e.embedding, i.features) AS score, i.item_id
  FROM limaml_meta_embedding e, planted_items i WHERE e.model = 'id' AND i.item_id <= 8;
SELECT i.format, i.version, i.model_uuid = m.model_uuid AS uuid_is_the_model,
       i.content_hash = substr(v.content_hash, 1, 8) AS hash_prefix, i.model = 'id' AS model
  FROM limaml_meta_embedding e, limaml_embedding_info(e.embedding) i, limaml_model m
  JOIN limaml_model_version v ON v.model_id = m.model_id AND v.version = m.active_version
 WHERE e.model = 'id' AND m.name = 'id' AND e.member_id = 1;
-- refresh records the version the embedding names, which limaml_embedding_version reads
SELECT count(*) AS members, bool_and(model_version = limaml_embedding_version(embedding)) AS recorded,
       bool_and(model_version = 1) AS active
  FROM limaml_meta_embedding WHERE model = 'id';
SELECT limaml_embedding_version('\x00') IS NULL AS not_an_embedding;
-- a wrong recorded version is stale: refresh puts it right
UPDATE limaml_meta_embedding SET model_version = 0 WHERE model = 'id' AND member_id = 1;
CALL limaml_refresh('id');
SELECT members_total FROM limaml_refresh_status WHERE model = 'id';
SELECT model_version FROM limaml_meta_embedding WHERE model = 'id' AND member_id = 1;

-- ------------------------------------------------------------ export, drop, import

CREATE TEMP TABLE x AS SELECT limaml_model_export('id') AS j, limaml_model_export('id', 0) AS j0,
       (SELECT model_uuid FROM limaml_model WHERE name = 'id') AS uuid;
SELECT j->'format_version' AS format_version, j->>'model_uuid' = uuid::text AS uuid_exported,
       j->'version' AS version,
       j->>'content_hash' = (SELECT encode(content_hash, 'hex') FROM limaml_model_version v JOIN limaml_model m
                              USING (model_id) WHERE m.name = 'id' AND v.version = 1) AS hash_exported
  FROM x;
CREATE TEMP TABLE codes AS SELECT item_id, limaml_item_encode('id', features) AS code FROM planted_items WHERE item_id <= 8;
SELECT limaml_drop_model('id');
-- gone: its embeddings and item codes fail, naming the identity
SELECT pg_temp.err($$ SELECT limaml_score(embedding, '{1,0,0,0}') FROM saved LIMIT 1 $$);
SELECT pg_temp.err($$ SELECT limaml_item_code_info(code) FROM codes LIMIT 1 $$);
-- the import keeps the UUID and the version number: the old embeddings score as before
SELECT limaml_model_import('id', j, 'planted_interactions') AS version FROM x;
SELECT m.model_uuid = x.uuid AS same_uuid, m.active_version,
       (SELECT array_agg(version ORDER BY version) FROM limaml_model_version v WHERE v.model_id = m.model_id) AS versions
  FROM limaml_model m, x WHERE m.name = 'id';
SELECT count(*) AS pairs, count(*) FILTER (WHERE limaml_score(s.embedding, i.features) = s.score) AS same_score
  FROM saved s JOIN planted_items i USING (item_id);
SELECT count(*) FILTER (WHERE limaml_adapt(member_id, 'id') = embedding) AS same_bytes, count(*) AS members
  FROM (SELECT DISTINCT member_id, embedding FROM saved) s;
SELECT count(*) FILTER (WHERE limaml_score(s.embedding, c.code) = s.score) AS codes_score_as_before, count(*) AS pairs
  FROM saved s JOIN codes c USING (item_id);
-- the same json again is a no-op
SELECT limaml_model_import('id', j) AS again, limaml_model_import('id', j) AS and_again FROM x;
SELECT count(*) AS versions FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'id';
-- the import brought version 1 only; version 0 comes back as itself, inactive: the active
-- version stays the newest
SELECT limaml_model_import('id', j0) AS version FROM x;
SELECT active_version FROM limaml_model WHERE name = 'id';

-- ------------------------------------------------------------ refused imports

CREATE TEMP TABLE catalog_before AS SELECT (SELECT count(*) FROM limaml_model) AS models,
       (SELECT count(*) FROM limaml_model_version) AS versions;
-- other weights under the same identity: the hash no longer matches
SELECT pg_temp.err($$ SELECT limaml_model_import('id', jsonb_set(j, '{meta,0,bias,0}', '0.125')) FROM x $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('id_other', jsonb_set(j, '{meta,0,bias,0}', '0.125')) FROM x $$);
-- ... or with a recomputed hash: version 1 of this model has other parameters
CREATE TEMP TABLE forged AS
SELECT jsonb_set(t, '{content_hash}', to_jsonb(encode(limaml_content_hash(
         (SELECT config FROM limaml_model WHERE name = 'id'),
         (SELECT params FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'id' AND version = 0)),
         'hex'))) AS j
  FROM (SELECT jsonb_set(jsonb_set(j0, '{version}', '1'), '{model_uuid}', to_jsonb(uuid::text)) AS t FROM x) s;
SELECT pg_temp.err($$ SELECT limaml_model_import('id', j) FROM forged $$);
-- corrupt identity members
SELECT pg_temp.err($$ SELECT limaml_model_import('id_bad', jsonb_set(j, '{model_uuid}', '"not-a-uuid"')) FROM x $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('id_bad', jsonb_set(j, '{content_hash}', '"00ff"')) FROM x $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('id_bad', jsonb_set(j, '{version}', '-3')) FROM x $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('id_bad', j - 'model_uuid') FROM x $$);
SELECT (SELECT count(*) FROM limaml_model) - models AS new_models,
       (SELECT count(*) FROM limaml_model_version) - versions AS new_versions
  FROM catalog_before;

-- ------------------------------------------------------------ copies and other models

-- the UUID is "id"'s here: under another name the import is a copy with an identity of its own
SELECT limaml_model_import('id_copy', j) AS version FROM x;
SELECT c.model_uuid <> m.model_uuid AS own_uuid, c.active_version,
       (SELECT content_hash FROM limaml_model_version WHERE model_id = c.model_id AND version = 0)
     = (SELECT content_hash FROM limaml_model_version WHERE model_id = m.model_id AND version = 1) AS same_content
  FROM limaml_model c, limaml_model m WHERE c.name = 'id_copy' AND m.name = 'id';
-- the copy's embeddings are its own: an item code of "id" does not score them
SELECT pg_temp.err($$ SELECT limaml_score(limaml_cold_embedding('id_copy'), code) FROM codes LIMIT 1 $$);
-- a model dropped and created again under the same name is another model: no score
SELECT limaml_drop_model('id_copy');
SELECT limaml_create_model('id_copy', 'planted_interactions', embedding_dim => 4, meta_hidden => '{8}',
                           global_hidden => '{8}', support_size => 8, query_size => 2, seed => 3) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('id_copy', epochs => 1, outer_lr => 0.01);
CREATE TEMP TABLE first_copy AS SELECT limaml_adapt(1, 'id_copy') AS e;
SELECT limaml_drop_model('id_copy');
SELECT limaml_create_model('id_copy', 'planted_interactions', embedding_dim => 4, meta_hidden => '{8}',
                           global_hidden => '{8}', support_size => 8, query_size => 2, seed => 3) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('id_copy', epochs => 1, outer_lr => 0.01);
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,0,0,0}') FROM first_copy $$);
-- importing "id" into that existing model (another UUID) adds its next version, under its own UUID
SELECT limaml_model_import('id_copy', j) AS version FROM x;
SELECT model_uuid <> (SELECT uuid FROM x) AS kept_its_uuid FROM limaml_model WHERE name = 'id_copy';

-- ------------------------------------------------------------ forged identity fields

CREATE TEMP TABLE one AS SELECT embedding AS e, (SELECT code FROM codes WHERE item_id = 1) AS c
  FROM saved WHERE member_id = 1 LIMIT 1;
-- another UUID, another version, another hash prefix, each with a valid checksum
SELECT pg_temp.err($$ SELECT limaml_score(pg_temp.reseal(set_byte(e, 8, get_byte(e, 8) # 1)), '{1,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(pg_temp.reseal(set_byte(e, 24, 7)), '{1,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(pg_temp.reseal(set_byte(e, 32, get_byte(e, 32) # 1)), '{1,0,0,0}') FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_embedding_info(pg_temp.reseal(set_byte(e, 39, get_byte(e, 39) # 1))) FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_item_code_info(pg_temp.reseal(set_byte(c, 32, get_byte(c, 32) # 1))) FROM one $$);
SELECT pg_temp.err($$ SELECT limaml_score(e, pg_temp.reseal(set_byte(c, 32, get_byte(c, 32) # 1))) FROM one $$);
-- without a new checksum, corruption
SELECT pg_temp.err($$ SELECT limaml_score(set_byte(e, 8, get_byte(e, 8) # 1), '{1,0,0,0}') FROM one $$);

-- ------------------------------------------------------------ format 1 (0.1.0, 0.2.0)

-- a format 1 header names the model by its local id: not read any more, with the way out
CREATE TEMP TABLE v1 AS
SELECT pg_temp.reseal('\x4c4c4d420100'::bytea || substr(e, 7, 2) || int4send(m.model_id) || int4send(1)
                      || '\x0c00000000000000'::bytea || substr(e, 45)) AS e,
       pg_temp.reseal('\x4c4c49430100'::bytea || substr(c, 7, 2) || int4send(m.model_id) || int4send(1)
                      || '\x0000000000000000'::bytea || substr(c, 45)) AS c
  FROM one, limaml_model m WHERE m.name = 'id';
-- (int4send is big-endian: reverse the id and version into little-endian)
UPDATE v1 SET e = pg_temp.reseal(overlay(overlay(e PLACING decode(regexp_replace(encode(substr(e, 9, 4), 'hex'),
                    '(..)(..)(..)(..)', '\4\3\2\1'), 'hex') FROM 9) PLACING '\x01000000'::bytea FROM 13)),
              c = pg_temp.reseal(overlay(overlay(c PLACING decode(regexp_replace(encode(substr(c, 9, 4), 'hex'),
                    '(..)(..)(..)(..)', '\4\3\2\1'), 'hex') FROM 9) PLACING '\x01000000'::bytea FROM 13));
SELECT octet_length(e) AS bytes, get_byte(e, 4) AS format, limaml_embedding_version(e) AS version FROM v1;
SELECT pg_temp.err($$ SELECT limaml_score(e, '{1,0,0,0}') FROM v1 $$);
SELECT pg_temp.err($$ SELECT limaml_embedding_info(e) FROM v1 $$);
SELECT pg_temp.err($$ SELECT limaml_item_code_info(c) FROM v1 $$);
SELECT pg_temp.err($$ SELECT limaml_score(o.e, v1.c) FROM one o, v1 $$);
-- limaml_refresh treats it as stale and writes format 2
UPDATE limaml_meta_embedding SET embedding = (SELECT e FROM v1) WHERE model = 'id' AND member_id = 2;
CALL limaml_refresh('id');
SELECT members_total FROM limaml_refresh_status WHERE model = 'id';
SELECT get_byte(embedding, 4) AS format, embedding = limaml_adapt(2, 'id') AS repaired
  FROM limaml_meta_embedding WHERE model = 'id' AND member_id = 2;

SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name LIKE 'id%';
DROP TABLE planted_interactions, planted_members, planted_items;
