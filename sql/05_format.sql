-- the meta-embedding bytea, and models as jsonb: export and import
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM, '(OID|model id) \d+', '\1 N', 'g'), '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}', 'UUID', 'g');
END $$;

\set n_members 100
\set n_items 32
\set n_genres 8
\set per_member 20
\set p_fav 0.9
\set p_other 0.1
\set seed 0.7
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

SELECT limaml_create_model('fm', 'planted_interactions', embedding_dim => 12, support_size => 15, seed => 2) > 0 AS created;
SELECT count(*) AS epochs FROM limaml_train('fm', epochs => 3, outer_lr => 0.01);

-- ------------------------------------------------------------ the embedding bytea

CREATE TEMP TABLE e AS SELECT limaml_adapt(1, 'fm') AS e, limaml_adapt(-1, 'fm') AS cold;
-- header of 44 bytes, then float32[dim]
SELECT octet_length(e) AS bytes, 44 + 4 * 12 AS expected, octet_length(cold) AS cold_bytes FROM e;
SELECT array_length(limaml_embedding_array(e), 1) AS dim, array_ndims(limaml_embedding_array(e)) AS ndims,
       (SELECT bool_and(x = x AND abs(x) < 1e6) FROM unnest(limaml_embedding_array(e)) x) AS finite
  FROM e;
SELECT i.model, i.version, i.dim, i.n_support, i.model_id = (SELECT model_id FROM limaml_model WHERE name = 'fm') AS model_id
  FROM e, limaml_embedding_info(e.e) i;
SELECT i.model, i.version, i.dim, i.n_support FROM e, limaml_embedding_info(e.cold) i;
-- the magic "LLMB", format 2 and the dimension, little-endian
SELECT substring(e from 1 for 8) AS header_start FROM e;
-- the payload holds the array's float32 values
SELECT limaml_embedding_array(e) <> limaml_embedding_array(cold) AS differs FROM e;
SELECT limaml_embedding_array(e) = (SELECT limaml_embedding_array(limaml_adapt_agg('fm', member_features, item_features, label ORDER BY ts))
                                      FROM planted_interactions WHERE member_id = 1) AS agg_same_vector
  FROM e;
-- STRICT: NULL in, NULL out
SELECT limaml_embedding_array(NULL) IS NULL AS array_null, (limaml_embedding_info(NULL)).model IS NULL AS info_null;

-- bad inputs, to both functions
CREATE TEMP TABLE bad (what text, b bytea);
INSERT INTO bad SELECT 'payload byte flipped', set_byte(e, 60, get_byte(e, 60) # 1) FROM e;
INSERT INTO bad SELECT 'last byte flipped', set_byte(e, 91, get_byte(e, 91) # 1) FROM e;
INSERT INTO bad SELECT 'model uuid flipped', set_byte(e, 8, get_byte(e, 8) # 1) FROM e;
INSERT INTO bad SELECT 'version flipped', set_byte(e, 24, get_byte(e, 24) # 1) FROM e;
INSERT INTO bad SELECT 'n_support flipped', set_byte(e, 28, get_byte(e, 28) # 1) FROM e;
INSERT INTO bad SELECT 'content hash flipped', set_byte(e, 32, get_byte(e, 32) # 1) FROM e;
INSERT INTO bad SELECT 'checksum flipped', set_byte(e, 43, get_byte(e, 43) # 1) FROM e;
INSERT INTO bad SELECT 'magic flipped', set_byte(e, 3, get_byte(e, 3) # 1) FROM e;
INSERT INTO bad SELECT 'format 3', set_byte(e, 4, 3) FROM e;
INSERT INTO bad SELECT 'dimension 13', set_byte(e, 6, 13) FROM e;
INSERT INTO bad SELECT 'truncated to 10', substring(e from 1 for 10) FROM e;
INSERT INTO bad SELECT 'header only', substring(e from 1 for 44) FROM e;
INSERT INTO bad SELECT 'one float short', substring(e from 1 for 88) FROM e;
INSERT INTO bad SELECT 'one byte long', e || '\x00'::bytea FROM e;
INSERT INTO bad SELECT 'two embeddings', e || e FROM e;
INSERT INTO bad VALUES ('deadbeef', decode(repeat('deadbeef', 18), 'hex'));
INSERT INTO bad VALUES ('zeros', decode(repeat('00', 72), 'hex'));
INSERT INTO bad VALUES ('one byte', '\x4c'::bytea);
INSERT INTO bad VALUES ('empty', ''::bytea);
SELECT what, pg_temp.err(format('SELECT limaml_embedding_array(%L::bytea)', b)) AS array,
       pg_temp.err(format('SELECT limaml_embedding_info(%L::bytea)', b)) = pg_temp.err(format('SELECT limaml_embedding_array(%L::bytea)', b))
       AS info_agrees
  FROM bad ORDER BY what;
SELECT what, pg_temp.err(format('SELECT limaml_score(%L::bytea, ''{0,0,0,0,0,0,0,0}'')', b)) AS score
  FROM bad WHERE what <> 'empty' ORDER BY what;

-- ------------------------------------------------------------ export

CREATE TEMP TABLE x AS SELECT limaml_model_export('fm') AS j;
SELECT jsonb_object_keys(j) AS key FROM x ORDER BY 1;
SELECT j->'format' AS format, j->'format_version' AS format_version, j->'name' AS name, j->'version' AS version,
       j->'config' = (SELECT config FROM limaml_model WHERE name = 'fm') AS config_as_stored
  FROM x;
SELECT j->'config' AS config FROM x;
-- the layers in torch.nn.Linear's layout: weight[out][in], bias[out]
SELECT b.block, l.n AS layer, jsonb_array_length(l.layer->'weight') AS out_dim,
       (SELECT array_agg(DISTINCT jsonb_array_length(r)) FROM jsonb_array_elements(l.layer->'weight') r) AS in_dims,
       jsonb_array_length(l.layer->'bias') AS bias, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(l.layer) k) AS keys
  FROM x, (VALUES ('meta'), ('global')) b(block),
       jsonb_array_elements(x.j->b.block) WITH ORDINALITY l(layer, n)
 ORDER BY b.block DESC, l.n;
-- every parameter is there, once
SELECT (SELECT count(*) FROM x, (VALUES ('meta'), ('global')) b(block),
               jsonb_array_elements(x.j->b.block) l(layer),
               LATERAL (SELECT jsonb_array_elements(r) FROM jsonb_array_elements(l.layer->'weight') r
                        UNION ALL SELECT jsonb_array_elements(l.layer->'bias')) v)
     = (SELECT octet_length(params) / 4 FROM limaml_model_version v JOIN limaml_model m USING (model_id)
         WHERE m.name = 'fm' AND v.version = 1) AS all_params;
-- versions: the active one by default, or any
SELECT limaml_model_export('fm', 0)->'version' AS v0, limaml_model_export('fm', 1)->'version' AS v1,
       limaml_model_export('fm', 1) = limaml_model_export('fm') AS active_is_default,
       limaml_model_export('fm', 0)->'meta' <> limaml_model_export('fm', 1)->'meta' AS trained;
SELECT pg_temp.err($$ SELECT limaml_model_export('fm', 7) $$);
SELECT pg_temp.err($$ SELECT limaml_model_export('fm', -1) $$);
SELECT pg_temp.err($$ SELECT limaml_model_export(NULL) $$);

-- ------------------------------------------------------------ import round trip

SELECT limaml_model_import('fm_copy', j, 'planted_interactions') AS version FROM x;
SELECT name, source, members, active_version, config = (SELECT config FROM limaml_model WHERE name = 'fm') AS same_config
  FROM limaml_model WHERE name = 'fm_copy';
SELECT v.version, v.training FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'fm_copy';
-- float32 survives the text round trip exactly
SELECT (SELECT params FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'fm' AND version = 1)
     = (SELECT params FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'fm_copy' AND version = 0)
       AS same_params;
SELECT (limaml_model_export('fm_copy') - 'name' - 'version' - 'model_uuid') = (j - 'name' - 'version' - 'model_uuid') AS same_export FROM x;
-- the same member adapted under both models scores identically
CREATE TEMP TABLE both_models AS
SELECT member_id,
       limaml_adapt_agg('fm', member_features, item_features, label ORDER BY ts) AS orig,
       limaml_adapt_agg('fm_copy', member_features, item_features, label ORDER BY ts) AS copy
  FROM planted_interactions GROUP BY member_id;
SELECT count(*) AS members,
       count(*) FILTER (WHERE limaml_embedding_array(orig) = limaml_embedding_array(copy)) AS same_vector,
       count(*) FILTER (WHERE orig <> copy) AS different_bytea
  FROM both_models;
SELECT count(*) AS pairs, count(*) FILTER (WHERE limaml_score(b.orig, i.features) = limaml_score(b.copy, i.features)) AS equal
  FROM both_models b CROSS JOIN planted_items i;
SELECT (limaml_embedding_info(copy)).model FROM both_models WHERE member_id = 1;

-- importing a version into an existing model of the same shape adds a version
SELECT limaml_model_import('fm_copy', limaml_model_export('fm', 0)) AS version;
SELECT m.active_version, count(*) AS versions FROM limaml_model m JOIN limaml_model_version v USING (model_id)
 WHERE m.name = 'fm_copy' GROUP BY 1;
SELECT (limaml_model_export('fm_copy') - 'name' - 'version' - 'model_uuid') = (limaml_model_export('fm', 0) - 'name' - 'version' - 'model_uuid')
       AS now_version_0;
-- the source and members of an existing model stay
SELECT source, members FROM limaml_model WHERE name = 'fm_copy';
-- a model of another shape is refused, and nothing is stored
SELECT limaml_create_model('fm_small', 'planted_interactions', embedding_dim => 4) > 0 AS created;
SELECT pg_temp.err($$ SELECT limaml_model_import('fm_copy', limaml_model_export('fm_small')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('fm_small', limaml_model_export('fm')) $$);
SELECT count(*) AS versions FROM limaml_model_version v JOIN limaml_model m USING (model_id) WHERE m.name = 'fm_copy';
-- the loss is part of the shape
SELECT pg_temp.err($$ SELECT limaml_model_import('fm_copy', jsonb_set(limaml_model_export('fm') - 'model_uuid' - 'content_hash'
                                                                       || '{"format_version": 2}', '{config,loss}', '"mse"')) $$);

-- a model imported without a source adapts only through the aggregate
SELECT limaml_model_import('fm_nosrc', j) AS version FROM x;
SELECT source IS NULL AS no_source FROM limaml_model WHERE name = 'fm_nosrc';
SELECT pg_temp.err($$ SELECT limaml_adapt(1, 'fm_nosrc') $$);
SELECT pg_temp.err($$ SELECT * FROM limaml_train('fm_nosrc') $$);
SELECT limaml_embedding_array(limaml_adapt_agg('fm_nosrc', member_features, item_features, label ORDER BY ts))
     = (SELECT limaml_embedding_array(orig) FROM both_models WHERE member_id = 2) AS aggregate_works
  FROM planted_interactions WHERE member_id = 2;
-- a source given at import is checked
CREATE TABLE wrong_src (member_id text);
SELECT pg_temp.err($$ SELECT limaml_model_import('fm_bad', j, 'wrong_src') FROM x $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('fm_bad', j, 'planted_interactions', 'planted_items') FROM x $$);

-- hyperparameters survive the trip: a seed beyond 2^53, an odd learning rate
SELECT limaml_create_model('fm_seed', 'planted_interactions', seed => 9007199254740993, inner_lr => 0.3,
       inner_steps => 2, support_size => 9, query_size => 4) > 0 AS created;
SELECT limaml_model_export('fm_seed')->'config'->'seed' AS exported_seed,
       (SELECT config->'seed' FROM limaml_model WHERE name = 'fm_seed') AS stored_seed;
SELECT limaml_model_import('fm_seed_copy', limaml_model_export('fm_seed')) AS version;
SELECT (SELECT config FROM limaml_model WHERE name = 'fm_seed_copy') = (SELECT config FROM limaml_model WHERE name = 'fm_seed')
       AS same_config;

-- ------------------------------------------------------------ malformed model json

CREATE TEMP TABLE catalog_before AS
SELECT (SELECT count(*) FROM limaml_model) AS models, (SELECT count(*) FROM limaml_model_version) AS versions;
CREATE FUNCTION pg_temp.imp(edit text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	j jsonb;
BEGIN
	-- format 2 (no identity): each edit meets its own check, not the content hash's
	EXECUTE 'SELECT ' || edit || ' FROM (SELECT limaml_model_export(''fm'') - ''model_uuid'' - ''content_hash'''
		|| ' || ''{"format_version": 2}'' AS j) s' INTO j;
	RETURN pg_temp.err(format('SELECT limaml_model_import(''fm_bad'', %L::jsonb)', j));
END $$;
SELECT pg_temp.err($$ SELECT limaml_model_import('fm_bad', '{}') $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('fm_bad', '[]') $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('fm_bad', '"limaml-model"') $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('fm_bad', NULL) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import(NULL, limaml_model_export('fm')) $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('', limaml_model_export('fm')) $$);
SELECT pg_temp.imp($$ j - 'format' $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{format}', '"torch"') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{format}', '1') $$);
SELECT pg_temp.imp($$ j - 'format_version' $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{format_version}', '4') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{format_version}', '"1"') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{format_version}', '1.5') $$);
SELECT pg_temp.imp($$ j - 'config' $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config}', '[]') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config}', '"bce"') $$);
SELECT pg_temp.imp($$ j #- '{config,loss}' $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,loss}', '"hinge"') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,loss}', '1') $$);
SELECT pg_temp.imp($$ j #- '{config,member_dim}' $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,member_dim}', '-1') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,member_dim}', '"3"') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,item_dim}', '0') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,item_dim}', '8.5') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,embedding_dim}', '100000') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,embedding_dim}', '1e300') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,meta_hidden}', '[0]') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,meta_hidden}', '[1,1,1,1,1,1,1,1,1]') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,meta_hidden}', '32') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,meta_hidden}', '[null]') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,global_hidden}', '[5000]') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,inner_steps}', '-1') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,inner_steps}', '100000') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,inner_lr}', '0') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,inner_lr}', '1e30') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,inner_lr}', 'null') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,support_size}', '0') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,support_size}', '1000000000') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,query_size}', '0') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,query_size}', '1000000000') $$);
SELECT pg_temp.imp($$ j #- '{config,seed}' $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,seed}', '0.5') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{config,seed}', '1e300') $$);
-- the layers
SELECT pg_temp.imp($$ j - 'meta' $$);
SELECT pg_temp.imp($$ j - 'global' $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{meta}', '{}') $$);
SELECT pg_temp.imp($$ j #- '{meta,1}' $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{global}', (j->'global') || (j->'global'->1)) $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{meta,0}', '1') $$);
SELECT pg_temp.imp($$ j #- '{meta,0,weight}' $$);
SELECT pg_temp.imp($$ j #- '{meta,0,bias}' $$);
SELECT pg_temp.imp($$ j #- '{meta,0,weight,0}' $$);
SELECT pg_temp.imp($$ j #- '{meta,0,weight,5,2}' $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{meta,0,weight,5}', (j->'meta'->0->'weight'->5) || '[0]') $$);
SELECT pg_temp.imp($$ j #- '{global,1,bias,0}' $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{global,1,bias}', '[0, 0]') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{global,0,weight,3}', '5') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{meta,0,weight,0,0}', '"0.5"') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{meta,0,weight,0,0}', 'null') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{meta,0,weight,0,0}', 'true') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{meta,0,weight,0,0}', '[1]') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{global,1,bias,0}', '"NaN"') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{global,1,bias,0}', '1e400') $$);
-- finite as a double, but not as a float32
SELECT pg_temp.imp($$ jsonb_set(j, '{global,1,bias,0}', '1e39') $$);
SELECT pg_temp.imp($$ jsonb_set(j, '{meta,0,weight,0,0}', '-1e39') $$);
-- values float32 holds are fine, and extra keys are ignored
SELECT pg_temp.imp($$ jsonb_set(jsonb_set(j, '{global,1,bias,0}', '3e38'), '{comment}', '"hello"') $$);
SELECT limaml_drop_model('fm_bad');
-- nothing half-written
SELECT (SELECT count(*) FROM limaml_model) = models AS same_models,
       (SELECT count(*) FROM limaml_model_version) = versions AS same_versions
  FROM catalog_before;

-- ------------------------------------------------------------ dropped models

CREATE TEMP TABLE copy_emb AS SELECT copy FROM both_models WHERE member_id = 3;
SELECT limaml_drop_model('fm_copy');
SELECT pg_temp.err($$ SELECT limaml_embedding_array(copy) FROM copy_emb $$);
SELECT pg_temp.err($$ SELECT limaml_embedding_info(copy) FROM copy_emb $$);
SELECT pg_temp.err($$ SELECT limaml_score(copy, '{0,0,0,0,0,0,0,0}') FROM copy_emb $$);
SELECT pg_temp.err($$ SELECT limaml_model_export('fm_copy') $$);

SELECT limaml_drop_model(name) FROM limaml_model ORDER BY name;
SELECT count(*) AS models, (SELECT count(*) FROM limaml_model_version) AS versions,
       (SELECT count(*) FROM limaml_meta_embedding) AS embeddings
  FROM limaml_model;
DROP TABLE wrong_src;
DROP TABLE planted_interactions, planted_members, planted_items;

