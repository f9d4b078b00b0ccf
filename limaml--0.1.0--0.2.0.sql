-- limaml 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION limaml UPDATE TO '0.2.0'" to load this file. \quit

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
