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
#include "tasks.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "core/adam.h"
#include "core/maml.h"
#include "core/meta_grad.h"
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
		LmTask		task = lm_task(set, arch, tasks[i]);

		lm_meta_forward(arch, params, task.member, work, e);
		lm_predict(arch, params, e, task.query.item, task.query.n, work, work->pred);
		m.loss_cold += task.query.n * loss_forward_backward(arch->loss, work->pred, task.query.label,
															  task.query.n, NULL, 1);
		for (int r = 0; r < task.query.n; r++)
			cold[n_rows + r] = work->pred[r];

		lm_adapt_embedding(arch, params, task.member, &task.support,
						   model->config.adapt_steps, model->config.adapt_lr, e, work);
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

/* limaml_train's arguments */
typedef struct TrainOptions
{
	int			epochs;
	int			meta_batch;
	double		outer_lr;
	double		val_fraction;
	double		clip_norm;		/* 0: no clipping */
	int			patience;		/* 0: no early stopping */
	int			order;			/* 1: first-order MAML, 2: exact second order */
} TrainOptions;

static TrainOptions
train_options(FunctionCallInfo fcinfo)
{
	TrainOptions opt;

	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("limaml_train arguments must not be NULL")));
	opt.epochs = PG_GETARG_INT32(1);
	opt.meta_batch = PG_GETARG_INT32(2);
	opt.outer_lr = PG_GETARG_FLOAT4(3);
	opt.val_fraction = PG_GETARG_FLOAT4(4);
	opt.clip_norm = PG_ARGISNULL(5) ? 0 : PG_GETARG_FLOAT4(5);
	opt.patience = PG_ARGISNULL(6) ? 0 : PG_GETARG_INT32(6);
	opt.order = PG_ARGISNULL(7) ? 1 : PG_GETARG_INT32(7);
	check_range("order", opt.order, 1, 2);
	check_range("epochs", opt.epochs, 1, 100000);
	check_range("meta_batch", opt.meta_batch, 1, 1000000);
	check_range("outer_lr", opt.outer_lr, 1e-9, 1);
	check_range("validation_fraction", opt.val_fraction, 0, 0.9);
	if (!PG_ARGISNULL(5))
		check_range("clip_norm", opt.clip_norm, 1e-6, 1e6);
	if (!PG_ARGISNULL(6))
		check_range("patience", opt.patience, 1, 100000);
	return opt;
}

/* scales grad so its L2 norm is at most max_norm */
static void
clip_gradient(float *grad, size_t n, double max_norm)
{
	double		sq = 0;

	for (size_t i = 0; i < n; i++)
		sq += (double) grad[i] * grad[i];
	if (sq > max_norm * max_norm)
	{
		float		scale = (float) (max_norm / sqrt(sq));

		for (size_t i = 0; i < n; i++)
			grad[i] *= scale;
	}
}

/* one pass over the training members in a seeded order; returns the mean query loss */
static double
train_epoch(const TaskSet *set, int *train_tasks, int n_train, const LmModel *model,
			const TrainOptions *opt, float *params, float *grad, LmAdam *adam,
			LmMetaWork *mw, pg_prng_state *rng)
{
	const LmArch *arch = &model->arch;
	double		loss = 0;

	/* Fisher-Yates with pg_prng: the member order is the seed's */
	for (int i = n_train - 1; i > 0; i--)
	{
		int			j = (int) pg_prng_uint64_range(rng, 0, i);
		int			tmp = train_tasks[i];

		train_tasks[i] = train_tasks[j];
		train_tasks[j] = tmp;
	}
	for (int start = 0; start < n_train; start += opt->meta_batch)
	{
		int			end = Min(n_train, start + opt->meta_batch);

		memset(grad, 0, sizeof(float) * arch->n_params);
		for (int i = start; i < end; i++)
		{
			LmTask		task = lm_task(set, arch, train_tasks[i]);

			loss += lm_task_meta_grad(arch, params, &task, model->config.inner_steps,
									  model->config.inner_lr, lm_inner_rates(arch, params),
									  opt->order, 1.0 / (end - start), grad,
									  arch->n_lr_params ? grad + arch->n_meta_params +
									  arch->n_global_params : NULL, mw);
			CHECK_FOR_INTERRUPTS();
		}
		if (opt->clip_norm > 0)
			clip_gradient(grad, arch->n_params, opt->clip_norm);
		lm_adam_step(adam, params, grad);
	}
	for (size_t i = 0; i < arch->n_params; i++)
		if (!isfinite(params[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("training of limaml model \"%s\" diverged", model->name),
					 errhint("Lower outer_lr or inner_lr, or set clip_norm.")));
	return loss / n_train;
}

Datum
limaml_train(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TrainOptions opt = train_options(fcinfo);
	MemoryContext train_cxt,
				old;
	int32		model_id,
				from_version;
	LmModel    *model;
	const LmArch *arch;
	TaskSet		set;
	LmSplit		split;
	int		   *train_tasks,
			   *val_tasks;
	int			n_train = 0,
				n_val = 0;
	float	   *params,
			   *best_params,
			   *grad;
	double		best_loss = INFINITY;
	int			best_epoch = 0;
	int			epoch;
	LmAdam		adam;
	LmWork	   *work;
	LmMetaWork *meta_work;
	pg_prng_state rng;
	StringInfoData history;
	StringInfoData training;

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
	split = lm_training_split(model);
	lm_load_tasks(&set, model, model->source, &split);
	if (set.n_tasks == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("source \"%s\" of limaml model \"%s\" has no rows to train on",
						lm_relation_sql(model->source), model->name)));

	train_tasks = palloc(sizeof(int) * set.n_tasks);
	val_tasks = palloc(sizeof(int) * set.n_tasks);
	for (int t = 0; t < set.n_tasks; t++)
	{
		if (lm_is_validation_member(set.member_id[t], model->config.seed, opt.val_fraction))
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
	best_params = palloc(sizeof(float) * arch->n_params);
	memcpy(best_params, params, sizeof(float) * arch->n_params);
	grad = palloc(sizeof(float) * arch->n_params);
	lm_adam_init(&adam, arch->n_params, opt.outer_lr);
	work = lm_work_create(arch, set.max_task_rows);
	meta_work = lm_meta_work_create(arch, set.max_task_rows, model->config.inner_steps);
	pg_prng_seed(&rng, (uint64) model->config.seed ^ ((uint64) from_version << 32));
	initStringInfo(&history);

	for (epoch = 1; epoch <= opt.epochs; epoch++)
	{
		double		train_loss;
		double		watched;
		Metrics		val;
		Datum		values[6];
		bool		nulls[6] = {false};

		train_loss = train_epoch(&set, train_tasks, n_train, model, &opt, params, grad,
								 &adam, meta_work, &rng);
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
		report_epoch(model, epoch, opt.epochs, train_loss, &val, &history);

		/* early stopping watches the adapted validation loss (else training loss) */
		watched = n_val > 0 ? val.loss_adapted : train_loss;
		if (watched < best_loss)
		{
			best_loss = watched;
			best_epoch = epoch;
			memcpy(best_params, params, sizeof(float) * arch->n_params);
		}
		else if (opt.patience > 0 && epoch - best_epoch >= opt.patience)
		{
			ereport(NOTICE,
					(errmsg("limaml \"%s\": stopping early after epoch %d; keeping epoch %d",
							model->name, epoch, best_epoch)));
			break;
		}
	}

	initStringInfo(&training);
	appendStringInfo(&training, "{\"method\": \"%s\", \"from_version\": %d, \"epochs\": %d, "
					 "\"epochs_run\": %d, \"meta_batch\": %d, \"outer_lr\": %.9g, "
					 "\"validation_fraction\": %.9g, \"clip_norm\": %.9g, \"patience\": %d, "
					 "\"kept_epoch\": %d, \"train_members\": %d, \"validation_members\": %d, "
					 "\"history\": [%s]}",
					 model->config.inner_steps == 0 ? "conventional" :
					 opt.order == 2 ? "maml" : "fomaml",
					 from_version, opt.epochs, Min(epoch, opt.epochs), opt.meta_batch,
					 opt.outer_lr, opt.val_fraction, opt.clip_norm, opt.patience,
					 opt.patience > 0 ? best_epoch : Min(epoch, opt.epochs),
					 n_train, n_val, history.data);
	lm_store_version(model_id, opt.patience > 0 ? best_params : params, arch->n_params,
					 training.data, true);
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(train_cxt);
	return (Datum) 0;
}
