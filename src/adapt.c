/*
 * adapt.c - limaml_adapt: one member's meta embedding from the model's
 * source, stored in limaml_meta_embedding.  It adapts on the same rows in
 * the same order as limaml_adapt_agg (adapt_agg.c), so both return the same
 * bytea.  limaml_cold_embedding gives the embedding of a member without
 * rows from features the caller passes.
 */
#include "adapt.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "core/items.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(limaml_adapt);
PG_FUNCTION_INFO_V1(limaml_cold_embedding);

static const float *
members_relation_features(LmModel *model, int64 member_id)
{
	LmSourceSql sql;
	Oid			argtypes[1];
	Datum		args[1];
	bool		isnull;
	Datum		d;
	Oid			shard;

	if (!OidIsValid(model->members))
		return NULL;
	lm_source_sql(model->members, &sql);
	argtypes[0] = sql.member_id_type;
	if (!lm_member_id_param(argtypes[0], member_id, &args[0]))
		return NULL;
	/* a Citus members table: its shard here, as for the source (adapt_plans) */
	shard = lm_citus_local_shard(model->members, member_id);
	lm_execute_plan_as(lm_model_reader(model),
					   SPI_prepare(psprintf("SELECT %s FROM %s src WHERE src.member_id = $1 LIMIT 1",
											sql.member_features,
											lm_model_relation_sql(model, OidIsValid(shard) ? shard : model->members,
																  LM_MEMBERS)),
								   1, argtypes),
					   args, NULL, true, 1);
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return lm_row_member_features(model, isnull ? NULL : DatumGetArrayTypeP(d));
}

/*
 * limaml_adapt's two statements for one source, prepared once per call
 * site and query (parsing and planning them cost more than adapting)
 */
typedef struct AdaptPlans
{
	Oid			source;
	Oid			rows_rel;		/* what the rows statement reads: the source, or its local Citus shard */
	Oid			member_id_type; /* of the source's member_id, the rows statement's $1 */
	bool		item_ids;		/* the rows statement selects item_id */
	SPIPlanPtr	rows;			/* newest rows, and the member's row count */
	SPIPlanPtr	upsert;			/* into limaml_meta_embedding */
	MemoryContextCallback cb;
} AdaptPlans;

static void
free_plans(void *arg)
{
	AdaptPlans *plans = arg;

	if (plans->rows)
		SPI_freeplan(plans->rows);
	if (plans->upsert)
		SPI_freeplan(plans->upsert);
	plans->rows = plans->upsert = NULL;
	plans->source = InvalidOid;
}

static SPIPlanPtr
keep_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	return plan;
}

/* inside SPI_connect */
static AdaptPlans *
adapt_plans(FunctionCallInfo fcinfo, const LmModel *model, Oid rows_rel, Oid *upsert_types)
{
	AdaptPlans *plans = fcinfo->flinfo->fn_extra;
	Oid			row_types[2] = {InvalidOid, INT4OID};
	const char *source;
	LmSourceSql sql;
	/* item ids for their buckets, and for negatives' sampling key */
	bool		item_ids = model->arch.item_buckets > 0 || model->config.negatives > 0;

	lm_source_sql(model->source, &sql);
	if (plans && plans->source == model->source && plans->item_ids == item_ids &&
		plans->member_id_type == sql.member_id_type && plans->rows_rel == rows_rel)
		return plans;
	if (!plans)
	{
		plans = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(AdaptPlans));
		plans->cb.func = free_plans;
		plans->cb.arg = plans;
		MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt, &plans->cb);
		fcinfo->flinfo->fn_extra = plans;
	}
	else
		free_plans(plans);

	/*
	 * The newest rows in the shared row order (lm_row_order_sql, the order
	 * of training and of limaml_adapt_agg), and the member's row count:
	 * with the newest ts, the fingerprint limaml_refresh compares.  member_id
	 * is compared with a parameter of its own type, and the conversions are
	 * in the select list only, so an index on (member_id, ts) serves both.
	 */
	lm_model_check_source(model, model->source);
	if (item_ids)
		lm_check_item_id(model->source);
	source = lm_model_relation_sql(model, rows_rel, LM_SOURCE);
	row_types[0] = sql.member_id_type;
	plans->rows = keep_plan(psprintf("SELECT %s, %s, %s, %s, "
									 "(SELECT count(*) FROM %s c WHERE c.member_id = $1)%s%s FROM %s src "
									 "WHERE src.member_id = $1 ORDER BY %s LIMIT $2",
									 sql.member_features, sql.item_features, sql.label, sql.ts,
									 source,
									 item_ids ? ", " : "", item_ids ? sql.item_id : "",
									 source,
									 lm_row_order_sql(item_ids, true)),
							2, row_types);
	/* nothing when the model was dropped before this call locked it (lm_lock_model_id) */
	plans->upsert = keep_plan(psprintf("INSERT INTO %s.limaml_meta_embedding "
									   "(model, member_id, embedding, model_version, n_support, updated_at, "
									   "source_ts, source_rows) "
									   "SELECT $1, $2, $3, $4, $5, now(), $6, $7 "
									   "WHERE EXISTS (SELECT FROM %s.limaml_model WHERE model_id = $8) "
									   "ON CONFLICT (model, member_id) DO UPDATE SET "
									   "embedding = EXCLUDED.embedding, model_version = EXCLUDED.model_version, "
									   "n_support = EXCLUDED.n_support, updated_at = EXCLUDED.updated_at, "
									   "source_ts = EXCLUDED.source_ts, source_rows = EXCLUDED.source_rows",
									   lm_schema_quoted(), lm_schema_quoted()),
							  8, upsert_types);
	plans->source = model->source;
	plans->rows_rel = rows_rel;
	plans->member_id_type = sql.member_id_type;
	plans->item_ids = item_ids;
	return plans;
}

Datum
limaml_adapt(PG_FUNCTION_ARGS)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	LmModel    *model;
	const LmArch *arch;
	int64		member_id;
	Datum		member_param;
	float	   *items,
			   *labels;
	int32	   *buckets = NULL;
	int64	   *item_ids = NULL;
	int64	   *ts = NULL;
	const float *member = NULL;
	int			n;
	bytea	   *embedding;
	Oid			argtypes[8] = {TEXTOID, INT8OID, BYTEAOID, INT4OID, INT4OID,
							   TIMESTAMPTZOID, INT8OID, INT4OID};
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Datum		source_ts = (Datum) 0;
	bool		source_ts_null = true;
	Datum		source_rows = Int64GetDatum(0);
	AdaptPlans *plans;
	Oid			rows_rel;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("member_id must not be NULL")));
	member_id = PG_GETARG_INT64(0);
	model = lm_model_acquire_by_name(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1), caller_cxt);
	arch = &model->arch;
	if (!OidIsValid(model->source))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" has no source relation", model->name),
				 errhint("Use limaml_adapt_agg over your own rows.")));
	lm_lock_model_id(model->model_id, false);
	/* the copies below and the fetched rows, each about its features' size */
	lm_check_adapt_memory(model, (double) model->config.support_size *
						  (sizeof(float) * (2 * arch->item_feature_dim + arch->member_dim + 1) +
						   sizeof(int32) + 2 * sizeof(int64) + 64));
	items = palloc_extended(sizeof(float) * ((size_t) model->config.support_size * arch->item_feature_dim + 1),
							MCXT_ALLOC_HUGE);
	labels = palloc(sizeof(float) * model->config.support_size);
	if (arch->item_buckets > 0)
		buckets = palloc(sizeof(int32) * (model->config.support_size + 1));
	if (model->config.negatives > 0)
	{
		/* the support window counts source rows; negatives come after */
		item_ids = palloc(sizeof(int64) * (model->config.support_size + 1));
		ts = palloc(sizeof(int64) * (model->config.support_size + 1));
	}

	lm_spi_connect();
	/* in a query Citus shipped to a worker: the member's shard here, not a nested distributed query */
	rows_rel = lm_citus_local_shard(model->source, member_id);
	plans = adapt_plans(fcinfo, model, OidIsValid(rows_rel) ? rows_rel : model->source, argtypes);
	args[1] = Int32GetDatum(model->config.support_size);
	/* an id out of the column type's range has no rows */
	n = 0;
	if (lm_member_id_param(plans->member_id_type, member_id, &member_param))
	{
		args[0] = member_param;
		/* the owner's source with the owner's rights, whoever adapts */
		lm_execute_plan_as(lm_model_reader(model), plans->rows, args, NULL, true, 0);
		n = (int) SPI_processed;
	}
	if (n > 0)
	{
		bool		isnull;

		source_ts = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
		source_ts_null = isnull;
		source_rows = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);
	}
	/* newest first from SPI; the core wants oldest first */
	for (int r = 0; r < n; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int			slot = n - 1 - r;
		bool		isnull;
		Datum		d;
		int			dim;
		const float *v;

		d = SPI_getbinval(tuple, desc, 1, &isnull);
		if (r == 0)
		{
			MemoryContext old = MemoryContextSwitchTo(caller_cxt);

			member = lm_row_member_features(model, isnull ? NULL : DatumGetArrayTypePCopy(d));
			MemoryContextSwitchTo(old);
		}
		d = SPI_getbinval(tuple, desc, 2, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("item_features must not be NULL")));
		v = lm_array_floats(DatumGetArrayTypeP(d), "item_features", arch->item_feature_dim, &dim);
		memcpy(items + (size_t) slot * arch->item_feature_dim, v, sizeof(float) * dim);
		d = SPI_getbinval(tuple, desc, 3, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("label must not be NULL")));
		labels[slot] = DatumGetFloat4(d);
		lm_check_label(labels[slot], arch->loss);
		if (buckets)
		{
			/* a NULL item id is the unknown item */
			d = SPI_getbinval(tuple, desc, 6, &isnull);
			buckets[slot] = isnull ? arch->item_buckets : lm_item_bucket(arch, DatumGetInt64(d));
		}
		if (item_ids)
		{
			d = SPI_getbinval(tuple, desc, 6, &isnull);
			item_ids[slot] = isnull ? PG_INT64_MIN : DatumGetInt64(d);
			d = SPI_getbinval(tuple, desc, 4, &isnull);
			if (isnull && labels[slot] > 0)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("ts must not be NULL"),
						 errhint("Negatives are keyed on each positive row's ts.")));
			ts[slot] = isnull ? 0 : DatumGetTimestampTz(d);
		}
	}
	if (n == 0)
	{
		const float *features = members_relation_features(model, member_id);

		if (features)
		{
			float	   *copy = MemoryContextAlloc(caller_cxt, sizeof(float) * arch->member_dim);

			memcpy(copy, features, sizeof(float) * arch->member_dim);
			member = copy;
		}
		else if (arch->member_dim > 0)
			ereport(NOTICE,
					(errmsg("member " INT64_FORMAT " has no rows in the source and no features in the members relation of limaml model \"%s\"",
							member_id, model->name),
					 errdetail("Its embedding is the cold start of all-zero member features."),
					 errhint("Give the model a members relation with limaml_alter_model, or use limaml_cold_embedding(model, member_features).")));
	}

	{
		MemoryContext old = MemoryContextSwitchTo(caller_cxt);

		embedding = lm_adapt_rows(lm_adapt_scratch_create(model, n, CurrentMemoryContext),
								  member, n, items, labels, buckets, item_ids, ts);
		MemoryContextSwitchTo(old);
	}

	args[0] = CStringGetTextDatum(model->name);
	args[1] = Int64GetDatum(member_id);
	args[2] = PointerGetDatum(embedding);
	args[3] = Int32GetDatum(model->version);
	args[4] = Int32GetDatum(n);
	args[5] = source_ts;
	nulls[5] = source_ts_null ? 'n' : ' ';
	args[6] = source_rows;
	args[7] = Int32GetDatum(model->model_id);
	/* a grantee stores what the owner would: the model's embedding of the owner's rows */
	lm_execute_plan_as(lm_model_reader(model), plans->upsert, args, nulls, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model \"%s\" was dropped while adapting", model->name),
				 errhint("Adapt the member again: the model of that name now is another one, or none.")));
	lm_spi_finish();
	PG_RETURN_BYTEA_P(embedding);
}

/* one element of a numeric array as real, as the ::real cast converts it */
static float
element_float(Datum d, Oid type)
{
	switch (type)
	{
		case FLOAT4OID:
			return DatumGetFloat4(d);
		case FLOAT8OID:
			return DatumGetFloat4(DirectFunctionCall1(dtof, d));
		case NUMERICOID:
			return DatumGetFloat4(DirectFunctionCall1(numeric_float4, d));
		case INT2OID:
			return DatumGetFloat4(DirectFunctionCall1(i2tof, d));
		case INT4OID:
			return DatumGetFloat4(DirectFunctionCall1(i4tof, d));
		default:
			return DatumGetFloat4(DirectFunctionCall1(i8tof, d));
	}
}

/* member features of a numeric array of the model's member_dim, finite */
static const float *
cold_features(const LmModel *model, ArrayType *array)
{
	Oid			type = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	float	   *values;

	if (type != FLOAT4OID && type != FLOAT8OID && type != NUMERICOID &&
		type != INT2OID && type != INT4OID && type != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("member_features must be a numeric array, not %s", format_type_be(get_array_type(type))),
				 errhint("Pass real[], double precision[], numeric[], smallint[], integer[] or bigint[].")));
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("member_features must be a one-dimensional array")));
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(array, type, typlen, typbyval, typalign, &elems, &nulls, &n);
	if (model->arch.member_dim == 0 && n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limaml model \"%s\" has no member features", model->name),
				 errhint("Call limaml_cold_embedding(model) without features.")));
	if (n != model->arch.member_dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("member_features has %d elements, but limaml model \"%s\" expects %d",
						n, model->name, model->arch.member_dim)));
	values = palloc(sizeof(float) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("member_features must not contain NULL elements")));
		values[i] = element_float(elems[i], type);
		if (!isfinite(values[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("member_features must not contain NaN or infinity"),
					 errdetail("Element %d is %g.", i + 1, values[i])));
	}
	return n > 0 ? values : NULL;
}

/*
 * limaml_cold_embedding(model[, member_features]): the embedding
 * limaml_adapt gives a member without rows whose members row holds these
 * features (without features: all-zero ones); nothing is stored
 */
Datum
limaml_cold_embedding(PG_FUNCTION_ARGS)
{
	LmModel    *model;
	const float *member = NULL;
	float		none[1] = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));
	if (PG_NARGS() > 1 && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	model = lm_model_acquire_by_name(PG_GETARG_TEXT_PP(0), CurrentMemoryContext);
	if (PG_NARGS() > 1)
		member = cold_features(model, PG_GETARG_ARRAYTYPE_P(1));
	PG_RETURN_BYTEA_P(lm_adapt_rows(lm_adapt_scratch_create(model, 0, CurrentMemoryContext),
									member, 0, none, none, NULL, NULL, NULL));
}
