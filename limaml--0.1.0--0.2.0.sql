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

-- limaml_refresh: every function it calls is schema-qualified (a procedure that commits cannot
-- pin search_path with SET), so a same-named function in a schema on the caller's path is never run
CREATE OR REPLACE PROCEDURE limaml_refresh(model text, batch_size int DEFAULT 10000)
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
BEGIN
	IF batch_size IS NULL OR batch_size < 1 OR batch_size > 10000000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 10000000, not %', batch_size
			USING ERRCODE = '22023';
	END IF;
	SELECT mo.model_id, mo.active_version, mo.source,
		   coalesce((mo.config ->> 'item_buckets')::int, 0) > 0 AS item_ids INTO m
	  FROM @extschema@.limaml_model mo WHERE mo.name = limaml_refresh.model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'limaml model "%" does not exist', model USING ERRCODE = '42704';
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
	-- late or deleted rows), no embedding yet, an older model version, or an
	-- embedding made by another model of this name (dropped and re-created)
	FOR b IN EXECUTE pg_catalog.format($q$
		WITH src AS (SELECT member_id, pg_catalog.max(ts) AS ts, pg_catalog.count(*) AS n FROM %s GROUP BY member_id),
		emb AS (SELECT member_id, model_version, source_ts, source_rows,
					   -- the model id in the embedding's header (bytes 8-11, little-endian);
					   -- -1 for a bytea too short to hold one (stale as well)
					   CASE WHEN pg_catalog.length(embedding) >= 12
							THEN pg_catalog.get_byte(embedding, 8) + pg_catalog.get_byte(embedding, 9) * 256
								 + pg_catalog.get_byte(embedding, 10) * 65536
								 + pg_catalog.get_byte(embedding, 11)::bigint * 16777216
							ELSE -1 END AS header_model_id
				  FROM @extschema@.limaml_meta_embedding WHERE model = $1),
		stale AS (SELECT coalesce(s.member_id, e.member_id) AS member_id
					FROM src s FULL JOIN emb e ON e.member_id = s.member_id
				   WHERE e.member_id IS NULL OR e.model_version <> $2 OR e.header_model_id <> $4
					  OR e.source_ts IS DISTINCT FROM s.ts
					  OR e.source_rows IS DISTINCT FROM coalesce(s.n, 0)),
		numbered AS (SELECT member_id, (pg_catalog.row_number() OVER (ORDER BY member_id) - 1) / $3 AS batch
					   FROM stale)
		SELECT pg_catalog.array_agg(member_id ORDER BY member_id) AS ids,
			   pg_catalog.count(*) OVER () AS batches, pg_catalog.sum(pg_catalog.count(*)) OVER () AS members
		  FROM numbered GROUP BY batch ORDER BY batch$q$, m.source::regclass)
		USING model, m.active_version, batch_size, m.model_id
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
			PERFORM pg_catalog.pg_advisory_xact_lock(lock_key, m.model_id);
		END IF;

		-- one scan of the batch's rows; the fingerprint, and the active version
		-- the aggregate adapts with, come from the statement's snapshot
		EXECUTE pg_catalog.format($q$
			WITH v AS (
				SELECT active_version, (config ->> 'support_size')::int AS support_size
				  FROM @extschema@.limaml_model WHERE name = $1),
			a AS (
				SELECT member_id, @extschema@.limaml_adapt_agg($1, member_features, item_features,
															   label, ts%s) AS e,
					   pg_catalog.max(ts) AS ts, pg_catalog.count(*) AS n
				  FROM %s WHERE member_id = ANY ($2) GROUP BY member_id),
			ins AS (
				INSERT INTO @extschema@.limaml_meta_embedding AS t
					(model, member_id, embedding, model_version, n_support, updated_at,
					 source_ts, source_rows)
				SELECT $1, a.member_id, a.e, v.active_version, least(a.n, v.support_size), pg_catalog.now(),
					   a.ts, a.n
				  FROM a, v
				ON CONFLICT (model, member_id) DO UPDATE
				   SET embedding = EXCLUDED.embedding, model_version = EXCLUDED.model_version,
					   n_support = EXCLUDED.n_support, updated_at = EXCLUDED.updated_at,
					   source_ts = EXCLUDED.source_ts, source_rows = EXCLUDED.source_rows
				RETURNING t.member_id)
			SELECT coalesce(pg_catalog.array_agg(member_id), '{}') FROM ins$q$,
			CASE WHEN m.item_ids THEN ', item_id' ELSE '' END, m.source::regclass)
		INTO done_ids USING model, b.ids;
		-- members left without rows get the cold-start embedding
		SELECT pg_catalog.array_agg(id) INTO missing FROM pg_catalog.unnest(b.ids) id WHERE id <> ALL (done_ids);
		IF missing IS NOT NULL THEN
			PERFORM @extschema@.limaml_adapt(id, model) FROM pg_catalog.unnest(missing) id;
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

-- refresh history is user data: pg_dump keeps it
SELECT pg_catalog.pg_extension_config_dump('limaml_refresh_progress', '');
