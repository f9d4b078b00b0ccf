/*
 * evaluate.c - limaml_evaluate: cold against adapted predictions on the
 * members of a source, split by time as in training, reported per
 * member-activity segment and in total.
 */
#include "limaml.h"

#include <math.h>

#include "core/metrics.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tasks.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(limaml_evaluate);

#define N_COLUMNS 13

/* pooled predictions of one segment: [0] cold, [1] adapted */
typedef struct Segment
{
	char	   *label;
	int			members;
	int64		rows;
	int64		cap;
	double	   *pred[2];		/* probability (bce) or value (mse) */
	double	   *y;
	double		member_auc_sum[2];
	int			member_auc_n;
} Segment;

static void
segment_add(Segment *seg, const double *cold, const double *adapted, const float *y, int n)
{
	if (seg->rows + n > seg->cap)
	{
		seg->cap = Max(seg->cap * 2, seg->rows + n);
		for (int k = 0; k < 2; k++)
			seg->pred[k] = repalloc_huge(seg->pred[k], sizeof(double) * seg->cap);
		seg->y = repalloc_huge(seg->y, sizeof(double) * seg->cap);
	}
	for (int r = 0; r < n; r++)
	{
		seg->pred[0][seg->rows + r] = cold[r];
		seg->pred[1][seg->rows + r] = adapted[r];
		seg->y[seg->rows + r] = y[r];
	}
	seg->rows += n;
	seg->members++;
}

static Datum
real_or_null(double x, bool defined, bool *isnull)
{
	*isnull = !defined || !isfinite(x);
	return Float4GetDatum((float) x);
}

static void
emit_segment(ReturnSetInfo *rsinfo, const Segment *seg, LmLoss loss)
{
	Datum		values[N_COLUMNS];
	bool		nulls[N_COLUMNS] = {false};
	bool		bce = loss == LM_LOSS_BCE;

	values[0] = CStringGetTextDatum(seg->label);
	values[1] = Int32GetDatum(seg->members);
	values[2] = Int64GetDatum(seg->rows);
	for (int k = 0; k < 2; k++)
	{
		double		auc = bce ? lm_auc(seg->pred[k], seg->y, (int) seg->rows) : -1;
		double		member_auc = seg->member_auc_n ? seg->member_auc_sum[k] / seg->member_auc_n : -1;
		double		logloss = 0,
					abs_err = 0,
					sq_err = 0;

		for (int64 r = 0; r < seg->rows; r++)
		{
			double		p = seg->pred[k][r],
						y = seg->y[r];

			if (bce)
			{
				p = Min(Max(p, 1e-7), 1 - 1e-7);
				logloss -= y * log(p) + (1 - y) * log(1 - p);
			}
			abs_err += fabs(p - y);
			sq_err += (p - y) * (p - y);
		}
		values[3 + k] = real_or_null(auc, auc >= 0, &nulls[3 + k]);
		values[5 + k] = real_or_null(member_auc, bce && member_auc >= 0, &nulls[5 + k]);
		values[7 + k] = real_or_null(logloss / seg->rows, bce && seg->rows > 0, &nulls[7 + k]);
		values[9 + k] = real_or_null(abs_err / seg->rows, !bce && seg->rows > 0, &nulls[9 + k]);
		values[11 + k] = real_or_null(sqrt(sq_err / seg->rows), !bce && seg->rows > 0, &nulls[11 + k]);
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* segment labels from ascending upper bounds: "1-5", "6-20", ..., "51+" */
static Segment *
make_segments(ArrayType *bounds_array, int **bounds_out, int *n_segments)
{
	int			n_bounds = ARR_NDIM(bounds_array) == 0 ? 0 : ARR_DIMS(bounds_array)[0];
	int		   *bounds = (int *) ARR_DATA_PTR(bounds_array);
	Segment    *segs;
	int			lo = 1;

	if (ARR_NDIM(bounds_array) > 1 || array_contains_nulls(bounds_array))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segments must be a one-dimensional array without NULLs")));
	for (int i = 0; i < n_bounds; i++)
		if (bounds[i] < lo)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("segments must be ascending positive interaction counts")),
					 errhint("For example '{5,20,50}'."));
		else
			lo = bounds[i] + 1;

	*n_segments = n_bounds + 2;	/* ... plus the open top segment and the total */
	segs = palloc0(sizeof(Segment) * *n_segments);
	lo = 1;
	for (int i = 0; i <= n_bounds; i++)
	{
		segs[i].label = i < n_bounds ? psprintf("%d-%d", lo, bounds[i]) : psprintf("%d+", lo);
		if (i < n_bounds)
			lo = bounds[i] + 1;
	}
	segs[n_bounds + 1].label = "all";
	for (int i = 0; i < *n_segments; i++)
	{
		segs[i].cap = 1024;
		segs[i].pred[0] = palloc(sizeof(double) * segs[i].cap);
		segs[i].pred[1] = palloc(sizeof(double) * segs[i].cap);
		segs[i].y = palloc(sizeof(double) * segs[i].cap);
	}
	*bounds_out = bounds;
	return segs;
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
	const LmArch *arch;
	Oid			source;
	TaskSet		set;
	LmSplit		split;
	Segment    *segs;
	int		   *bounds;
	int			n_segs;
	double		val_fraction = -1;
	LmWork	   *work;
	float	   *e;
	double	   *pred[2];
	double	   *y;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and segments must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);
	eval_cxt = AllocSetContextCreate(CurrentMemoryContext, "limaml evaluate", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(eval_cxt);

	lm_model_resolve(PG_GETARG_TEXT_PP(0), &model_id, &version);
	if (!PG_ARGISNULL(4))
		version = PG_GETARG_INT32(4);
	model = lm_model_acquire(model_id, version, eval_cxt);
	arch = &model->arch;
	source = PG_ARGISNULL(1) ? model->source : PG_GETARG_OID(1);
	if (!OidIsValid(source))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" has no source relation; pass one", model->name)));
	segs = make_segments(PG_GETARG_ARRAYTYPE_P(2), &bounds, &n_segs);

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

	SPI_connect();
	MemoryContextSwitchTo(eval_cxt);
	lm_load_tasks(&set, model, source, &split);
	SPI_finish();

	work = lm_work_create(arch, Max(set.max_task_rows, 1));
	e = palloc(sizeof(float) * arch->embedding_dim);
	pred[0] = palloc(sizeof(double) * (set.max_task_rows + 1));
	pred[1] = palloc(sizeof(double) * (set.max_task_rows + 1));
	y = palloc(sizeof(double) * (set.max_task_rows + 1));
	for (int t = 0; t < set.n_tasks; t++)
	{
		LmTask		task = lm_task(&set, arch, t);
		int			seg = 0;

		if (task.query.n == 0 ||
			(val_fraction > 0 &&
			 !lm_is_validation_member(set.member_id[t], model->config.seed, val_fraction)))
			continue;
		while (seg < n_segs - 2 && set.n_total[t] > bounds[seg])
			seg++;

		for (int k = 0; k < 2; k++)
		{
			if (k == 0)
				lm_meta_forward(arch, model->params, task.member, work, e);
			else
				lm_adapt_embedding(arch, model->params, task.member, &task.support,
								   model->config.adapt_steps, model->config.adapt_lr, e, work);
			lm_predict(arch, model->params, e, task.query.item, task.query.n, work, work->pred);
			for (int r = 0; r < task.query.n; r++)
				pred[k][r] = loss_output(arch->loss, work->pred[r]);
		}
		if (arch->loss == LM_LOSS_BCE)
		{
			double		auc_cold,
						auc_adapted;

			for (int r = 0; r < task.query.n; r++)
				y[r] = task.query.label[r];
			auc_cold = lm_auc(pred[0], y, task.query.n);
			auc_adapted = lm_auc(pred[1], y, task.query.n);
			if (auc_cold >= 0)
				for (int s = 0; s < 2; s++)
				{
					Segment    *target = &segs[s == 0 ? seg : n_segs - 1];

					target->member_auc_sum[0] += auc_cold;
					target->member_auc_sum[1] += auc_adapted;
					target->member_auc_n++;
				}
		}
		segment_add(&segs[seg], pred[0], pred[1], task.query.label, task.query.n);
		segment_add(&segs[n_segs - 1], pred[0], pred[1], task.query.label, task.query.n);
		CHECK_FOR_INTERRUPTS();
	}
	for (int s = 0; s < n_segs; s++)
		emit_segment(rsinfo, &segs[s], arch->loss);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(eval_cxt);
	return (Datum) 0;
}
