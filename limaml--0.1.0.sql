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
	created_at timestamptz NOT NULL DEFAULT now()
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

-- functions run with the caller's rights (so a model reads only sources its
-- user may read); the catalog is therefore writable by every role
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
COMMENT ON FUNCTION limaml_catalog_changed() IS 'trigger: invalidates every backend''s cached model versions';

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

-- ------------------------------------------------------------------ models

CREATE FUNCTION limaml_create_model(
	name text,
	source regclass,
	embedding_dim int DEFAULT 16,
	meta_hidden int[] DEFAULT '{32}',
	global_hidden int[] DEFAULT '{64}',
	loss text DEFAULT 'bce',
	inner_steps int DEFAULT 5,
	inner_lr real DEFAULT 1.0,
	support_size int DEFAULT 50,
	query_size int DEFAULT 10,
	seed bigint DEFAULT 0,
	members regclass DEFAULT NULL,
	member_dim int DEFAULT NULL,
	item_dim int DEFAULT NULL,
	adapt_steps int DEFAULT NULL,
	adapt_lr real DEFAULT NULL,
	meta_sgd boolean DEFAULT false)
RETURNS int
AS 'MODULE_PATHNAME', 'limaml_create_model' LANGUAGE C;
COMMENT ON FUNCTION limaml_create_model(text, regclass, int, int[], int[], text, int, real, int, int, bigint, regclass, int, int, int, real, boolean)
	IS 'creates a model over a source of interactions and stores its initialization as version 0; returns the model id';

CREATE FUNCTION limaml_drop_model(name text) RETURNS void
AS 'MODULE_PATHNAME', 'limaml_drop_model' LANGUAGE C STRICT;
COMMENT ON FUNCTION limaml_drop_model(text) IS 'drops a model, its versions and its meta embeddings';

CREATE FUNCTION limaml_train(
	name text,
	epochs int DEFAULT 10,
	meta_batch int DEFAULT 32,
	outer_lr real DEFAULT 1e-3,
	validation_fraction real DEFAULT 0.1,
	clip_norm real DEFAULT NULL,
	patience int DEFAULT NULL,
	"order" int DEFAULT 1,
	episodes int DEFAULT 1,
	OUT epoch int,
	OUT train_loss real,
	OUT val_loss_cold real,
	OUT val_loss_adapted real,
	OUT val_auc_cold real,
	OUT val_auc_adapted real)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'limaml_train' LANGUAGE C;
COMMENT ON FUNCTION limaml_train(text, int, int, real, real, real, int, int, int)
	IS 'meta-trains a model with first- or second-order MAML (or conventionally when inner_steps is 0) from its active version and stores the result as a new active version';

CREATE FUNCTION limaml_model_export(name text, version int DEFAULT NULL) RETURNS jsonb
AS 'MODULE_PATHNAME', 'limaml_model_export' LANGUAGE C STABLE;
COMMENT ON FUNCTION limaml_model_export(text, int) IS 'a model version''s configuration and every parameter as jsonb';

CREATE FUNCTION limaml_model_import(name text, model jsonb, source regclass DEFAULT NULL, members regclass DEFAULT NULL)
RETURNS int
AS 'MODULE_PATHNAME', 'limaml_model_import' LANGUAGE C;
COMMENT ON FUNCTION limaml_model_import(text, jsonb, regclass, regclass)
	IS 'stores an exported model as a new active version (creating the model if needed); returns the version';

CREATE FUNCTION limaml_evaluate(
	model text,
	source regclass DEFAULT NULL,
	segments int[] DEFAULT '{5,20,50}',
	query_fraction real DEFAULT NULL,
	version int DEFAULT NULL,
	validation_fraction real DEFAULT NULL,
	OUT segment text,
	OUT members int,
	OUT query_rows bigint,
	OUT auc_cold real,
	OUT auc_adapted real,
	OUT member_auc_cold real,
	OUT member_auc_adapted real,
	OUT logloss_cold real,
	OUT logloss_adapted real,
	OUT mae_cold real,
	OUT mae_adapted real,
	OUT rmse_cold real,
	OUT rmse_adapted real)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'limaml_evaluate' LANGUAGE C;
COMMENT ON FUNCTION limaml_evaluate(text, regclass, int[], real, int, real)
	IS 'cold against adapted prediction quality per member-activity segment and in total, with the training time split';

-- -------------------------------------------------------------- adaptation

CREATE FUNCTION limaml_adapt(member_id bigint, model text DEFAULT NULL) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt' LANGUAGE C;
COMMENT ON FUNCTION limaml_adapt(bigint, text)
	IS 'adapts the meta block to a member''s newest interactions, upserts the meta embedding into limaml_meta_embedding and returns it';

CREATE FUNCTION limaml_adapt_agg_transfn(internal, text, real[], real[], real) RETURNS internal
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_transfn' LANGUAGE C;
COMMENT ON FUNCTION limaml_adapt_agg_transfn(internal, text, real[], real[], real) IS 'limaml_adapt_agg transition: keeps the newest support_size rows';

CREATE FUNCTION limaml_adapt_agg_finalfn(internal, text, real[], real[], real) RETURNS bytea
AS 'MODULE_PATHNAME', 'limaml_adapt_agg_finalfn' LANGUAGE C;
COMMENT ON FUNCTION limaml_adapt_agg_finalfn(internal, text, real[], real[], real) IS 'limaml_adapt_agg final: adapts and encodes the meta embedding';

CREATE AGGREGATE limaml_adapt_agg(model text, member_features real[], item_features real[], label real) (
	SFUNC = limaml_adapt_agg_transfn,
	STYPE = internal,
	FINALFUNC = limaml_adapt_agg_finalfn,
	FINALFUNC_EXTRA,
	FINALFUNC_MODIFY = READ_ONLY
);
COMMENT ON AGGREGATE limaml_adapt_agg(text, real[], real[], real)
	IS 'meta embedding of one member from its rows (use ORDER BY ts inside the call): the bytea limaml_adapt would return';

-- ----------------------------------------------------------------- serving

CREATE FUNCTION limaml_score(embedding bytea, item_features real[]) RETURNS real
AS 'MODULE_PATHNAME', 'limaml_score' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION limaml_score(bytea, real[])
	IS 'scores an item for a member with the global block of the model version that produced the embedding: a probability (bce) or a value (mse)';

-- -------------------------------------------------------- embedding format

CREATE FUNCTION limaml_embedding_array(embedding bytea) RETURNS real[]
AS 'MODULE_PATHNAME', 'limaml_embedding_array' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_embedding_array(bytea) IS 'the meta embedding''s vector';

CREATE FUNCTION limaml_embedding_info(embedding bytea,
	OUT model text, OUT model_id int, OUT version int, OUT dim int, OUT n_support int)
AS 'MODULE_PATHNAME', 'limaml_embedding_info' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION limaml_embedding_info(bytea) IS 'the meta embedding''s header: model, model id, version, dimension, support rows';
