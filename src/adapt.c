/*
 * adapt.c - meta embeddings: limaml_adapt (one member, from the model's
 * source, stored in limaml_meta_embedding) and limaml_adapt_agg (any rows,
 * one scan for all members).  Both run the same inner loop on the same
 * rows in time order, so they return the same bytea.
 */
#include "limaml.h"

#include "catalog/pg_type.h"
#include "core/maml.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(limaml_adapt);
PG_FUNCTION_INFO_V1(limaml_adapt_agg_transfn);
PG_FUNCTION_INFO_V1(limaml_adapt_agg_finalfn);

/*
 * The meta embedding from a member's features (NULL: none) and n rows in
 * time order, allocated in the current memory context.
 */
static bytea *
adapt_rows(LmModel *model, const float *member, int n,
		   const float *items, const float *labels)
{
	const LmArch *arch = &model->arch;
	MemoryContext work_cxt = AllocSetContextCreate(CurrentMemoryContext, "limaml adapt",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(work_cxt);
	LmWork	   *work = lm_work_create(arch, n);
	LmRows		rows = {n, items, labels};
	float	   *emb = palloc(sizeof(float) * arch->embedding_dim);
	float	   *zeros = palloc0(sizeof(float) * (arch->member_dim + 1));
	bytea	   *result;

	lm_adapt_embedding(arch, model->params, member ? member : zeros, &rows,
					   model->config.adapt_steps, model->config.adapt_lr, emb, work);
	MemoryContextSwitchTo(old);
	result = lm_embedding_encode(model, emb, n);
	MemoryContextDelete(work_cxt);
	return result;
}

/* member features of one row; NULL or empty mean none */
static const float *
row_member_features(const LmModel *model, ArrayType *array)
{
	int			dim;
	const float *values;

	if (array == NULL)
	{
		if (model->arch.member_dim > 0)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("member_features must not be NULL for limaml model \"%s\"", model->name),
					 errhint("The model has %d member features.", model->arch.member_dim)));
		return NULL;
	}
	values = lm_array_floats(array, "member_features", model->arch.member_dim, &dim);
	return dim > 0 ? values : NULL;
}

/* ---------------------------------------------------------- limaml_adapt */

static const float *
members_relation_features(LmModel *model, Datum member_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {member_id};
	bool		isnull;
	Datum		d;

	if (!OidIsValid(model->members))
		return NULL;
	SPI_execute_with_args(psprintf("SELECT member_features FROM %s WHERE member_id = $1 LIMIT 1",
								   lm_relation_sql(model->members)),
						  1, argtypes, args, NULL, true, 1);
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return row_member_features(model, isnull ? NULL : DatumGetArrayTypeP(d));
}

Datum
limaml_adapt(PG_FUNCTION_ARGS)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	LmModel    *model;
	const LmArch *arch;
	Datum		member_id;
	float	   *items,
			   *labels;
	const float *member = NULL;
	int			n;
	bytea	   *embedding;
	Oid			argtypes[5] = {TEXTOID, INT8OID, BYTEAOID, INT4OID, INT4OID};
	Datum		args[5];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("member_id must not be NULL")));
	member_id = PG_GETARG_DATUM(0);
	model = lm_model_acquire_by_name(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1), caller_cxt);
	arch = &model->arch;
	if (!OidIsValid(model->source))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" has no source relation", model->name),
				 errhint("Use limaml_adapt_agg over your own rows.")));
	items = palloc(sizeof(float) * ((size_t) model->config.support_size * arch->item_dim + 1));
	labels = palloc(sizeof(float) * model->config.support_size);

	SPI_connect();
	argtypes[0] = INT8OID;
	args[0] = member_id;
	args[1] = Int32GetDatum(model->config.support_size);
	argtypes[1] = INT4OID;
	SPI_execute_with_args(psprintf("SELECT member_features, item_features, label FROM %s "
								   "WHERE member_id = $1 ORDER BY ts DESC LIMIT $2",
								   lm_relation_sql(model->source)),
						  2, argtypes, args, NULL, true, 0);
	n = (int) SPI_processed;
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

			member = row_member_features(model, isnull ? NULL : DatumGetArrayTypePCopy(d));
			MemoryContextSwitchTo(old);
		}
		d = SPI_getbinval(tuple, desc, 2, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("item_features must not be NULL")));
		v = lm_array_floats(DatumGetArrayTypeP(d), "item_features", arch->item_dim, &dim);
		memcpy(items + (size_t) slot * arch->item_dim, v, sizeof(float) * dim);
		d = SPI_getbinval(tuple, desc, 3, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("label must not be NULL")));
		labels[slot] = DatumGetFloat4(d);
		lm_check_label(labels[slot], arch->loss);
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
	}

	{
		MemoryContext old = MemoryContextSwitchTo(caller_cxt);

		embedding = adapt_rows(model, member, n, items, labels);
		MemoryContextSwitchTo(old);
	}

	argtypes[0] = TEXTOID;
	argtypes[1] = INT8OID;
	args[0] = CStringGetTextDatum(model->name);
	args[1] = member_id;
	args[2] = PointerGetDatum(embedding);
	args[3] = Int32GetDatum(model->version);
	args[4] = Int32GetDatum(n);
	SPI_execute_with_args(psprintf("INSERT INTO %s.limaml_meta_embedding "
								   "(model, member_id, embedding, model_version, n_support, updated_at) "
								   "VALUES ($1, $2, $3, $4, $5, now()) "
								   "ON CONFLICT (model, member_id) DO UPDATE SET "
								   "embedding = EXCLUDED.embedding, model_version = EXCLUDED.model_version, "
								   "n_support = EXCLUDED.n_support, updated_at = EXCLUDED.updated_at",
								   lm_schema_quoted()),
						  5, argtypes, args, NULL, false, 0);
	SPI_finish();
	PG_RETURN_BYTEA_P(embedding);
}

/* ------------------------------------------------------ limaml_adapt_agg */

typedef struct AdaptAggState
{
	LmModel    *model;
	int			capacity;		/* rows allocated, grows to support_size */
	int64		count;			/* rows seen; the ring holds the newest */
	float	   *items;			/* [capacity][item_dim] ring buffer */
	float	   *labels;			/* [capacity] */
	float	   *member;			/* [member_dim]: the newest row's */
	bool		has_member;
} AdaptAggState;

/* the model of this aggregate call site, resolved once per query */
typedef struct AggModelCache
{
	char	   *name;			/* NULL: the default model */
	LmModel    *model;
} AggModelCache;

static LmModel *
agg_model(FunctionCallInfo fcinfo)
{
	AggModelCache *cache = fcinfo->flinfo->fn_extra;
	char	   *name = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (cache && ((name == NULL && cache->name == NULL) ||
				  (name && cache->name && strcmp(name, cache->name) == 0)))
		return cache->model;
	if (!cache)
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(AggModelCache));
	cache->model = lm_model_acquire_by_name(name ? cstring_to_text(name) : NULL,
											fcinfo->flinfo->fn_mcxt);
	cache->name = name ? MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, name) : NULL;
	fcinfo->flinfo->fn_extra = cache;
	return cache->model;
}

/* grows the ring to hold one more row, up to support_size */
static void
grow_ring(AdaptAggState *state)
{
	int			item_dim = state->model->arch.item_dim;
	int			target = Min(state->model->config.support_size,
							 Max(8, state->capacity * 2));

	state->items = repalloc(state->items, sizeof(float) * (size_t) target * item_dim);
	state->labels = repalloc(state->labels, sizeof(float) * target);
	state->capacity = target;
}

Datum
limaml_adapt_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext agg_cxt;
	AdaptAggState *state;
	const LmArch *arch;
	const float *member;
	const float *item;
	int			dim;
	int			slot;
	float		label;

	if (!AggCheckCallContext(fcinfo, &agg_cxt))
		elog(ERROR, "limaml_adapt_agg_transfn called in non-aggregate context");

	state = PG_ARGISNULL(0) ? NULL : (AdaptAggState *) PG_GETARG_POINTER(0);
	if (state == NULL)
	{
		LmModel    *model = agg_model(fcinfo);
		MemoryContext old = MemoryContextSwitchTo(agg_cxt);

		state = palloc0(sizeof(AdaptAggState));
		state->model = model;
		state->items = palloc(sizeof(float));
		state->labels = palloc(sizeof(float));
		state->member = palloc0(sizeof(float) * (model->arch.member_dim + 1));
		MemoryContextSwitchTo(old);
	}
	arch = &state->model->arch;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("item_features must not be NULL")));
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("label must not be NULL")));
	member = row_member_features(state->model, PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2));
	item = lm_array_floats(PG_GETARG_ARRAYTYPE_P(3), "item_features", arch->item_dim, &dim);
	label = PG_GETARG_FLOAT4(4);
	lm_check_label(label, arch->loss);

	if (state->count < state->model->config.support_size && state->count >= state->capacity)
	{
		MemoryContext old = MemoryContextSwitchTo(agg_cxt);

		grow_ring(state);
		MemoryContextSwitchTo(old);
	}
	slot = (int) (state->count % state->model->config.support_size);
	memcpy(state->items + (size_t) slot * arch->item_dim, item, sizeof(float) * dim);
	state->labels[slot] = label;
	if (member)
		memcpy(state->member, member, sizeof(float) * arch->member_dim);
	state->has_member = member != NULL;
	state->count++;
	PG_RETURN_POINTER(state);
}

Datum
limaml_adapt_agg_finalfn(PG_FUNCTION_ARGS)
{
	AdaptAggState *state;
	const LmArch *arch;
	int			support_size;
	int			n;
	int			oldest;
	float	   *items,
			   *labels;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (AdaptAggState *) PG_GETARG_POINTER(0);
	arch = &state->model->arch;
	support_size = state->model->config.support_size;
	n = (int) Min(state->count, (int64) support_size);
	oldest = state->count > support_size ? (int) (state->count % support_size) : 0;

	/* unroll the ring into time order, leaving the state as it was */
	items = palloc(sizeof(float) * ((size_t) n * arch->item_dim + 1));
	labels = palloc(sizeof(float) * (n + 1));
	for (int r = 0; r < n; r++)
	{
		int			slot = (oldest + r) % support_size;

		memcpy(items + (size_t) r * arch->item_dim,
			   state->items + (size_t) slot * arch->item_dim, sizeof(float) * arch->item_dim);
		labels[r] = state->labels[slot];
	}
	PG_RETURN_BYTEA_P(adapt_rows(state->model, state->has_member ? state->member : NULL,
								 n, items, labels));
}
