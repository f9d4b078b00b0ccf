/*
 * evaluate.c - limaml_evaluate: cold against adapted predictions on the
 * members of a source, split by time as in training, next to two simple
 * baselines of the same query rows, reported per member-activity segment
 * (the member's number of interactions) and in total; and
 * limaml_evaluate_members, the same per member.
 *
 * The baselines learn from the rows that are not evaluated query rows: a
 * first pass over the source (and the model's source, for the members the
 * source does not have) gathers the global mean label and, when the
 * source has an item_id column, each item's label sum and count.
 * Then members are streamed again and evaluated, so memory holds one
 * member's rows, the item statistics and the pooled query predictions.
 *
 * popularity: (Σ_i + K_POP·μ) / (n_i + K_POP) = μ + (Σ_i − n_i·μ) / (n_i + K_POP)
 * bias:       μ + b_u + b_i, b_i = (Σ_i − n_i·μ) / (n_i + LAMBDA_ITEM),
 *             b_u = Σ over the support rows of (y − μ − b_i) / (n_support + LAMBDA_MEMBER)
 */
#include "limaml.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "quality.h"
#include "tasks.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(limaml_evaluate);
PG_FUNCTION_INFO_V1(limaml_evaluate_members);

/* shrinkage toward the global mean, in pseudo-rows (Koren 2010 for the bias model) */
#define K_POP 10.0
#define LAMBDA_ITEM 25.0
#define LAMBDA_MEMBER 10.0

static const char *const predictor_names[LM_N_PRED] = {"cold", "adapted", "popularity", "bias"};

/* the label sum and count of an item's statistics rows */
typedef struct ItemStat
{
	int64		item_id;		/* the hash key */
	double		sum;
	double		n;
} ItemStat;

typedef struct Evaluation
{
	LmModel    *model;
	Oid			source;
	LmSplit		split;
	double		val_fraction;	/* > 0: only the validation members */
	bool		item_ids;		/* the source has an item_id column */
	HTAB	   *items;			/* ItemStat by item_id; NULL without item ids */
	double		mean;			/* μ, the mean label of the statistics rows */
	int64		n_stats;		/* statistics rows */
	double	   *baseline[2];	/* [max_rows] popularity and bias of a member's query rows */
	int			max_rows;
	LmMemberStream *stream;
} Evaluation;

static bool
evaluated(const Evaluation *ev, int64 member_id)
{
	return ev->val_fraction == 0 ||
		lm_is_validation_member(member_id, ev->model->config.seed, ev->val_fraction);
}


static LmMemberStream *
open_stream(const Evaluation *ev, Oid source, int keep_rows)
{
	return ev->item_ids ? lm_stream_open_item_ids(ev->model, source, keep_rows)
		: lm_stream_open(ev->model, source, false, 0, keep_rows);
}

/*
 * adds a source's statistics rows to the label sum and the item statistics.
 * The evaluation's own source: all rows of members not evaluated, the rows
 * before the query of the evaluated ones, and every member into seen.
 * Another source (the model's): the rows of members not seen.
 */
static void
add_statistics(Evaluation *ev, Oid source, HTAB *seen, bool own_source, double *sum)
{
	LmMemberStream *stream = open_stream(ev, source, INT_MAX);
	LmMember	member;

	while (lm_stream_next(stream, &member))
	{
		int			end = member.n;

		CHECK_FOR_INTERRUPTS();
		if (own_source)
		{
			hash_search(seen, &member.member_id, HASH_ENTER, NULL);
			if (evaluated(ev, member.member_id))
				end = lm_query_start(&member, &ev->split);
			ev->max_rows = Max(ev->max_rows, member.n);
		}
		else if (hash_search(seen, &member.member_id, HASH_FIND, NULL))
			continue;
		for (int r = 0; r < end; r++)
		{
			*sum += member.labels[r];
			if (ev->items && member.item_ids[r] != LM_NULL_ITEM_ID)
			{
				bool		found;
				ItemStat   *st = hash_search(ev->items, &member.item_ids[r], HASH_ENTER, &found);

				if (!found)
					st->sum = st->n = 0;
				st->sum += member.labels[r];
				st->n++;
			}
		}
		ev->n_stats += end;
	}
	lm_stream_close(stream);
}

/*
 * the first pass: statistics from every row that is not an evaluated query
 * row, from the source and, when the model's source is another relation
 * (the training members), from the members of the model's source that the
 * source does not have
 */
static void
gather_statistics(Evaluation *ev)
{
	Oid			model_source = ev->model->source;
	HASHCTL		ctl = {0};
	HTAB	   *seen;
	double		sum = 0;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("limaml evaluated members", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (ev->item_ids)
	{
		ctl.entrysize = sizeof(ItemStat);
		ev->items = hash_create("limaml item statistics", 1024, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	add_statistics(ev, ev->source, seen, true, &sum);
	if (OidIsValid(model_source) && model_source != ev->source &&
		get_rel_name(model_source) != NULL &&
		(!ev->item_ids || lm_has_item_id(model_source)))
		add_statistics(ev, model_source, seen, false, &sum);
	hash_destroy(seen);
	ev->mean = ev->n_stats ? sum / ev->n_stats : 0;
	for (int b = 0; b < 2; b++)
		ev->baseline[b] = palloc(sizeof(double) * Max(ev->max_rows, 1));
}

/* the item's shrunk deviation from μ; 0 for unknown items */
static double
item_deviation(const Evaluation *ev, int64 item_id, double shrink)
{
	ItemStat   *st;

	if (!ev->items || item_id == LM_NULL_ITEM_ID)
		return 0;
	st = hash_search(ev->items, &item_id, HASH_FIND, NULL);
	return st ? (st->sum - st->n * ev->mean) / (st->n + shrink) : 0;
}

/* the baselines' predictions of the task's query rows */
static void
predict_baselines(Evaluation *ev, const LmMember *member, const LmTask *task)
{
	int			support = task->support.label - member->labels;
	int			query = task->query.label - member->labels;
	const int64 *ids = member->item_ids;
	double		b_u = 0;

	for (int r = 0; r < task->support.n; r++)
		b_u += task->support.label[r] - ev->mean -
			item_deviation(ev, ids ? ids[support + r] : LM_NULL_ITEM_ID, LAMBDA_ITEM);
	b_u /= task->support.n + LAMBDA_MEMBER;
	for (int r = 0; r < task->query.n; r++)
	{
		int64		id = ids ? ids[query + r] : LM_NULL_ITEM_ID;
		double		bias = ev->mean + b_u + item_deviation(ev, id, LAMBDA_ITEM);

		if (ev->model->arch.loss == LM_LOSS_BCE)
			bias = Min(Max(bias, 0), 1);
		ev->baseline[0][r] = ev->mean + item_deviation(ev, id, K_POP);
		ev->baseline[1][r] = bias;
	}
}

/* parses the arguments shared by both functions (positions differ) and starts the evaluation */
static void
evaluation_start(FunctionCallInfo fcinfo, int arg_fraction, int arg_version, int arg_validation,
				 Evaluation *ev)
{
	int32		model_id,
				version;

	memset(ev, 0, sizeof(*ev));
	lm_model_resolve_version(PG_GETARG_TEXT_PP(0), !PG_ARGISNULL(arg_version),
							 PG_ARGISNULL(arg_version) ? 0 : PG_GETARG_INT32(arg_version),
							 &model_id, &version);
	ev->model = lm_model_acquire(model_id, version, CurrentMemoryContext);
	ev->source = PG_ARGISNULL(1) ? ev->model->source : PG_GETARG_OID(1);
	if (!OidIsValid(ev->source))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" has no source relation; pass one", ev->model->name)));

	ev->split = lm_training_split(ev->model);
	ev->split.no_support = false;
	if (!PG_ARGISNULL(arg_fraction))
	{
		ev->split.query_fraction = lm_getarg_real(fcinfo, arg_fraction);
		if (!(ev->split.query_fraction > 0 && ev->split.query_fraction < 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("query_fraction must be between 0 and 1, not %g", ev->split.query_fraction)));
	}
	if (!PG_ARGISNULL(arg_validation))
	{
		ev->val_fraction = lm_getarg_real(fcinfo, arg_validation);
		if (!(ev->val_fraction > 0 && ev->val_fraction <= 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("validation_fraction must be in (0, 1], not %g", ev->val_fraction)));
	}
	ev->item_ids = lm_has_item_id(ev->source);
}

/* both passes run inside SPI in the evaluation's memory context cxt */
static void
evaluation_open(Evaluation *ev, MemoryContext cxt)
{
	lm_spi_connect();
	MemoryContextSwitchTo(cxt);
	gather_statistics(ev);
	ev->stream = open_stream(ev, ev->source, ev->split.query_fraction > 0 ? INT_MAX :
							 ev->split.support_size + ev->split.query_size);
}

/* the next evaluated member, its task and the baselines' predictions */
static bool
evaluation_next(Evaluation *ev, LmMember *member, LmTask *task)
{
	while (lm_stream_next(ev->stream, member))
	{
		CHECK_FOR_INTERRUPTS();
		if (!evaluated(ev, member->member_id))
			continue;
		*task = lm_member_episode(&ev->model->arch, member, lm_query_start(member, &ev->split),
								  &ev->split);
		predict_baselines(ev, member, task);
		return true;
	}
	return false;
}

static void
evaluation_close(Evaluation *ev)
{
	lm_stream_close(ev->stream);
	lm_spi_finish();
}

static Datum
metric(double x, bool *isnull)
{
	*isnull = x < 0;
	return Float4GetDatum((float) x);
}

/* false: the predictor has no predictions (every metric NULL) */
static bool
predictor_defined(const Evaluation *ev, int k)
{
	if (k == LM_PRED_POPULARITY)
		return ev->items != NULL && ev->n_stats > 0;
	if (k == LM_PRED_BIAS)
		return ev->n_stats > 0;
	return true;
}

#define EVALUATE_COLUMNS 10

static void
emit_segment(ReturnSetInfo *rsinfo, const Evaluation *ev, const char *label, const LmQuality *q)
{
	for (int k = 0; k < LM_N_PRED; k++)
	{
		Datum		values[EVALUATE_COLUMNS];
		bool		nulls[EVALUATE_COLUMNS] = {false};

		values[0] = CStringGetTextDatum(label);
		values[1] = CStringGetTextDatum(predictor_names[k]);
		values[2] = Int32GetDatum(q->members);
		values[3] = Int64GetDatum(q->rows);
		values[4] = metric(lm_quality_auc(q, k), &nulls[4]);
		values[5] = metric(lm_quality_member_auc(q, k), &nulls[5]);
		values[6] = metric(lm_quality_member_ndcg(q, k), &nulls[6]);
		values[7] = metric(lm_quality_logloss(q, k), &nulls[7]);
		values[8] = metric(lm_quality_mae(q, k), &nulls[8]);
		values[9] = metric(lm_quality_rmse(q, k), &nulls[9]);
		if (!predictor_defined(ev, k))
			for (int c = 4; c < EVALUATE_COLUMNS; c++)
				nulls[c] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
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

/* (model, source, segments, query_fraction, version, validation_fraction) */
Datum
limaml_evaluate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext eval_cxt,
				old;
	Evaluation	ev;
	int		   *bounds;
	int			n_bounds;
	LmQuality  *segments;
	LmQuality	total;
	LmMember	member;
	LmTask		task;
	int64		lo;				/* a segment's first count: past INT_MAX after
								 * a bound of INT_MAX */

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and segments must not be NULL")));
	bounds = segment_bounds(PG_GETARG_ARRAYTYPE_P(2), &n_bounds);
	InitMaterializedSRF(fcinfo, 0);
	eval_cxt = AllocSetContextCreate(CurrentMemoryContext, "limaml evaluate", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(eval_cxt);

	evaluation_start(fcinfo, 3, 4, 5, &ev);
	segments = palloc(sizeof(LmQuality) * (n_bounds + 1));
	for (int s = 0; s <= n_bounds; s++)
		lm_quality_init_baselines(&segments[s], &ev.model->arch);

	evaluation_open(&ev, eval_cxt);
	while (evaluation_next(&ev, &member, &task))
	{
		const double *const baseline[2] = {ev.baseline[0], ev.baseline[1]};
		int			s = 0;

		while (s < n_bounds && member.n_total > bounds[s])
			s++;
		lm_quality_add_baselines(&segments[s], ev.model, ev.model->params, &task, baseline);
	}
	evaluation_close(&ev);

	lm_quality_init_baselines(&total, &ev.model->arch);
	lo = 1;
	for (int s = 0; s <= n_bounds; s++)
	{
		emit_segment(rsinfo, &ev,
					 s < n_bounds ? psprintf(INT64_FORMAT "-%d", lo, bounds[s])
					 : psprintf(INT64_FORMAT "+", lo),
					 &segments[s]);
		lm_quality_merge(&total, &segments[s]);
		if (s < n_bounds)
			lo = (int64) bounds[s] + 1;
	}
	emit_segment(rsinfo, &ev, "all", &total);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(eval_cxt);
	return (Datum) 0;
}

#define MEMBER_COLUMNS 9

/* (model, source, query_fraction, version, validation_fraction) */
Datum
limaml_evaluate_members(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext eval_cxt,
				old;
	Evaluation	ev;
	LmQuality	q;
	LmMember	member;
	LmTask		task;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);
	eval_cxt = AllocSetContextCreate(CurrentMemoryContext, "limaml evaluate", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(eval_cxt);

	evaluation_start(fcinfo, 2, 3, 4, &ev);
	lm_quality_init_baselines(&q, &ev.model->arch);
	evaluation_open(&ev, eval_cxt);
	while (evaluation_next(&ev, &member, &task))
	{
		const double *const baseline[2] = {ev.baseline[0], ev.baseline[1]};

		lm_quality_reset(&q);
		lm_quality_add_baselines(&q, ev.model, ev.model->params, &task, baseline);
		for (int k = 0; k < LM_N_PRED; k++)
		{
			Datum		values[MEMBER_COLUMNS];
			bool		nulls[MEMBER_COLUMNS] = {false};

			values[0] = Int64GetDatum(member.member_id);
			values[1] = Int64GetDatum(member.n_total);
			values[2] = Int32GetDatum((int32) q.rows);
			values[3] = CStringGetTextDatum(predictor_names[k]);
			values[4] = metric(lm_quality_auc(&q, k), &nulls[4]);
			values[5] = metric(lm_quality_member_ndcg(&q, k), &nulls[5]);
			values[6] = metric(lm_quality_logloss(&q, k), &nulls[6]);
			values[7] = metric(lm_quality_mae(&q, k), &nulls[7]);
			values[8] = metric(lm_quality_rmse(&q, k), &nulls[8]);
			if (!predictor_defined(&ev, k))
				for (int c = 4; c < MEMBER_COLUMNS; c++)
					nulls[c] = true;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	evaluation_close(&ev);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(eval_cxt);
	return (Datum) 0;
}
