-- limaml: LiMAML meta-learned personalization (Wang et al., KDD 2024)
\echo Use "CREATE EXTENSION limaml" to load this file. \quit

-- ------------------------------------------------------------------ catalog

CREATE TABLE limaml_model (
	model_id serial PRIMARY KEY,
	name text NOT NULL UNIQUE,
	source regclass,
	members regclass,
	config jsonb NOT NULL,
	active_version int,
	created_at timestamptz NOT NULL DEFAULT now(),
	items regclass,
	owner regrole NOT NULL DEFAULT current_user::regrole
);

CREATE TABLE limaml_model_version (
	model_id int NOT NULL REFERENCES limaml_model ON DELETE CASCADE,
	version int NOT NULL,
	params bytea NOT NULL,
	training jsonb,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (model_id, version)
);

CREATE TABLE limaml_meta_embedding (
	model text NOT NULL,
	member_id bigint NOT NULL,
	embedding bytea NOT NULL,
	model_version int NOT NULL,
	n_support int NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (model, member_id)
);

-- models are user data: pg_dump keeps them
SELECT pg_catalog.pg_extension_config_dump('limaml_model', '');
SELECT pg_catalog.pg_extension_config_dump('limaml_model_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('limaml_model_version', '');
SELECT pg_catalog.pg_extension_config_dump('limaml_meta_embedding', '');

-- functions run with the caller's rights; row-level security (below) keeps
-- each role to the models it owns or was granted
GRANT SELECT, INSERT, UPDATE, DELETE ON limaml_model, limaml_model_version,
	limaml_meta_embedding TO PUBLIC;
GRANT USAGE, SELECT ON SEQUENCE limaml_model_model_id_seq TO PUBLIC;

COMMENT ON TABLE limaml_model IS 'limaml models: name, interaction source, architecture and hyperparameters, active version';
COMMENT ON COLUMN limaml_model.model_id IS 'identity stored in every meta embedding of the model';
COMMENT ON COLUMN limaml_model.name IS 'model name used by the limaml functions';
COMMENT ON COLUMN limaml_model.source IS 'table or view of (member_id, member_features, item_features, label, ts)';
COMMENT ON COLUMN limaml_model.members IS 'optional relation of (member_id, member_features) for members without interactions';
COMMENT ON COLUMN limaml_model.config IS 'architecture and adaptation hyperparameters';
COMMENT ON COLUMN limaml_model.active_version IS 'version used by limaml_adapt and limaml_adapt_agg';
COMMENT ON COLUMN limaml_model.created_at IS 'creation time';
COMMENT ON COLUMN limaml_model.items IS 'optional relation of (item_id, features) that negatives are drawn from';
COMMENT ON TABLE limaml_model_version IS 'immutable model versions: every parameter, and how they were trained';
COMMENT ON COLUMN limaml_model_version.model_id IS 'model of this version';
COMMENT ON COLUMN limaml_model_version.version IS 'version number; 0 is the initialization';
COMMENT ON COLUMN limaml_model_version.params IS 'all parameters as little-endian float32, meta block first';
COMMENT ON COLUMN limaml_model_version.training IS 'training hyperparameters and per-epoch metrics, or the import record';
COMMENT ON COLUMN limaml_model_version.created_at IS 'creation time';
COMMENT ON TABLE limaml_meta_embedding IS 'meta embeddings written by limaml_adapt';
COMMENT ON COLUMN limaml_meta_embedding.model IS 'model name';
COMMENT ON COLUMN limaml_meta_embedding.member_id IS 'member';
COMMENT ON COLUMN limaml_meta_embedding.embedding IS 'meta embedding bytea (see limaml_embedding_info)';
COMMENT ON COLUMN limaml_meta_embedding.model_version IS 'model version that produced the embedding';
COMMENT ON COLUMN limaml_meta_embedding.n_support IS 'interactions the embedding was adapted on; 0 is cold start';
COMMENT ON COLUMN limaml_meta_embedding.updated_at IS 'time of the last refresh';

-- the per-backend model cache drops entries when versions change
CREATE FUNCTION limaml_catalog_changed() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION limaml_catalog_changed() IS 'internal: trigger: invalidates every backend''s cached model versions';

CREATE TRIGGER limaml_model_version_changed
	AFTER UPDATE OR DELETE ON limaml_model_version
	FOR EACH STATEMENT EXECUTE FUNCTION limaml_catalog_changed();
CREATE TRIGGER limaml_model_version_truncated
	AFTER TRUNCATE ON limaml_model_version
	FOR EACH STATEMENT EXECUTE FUNCTION limaml_catalog_changed();
CREATE TRIGGER limaml_model_changed
	AFTER UPDATE OR DELETE ON limaml_model
	FOR EACH STATEMENT EXECUTE FUNCTION limaml_catalog_changed();
CREATE TRIGGER limaml_model_truncated
	AFTER TRUNCATE ON limaml_model
	FOR EACH STATEMENT EXECUTE FUNCTION limaml_catalog_changed();

-- ---------------------------------------------------------------- sources (issue 11)

CREATE FUNCTION limaml_check_source(relation regclass, loss text DEFAULT 'bce',
	support_size int DEFAULT 50, query_size int DEFAULT 10, negatives int DEFAULT NULL,
	OUT severity text, OUT "check" text, OUT detail text, OUT hint text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'limaml_check_source' LANGUAGE C STABLE;
COMMENT ON FUNCTION limaml_check_source(regclass, text, int, int, int)
	IS 'one row (error, warning or info) per problem a source relation would cause: column types, NULLs, feature lengths, non-finite values and scale, members with fewer than support_size + query_size rows, label range and balance for the loss (with the negatives the model will sample), an index for per-member reads; reads the whole relation';

CREATE FUNCTION limaml_source_select(model text, OUT args text, OUT relation text)
AS 'MODULE_PATHNAME', 'limaml_source_select' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION limaml_source_select(text)
	IS 'internal: for limaml_refresh, limaml_adapt_agg''s row arguments over the model''s source, its columns converted (and its features encoded with the model''s transforms) as limaml_adapt reads them, and the relation to read them from';

CREATE FUNCTION limaml_prevent_transaction_block(procedure text) RETURNS void
AS 'MODULE_PATHNAME', 'limaml_prevent_transaction_block' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION limaml_prevent_transaction_block(text)
	IS 'internal: for limaml_refresh, errors inside a transaction block or another atomic context, where a procedure cannot commit';

-- ------------------------------------------------------------------ models

CREATE FUNCTION limaml_create_model(
	name text,
	source regclass,
	embedding_dim int DEFAULT 16,
	meta_hidden int[] DEFAULT '{32}',
	global_hidden int[] DEFAULT '{64}',
	loss text DEFAULT 'bce',
	inner_steps int DEFAULT 5,
	inner_lr double precision DEFAULT NULL,
	support_size int DEFAULT 50,
	query_size int DEFAULT 10,
	seed bigint DEFAULT 0,
	members regclass DEFAULT NULL,
	member_dim int DEFAULT NULL,
	item_dim int DEFAULT NULL,
	adapt_steps int DEFAULT NULL,
	adapt_lr double precision DEFAULT NULL,
	meta_sgd boolean DEFAULT false,
	bilinear boolean DEFAULT false,
	item_buckets int DEFAULT NULL,
	item_embedding_dim int DEFAULT 16,
	wide boolean DEFAULT NULL,
	wide_rank int DEFAULT NULL,
	ridge_lambda double precision DEFAULT 3,
	history boolean DEFAULT NULL,
	negatives int DEFAULT NULL,
	items regclass DEFAULT NULL,
	wide_features boolean DEFAULT NULL,
	member_columns jsonb DEFAULT NULL,
	item_columns jsonb DEFAULT NULL,
	learn_lambda boolean DEFAULT NULL,
	fold_in boolean DEFAULT NULL)
RETURNS int
AS 'MODULE_PATHNAME', 'limaml_create_model' LANGUAGE C;
COMMENT ON FUNCTION limaml_create_model(text, regclass, int, int[], int[], text, int, double precision, int, int, bigint, regclass, int, int, int, double precision, boolean, boolean, int, int, boolean, int, double precision, boolean, int, regclass, boolean, jsonb, jsonb, boolean, boolean)
	IS 'creates a model over a source of interactions and stores its initialization as version 0; member_columns and item_columns declare feature transforms of the members and items relations'' columns, fitted on their rows; returns the model id';

CREATE FUNCTION limaml_member_features(model text, member record) RETURNS real[]
AS 'MODULE_PATHNAME', 'limaml_member_features' LANGUAGE C STABLE;
COMMENT ON FUNCTION limaml_member_features(text, record)
	IS 'a row of the model''s members relation encoded with its stored member transforms: the member_features training, adaptation and cold start read (a NULL row encodes as all columns NULL)';

CREATE FUNCTION limaml_item_features(model text, item record) RETURNS real[]
AS 'MODULE_PATHNAME', 'limaml_item_features' LANGUAGE C STABLE;
COMMENT ON FUNCTION limaml_item_features(text, record)
	IS 'a row of the model''s items relation encoded with its stored item transforms: the item features training, scoring, item codes and ranking read (a NULL row encodes as all columns NULL)';

CREATE FUNCTION limaml_drop_model(name text) RETURNS void
AS 'MODULE_PATHNAME', 'limaml_drop_model' LANGUAGE C STRICT;
COMMENT ON FUNCTION limaml_drop_model(text) IS 'drops a model, its versions and its meta embeddings';

CREATE FUNCTION limaml_train(
	name text,
	epochs int DEFAULT 10,
	meta_batch int DEFAULT 32,
	outer_lr double precision DEFAULT 5e-3,
	validation_fraction double precision DEFAULT 0.1,
	clip_norm double precision DEFAULT NULL,
	patience int DEFAULT NULL,
	maml_order int DEFAULT 1,
	episodes int DEFAULT 1,
	support_weight double precision DEFAULT NULL,
	random_splits boolean DEFAULT NULL,
	weight_decay double precision DEFAULT NULL,
	lr_schedule text DEFAULT NULL,
	OUT epoch int,
	OUT train_loss real,
	OUT val_loss_cold real,
	OUT val_loss_adapted real,
	OUT val_auc_cold real,
	OUT val_auc_adapted real,
	OUT kept boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'limaml_train' LANGUAGE C;
COMMENT ON FUNCTION limaml_train(text, int, int, double precision, double precision, double precision, int, int, int, double precision, boolean, double precision, text)
	IS 'meta-trains a model with first- or second-order MAML (or conventionally when inner_steps is 0) from its active version and stores the result as a new active version';

CREATE FUNCTION limaml_model_export(name text, version int DEFAULT NULL) RETURNS jsonb
AS 'MODULE_PATHNAME', 'limaml_model_export' LANGUAGE C STABLE;
COMMENT ON FUNCTION limaml_model_export(text, int) IS 'a model version''s identity (model UUID, version, content hash), configuration and every parameter as jsonb (format 3)';

CREATE FUNCTION limaml_model_import(name text, model jsonb, source regclass DEFAULT NULL, members regclass DEFAULT NULL)
RETURNS int
AS 'MODULE_PATHNAME', 'limaml_model_import' LANGUAGE C;
COMMENT ON FUNCTION limaml_model_import(text, jsonb, regclass, regclass)
	IS 'imports a version from limaml_model_export: format 3 keeps its model UUID, version number and content hash (the same json again is a no-op; another content under that number, or that UUID under another name, is an error) and activates it when newer than the active version; formats 1 and 2 become the model''s next version';

CREATE FUNCTION limaml_evaluate(
	model text,
	source regclass DEFAULT NULL,
	segments int[] DEFAULT '{5,20,50}',
	query_fraction double precision DEFAULT NULL,
	version int DEFAULT NULL,
	validation_fraction double precision DEFAULT NULL,
	OUT segment text,
	OUT predictor text,
	OUT members int,
	OUT query_rows bigint,
	OUT auc real,
	OUT member_auc real,
	OUT ndcg10 real,
	OUT logloss real,
	OUT mae real,
	OUT rmse real)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'limaml_evaluate' LANGUAGE C;
COMMENT ON FUNCTION limaml_evaluate(text, regclass, int[], double precision, int, double precision)
	IS 'prediction quality of the model cold and adapted and of the popularity and bias baselines on the same query rows, per member-activity segment and in total, with the training time split';

CREATE FUNCTION limaml_evaluate_members(
	model text,
	source regclass DEFAULT NULL,
	query_fraction double precision DEFAULT NULL,
	version int DEFAULT NULL,
	validation_fraction double precision DEFAULT NULL,
	OUT member_id bigint,
	OUT n_total bigint,
	OUT query_rows int,
	OUT predictor text,
	OUT auc real,
	OUT ndcg10 real,
	OUT logloss real,
	OUT mae real,
	OUT rmse real)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'limaml_evaluate_members' LANGUAGE C;
COMMENT ON FUNCTION limaml_evaluate_members(text, regclass, double precision, int, double precision)
	IS 'limaml_evaluate per evaluated member: each predictor''s AUC, NDCG@10 and errors on the member''s query rows, for confidence intervals over members';

-- -------------------------------------------------------------- adaptation

CREATE FUNCTION limaml_adapt(member_id bigint, model text DEFAULT NULL) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt' LANGUAGE C;
COMMENT ON FUNCTION limaml_adapt(bigint, text)
	IS 'adapts the meta block to a member''s newest interactions, upserts the meta embedding into limaml_meta_embedding and returns it';

CREATE FUNCTION limaml_adapt_agg_transfn(internal, text, real[], real[], real) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_transfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_transfn(internal, text, real[], real[], real) IS 'internal: limaml_adapt_agg transition: keeps the newest support_size rows';

CREATE FUNCTION limaml_adapt_agg_finalfn(internal, text, real[], real[], real) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_finalfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_finalfn(internal, text, real[], real[], real) IS 'internal: limaml_adapt_agg final: adapts and encodes the meta embedding';

CREATE AGGREGATE limaml_adapt_agg(model text, member_features real[], item_features real[], label real) (
	SFUNC = limaml_adapt_agg_transfn,
	STYPE = internal,
	FINALFUNC = limaml_adapt_agg_finalfn,
	FINALFUNC_EXTRA,
	FINALFUNC_MODIFY = READ_ONLY,
	SSPACE = 8192,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE limaml_adapt_agg(text, real[], real[], real)
	IS 'meta embedding of one member from its rows (use ORDER BY ts inside the call): the bytea limaml_adapt would return';

-- ------------------------------------------- batch adaptation (issue 4)

-- the parallel form: ts is an argument, the aggregate orders by it itself
CREATE FUNCTION limaml_adapt_agg_transfn(internal, text, real[], real[], real, timestamptz) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_transfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_transfn(internal, text, real[], real[], real, timestamptz)
	IS 'internal: limaml_adapt_agg transition: keeps the newest support_size rows by (ts, label, item_features)';

CREATE FUNCTION limaml_adapt_agg_finalfn(internal, text, real[], real[], real, timestamptz) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_finalfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_finalfn(internal, text, real[], real[], real, timestamptz)
	IS 'internal: limaml_adapt_agg final: adapts on the kept rows in time order and encodes the meta embedding';

CREATE FUNCTION limaml_adapt_agg_combinefn(internal, internal) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_combinefn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_combinefn(internal, internal)
	IS 'internal: limaml_adapt_agg combine: the newest support_size rows of two partial states, exactly';

CREATE FUNCTION limaml_adapt_agg_serializefn(internal) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_serializefn' LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_serializefn(internal)
	IS 'internal: limaml_adapt_agg serialize: a partial state as bytea (parallel workers, hash aggregation spills)';

CREATE FUNCTION limaml_adapt_agg_deserializefn(bytea, internal) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_deserializefn' LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_deserializefn(bytea, internal)
	IS 'internal: limaml_adapt_agg deserialize: a partial state from its bytea';

CREATE AGGREGATE limaml_adapt_agg(model text, member_features real[], item_features real[], label real,
								  ts timestamptz) (
	SFUNC = limaml_adapt_agg_transfn,
	STYPE = internal,
	SSPACE = 8192,
	FINALFUNC = limaml_adapt_agg_finalfn,
	FINALFUNC_EXTRA,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = limaml_adapt_agg_combinefn,
	SERIALFUNC = limaml_adapt_agg_serializefn,
	DESERIALFUNC = limaml_adapt_agg_deserializefn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE limaml_adapt_agg(text, real[], real[], real, timestamptz)
	IS 'meta embedding of one member from its rows, newest support_size by ts (ties by label, item_features): parallel-capable, the same bytea whatever the row order or split';

-- the item_id forms, for models with item-ID embeddings (item_buckets > 0):
-- each row adapts with its item's bucket, a NULL item_id is the unknown
-- item; the forms without item_id treat every row as the unknown item
CREATE FUNCTION limaml_adapt_agg_transfn(internal, text, real[], real[], real, bigint) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_transfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_transfn(internal, text, real[], real[], real, bigint)
	IS 'internal: limaml_adapt_agg transition: keeps the newest support_size rows with their item ids';

CREATE FUNCTION limaml_adapt_agg_finalfn(internal, text, real[], real[], real, bigint) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_finalfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_finalfn(internal, text, real[], real[], real, bigint)
	IS 'internal: limaml_adapt_agg final: adapts with the rows'' item-ID buckets and encodes the meta embedding';

CREATE AGGREGATE limaml_adapt_agg(model text, member_features real[], item_features real[], label real,
								  item_id bigint) (
	SFUNC = limaml_adapt_agg_transfn,
	STYPE = internal,
	FINALFUNC = limaml_adapt_agg_finalfn,
	FINALFUNC_EXTRA,
	FINALFUNC_MODIFY = READ_ONLY,
	SSPACE = 8192,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE limaml_adapt_agg(text, real[], real[], real, bigint)
	IS 'meta embedding of one member from its rows and their item ids (use ORDER BY ts inside the call), for models with item_buckets: the bytea limaml_adapt would return';

CREATE FUNCTION limaml_adapt_agg_transfn(internal, text, real[], real[], real, timestamptz, bigint) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_transfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_transfn(internal, text, real[], real[], real, timestamptz, bigint)
	IS 'internal: limaml_adapt_agg transition: keeps the newest support_size rows by (ts, label, item_features, item_id) with their item ids';

CREATE FUNCTION limaml_adapt_agg_finalfn(internal, text, real[], real[], real, timestamptz, bigint) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_finalfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_finalfn(internal, text, real[], real[], real, timestamptz, bigint)
	IS 'internal: limaml_adapt_agg final: adapts on the kept rows in time order with their item-ID buckets and encodes the meta embedding';

CREATE AGGREGATE limaml_adapt_agg(model text, member_features real[], item_features real[], label real,
								  ts timestamptz, item_id bigint) (
	SFUNC = limaml_adapt_agg_transfn,
	STYPE = internal,
	SSPACE = 8192,
	FINALFUNC = limaml_adapt_agg_finalfn,
	FINALFUNC_EXTRA,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = limaml_adapt_agg_combinefn,
	SERIALFUNC = limaml_adapt_agg_serializefn,
	DESERIALFUNC = limaml_adapt_agg_deserializefn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE limaml_adapt_agg(text, real[], real[], real, timestamptz, bigint)
	IS 'meta embedding of one member from its rows and their item ids, newest support_size by ts (ties by label, item_features, item_id with NULL least), for models with item_buckets: parallel-capable, the same bytea whatever the row order or split';

-- what the embedding was adapted on, so limaml_refresh can tell new rows
ALTER TABLE limaml_meta_embedding ADD COLUMN source_ts timestamptz, ADD COLUMN source_rows bigint;
COMMENT ON COLUMN limaml_meta_embedding.source_ts IS 'newest ts of the member''s source rows when adapted (NULL: none, or not recorded)';
COMMENT ON COLUMN limaml_meta_embedding.source_rows IS 'the member''s source rows when adapted (NULL: not recorded)';

CREATE TABLE limaml_refresh_progress (
	model text PRIMARY KEY,
	pid int NOT NULL,
	model_version int NOT NULL,
	batch_size int NOT NULL,
	members_total bigint NOT NULL,
	members_done bigint NOT NULL,
	batches_total int NOT NULL,
	batches_done int NOT NULL,
	started_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	finished_at timestamptz
);
GRANT SELECT, INSERT, UPDATE, DELETE ON limaml_refresh_progress TO PUBLIC;
-- refresh history is user data: pg_dump keeps it
SELECT pg_catalog.pg_extension_config_dump('limaml_refresh_progress', '');
COMMENT ON TABLE limaml_refresh_progress IS 'the last limaml_refresh of each model, committed after every batch';
COMMENT ON COLUMN limaml_refresh_progress.model IS 'model name';
COMMENT ON COLUMN limaml_refresh_progress.pid IS 'backend running (or that ran) the refresh';
COMMENT ON COLUMN limaml_refresh_progress.model_version IS 'active version when the refresh started';
COMMENT ON COLUMN limaml_refresh_progress.batch_size IS 'members per batch (one transaction each)';
COMMENT ON COLUMN limaml_refresh_progress.members_total IS 'stale members found at the start';
COMMENT ON COLUMN limaml_refresh_progress.members_done IS 'members adapted and committed';
COMMENT ON COLUMN limaml_refresh_progress.batches_total IS 'batches to run';
COMMENT ON COLUMN limaml_refresh_progress.batches_done IS 'batches committed';
COMMENT ON COLUMN limaml_refresh_progress.started_at IS 'start of the refresh';
COMMENT ON COLUMN limaml_refresh_progress.updated_at IS 'last commit';
COMMENT ON COLUMN limaml_refresh_progress.finished_at IS 'end of the refresh; NULL while running or when interrupted';

-- state: a running refresh holds a transaction advisory lock (1280134226, model_id)
CREATE VIEW limaml_refresh_status WITH (security_invoker = true) AS
SELECT p.model, p.pid,
	   CASE WHEN p.finished_at IS NOT NULL THEN 'done'
			WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
						  WHERE l.locktype = 'advisory' AND l.granted
							AND l.pid = p.pid AND l.classid = 1280134226
							AND l.objid = m.model_id::oid AND l.objsubid = 2)
			THEN 'running'
			ELSE 'interrupted' END AS state,
	   p.members_done, p.members_total,
	   round(100.0 * p.members_done / greatest(p.members_total, 1), 1) AS percent,
	   p.batches_done, p.batches_total, p.model_version, p.started_at, p.updated_at, p.finished_at,
	   round((p.members_done / greatest(extract(epoch FROM p.updated_at - p.started_at), 0.001))::numeric, 0)
		 AS members_per_second
  FROM limaml_refresh_progress p
  JOIN limaml_model m ON m.name = p.model;	-- dropped models' last refreshes are not shown
GRANT SELECT ON limaml_refresh_status TO PUBLIC;
COMMENT ON VIEW limaml_refresh_status IS 'progress of limaml_refresh, readable from any session: running, done or interrupted (resume with CALL limaml_refresh)';

-- the shape limaml_refresh(…, embeddings => t) writes into: a table of one
-- model's embeddings, e.g. distributed by Citus and co-located with the source
CREATE FUNCTION limaml_check_embedding_table(embeddings regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
	bad text;
	shape CONSTANT text := 'CREATE TABLE member_embedding (member_id bigint PRIMARY KEY, embedding bytea NOT NULL, '
						   'model_version int, source_ts timestamptz, source_rows bigint)';
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format('"%s" %s', w.col,
			CASE WHEN a.attname IS NULL THEN 'is missing' ELSE 'is ' || pg_catalog.format_type(a.atttypid, a.atttypmod) END),
			', ' ORDER BY w.ord)
	  INTO bad
	  FROM (VALUES (1, 'member_id', '{int2,int4,int8}'::text[]), (2, 'embedding', '{bytea}'),
				   (3, 'model_version', '{int4}'), (4, 'source_ts', '{timestamptz}'),
				   (5, 'source_rows', '{int8}')) w (ord, col, types)
	  LEFT JOIN pg_catalog.pg_attribute a
		ON a.attrelid = embeddings AND a.attname = w.col AND a.attnum > 0 AND NOT a.attisdropped
	 WHERE a.attname IS NULL OR (SELECT t.typname FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) <> ALL (w.types);
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'embedding table "%" does not have the columns limaml_refresh writes', embeddings
			USING ERRCODE = '42804', DETAIL = bad || '.',
			HINT = 'Create it as: ' || shape || ' (other columns may follow).';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
					 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
					WHERE i.indrelid = embeddings AND i.indisunique AND i.indnkeyatts = 1
					  AND i.indpred IS NULL AND a.attname = 'member_id') THEN
		RAISE EXCEPTION 'embedding table "%" needs a unique index on member_id alone', embeddings
			USING ERRCODE = '42P10', HINT = 'limaml_refresh upserts by member: ' || shape || '.';
	END IF;
END
$fn$;
COMMENT ON FUNCTION limaml_check_embedding_table(regclass)
	IS 'internal: used by limaml_refresh: checks the columns and unique index of an embeddings => table';


CREATE PROCEDURE limaml_refresh(model text, batch_size int DEFAULT 10000, embeddings regclass DEFAULT NULL)
LANGUAGE plpgsql AS $proc$
DECLARE
	m record;
	b record;
	lock_key CONSTANT int := 1280134226;	-- 'LMLR'
	holder int;
	t0 timestamptz := pg_catalog.clock_timestamp();
	n_done bigint := 0;
	n_batches int := 0;
	done_ids bigint[];
	missing bigint[];
	sel record;
	-- where the embeddings are: the model's rows of limaml_meta_embedding, or an embeddings table
	emb_rows text := '@extschema@.limaml_meta_embedding WHERE model = $1';
BEGIN
	-- it commits as it goes: fail now, not at the first COMMIT
	PERFORM @extschema@.limaml_prevent_transaction_block('limaml_refresh');
	-- a procedure that commits cannot carry SET search_path: pin it for each
	-- transaction instead, so no planted function or operator runs here
	PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
	IF batch_size IS NULL OR batch_size < 1 OR batch_size > 10000000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 10000000, not %', batch_size
			USING ERRCODE = '22023';
	END IF;
	SELECT mo.model_id, mo.active_version, mo.source,
		   pg_catalog.uuid_send(mo.model_uuid) || pg_catalog.substr(v.content_hash, 1, 8) AS identity,
		   coalesce((mo.config ->> 'item_buckets')::int, 0) > 0 AS item_ids,
		   pg_catalog.pg_has_role(mo.owner::pg_catalog.oid, 'MEMBER') AS owned,
		   pg_catalog.pg_get_userbyid(mo.owner::pg_catalog.oid) AS owner_name INTO m
	  FROM @extschema@.limaml_model mo
	  LEFT JOIN @extschema@.limaml_model_version v ON v.model_id = mo.model_id AND v.version = mo.active_version
	 WHERE mo.name = limaml_refresh.model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'limaml model "%" does not exist', model USING ERRCODE = '42704';
	END IF;
	-- before any work: a grantee would read the source with its own rights
	IF NOT m.owned THEN
		RAISE EXCEPTION 'permission denied for limaml model "%"', model USING ERRCODE = '42501',
			HINT = pg_catalog.format('Only its owner (%s), members of that role and superusers may refresh it.',
									 m.owner_name);
	END IF;
	IF embeddings IS NOT NULL THEN
		PERFORM @extschema@.limaml_check_embedding_table(embeddings);
		emb_rows := embeddings::text;
	END IF;
	IF m.source IS NULL THEN
		RAISE EXCEPTION 'limaml model "%" has no source relation', model USING ERRCODE = '55000';
	END IF;
	IF NOT pg_catalog.pg_try_advisory_xact_lock(lock_key, m.model_id) THEN
		SELECT l.pid INTO holder FROM pg_catalog.pg_locks l
		 WHERE l.locktype = 'advisory' AND l.granted AND l.classid = lock_key
		   AND l.objid = m.model_id::oid AND l.objsubid = 2;
		RAISE EXCEPTION 'limaml_refresh of model "%" is already running', model
			USING ERRCODE = '55P03', DETAIL = pg_catalog.format('Backend %s holds it.', holder);
	END IF;

	-- stale: rows whose newest ts or count differ from those adapted on (new,
	-- late or deleted rows), no embedding yet, or an embedding not made by
	-- the active version: an older one, another model of this name (dropped
	-- and re-created), or format 1 (0.1.0, 0.2.0), which has no identity
	FOR b IN EXECUTE pg_catalog.format($q$
		WITH src AS (SELECT member_id, pg_catalog.max(ts) AS ts, pg_catalog.count(*) AS n FROM %s GROUP BY member_id),
		emb AS (SELECT member_id, model_version, source_ts, source_rows,
					   -- format 2's identity (docs/formats.md): the model UUID (bytes 8-23),
					   -- the content hash prefix (32-39) and the version (24-27, little-endian)
					   CASE WHEN pg_catalog.length(embedding) >= 44 AND pg_catalog.get_byte(embedding, 4) = 2
								 AND pg_catalog.get_byte(embedding, 5) = 0
							THEN pg_catalog.substr(embedding, 9, 16) || pg_catalog.substr(embedding, 33, 8)
							END AS identity,
					   @extschema@.limaml_embedding_version(embedding) AS header_version
				  FROM %s),
		stale AS (SELECT coalesce(s.member_id, e.member_id) AS member_id
					FROM src s FULL JOIN emb e ON e.member_id = s.member_id
				   WHERE e.member_id IS NULL OR e.identity IS DISTINCT FROM $4
					  OR e.header_version IS DISTINCT FROM $2 OR e.model_version IS DISTINCT FROM $2
					  OR e.source_ts IS DISTINCT FROM s.ts
					  OR e.source_rows IS DISTINCT FROM coalesce(s.n, 0)),
		numbered AS (SELECT member_id, (pg_catalog.row_number() OVER (ORDER BY member_id) - 1) / $3 AS batch
					   FROM stale)
		SELECT pg_catalog.array_agg(member_id ORDER BY member_id) AS ids,
			   pg_catalog.count(*) OVER () AS batches, pg_catalog.sum(pg_catalog.count(*)) OVER () AS members
		  FROM numbered GROUP BY batch ORDER BY batch$q$, m.source::regclass, emb_rows)
		USING model, m.active_version, batch_size, m.identity
	LOOP
		IF n_batches = 0 THEN
			INSERT INTO @extschema@.limaml_refresh_progress AS p
			VALUES (model, pg_catalog.pg_backend_pid(), m.active_version, batch_size, b.members, 0,
					b.batches, 0, t0, pg_catalog.clock_timestamp(), NULL)
			ON CONFLICT ON CONSTRAINT limaml_refresh_progress_pkey DO UPDATE
			   SET pid = EXCLUDED.pid, model_version = EXCLUDED.model_version,
				   batch_size = EXCLUDED.batch_size, members_total = EXCLUDED.members_total,
				   members_done = 0, batches_total = EXCLUDED.batches_total, batches_done = 0,
				   started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at,
				   finished_at = NULL;
			RAISE NOTICE 'limaml_refresh %: % stale members in % batches of %',
				model, b.members, b.batches, batch_size;
			COMMIT;
			PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
			PERFORM pg_catalog.pg_advisory_xact_lock(lock_key, m.model_id);
		END IF;

		-- one scan of the batch's rows; the fingerprint, and the active version
		-- the aggregate adapts with, come from the statement's snapshot; the
		-- rows converted as limaml_adapt reads them
		SELECT * INTO sel FROM @extschema@.limaml_source_select(model);
		IF embeddings IS NULL THEN
			EXECUTE pg_catalog.format($q$
				WITH v AS (
					SELECT (config ->> 'support_size')::int AS support_size
					  FROM @extschema@.limaml_model WHERE name = $1),
				a AS (
					SELECT member_id, @extschema@.limaml_adapt_agg($1, %s) AS e,
						   pg_catalog.max(ts) AS ts, pg_catalog.count(*) AS n
					  FROM %s src WHERE member_id = ANY ($2) GROUP BY member_id),
				ins AS (
					INSERT INTO @extschema@.limaml_meta_embedding AS t
						(model, member_id, embedding, model_version, n_support, updated_at,
						 source_ts, source_rows)
					-- the version the embedding names, as the aggregate adapted with it
					SELECT $1, a.member_id, a.e, @extschema@.limaml_embedding_version(a.e),
						   least(a.n, v.support_size), pg_catalog.now(),
						   a.ts, a.n
					  FROM a, v
					ON CONFLICT (model, member_id) DO UPDATE
					   SET embedding = EXCLUDED.embedding, model_version = EXCLUDED.model_version,
						   n_support = EXCLUDED.n_support, updated_at = EXCLUDED.updated_at,
						   source_ts = EXCLUDED.source_ts, source_rows = EXCLUDED.source_rows
					RETURNING t.member_id)
				SELECT coalesce(pg_catalog.array_agg(member_id), '{}') FROM ins$q$,
				sel.args, sel.relation)
			INTO done_ids USING model, b.ids;
		ELSE
			-- one statement, which Citus runs on the workers when the table is
			-- co-located with the source
			EXECUTE pg_catalog.format($q$
				WITH ins AS (
					INSERT INTO %s AS t (member_id, embedding, model_version, source_ts, source_rows)
					SELECT a.member_id, a.e, @extschema@.limaml_embedding_version(a.e), a.ts, a.n
					  FROM (SELECT member_id, @extschema@.limaml_adapt_agg($1, %s) AS e,
								   pg_catalog.max(ts) AS ts, pg_catalog.count(*) AS n
							  FROM %s src WHERE member_id = ANY ($2) GROUP BY member_id) a
					ON CONFLICT (member_id) DO UPDATE
					   SET embedding = EXCLUDED.embedding, model_version = EXCLUDED.model_version,
						   source_ts = EXCLUDED.source_ts, source_rows = EXCLUDED.source_rows
					RETURNING t.member_id)
				SELECT coalesce(pg_catalog.array_agg(member_id), '{}') FROM ins$q$,
				embeddings, sel.args, sel.relation)
			INTO done_ids USING model, b.ids;
		END IF;
		-- members left without rows get the cold-start embedding
		SELECT pg_catalog.array_agg(id) INTO missing FROM pg_catalog.unnest(b.ids) id WHERE id <> ALL (done_ids);
		IF missing IS NOT NULL AND embeddings IS NULL THEN
			PERFORM @extschema@.limaml_adapt(id, model) FROM pg_catalog.unnest(missing) id;
		ELSIF missing IS NOT NULL THEN
			EXECUTE pg_catalog.format($q$
				INSERT INTO %s AS t (member_id, embedding, model_version, source_ts, source_rows)
				SELECT c.id, c.e, @extschema@.limaml_embedding_version(c.e), NULL, 0
				  FROM (SELECT id, @extschema@.limaml_adapt(id, $1) AS e FROM pg_catalog.unnest($2) id) c
				ON CONFLICT (member_id) DO UPDATE
				   SET embedding = EXCLUDED.embedding, model_version = EXCLUDED.model_version,
					   source_ts = EXCLUDED.source_ts, source_rows = EXCLUDED.source_rows$q$, embeddings)
			USING model, missing;
		END IF;

		n_batches := n_batches + 1;
		n_done := n_done + pg_catalog.cardinality(b.ids);
		UPDATE @extschema@.limaml_refresh_progress p
		   SET members_done = n_done, batches_done = n_batches, updated_at = pg_catalog.clock_timestamp()
		 WHERE p.model = limaml_refresh.model;
		RAISE NOTICE 'limaml_refresh %: batch %/% committed, %/% members, % members/s',
			model, n_batches, b.batches, n_done, b.members,
			pg_catalog.round(n_done / greatest(extract(epoch FROM pg_catalog.clock_timestamp() - t0), 0.001));
		COMMIT;
		PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
		PERFORM pg_catalog.pg_advisory_xact_lock(lock_key, m.model_id);
	END LOOP;

	INSERT INTO @extschema@.limaml_refresh_progress AS p
	VALUES (model, pg_catalog.pg_backend_pid(), m.active_version, batch_size, n_done, n_done,
			n_batches, n_batches, t0, pg_catalog.clock_timestamp(), pg_catalog.clock_timestamp())
	ON CONFLICT ON CONSTRAINT limaml_refresh_progress_pkey DO UPDATE
	   SET pid = EXCLUDED.pid, updated_at = EXCLUDED.updated_at, finished_at = EXCLUDED.finished_at,
		   members_done = EXCLUDED.members_done, batches_done = EXCLUDED.batches_done,
		   members_total = CASE WHEN n_batches = 0 THEN 0 ELSE p.members_total END,
		   batches_total = CASE WHEN n_batches = 0 THEN 0 ELSE p.batches_total END,
		   started_at = EXCLUDED.started_at, model_version = EXCLUDED.model_version,
		   batch_size = EXCLUDED.batch_size;
	IF n_batches = 0 THEN
		RAISE NOTICE 'limaml_refresh %: every member is fresh', model;
	ELSE
		RAISE NOTICE 'limaml_refresh %: done, % members in % s', model, n_done,
			pg_catalog.round(extract(epoch FROM pg_catalog.clock_timestamp() - t0)::numeric, 1);
	END IF;
END
$proc$;
COMMENT ON PROCEDURE limaml_refresh(text, int, regclass)
	IS 'adapts every member whose source rows changed since their embedding (or whose embedding was not made by the active version: an older one, another model, or format 1 of limaml 0.1.0/0.2.0), committing after each batch; resumable, progress in limaml_refresh_status; embeddings => a table (e.g. distributed by Citus, co-located with the source) to store them in instead of limaml_meta_embedding';

-- ---------------------------------------------------------------- ownership

-- a model belongs to its owner; others use it once granted (README, Security)
COMMENT ON COLUMN limaml_model.owner IS 'role owning the model: it, its members and superusers may train, import into, alter, drop and export it';

CREATE TABLE limaml_model_grant (
	model_id int NOT NULL REFERENCES limaml_model ON DELETE CASCADE,
	grantee regrole NOT NULL,
	PRIMARY KEY (model_id, grantee)
);
SELECT pg_catalog.pg_extension_config_dump('limaml_model_grant', '');
-- readable by every role, as PostgreSQL's own ACLs; written by limaml_grant and limaml_revoke
GRANT SELECT ON limaml_model_grant TO PUBLIC;
COMMENT ON TABLE limaml_model_grant IS 'roles that may use a model of another role (limaml_grant, limaml_revoke)';
COMMENT ON COLUMN limaml_model_grant.model_id IS 'model granted';
COMMENT ON COLUMN limaml_model_grant.grantee IS 'role that may use the model, with its members';
CREATE TRIGGER limaml_model_grant_changed
	AFTER INSERT OR UPDATE OR DELETE ON limaml_model_grant
	FOR EACH STATEMENT EXECUTE FUNCTION limaml_catalog_changed();
CREATE TRIGGER limaml_model_grant_truncated
	AFTER TRUNCATE ON limaml_model_grant
	FOR EACH STATEMENT EXECUTE FUNCTION limaml_catalog_changed();

-- versions are immutable
REVOKE UPDATE ON limaml_model_version FROM PUBLIC;

CREATE FUNCTION limaml_check_owner() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION limaml_check_owner() IS 'internal: trigger: only a model''s owner may change or delete its rows (42501)';
CREATE TRIGGER limaml_model_owner_check
	BEFORE UPDATE OR DELETE ON limaml_model
	FOR EACH ROW EXECUTE FUNCTION limaml_check_owner();
CREATE TRIGGER limaml_meta_embedding_owner_check
	BEFORE UPDATE OR DELETE ON limaml_meta_embedding
	FOR EACH ROW EXECUTE FUNCTION limaml_check_owner();
CREATE TRIGGER limaml_refresh_progress_owner_check
	BEFORE UPDATE OR DELETE ON limaml_refresh_progress
	FOR EACH ROW EXECUTE FUNCTION limaml_check_owner();

-- rows of a model are visible to the roles that may use it, new rows only to its owner
ALTER TABLE limaml_model ENABLE ROW LEVEL SECURITY;
CREATE POLICY limaml_model_access ON limaml_model
	USING (pg_catalog.pg_has_role(owner::pg_catalog.oid, 'MEMBER')
		   OR EXISTS (SELECT 1 FROM @extschema@.limaml_model_grant g
					   WHERE g.model_id = limaml_model.model_id
						 AND pg_catalog.pg_has_role(g.grantee::pg_catalog.oid, 'MEMBER')))
	WITH CHECK (pg_catalog.pg_has_role(owner::pg_catalog.oid, 'MEMBER'));
COMMENT ON POLICY limaml_model_access ON limaml_model
	IS 'a model is visible to its owner and grantees (and their members); only its owner writes it';

ALTER TABLE limaml_model_version ENABLE ROW LEVEL SECURITY;
CREATE POLICY limaml_model_version_access ON limaml_model_version
	USING (EXISTS (SELECT 1 FROM @extschema@.limaml_model m
					WHERE m.model_id = limaml_model_version.model_id
					  AND pg_catalog.pg_has_role(m.owner::pg_catalog.oid, 'MEMBER')));
COMMENT ON POLICY limaml_model_version_access ON limaml_model_version
	IS 'parameters are the owner''s: grantees use them through the limaml functions only';

ALTER TABLE limaml_meta_embedding ENABLE ROW LEVEL SECURITY;
CREATE POLICY limaml_meta_embedding_access ON limaml_meta_embedding
	USING (EXISTS (SELECT 1 FROM @extschema@.limaml_model m WHERE m.name = limaml_meta_embedding.model))
	WITH CHECK (EXISTS (SELECT 1 FROM @extschema@.limaml_model m
						 WHERE m.name = limaml_meta_embedding.model
						   AND pg_catalog.pg_has_role(m.owner::pg_catalog.oid, 'MEMBER')));
COMMENT ON POLICY limaml_meta_embedding_access ON limaml_meta_embedding
	IS 'embeddings of a model are read by the roles that may use it, written by its owner';

ALTER TABLE limaml_refresh_progress ENABLE ROW LEVEL SECURITY;
CREATE POLICY limaml_refresh_progress_access ON limaml_refresh_progress
	USING (EXISTS (SELECT 1 FROM @extschema@.limaml_model m WHERE m.name = limaml_refresh_progress.model))
	WITH CHECK (EXISTS (SELECT 1 FROM @extschema@.limaml_model m
						 WHERE m.name = limaml_refresh_progress.model
						   AND pg_catalog.pg_has_role(m.owner::pg_catalog.oid, 'MEMBER')));
COMMENT ON POLICY limaml_refresh_progress_access ON limaml_refresh_progress
	IS 'refresh progress of a model is read by the roles that may use it, written by its owner';

CREATE FUNCTION limaml_grant(model text, role regrole) RETURNS void
AS 'MODULE_PATHNAME', 'limaml_grant' LANGUAGE C;
COMMENT ON FUNCTION limaml_grant(text, regrole)
	IS 'lets a role (and its members) use a model: adapt, score, read its embeddings; owner only';

CREATE FUNCTION limaml_revoke(model text, role regrole) RETURNS void
AS 'MODULE_PATHNAME', 'limaml_revoke' LANGUAGE C;
COMMENT ON FUNCTION limaml_revoke(text, regrole)
	IS 'takes back limaml_grant: the role may no longer use the model, from its next statement; owner only';

-- ----------------------------------------------------------------- serving

CREATE FUNCTION limaml_score(embedding bytea, item_features real[]) RETURNS real
AS 'MODULE_PATHNAME', 'limaml_score' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_score(bytea, real[])
	IS 'scores an item for a member with the global block of the model version that produced the embedding: a probability (bce) or a value (mse); a model with item_buckets scores it as the unknown item';

CREATE FUNCTION limaml_score(embedding bytea, item_features real[], item_id bigint) RETURNS real
AS 'MODULE_PATHNAME', 'limaml_score' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION limaml_score(bytea, real[], bigint)
	IS 'scores an item by its features and item id: with item_buckets the item id picks the hashed item embedding (NULL, or a bucket never trained: the unknown item); models without item_buckets ignore item_id; NULL when the embedding or the features are NULL';

-- serving (issue 5)

CREATE FUNCTION limaml_item_encode(model text, item_features real[], version int DEFAULT NULL,
	item_id bigint DEFAULT NULL) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_item_encode' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION limaml_item_encode(text, real[], int, bigint)
	IS 'item code: the item side of the first global layer for a model version (default: the active one), for limaml_score(embedding, item_code); with item_buckets the code includes the item_id''s embedding row (NULL: the unknown item), pass it as item_id => id; models without item_buckets ignore item_id';

CREATE FUNCTION limaml_score(embedding bytea, item_code bytea) RETURNS real
AS 'MODULE_PATHNAME', 'limaml_score_code' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_score(bytea, bytea)
	IS 'scores an item code from limaml_item_encode for a member: the same score as with the item''s features, for less work per candidate';

CREATE FUNCTION limaml_item_code_info(item_code bytea,
	OUT model text, OUT model_id int, OUT version int, OUT len int,
	OUT format int, OUT model_uuid uuid, OUT content_hash bytea)
AS 'MODULE_PATHNAME', 'limaml_item_code_info' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_item_code_info(bytea) IS 'the item code''s header: model and model id on this node (an error when this node has no version of the code''s identity), version, floats in the code, format, model UUID and content hash prefix';

CREATE FUNCTION limaml_top_k(model text, items regclass, k int DEFAULT 10, members bigint[] DEFAULT NULL,
	id_column text DEFAULT 'item_id', features_column text DEFAULT 'features', exclude regclass DEFAULT NULL,
	OUT member_id bigint, OUT item_id bigint, OUT score real, OUT rank int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'limaml_top_k' LANGUAGE C STABLE;
COMMENT ON FUNCTION limaml_top_k(text, regclass, int, bigint[], text, text, regclass)
	IS 'the k best items of a relation (item id and features columns: id_column, features_column) for every member of a model (or those listed), as ORDER BY limaml_score(embedding, features, item_id) DESC, item_id would rank them, without the (member_id, item_id) rows of exclude; for batch jobs';

-- serving helpers (issue 11)

CREATE FUNCTION limaml_recommend(model text, member_id bigint, k int DEFAULT 10, items regclass DEFAULT NULL,
	exclude regclass DEFAULT NULL, exclude_seen boolean DEFAULT true,
	OUT item_id bigint, OUT score real, OUT rank int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'limaml_recommend' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION limaml_recommend(text, bigint, int, regclass, regclass, boolean)
	IS 'one member''s k best items of a relation of (item_id, features) (default: the model''s items), ranked as limaml_top_k ranks them, without the items the member has in the model''s source (exclude_seen) and those of exclude ((member_id, item_id) or (item_id)); a member without a stored embedding is adapted first';

CREATE FUNCTION limaml_cold_embedding(model text, member_features anyarray) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_cold_embedding' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION limaml_cold_embedding(text, anyarray)
	IS 'the embedding of a member without interactions from its features (a numeric array of the model''s member_dim): what limaml_adapt gives such a member through the members relation; stores nothing';

CREATE FUNCTION limaml_cold_embedding(model text) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_cold_embedding' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION limaml_cold_embedding(text)
	IS 'the embedding of a member with neither interactions nor features (all-zero features); stores nothing';

CREATE FUNCTION limaml_alter_model(name text, source regclass DEFAULT NULL, members regclass DEFAULT NULL,
	items regclass DEFAULT NULL, clear_members boolean DEFAULT false, clear_items boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'limaml_alter_model' LANGUAGE C;
COMMENT ON FUNCTION limaml_alter_model(text, regclass, regclass, regclass, boolean, boolean)
	IS 'points a model at another source, members or items relation (checked as limaml_create_model checks them, feature lengths included) or clears members or items, without retraining; owner only';

CREATE FUNCTION limaml_serving_isa() RETURNS text
AS 'MODULE_PATHNAME', 'limaml_serving_isa' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION limaml_serving_isa() IS 'the instruction set of the scoring kernels on this server: avx512, avx2 or scalar';

-- -------------------------------------------------------- embedding format

CREATE FUNCTION limaml_embedding_array(embedding bytea) RETURNS real[]
AS 'MODULE_PATHNAME', 'limaml_embedding_array' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_embedding_array(bytea) IS 'the meta embedding''s vector';

CREATE FUNCTION limaml_embedding_info(embedding bytea,
	OUT model text, OUT model_id int, OUT version int, OUT dim int, OUT n_support int,
	OUT format int, OUT model_uuid uuid, OUT content_hash bytea)
AS 'MODULE_PATHNAME', 'limaml_embedding_info' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_embedding_info(bytea) IS 'the meta embedding''s header: model and model id on this node (an error when this node has no version of the embedding''s identity), version, dimension, support rows, format, model UUID and content hash prefix';

-- --------------------------------------------------- operations (issue 11)

-- what a role may see, as the catalog's row-level security shows it
CREATE VIEW limaml_models WITH (security_invoker = true) AS
SELECT m.name, m.owner, m.source, m.config ->> 'loss' AS loss, m.active_version,
	   v.versions, pg_catalog.octet_length(a.params) / 4 AS parameters, v.bytes,
	   m.created_at, a.created_at AS trained_at,
	   (a.training ->> 'seconds')::double precision AS training_seconds,
	   (a.training ->> 'kept_epoch')::int AS kept_epoch,
	   (a.training ->> 'epochs_run')::int AS epochs_run,
	   (k.h ->> 'train_loss')::real AS train_loss,
	   (k.h ->> 'val_loss_cold')::real AS val_loss_cold,
	   (k.h ->> 'val_loss_adapted')::real AS val_loss_adapted,
	   (k.h ->> 'val_auc_cold')::real AS val_auc_cold,
	   (k.h ->> 'val_auc_adapted')::real AS val_auc_adapted,
	   (SELECT pg_catalog.count(*) FROM limaml_meta_embedding e WHERE e.model = m.name) AS embeddings
  FROM limaml_model m
  LEFT JOIN limaml_model_version a ON a.model_id = m.model_id AND a.version = m.active_version
  LEFT JOIN LATERAL (SELECT pg_catalog.count(*)::int AS versions,
							pg_catalog.sum(pg_catalog.octet_length(x.params))::bigint AS bytes
					   FROM limaml_model_version x WHERE x.model_id = m.model_id) v ON true
  LEFT JOIN LATERAL (SELECT h FROM pg_catalog.jsonb_array_elements(
						 CASE WHEN pg_catalog.jsonb_typeof(a.training -> 'history') = 'array'
							  THEN a.training -> 'history' END) h
					  WHERE (h ->> 'epoch')::int = (a.training ->> 'kept_epoch')::int) k ON true;
GRANT SELECT ON limaml_models TO PUBLIC;
COMMENT ON VIEW limaml_models IS 'one row per model the current role may see: active version, sizes, training time, kept epoch and its validation metrics';
COMMENT ON COLUMN limaml_models.name IS 'model name';
COMMENT ON COLUMN limaml_models.owner IS 'role owning the model';
COMMENT ON COLUMN limaml_models.source IS 'relation of interactions (NULL: imported without one)';
COMMENT ON COLUMN limaml_models.loss IS 'bce or mse';
COMMENT ON COLUMN limaml_models.active_version IS 'version used by adaptation and scoring';
COMMENT ON COLUMN limaml_models.versions IS 'stored versions (0 for a role that may use but not own the model)';
COMMENT ON COLUMN limaml_models.parameters IS 'parameters of the active version';
COMMENT ON COLUMN limaml_models.bytes IS 'bytes of parameters held by all versions (what limaml_drop_version frees)';
COMMENT ON COLUMN limaml_models.created_at IS 'creation time of the model';
COMMENT ON COLUMN limaml_models.trained_at IS 'creation time of the active version';
COMMENT ON COLUMN limaml_models.training_seconds IS 'seconds limaml_train took for the active version (NULL: initialization, import, or trained before 0.3.0)';
COMMENT ON COLUMN limaml_models.kept_epoch IS 'epoch whose parameters the active version holds';
COMMENT ON COLUMN limaml_models.epochs_run IS 'epochs run by the training of the active version';
COMMENT ON COLUMN limaml_models.train_loss IS 'training loss of the kept epoch';
COMMENT ON COLUMN limaml_models.val_loss_cold IS 'validation loss of the kept epoch, cold (NULL: no validation members)';
COMMENT ON COLUMN limaml_models.val_loss_adapted IS 'validation loss of the kept epoch after adaptation';
COMMENT ON COLUMN limaml_models.val_auc_cold IS 'validation AUC of the kept epoch, cold (bce)';
COMMENT ON COLUMN limaml_models.val_auc_adapted IS 'validation AUC of the kept epoch after adaptation (bce)';
COMMENT ON COLUMN limaml_models.embeddings IS 'meta embeddings stored in limaml_meta_embedding';

CREATE FUNCTION limaml_drop_version(model text, version int, force boolean DEFAULT false) RETURNS boolean
AS 'MODULE_PATHNAME', 'limaml_drop_version' LANGUAGE C STRICT;
COMMENT ON FUNCTION limaml_drop_version(text, int, boolean)
	IS 'drops a stored version that is neither active nor the newest; refuses one still used by meta embeddings unless force (which drops them too); false when there is no such version; owner only';

-- ----------------------------------------------- model identity (issue 10)

-- the same model, version and parameters on every node and database: the
-- UUID and the content hash embeddings, item codes and exports carry
ALTER TABLE limaml_model ADD COLUMN model_uuid uuid NOT NULL UNIQUE DEFAULT pg_catalog.gen_random_uuid();
ALTER TABLE limaml_model_version ADD COLUMN content_hash bytea NOT NULL
	CHECK (pg_catalog.octet_length(content_hash) = 32);

COMMENT ON COLUMN limaml_model.model_id IS 'per-database number of the model (model_uuid is its identity everywhere)';
COMMENT ON COLUMN limaml_model.model_uuid IS 'identity of the model on every node and database: kept by limaml_model_export and limaml_model_import, carried by every meta embedding and item code';
COMMENT ON COLUMN limaml_model_version.content_hash IS 'SHA-256 of the configuration and parameters (limaml_content_hash): embeddings, item codes and exports carry it, and a version of this number with other parameters is refused';

CREATE FUNCTION limaml_content_hash(config jsonb, params bytea) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_content_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_content_hash(jsonb, bytea)
	IS 'the content hash of a model version: SHA-256 of its configuration (as limaml writes it) and little-endian float32 parameters, as limaml_model_version.content_hash holds it';

CREATE FUNCTION limaml_embedding_version(embedding bytea) RETURNS int
AS 'MODULE_PATHNAME', 'limaml_embedding_version' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_embedding_version(bytea)
	IS 'the model version number in a meta embedding''s header, without the catalog (NULL when the bytea is no valid meta embedding); limaml_refresh records it';
-- Citus: one command copies models from the coordinator to every worker
CREATE FUNCTION limaml_publish_apply(snapshot jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
	lock_name CONSTANT int := 1280134222;	-- lm_lock_model_name's class ('LMLN')
	lock_model CONSTANT int := 1280134217;	-- lm_lock_model_id's class ('LMLI')
	model_name text := snapshot ->> 'name';
	want @extschema@.limaml_model;
	local_id int;
	v jsonb;
	n_written int := 0;
	n_removed int;
BEGIN
	IF model_name IS NULL THEN
		RAISE EXCEPTION 'limaml_publish_apply needs a snapshot made by limaml_publish' USING ERRCODE = '22023';
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(lock_name, pg_catalog.hashtext(model_name));
	IF snapshot -> 'model' IS NULL OR snapshot -> 'model' = 'null'::jsonb THEN
		-- dropped on the coordinator: drop it here too
		IF EXISTS (SELECT 1 FROM @extschema@.limaml_model m WHERE m.name = model_name) THEN
			PERFORM @extschema@.limaml_drop_model(model_name);
			RETURN 'dropped';
		END IF;
		RETURN 'absent';
	END IF;

	-- relations are named as on the coordinator; one missing here is left NULL
	want := pg_catalog.jsonb_populate_record(NULL::@extschema@.limaml_model,
		(snapshot -> 'model') - 'model_id' - 'source' - 'members' - 'items');
	want.source := pg_catalog.to_regclass(snapshot -> 'model' ->> 'source');
	want.members := pg_catalog.to_regclass(snapshot -> 'model' ->> 'members');
	want.items := pg_catalog.to_regclass(snapshot -> 'model' ->> 'items');

	-- another model under this name (dropped and re-created on the coordinator) goes
	IF EXISTS (SELECT 1 FROM @extschema@.limaml_model m
				WHERE m.name = model_name AND m.model_uuid <> want.model_uuid) THEN
		PERFORM @extschema@.limaml_drop_model(model_name);
	END IF;

	SELECT m.model_id INTO local_id FROM @extschema@.limaml_model m WHERE m.model_uuid = want.model_uuid;
	IF NOT FOUND THEN
		INSERT INTO @extschema@.limaml_model AS m (name, model_uuid, source, members, config, active_version,
												   created_at, items, owner)
		VALUES (want.name, want.model_uuid, want.source, want.members, want.config, NULL,
				want.created_at, want.items, want.owner)
		RETURNING m.model_id INTO local_id;
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(lock_model, local_id);

	-- versions: the coordinator's set, byte for byte
	DELETE FROM @extschema@.limaml_model_version mv
	 WHERE mv.model_id = local_id
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(snapshot -> 'versions') s
					    WHERE (s ->> 'version')::int = mv.version
						  AND (s ->> 'content_hash') = mv.content_hash::text);
	GET DIAGNOSTICS n_removed = ROW_COUNT;
	FOR v IN SELECT s FROM pg_catalog.jsonb_array_elements(snapshot -> 'versions') s LOOP
		INSERT INTO @extschema@.limaml_model_version
		SELECT (pg_catalog.jsonb_populate_record(NULL::@extschema@.limaml_model_version,
				v || pg_catalog.jsonb_build_object('model_id', local_id))).*
		ON CONFLICT DO NOTHING;
		IF FOUND THEN
			n_written := n_written + 1;
		END IF;
	END LOOP;

	UPDATE @extschema@.limaml_model m
	   SET name = want.name, source = want.source, members = want.members, config = want.config,
		   active_version = want.active_version, created_at = want.created_at, items = want.items,
		   owner = want.owner
	 WHERE m.model_id = local_id
	   AND (m.name, m.source, m.members, m.config, m.active_version, m.created_at, m.items, m.owner)
		   IS DISTINCT FROM (want.name, want.source, want.members, want.config, want.active_version,
							 want.created_at, want.items, want.owner);

	-- grants: the coordinator's, for the roles this node has
	DELETE FROM @extschema@.limaml_model_grant g
	 WHERE g.model_id = local_id
	   AND g.grantee::text NOT IN (SELECT pg_catalog.jsonb_array_elements_text(snapshot -> 'grants'));
	INSERT INTO @extschema@.limaml_model_grant (model_id, grantee)
	SELECT local_id, pg_catalog.to_regrole(r)
	  FROM pg_catalog.jsonb_array_elements_text(snapshot -> 'grants') r
	 WHERE pg_catalog.to_regrole(r) IS NOT NULL
	ON CONFLICT DO NOTHING;

	RETURN pg_catalog.format('%s versions written, %s removed', n_written, n_removed);
END
$fn$;
COMMENT ON FUNCTION limaml_publish_apply(jsonb)
	IS 'internal: run on a Citus worker by limaml_publish: makes one model as on the coordinator';

CREATE FUNCTION limaml_publish(model text DEFAULT NULL)
RETURNS TABLE (node text, model_name text, result text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
	names text[];
	model_names text[];
	snapshot jsonb;
	r record;
	this_version text;
	bad text;
	one text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
		RAISE EXCEPTION 'limaml_publish needs the citus extension in this database' USING ERRCODE = '55000',
			HINT = 'Without Citus, copy a model with limaml_model_export and limaml_model_import.';
	END IF;
	IF NOT pg_catalog.citus_is_coordinator() THEN
		RAISE EXCEPTION 'limaml_publish runs on the citus coordinator' USING ERRCODE = '55000',
			HINT = 'The coordinator''s catalog is the one published to the workers.';
	END IF;
	IF model IS NULL THEN
		SELECT pg_catalog.array_agg(m.name ORDER BY m.name) INTO model_names
		  FROM @extschema@.limaml_model m WHERE pg_catalog.pg_has_role(m.owner::pg_catalog.oid, 'MEMBER');
	ELSE
		model_names := ARRAY[model];
		IF EXISTS (SELECT 1 FROM @extschema@.limaml_model m WHERE m.name = model
					  AND NOT pg_catalog.pg_has_role(m.owner::pg_catalog.oid, 'MEMBER')) THEN
			RAISE EXCEPTION 'permission denied for limaml model "%"', model USING ERRCODE = '42501',
				HINT = 'Only its owner, members of that role and superusers may publish it.';
		END IF;
	END IF;

	-- every worker must answer, with this limaml version, before any is written
	SELECT e.extversion INTO this_version FROM pg_catalog.pg_extension e WHERE e.extname = 'limaml';
	SELECT pg_catalog.string_agg(pg_catalog.format('%s:%s: %s', w.nodename, w.nodeport,
		   CASE WHEN w.success THEN 'limaml ' || coalesce(w.result, 'is not installed') ELSE w.result END), '; ')
	  INTO bad
	  FROM pg_catalog.run_command_on_workers(
			$q$SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'limaml'$q$) w
	 WHERE NOT w.success OR w.result IS DISTINCT FROM this_version;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'limaml_publish cannot reach every worker with limaml %', this_version
			USING ERRCODE = '08006', DETAIL = bad,
			HINT = 'Nothing was published. Bring the node back (or citus_disable_node it), then publish again.';
	END IF;

	FOREACH one IN ARRAY coalesce(model_names, '{}') LOOP
		SELECT pg_catalog.jsonb_build_object(
				'name', one,
				'model', pg_catalog.to_jsonb(m),
				'versions', (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(mv) - 'model_id' ORDER BY mv.version), '[]')
							   FROM @extschema@.limaml_model_version mv WHERE mv.model_id = m.model_id),
				'grants', (SELECT coalesce(pg_catalog.jsonb_agg(g.grantee::text), '[]')
							 FROM @extschema@.limaml_model_grant g WHERE g.model_id = m.model_id))
		  INTO snapshot
		  FROM @extschema@.limaml_model m WHERE m.name = one;
		IF NOT FOUND THEN
			snapshot := pg_catalog.jsonb_build_object('name', one, 'model', NULL);
		END IF;
		FOR r IN SELECT w.nodename, w.nodeport, w.success, w.result
				   FROM pg_catalog.run_command_on_workers(pg_catalog.format(
						'SELECT @extschema@.limaml_publish_apply(%L::jsonb)', snapshot)) w
				  ORDER BY w.nodename, w.nodeport LOOP
			IF NOT r.success THEN
				RAISE EXCEPTION 'limaml_publish of model "%" failed on node %:%', one, r.nodename, r.nodeport
					USING ERRCODE = '58000', DETAIL = r.result,
					HINT = 'Each node applies a model in one transaction; publish again: it is idempotent.';
			END IF;
			node := r.nodename || ':' || r.nodeport;
			model_name := one;
			result := r.result;
			RETURN NEXT;
		END LOOP;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION limaml_publish(text)
	IS 'copies a model (default: every model of the caller) from the Citus coordinator to every worker, idempotently';

-- the model named by its uuid: uuid has no collation, so postgres_fdw ships
-- these forms to foreign partitions (a text argument's collation stops it)
CREATE FUNCTION limaml_adapt_agg_transfn(internal, uuid, real[], real[], real) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_transfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_transfn(internal, uuid, real[], real[], real)
	IS 'internal: limaml_adapt_agg transition, the model named by its uuid';
CREATE FUNCTION limaml_adapt_agg_finalfn(internal, uuid, real[], real[], real) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_finalfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_finalfn(internal, uuid, real[], real[], real)
	IS 'internal: limaml_adapt_agg final, the model named by its uuid';
CREATE AGGREGATE limaml_adapt_agg(model uuid, member_features real[], item_features real[], label real) (
	SFUNC = limaml_adapt_agg_transfn,
	STYPE = internal,
	SSPACE = 8192,
	FINALFUNC = limaml_adapt_agg_finalfn,
	FINALFUNC_EXTRA,
	FINALFUNC_MODIFY = READ_ONLY,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE limaml_adapt_agg(uuid, real[], real[], real)
	IS 'limaml_adapt_agg with the model named by its uuid (use ORDER BY ts inside the call): shippable by postgres_fdw';
CREATE FUNCTION limaml_adapt_agg_transfn(internal, uuid, real[], real[], real, timestamptz) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_transfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_transfn(internal, uuid, real[], real[], real, timestamptz)
	IS 'internal: limaml_adapt_agg transition, the model named by its uuid';
CREATE FUNCTION limaml_adapt_agg_finalfn(internal, uuid, real[], real[], real, timestamptz) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_finalfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_finalfn(internal, uuid, real[], real[], real, timestamptz)
	IS 'internal: limaml_adapt_agg final, the model named by its uuid';
CREATE AGGREGATE limaml_adapt_agg(model uuid, member_features real[], item_features real[], label real, ts timestamptz) (
	SFUNC = limaml_adapt_agg_transfn,
	STYPE = internal,
	SSPACE = 8192,
	FINALFUNC = limaml_adapt_agg_finalfn,
	FINALFUNC_EXTRA,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = limaml_adapt_agg_combinefn,
	SERIALFUNC = limaml_adapt_agg_serializefn,
	DESERIALFUNC = limaml_adapt_agg_deserializefn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE limaml_adapt_agg(uuid, real[], real[], real, timestamptz)
	IS 'limaml_adapt_agg with the model named by its uuid (newest support_size by ts, parallel-capable): shippable by postgres_fdw';
CREATE FUNCTION limaml_adapt_agg_transfn(internal, uuid, real[], real[], real, bigint) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_transfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_transfn(internal, uuid, real[], real[], real, bigint)
	IS 'internal: limaml_adapt_agg transition, the model named by its uuid';
CREATE FUNCTION limaml_adapt_agg_finalfn(internal, uuid, real[], real[], real, bigint) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_finalfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_finalfn(internal, uuid, real[], real[], real, bigint)
	IS 'internal: limaml_adapt_agg final, the model named by its uuid';
CREATE AGGREGATE limaml_adapt_agg(model uuid, member_features real[], item_features real[], label real, item_id bigint) (
	SFUNC = limaml_adapt_agg_transfn,
	STYPE = internal,
	SSPACE = 8192,
	FINALFUNC = limaml_adapt_agg_finalfn,
	FINALFUNC_EXTRA,
	FINALFUNC_MODIFY = READ_ONLY,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE limaml_adapt_agg(uuid, real[], real[], real, bigint)
	IS 'limaml_adapt_agg with the model named by its uuid (with item ids; use ORDER BY ts inside the call): shippable by postgres_fdw';
CREATE FUNCTION limaml_adapt_agg_transfn(internal, uuid, real[], real[], real, timestamptz, bigint) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_transfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_transfn(internal, uuid, real[], real[], real, timestamptz, bigint)
	IS 'internal: limaml_adapt_agg transition, the model named by its uuid';
CREATE FUNCTION limaml_adapt_agg_finalfn(internal, uuid, real[], real[], real, timestamptz, bigint) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_finalfn' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION limaml_adapt_agg_finalfn(internal, uuid, real[], real[], real, timestamptz, bigint)
	IS 'internal: limaml_adapt_agg final, the model named by its uuid';
CREATE AGGREGATE limaml_adapt_agg(model uuid, member_features real[], item_features real[], label real, ts timestamptz, item_id bigint) (
	SFUNC = limaml_adapt_agg_transfn,
	STYPE = internal,
	SSPACE = 8192,
	FINALFUNC = limaml_adapt_agg_finalfn,
	FINALFUNC_EXTRA,
	FINALFUNC_MODIFY = READ_ONLY,
	COMBINEFUNC = limaml_adapt_agg_combinefn,
	SERIALFUNC = limaml_adapt_agg_serializefn,
	DESERIALFUNC = limaml_adapt_agg_deserializefn,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE limaml_adapt_agg(uuid, real[], real[], real, timestamptz, bigint)
	IS 'limaml_adapt_agg with the model named by its uuid (with item ids, newest support_size by ts, parallel-capable): shippable by postgres_fdw';
