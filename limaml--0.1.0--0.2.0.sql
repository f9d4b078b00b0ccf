-- limaml 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION limaml UPDATE TO '0.2.0'" to load this file. \quit

-- the item relation that negatives are drawn from (positive-only logs)
ALTER TABLE limaml_model ADD COLUMN items regclass;
COMMENT ON COLUMN limaml_model.items IS 'optional relation of (item_id, features) that negatives are drawn from';

-- the wide head (wide, wide_rank, ridge_lambda), history in the meta block,
-- negatives with their items relation
DROP FUNCTION limaml_create_model(text, regclass, int, int[], int[], text, int, real, int, int, bigint, regclass, int, int, int, real, boolean, boolean, int, int);
CREATE FUNCTION limaml_create_model(
	name text,
	source regclass,
	embedding_dim int DEFAULT 16,
	meta_hidden int[] DEFAULT '{32}',
	global_hidden int[] DEFAULT '{64}',
	loss text DEFAULT 'bce',
	inner_steps int DEFAULT 5,
	inner_lr real DEFAULT NULL,
	support_size int DEFAULT 50,
	query_size int DEFAULT 10,
	seed bigint DEFAULT 0,
	members regclass DEFAULT NULL,
	member_dim int DEFAULT NULL,
	item_dim int DEFAULT NULL,
	adapt_steps int DEFAULT NULL,
	adapt_lr real DEFAULT NULL,
	meta_sgd boolean DEFAULT false,
	bilinear boolean DEFAULT false,
	item_buckets int DEFAULT NULL,
	item_embedding_dim int DEFAULT 16,
	wide boolean DEFAULT NULL,
	wide_rank int DEFAULT 16,
	ridge_lambda real DEFAULT 3,
	history boolean DEFAULT NULL,
	negatives int DEFAULT NULL,
	items regclass DEFAULT NULL)
RETURNS int
AS 'MODULE_PATHNAME', 'limaml_create_model' LANGUAGE C;
COMMENT ON FUNCTION limaml_create_model(text, regclass, int, int[], int[], text, int, real, int, int, bigint, regclass, int, int, int, real, boolean, boolean, int, int, boolean, int, real, boolean, int, regclass)
	IS 'creates a model over a source of interactions and stores its initialization as version 0; returns the model id';


-- training on every row, random split points, weight decay, a rate schedule
DROP FUNCTION limaml_train(text, int, int, real, real, real, int, int, int);
CREATE FUNCTION limaml_train(
	name text,
	epochs int DEFAULT 10,
	meta_batch int DEFAULT 32,
	outer_lr real DEFAULT 5e-3,
	validation_fraction real DEFAULT 0.1,
	clip_norm real DEFAULT NULL,
	patience int DEFAULT NULL,
	"order" int DEFAULT 1,
	episodes int DEFAULT 1,
	support_weight real DEFAULT NULL,
	random_splits boolean DEFAULT NULL,
	weight_decay real DEFAULT NULL,
	lr_schedule text DEFAULT NULL,
	OUT epoch int,
	OUT train_loss real,
	OUT val_loss_cold real,
	OUT val_loss_adapted real,
	OUT val_auc_cold real,
	OUT val_auc_adapted real)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'limaml_train' LANGUAGE C;
COMMENT ON FUNCTION limaml_train(text, int, int, real, real, real, int, int, int, real, boolean, real, text)
	IS 'meta-trains a model with first- or second-order MAML (or conventionally when inner_steps is 0) from its active version and stores the result as a new active version';

-- limaml_evaluate: one row per segment and predictor, with the baselines and NDCG@10
DROP FUNCTION limaml_evaluate(text, regclass, int[], real, int, real);
CREATE FUNCTION limaml_evaluate(
	model text,
	source regclass DEFAULT NULL,
	segments int[] DEFAULT '{5,20,50}',
	query_fraction real DEFAULT NULL,
	version int DEFAULT NULL,
	validation_fraction real DEFAULT NULL,
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
COMMENT ON FUNCTION limaml_evaluate(text, regclass, int[], real, int, real)
	IS 'prediction quality of the model cold and adapted and of the popularity and bias baselines on the same query rows, per member-activity segment and in total, with the training time split';

CREATE FUNCTION limaml_evaluate_members(
	model text,
	source regclass DEFAULT NULL,
	query_fraction real DEFAULT NULL,
	version int DEFAULT NULL,
	validation_fraction real DEFAULT NULL,
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
COMMENT ON FUNCTION limaml_evaluate_members(text, regclass, real, int, real)
	IS 'limaml_evaluate per evaluated member: each predictor''s AUC, NDCG@10 and errors on the member''s query rows, for confidence intervals over members';
