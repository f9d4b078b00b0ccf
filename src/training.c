/*
 * training.c - limaml_train: first-order MAML over the model's source.
 *
 * Each member is a task.  Rows are read once, in (member_id, ts) order,
 * keeping per member only the newest query_size rows (the query set) and
 * up to support_size rows before them (the support set).  Members are
 * split into training and validation by a seeded hash of member_id, so the
 * split stays put as data grows.  Every call stores a new model version.
 */
#include "limaml.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "core/adam.h"
#include "core/maml.h"
#include "core/metrics.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(limaml_train);

#define FETCH_ROWS 10000

/* every member's kept rows; rows of task t start at row_off[t], support first */
typedef struct TaskSet
{
	int			n_tasks;
	int			cap_tasks;
	int64	   *member_id;
	int64	   *row_off;
	int		   *n_support;
	int		   *n_query;
	float	   *member;			/* [cap_tasks][member_dim] */
	int64		n_rows;
	int64		cap_rows;
	float	   *items;			/* [cap_rows][item_dim] */
	float	   *labels;			/* [cap_rows] */
	int			max_task_rows;
} TaskSet;

/* one member's rows while reading, oldest first */
typedef struct MemberRows
{
	int64		member_id;
	int			n;
	int			cap;
	float	   *items;
	float	   *labels;
	float	   *member;
} MemberRows;

typedef struct Metrics
{
	double		loss_cold;
	double		loss_adapted;
	double		auc_cold;		/* -1 when undefined */
	double		auc_adapted;
} Metrics;

static void
check_range(const char *what, double value, double lo, double hi)
{
	if (!(value >= lo && value <= hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %g and %g, not %g", what, lo, hi, value)));
}

static void
append_row(MemberRows *rows, const LmArch *arch, const float *item, float label)
{
	if (rows->n == rows->cap)
	{
		rows->cap *= 2;
		rows->items = repalloc_huge(rows->items, sizeof(float) * rows->cap * arch->item_dim);
		rows->labels = repalloc_huge(rows->labels, sizeof(float) * rows->cap);
	}
	memcpy(rows->items + (size_t) rows->n * arch->item_dim, item, sizeof(float) * arch->item_dim);
	rows->labels[rows->n++] = label;
}

/* closes a member: newest rows become its query set, those before its support set */
static void
finish_member(TaskSet *set, MemberRows *rows, const LmArch *arch, const LmConfig *cfg)
{
	int			n_query,
				n_support,
				first;

	if (rows->n == 0)
		return;
	n_query = Min(cfg->query_size, Max(1, rows->n - 1));
	n_support = Min(cfg->support_size, rows->n - n_query);
	first = rows->n - n_query - n_support;

	if (set->n_tasks == set->cap_tasks)
	{
		set->cap_tasks *= 2;
		set->member_id = repalloc_huge(set->member_id, sizeof(int64) * set->cap_tasks);
		set->row_off = repalloc_huge(set->row_off, sizeof(int64) * set->cap_tasks);
		set->n_support = repalloc_huge(set->n_support, sizeof(int) * set->cap_tasks);
		set->n_query = repalloc_huge(set->n_query, sizeof(int) * set->cap_tasks);
		set->member = repalloc_huge(set->member, sizeof(float) * set->cap_tasks * (arch->member_dim + 1));
	}
	while (set->n_rows + n_support + n_query > set->cap_rows)
	{
		set->cap_rows *= 2;
		set->items = repalloc_huge(set->items, sizeof(float) * set->cap_rows * arch->item_dim);
		set->labels = repalloc_huge(set->labels, sizeof(float) * set->cap_rows);
	}
	set->member_id[set->n_tasks] = rows->member_id;
	set->row_off[set->n_tasks] = set->n_rows;
	set->n_support[set->n_tasks] = n_support;
	set->n_query[set->n_tasks] = n_query;
	memcpy(set->member + (size_t) set->n_tasks * arch->member_dim, rows->member,
		   sizeof(float) * arch->member_dim);
	memcpy(set->items + set->n_rows * arch->item_dim, rows->items + (size_t) first * arch->item_dim,
		   sizeof(float) * (size_t) (n_support + n_query) * arch->item_dim);
	memcpy(set->labels + set->n_rows, rows->labels + first, sizeof(float) * (n_support + n_query));
	set->n_rows += n_support + n_query;
	set->max_task_rows = Max(set->max_task_rows, Max(n_support, n_query));
	set->n_tasks++;
	rows->n = 0;
}

/* reads the whole source into tasks, checking every row */
static void
load_tasks(TaskSet *set, const LmModel *model)
{
	const LmArch *arch = &model->arch;
	MemberRows	rows = {0};
	Portal		portal;
	SPIPlanPtr	plan;

	memset(set, 0, sizeof(*set));
	set->cap_tasks = 1024;
	set->member_id = palloc(sizeof(int64) * set->cap_tasks);
	set->row_off = palloc(sizeof(int64) * set->cap_tasks);
	set->n_support = palloc(sizeof(int) * set->cap_tasks);
	set->n_query = palloc(sizeof(int) * set->cap_tasks);
	set->member = palloc(sizeof(float) * set->cap_tasks * (arch->member_dim + 1));
	set->cap_rows = 16384;
	set->items = palloc(sizeof(float) * set->cap_rows * arch->item_dim);
	set->labels = palloc(sizeof(float) * set->cap_rows);
	rows.cap = 64;
	rows.items = palloc(sizeof(float) * rows.cap * arch->item_dim);
	rows.labels = palloc(sizeof(float) * rows.cap);
	rows.member = palloc0(sizeof(float) * (arch->member_dim + 1));

	plan = SPI_prepare(psprintf("SELECT member_id, member_features, item_features, label "
								"FROM %s ORDER BY member_id, ts",
								lm_relation_sql(model->source)), 0, NULL);
	if (!plan)
		elog(ERROR, "limaml: could not plan the source query");
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum		d;
			int64		member_id;
			int			dim;
			const float *v;
			float		label;

			d = SPI_getbinval(tuple, desc, 1, &isnull);
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("member_id must not be NULL in source \"%s\"",
								lm_relation_sql(model->source))));
			member_id = DatumGetInt64(d);
			if (rows.n > 0 && member_id != rows.member_id)
				finish_member(set, &rows, arch, &model->config);
			rows.member_id = member_id;

			d = SPI_getbinval(tuple, desc, 2, &isnull);
			if (arch->member_dim > 0 && isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("member_features must not be NULL (member " INT64_FORMAT ")", member_id),
						 errhint("The model has %d member features.", arch->member_dim)));
			if (!isnull)
			{
				v = lm_array_floats(DatumGetArrayTypeP(d), "member_features", arch->member_dim, &dim);
				memcpy(rows.member, v, sizeof(float) * dim);
			}

			d = SPI_getbinval(tuple, desc, 3, &isnull);
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("item_features must not be NULL (member " INT64_FORMAT ")", member_id)));
			v = lm_array_floats(DatumGetArrayTypeP(d), "item_features", arch->item_dim, &dim);

			d = SPI_getbinval(tuple, desc, 4, &isnull);
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("label must not be NULL (member " INT64_FORMAT ")", member_id)));
			label = DatumGetFloat4(d);
			lm_check_label(label, arch->loss);
			append_row(&rows, arch, v, label);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	finish_member(set, &rows, arch, &model->config);
	SPI_cursor_close(portal);
}

static LmTask
task_of(const TaskSet *set, const LmArch *arch, int t)
{
	LmTask		task;
	int64		off = set->row_off[t];

	task.member = set->member + (size_t) t * arch->member_dim;
	task.support.n = set->n_support[t];
	task.support.item = set->items + off * arch->item_dim;
	task.support.label = set->labels + off;
	task.query.n = set->n_query[t];
	task.query.item = set->items + (off + set->n_support[t]) * arch->item_dim;
	task.query.label = set->labels + off + set->n_support[t];
	return task;
}

/* cold and adapted query loss and AUC over the given tasks, rows pooled */
static Metrics
evaluate(const TaskSet *set, const int *tasks, int n_tasks, const LmModel *model,
		 const float *params, LmWork *work)
{
	const LmArch *arch = &model->arch;
	Metrics		m = {0, 0, -1, -1};
	int64		n_rows = 0;
	double	   *cold,
			   *adapted,
			   *labels;
	float	   *e = palloc(sizeof(float) * arch->embedding_dim);

	for (int i = 0; i < n_tasks; i++)
		n_rows += set->n_query[tasks[i]];
	if (n_rows == 0)
		return m;
	cold = palloc(sizeof(double) * n_rows);
	adapted = palloc(sizeof(double) * n_rows);
	labels = palloc(sizeof(double) * n_rows);
	n_rows = 0;
	for (int i = 0; i < n_tasks; i++)
	{
		LmTask		task = task_of(set, arch, tasks[i]);

		lm_meta_forward(arch, params, task.member, work, e);
		lm_predict(arch, params, e, task.query.item, task.query.n, work, work->pred);
		m.loss_cold += task.query.n * loss_forward_backward(arch->loss, work->pred, task.query.label,
															  task.query.n, NULL, 1);
		for (int r = 0; r < task.query.n; r++)
			cold[n_rows + r] = work->pred[r];

		lm_adapt_embedding(arch, params, task.member, &task.support,
						   model->config.inner_steps, model->config.inner_lr, e, work);
		lm_predict(arch, params, e, task.query.item, task.query.n, work, work->pred);
		m.loss_adapted += task.query.n * loss_forward_backward(arch->loss, work->pred, task.query.label,
																 task.query.n, NULL, 1);
		for (int r = 0; r < task.query.n; r++)
		{
			adapted[n_rows + r] = work->pred[r];
			labels[n_rows + r] = task.query.label[r];
		}
		n_rows += task.query.n;
		CHECK_FOR_INTERRUPTS();
	}
	m.loss_cold /= n_rows;
	m.loss_adapted /= n_rows;
	if (arch->loss == LM_LOSS_BCE)
	{
		m.auc_cold = lm_auc(cold, labels, (int) n_rows);
		m.auc_adapted = lm_auc(adapted, labels, (int) n_rows);
	}
	pfree(cold);
	pfree(adapted);
	pfree(labels);
	pfree(e);
	return m;
}

/* the model row, locked against concurrent training */
static void
lock_model(text *name, int32 *model_id, int32 *version)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {PointerGetDatum(name)};
	bool		isnull;

	SPI_execute_with_args(psprintf("SELECT model_id, active_version FROM %s.limaml_model "
								   "WHERE name = $1 FOR UPDATE", lm_schema_quoted()),
						  1, argtypes, args, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model \"%s\" does not exist", text_to_cstring(name))));
	*model_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
}

/* a metric for JSON: null when undefined */
static char *
json_metric(double x)
{
	return x < 0 ? pstrdup("null") : psprintf("%.6g", x);
}

/* the epoch's NOTICE and its entry in the version's training history */
static void
report_epoch(const LmModel *model, int epoch, int epochs, double train_loss,
			 const Metrics *val, StringInfo history)
{
	if (val->loss_cold < 0)
		ereport(NOTICE,
				(errmsg("limaml \"%s\" epoch %d/%d: train loss %.4f (no validation members)",
						model->name, epoch, epochs, train_loss)));
	else if (model->arch.loss == LM_LOSS_BCE)
		ereport(NOTICE,
				(errmsg("limaml \"%s\" epoch %d/%d: train loss %.4f, validation loss cold %.4f adapted %.4f, AUC cold %.4f adapted %.4f",
						model->name, epoch, epochs, train_loss, val->loss_cold, val->loss_adapted,
						val->auc_cold, val->auc_adapted)));
	else
		ereport(NOTICE,
				(errmsg("limaml \"%s\" epoch %d/%d: train loss %.4f, validation loss cold %.4f adapted %.4f",
						model->name, epoch, epochs, train_loss, val->loss_cold, val->loss_adapted)));
	appendStringInfo(history, "%s{\"epoch\": %d, \"train_loss\": %.6g, \"val_loss_cold\": %s, "
					 "\"val_loss_adapted\": %s, \"val_auc_cold\": %s, \"val_auc_adapted\": %s}",
					 epoch > 1 ? ", " : "", epoch, train_loss, json_metric(val->loss_cold),
					 json_metric(val->loss_adapted), json_metric(val->auc_cold),
					 json_metric(val->auc_adapted));
}

static Datum
nullable_real(double x, bool *isnull)
{
	*isnull = x < 0;
	return Float4GetDatum((float) x);
}

Datum
limaml_train(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext train_cxt,
				old;
	int			epochs,
				meta_batch;
	double		outer_lr,
				val_fraction;
	int32		model_id,
				from_version;
	LmModel    *model;
	const LmArch *arch;
	TaskSet		set;
	int		   *train_tasks,
			   *val_tasks;
	int			n_train = 0,
				n_val = 0;
	float	   *params,
			   *grad;
	LmAdam		adam;
	LmWork	   *work;
	pg_prng_state rng;
	StringInfoData history;
	StringInfoData training;

	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("limaml_train arguments must not be NULL")));
	epochs = PG_GETARG_INT32(1);
	meta_batch = PG_GETARG_INT32(2);
	outer_lr = PG_GETARG_FLOAT4(3);
	val_fraction = PG_GETARG_FLOAT4(4);
	check_range("epochs", epochs, 1, 100000);
	check_range("meta_batch", meta_batch, 1, 1000000);
	check_range("outer_lr", outer_lr, 1e-9, 1);
	check_range("validation_fraction", val_fraction, 0, 0.9);

	InitMaterializedSRF(fcinfo, 0);
	train_cxt = AllocSetContextCreate(CurrentMemoryContext, "limaml train", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(train_cxt);

	SPI_connect();
	lock_model(PG_GETARG_TEXT_PP(0), &model_id, &from_version);
	model = lm_model_acquire(model_id, from_version, train_cxt);
	arch = &model->arch;
	if (!OidIsValid(model->source))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" has no source relation to train on", model->name)));
	lm_check_source(model->source, model->members);

	/* SPI memory is freed at SPI_finish; keep the tasks in train_cxt */
	MemoryContextSwitchTo(train_cxt);
	load_tasks(&set, model);
	if (set.n_tasks == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("source \"%s\" of limaml model \"%s\" has no rows to train on",
						lm_relation_sql(model->source), model->name)));

	train_tasks = palloc(sizeof(int) * set.n_tasks);
	val_tasks = palloc(sizeof(int) * set.n_tasks);
	for (int t = 0; t < set.n_tasks; t++)
	{
		uint64		h = hash_bytes_extended((const unsigned char *) &set.member_id[t],
											sizeof(int64), (uint64) model->config.seed);

		if ((double) h / 18446744073709551616.0 < val_fraction)
			val_tasks[n_val++] = t;
		else
			train_tasks[n_train++] = t;
	}
	if (n_train == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no members are left for training after the validation split"),
				 errhint("Lower validation_fraction.")));

	params = palloc(sizeof(float) * arch->n_params);
	memcpy(params, model->params, sizeof(float) * arch->n_params);
	grad = palloc(sizeof(float) * arch->n_params);
	lm_adam_init(&adam, arch->n_params, outer_lr);
	work = lm_work_create(arch, set.max_task_rows);
	pg_prng_seed(&rng, (uint64) model->config.seed ^ ((uint64) from_version << 32));
	initStringInfo(&history);

	for (int epoch = 1; epoch <= epochs; epoch++)
	{
		double		train_loss = 0;
		Metrics		val;
		Datum		values[6];
		bool		nulls[6] = {false};

		/* Fisher-Yates with pg_prng: the member order is the seed's */
		for (int i = n_train - 1; i > 0; i--)
		{
			int			j = (int) pg_prng_uint64_range(&rng, 0, i);
			int			tmp = train_tasks[i];

			train_tasks[i] = train_tasks[j];
			train_tasks[j] = tmp;
		}
		for (int start = 0; start < n_train; start += meta_batch)
		{
			int			end = Min(n_train, start + meta_batch);

			memset(grad, 0, sizeof(float) * arch->n_params);
			for (int i = start; i < end; i++)
			{
				LmTask		task = task_of(&set, arch, train_tasks[i]);

				train_loss += lm_task_grad_fo(arch, params, &task, model->config.inner_steps,
											  model->config.inner_lr, 1.0 / (end - start),
											  grad, work);
				CHECK_FOR_INTERRUPTS();
			}
			lm_adam_step(&adam, params, grad);
		}
		train_loss /= n_train;
		for (size_t i = 0; i < arch->n_params; i++)
			if (!isfinite(params[i]))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("training of limaml model \"%s\" diverged in epoch %d", model->name, epoch),
						 errhint("Lower outer_lr or inner_lr.")));

		val = evaluate(&set, val_tasks, n_val, model, params, work);
		if (n_val == 0)
			val.loss_cold = val.loss_adapted = -1;
		values[0] = Int32GetDatum(epoch);
		values[1] = Float4GetDatum((float) train_loss);
		values[2] = nullable_real(val.loss_cold, &nulls[2]);
		values[3] = nullable_real(val.loss_adapted, &nulls[3]);
		values[4] = nullable_real(val.auc_cold, &nulls[4]);
		values[5] = nullable_real(val.auc_adapted, &nulls[5]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		report_epoch(model, epoch, epochs, train_loss, &val, &history);
	}

	initStringInfo(&training);
	appendStringInfo(&training, "{\"method\": \"fomaml\", \"from_version\": %d, \"epochs\": %d, "
					 "\"meta_batch\": %d, \"outer_lr\": %.9g, \"validation_fraction\": %.9g, "
					 "\"train_members\": %d, \"validation_members\": %d, \"history\": [%s]}",
					 from_version, epochs, meta_batch, outer_lr, val_fraction,
					 n_train, n_val, history.data);
	lm_store_version(model_id, params, arch->n_params, training.data, true);
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(train_cxt);
	return (Datum) 0;
}
