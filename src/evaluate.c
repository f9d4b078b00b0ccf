/*
 * evaluate.c - limaml_evaluate: cold against adapted predictions on the
 * members of a source, split by time as in training, reported per
 * member-activity segment (the member's number of interactions) and in
 * total.  Members are streamed, so memory holds one member's rows plus
 * the pooled query predictions.
 */
#include "limaml.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "quality.h"
#include "tasks.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(limaml_evaluate);

#define N_COLUMNS 13

static Datum
metric(double x, bool *isnull)
{
	*isnull = x < 0;
	return Float4GetDatum((float) x);
}

static void
emit_segment(ReturnSetInfo *rsinfo, const char *label, const LmQuality *q)
{
	Datum		values[N_COLUMNS];
	bool		nulls[N_COLUMNS] = {false};

	values[0] = CStringGetTextDatum(label);
	values[1] = Int32GetDatum(q->members);
	values[2] = Int64GetDatum(q->rows);
	for (int k = 0; k < 2; k++)
	{
		values[3 + k] = metric(lm_quality_auc(q, k), &nulls[3 + k]);
		values[5 + k] = metric(lm_quality_member_auc(q, k), &nulls[5 + k]);
		values[7 + k] = metric(lm_quality_logloss(q, k), &nulls[7 + k]);
		values[9 + k] = metric(lm_quality_mae(q, k), &nulls[9 + k]);
		values[11 + k] = metric(lm_quality_rmse(q, k), &nulls[11 + k]);
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* checks ascending positive bounds and returns them */
static int *
segment_bounds(ArrayType *array, int *n_bounds)
{
	int		   *bounds = (int *) ARR_DATA_PTR(array);

	if (ARR_NDIM(array) > 1 || array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segments must be a one-dimensional array without NULLs")));
	*n_bounds = ARR_NDIM(array) == 0 ? 0 : ARR_DIMS(array)[0];
	if (*n_bounds > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segments has %d bounds; at most 100 are allowed", *n_bounds)));
	for (int i = 0; i < *n_bounds; i++)
		if (bounds[i] < 1 || (i > 0 && bounds[i] <= bounds[i - 1]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("segments must be ascending positive interaction counts"),
					 errhint("For example '{5,20,50}'.")));
	return bounds;
}

Datum
limaml_evaluate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext eval_cxt,
				old;
	int32		model_id,
				version;
	LmModel    *model;
	Oid			source;
	LmSplit		split;
	int		   *bounds;
	int			n_bounds;
	double		val_fraction = 0;
	LmQuality  *segments;
	LmQuality	total;
	LmMemberStream *stream;
	LmMember	member;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and segments must not be NULL")));
	bounds = segment_bounds(PG_GETARG_ARRAYTYPE_P(2), &n_bounds);
	InitMaterializedSRF(fcinfo, 0);
	eval_cxt = AllocSetContextCreate(CurrentMemoryContext, "limaml evaluate", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(eval_cxt);

	lm_model_resolve(PG_GETARG_TEXT_PP(0), &model_id, &version);
	if (!PG_ARGISNULL(4))
		version = PG_GETARG_INT32(4);
	model = lm_model_acquire(model_id, version, eval_cxt);
	source = PG_ARGISNULL(1) ? model->source : PG_GETARG_OID(1);
	if (!OidIsValid(source))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" has no source relation; pass one", model->name)));

	split = lm_training_split(model);
	split.no_support = false;
	if (!PG_ARGISNULL(3))
	{
		split.query_fraction = PG_GETARG_FLOAT4(3);
		if (!(split.query_fraction > 0 && split.query_fraction < 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("query_fraction must be between 0 and 1, not %g", split.query_fraction)));
	}
	if (!PG_ARGISNULL(5))
	{
		val_fraction = PG_GETARG_FLOAT4(5);
		if (!(val_fraction > 0 && val_fraction <= 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("validation_fraction must be in (0, 1], not %g", val_fraction)));
	}

	segments = palloc(sizeof(LmQuality) * (n_bounds + 1));
	for (int s = 0; s <= n_bounds; s++)
		lm_quality_init(&segments[s], &model->arch);

	SPI_connect();
	MemoryContextSwitchTo(eval_cxt);
	stream = lm_stream_open(model, source, false, 0,
							split.query_fraction > 0 ? INT_MAX :
							split.support_size + split.query_size);
	while (lm_stream_next(stream, &member))
	{
		LmTask		task;
		int			s = 0;

		if (val_fraction > 0 &&
			!lm_is_validation_member(member.member_id, model->config.seed, val_fraction))
			continue;
		while (s < n_bounds && member.n_total > bounds[s])
			s++;
		task = lm_member_episode(&model->arch, &member, lm_query_start(&member, &split), &split);
		lm_quality_add(&segments[s], model, model->params, &task);
		CHECK_FOR_INTERRUPTS();
	}
	lm_stream_close(stream);
	SPI_finish();

	lm_quality_init(&total, &model->arch);
	for (int s = 0, lo = 1; s <= n_bounds; s++)
	{
		emit_segment(rsinfo, s < n_bounds ? psprintf("%d-%d", lo, bounds[s]) : psprintf("%d+", lo),
					 &segments[s]);
		lm_quality_merge(&total, &segments[s]);
		if (s < n_bounds)
			lo = bounds[s] + 1;
	}
	emit_segment(rsinfo, "all", &total);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(eval_cxt);
	return (Datum) 0;
}
