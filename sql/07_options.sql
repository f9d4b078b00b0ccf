-- model options in the JSON round trip: the bilinear term and Meta-SGD rates
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

\set n_members 200
\set n_items 64
\set n_genres 8
\set per_member 20
\set p_fav 0.9
\set p_other 0.1
\set seed 0.2
\set ECHO none
\o /dev/null
\ir test/data/planted.sql
\o
\set ECHO all

SELECT limaml_create_model('op_bil', 'planted_interactions', embedding_dim => 4, bilinear => true, seed => 5) > 0 AS created;
SELECT limaml_create_model('op_sgd', 'planted_interactions', embedding_dim => 4, meta_sgd => true, seed => 5) > 0 AS created;
SELECT count(*) FROM limaml_train('op_bil', epochs => 3, outer_lr => 0.01);
SELECT count(*) FROM limaml_train('op_sgd', epochs => 3, outer_lr => 0.01, maml_order => 2);

-- the export carries P [d][item_dim] and the per-parameter rates
SELECT jsonb_array_length(j->'bilinear') AS p_rows, jsonb_array_length(j->'bilinear'->0) AS p_cols,
       (j->'config'->>'bilinear')::boolean AS bilinear, j ? 'inner_rates' AS has_rates
  FROM (SELECT limaml_model_export('op_bil') AS j) x;
SELECT jsonb_array_length(j->'inner_rates') AS rate_layers, j ? 'bilinear' AS has_p,
       (j->'config'->>'meta_sgd')::boolean AS meta_sgd
  FROM (SELECT limaml_model_export('op_sgd') AS j) x;
-- Meta-SGD's rates moved away from their start (inner_lr 1) during training
SELECT bool_or((r)::float8 <> 1) AS rates_learned
  FROM (SELECT limaml_model_export('op_sgd') AS j) x,
       jsonb_array_elements(j->'inner_rates'->0->'bias') r;

-- export -> import -> the same embeddings and scores, to the bit
SELECT limaml_model_import('op_bil_copy', limaml_model_export('op_bil')) AS version;
SELECT limaml_model_import('op_sgd_copy', limaml_model_export('op_sgd')) AS version;
CREATE TEMP TABLE op_emb AS
SELECT member_id, m,
       limaml_adapt_agg(m, member_features, item_features, label ORDER BY ts) AS e
  FROM planted_interactions, unnest(ARRAY['op_bil', 'op_bil_copy', 'op_sgd', 'op_sgd_copy']) m
 WHERE member_id <= 20
 GROUP BY member_id, m;
SELECT a.m, count(*) AS pairs,
       bool_and(limaml_embedding_array(a.e) = limaml_embedding_array(b.e)) AS same_embeddings,
       bool_and(limaml_score(a.e, i.features) = limaml_score(b.e, i.features)) AS same_scores
  FROM op_emb a JOIN op_emb b ON b.member_id = a.member_id AND b.m = a.m || '_copy'
  JOIN planted_items i ON i.item_id <= 8
 GROUP BY a.m ORDER BY a.m;

-- item codes with the bilinear term: within 1e-6 of the array path
SELECT max(abs(limaml_score(e.e, i.features) - limaml_score(e.e, limaml_item_encode('op_bil', i.features)))) < 1e-6 AS code_agrees
  FROM op_emb e, planted_items i WHERE e.m = 'op_bil';

-- malformed option sections
CREATE TEMP TABLE oj AS SELECT limaml_model_export('op_bil') AS b, limaml_model_export('op_sgd') AS s;
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', b - 'bilinear') FROM oj $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(b, '{bilinear}', (b->'bilinear') - 0)) FROM oj $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(b, '{bilinear,0}', '[1]')) FROM oj $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(b, '{config,bilinear}', '"yes"')) FROM oj $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', s - 'inner_rates') FROM oj $$);
SELECT pg_temp.err($$ SELECT limaml_model_import('bad', jsonb_set(s, '{config,meta_sgd}', '1')) FROM oj $$);
-- a bilinear model is another shape: importing into a plain model fails
SELECT limaml_create_model('op_plain', 'planted_interactions', embedding_dim => 4, seed => 5) > 0 AS created;
SELECT pg_temp.err($$ SELECT limaml_model_import('op_plain', b) FROM oj $$);
SELECT count(*) AS no_bad_model FROM limaml_model WHERE name = 'bad';

SELECT count(limaml_drop_model(name)) FROM limaml_model WHERE name LIKE 'op\_%';
DROP TABLE planted_interactions, planted_members, planted_items;
