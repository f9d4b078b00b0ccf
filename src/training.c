/*
 * training.c - limaml_train: MAML over the model's source.
 *
 * Each member is a task, split by time: its newest rows are the query set,
 * up to support_size rows before them the support set; with episodes > 1
 * more (support, query) splits are drawn per member and epoch at earlier
 * time points, so older rows serve as queries too.  Members are split into
 * training and validation by a seeded hash of member_id, so the split
 * stays put as data grows.
 *
 * Members are kept in memory when they fit in maintenance_work_mem;
 * otherwise every epoch streams the source in a seeded member order.
 * Every call stores a new immutable model version.
 */
#include "limaml.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "core/adam.h"
#include "core/fold_in.h"
#include "core/items.h"
#include "core/meta_grad.h"
#include "core/wide.h"
#include "core/wide_init.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "quality.h"
#include "tasks.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(limaml_train);

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
	int			episodes;		/* (support, query) splits per member and epoch */
	double		support_weight; /* α: α · cold support loss + (1 − α) · adapted query loss */
	bool		random_splits;	/* every episode's query starts at a random row */
	double		weight_decay;	/* AdamW's decoupled decay of both blocks */
	bool		cosine;			/* outer rate: cosine decay over the epochs */
} TrainOptions;

/* everything one training run works with */
typedef struct Trainer
{
	const LmModel *model;
	const LmArch *arch;
	TrainOptions opt;
	LmSplit		split;
	LmMemberSet *members;		/* NULL: stream the source */
	int		   *train_index;	/* in-memory members for training */
	int			n_train;
	int		   *val_index;
	int			n_val;
	float	   *params;
	float	   *grad;
	int			in_batch;		/* episodes summed into grad */
	double		loss_sum;
	int64		n_episodes;
	LmAdam		adam;
	LmAdam		rho_adam;		/* a learned λ's ρ, fitted on the validation members */
	int			in_rho_batch;	/* validation tasks summed into grad's ρ */
	LmMetaWork *meta_work;
	LmWork	   *cold_work;		/* the cold support loss (support_weight > 0) */
	pg_prng_state rng;
	double		reserved;		/* bytes held besides a stream's rows (lm_stream_reserve) */
} Trainer;

/* the fold-in choice ranks at most this many items, the top 10 of them */
#define LM_FOLD_IN_ITEMS 5000
/* … for at most this many validation members, the first in member order */
#define LM_FOLD_IN_MEMBERS 1000
#define LM_FOLD_IN_TOP_K 10

/* ρ = ln λ's Adam rate: a few hundred validation steps move it by a few units */
#define LM_RHO_LR 0.05

#define TRAIN_MEMORY_HINT "Create the model with a smaller support_size, query_size or inner_steps, " \
	"or narrower layers"

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
			 const LmQuality *val, StringInfo history)
{
	double		cold = lm_quality_loss(val, 0),
				adapted = lm_quality_loss(val, 1);

	if (val->rows == 0)
		ereport(NOTICE,
				(errmsg("limaml \"%s\" epoch %d/%d: train loss %.4f (no validation members)",
						model->name, epoch, epochs, train_loss)));
	else if (model->arch.loss == LM_LOSS_BCE)
		ereport(NOTICE,
				(errmsg("limaml \"%s\" epoch %d/%d: train loss %.4f, validation loss cold %.4f adapted %.4f, AUC cold %.4f adapted %.4f",
						model->name, epoch, epochs, train_loss, cold, adapted,
						lm_quality_auc(val, 0), lm_quality_auc(val, 1))));
	else
		ereport(NOTICE,
				(errmsg("limaml \"%s\" epoch %d/%d: train loss %.4f, validation loss cold %.4f adapted %.4f",
						model->name, epoch, epochs, train_loss, cold, adapted)));
	appendStringInfo(history, "%s{\"epoch\": %d, \"train_loss\": %.6g, \"val_loss_cold\": %s, "
					 "\"val_loss_adapted\": %s, \"val_auc_cold\": %s, \"val_auc_adapted\": %s}",
					 epoch > 1 ? ", " : "", epoch, train_loss, json_metric(cold),
					 json_metric(adapted), json_metric(lm_quality_auc(val, 0)),
					 json_metric(lm_quality_auc(val, 1)));
}

/*
 * A watched loss that is not finite, or more than doubles from one epoch
 * to the next, is worth a look even when early stopping keeps an earlier
 * epoch (README, limaml_train).  A rise smaller than this is noise around
 * a loss near zero, not a jump.
 */
#define LM_JUMP_MIN_RISE 0.01

static void
warn_on_jump(const LmModel *model, const char *what, int epoch, double prev, double loss)
{
	const char *hint = "Lower outer_lr, set clip_norm, or set patience so that the best epoch is kept.";

	if (!isfinite(loss))
		ereport(WARNING,
				(errmsg("limaml \"%s\" epoch %d: %s is not finite", model->name, epoch, what),
				 errhint("%s", hint)));
	else if (epoch > 1 && isfinite(prev) && loss > 2 * prev && loss - prev >= LM_JUMP_MIN_RISE)
		ereport(WARNING,
				(errmsg("limaml \"%s\" epoch %d: %s more than doubled", model->name, epoch, what),
				 errdetail("From %.4f to %.4f.", prev, loss),
				 errhint("%s", hint)));
}

/* one epoch's returned row, emitted at the end once the kept epoch is known */
typedef struct EpochRow
{
	Datum		values[6];
	bool		nulls[6];
} EpochRow;

static Datum
nullable_real(double x, bool *isnull)
{
	*isnull = x < 0;
	return Float4GetDatum((float) x);
}

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
	opt.outer_lr = lm_getarg_real(fcinfo, 3);
	opt.val_fraction = lm_getarg_real(fcinfo, 4);
	opt.clip_norm = PG_ARGISNULL(5) ? 0 : lm_getarg_real(fcinfo, 5);
	opt.patience = PG_ARGISNULL(6) ? 0 : PG_GETARG_INT32(6);
	opt.order = PG_ARGISNULL(7) ? 1 : PG_GETARG_INT32(7);
	opt.episodes = PG_ARGISNULL(8) ? 1 : PG_GETARG_INT32(8);
	lm_check_range("epochs", opt.epochs, 1, 100000);
	lm_check_range("meta_batch", opt.meta_batch, 1, 1000000);
	lm_check_range("outer_lr", opt.outer_lr, 1e-9, 1);
	lm_check_range("validation_fraction", opt.val_fraction, 0, 0.9);
	lm_check_range("maml_order", opt.order, 1, 2);
	lm_check_range("episodes", opt.episodes, 1, 1000);
	if (!PG_ARGISNULL(5))
		lm_check_range("clip_norm", opt.clip_norm, 1e-6, 1e6);
	if (!PG_ARGISNULL(6))
		lm_check_range("patience", opt.patience, 1, 100000);
	/* 0.1.0's limaml_train (nine arguments) trains as 0.1.0 did */
	opt.support_weight = 0;
	opt.random_splits = false;
	opt.weight_decay = 0;
	opt.cosine = false;
	if (PG_NARGS() > 9)
	{
		/* NULL: the defaults chosen by measurement (README, "Training on every row, measured") */
		opt.support_weight = 0.5;
		opt.random_splits = true;
		opt.weight_decay = 0.1;
		opt.cosine = true;
		if (!PG_ARGISNULL(9))
			opt.support_weight = lm_getarg_real(fcinfo, 9);
		if (!PG_ARGISNULL(10))
			opt.random_splits = PG_GETARG_BOOL(10);
		if (!PG_ARGISNULL(11))
			opt.weight_decay = lm_getarg_real(fcinfo, 11);
		if (!PG_ARGISNULL(12))
		{
			char	   *schedule = text_to_cstring(PG_GETARG_TEXT_PP(12));

			opt.cosine = strcmp(schedule, "cosine") == 0;
			if (!opt.cosine && strcmp(schedule, "constant") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown lr_schedule \"%s\"", schedule),
						 errhint("Use 'constant' or 'cosine'.")));
		}
		lm_check_range("support_weight", opt.support_weight, 0, 1);
		lm_check_range("weight_decay", opt.weight_decay, 0, 10);
	}
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

/* the summed episode gradients become one Adam step */
static void
finish_batch(Trainer *tr)
{
	if (tr->in_batch == 0)
		return;
	for (size_t i = 0; i < tr->arch->n_params; i++)
		tr->grad[i] /= tr->in_batch;
	/* a learned λ learns from the validation members only (fit_lambda) */
	if (tr->arch->learn_lambda)
		memset(tr->grad + tr->arch->n_meta_params + tr->arch->lambda_off, 0,
			   sizeof(float) * lm_lambda_groups(tr->arch));
	/* the fold-in term's a is chosen after training (choose_fold_in), not trained */
	if (tr->arch->fold_in)
		tr->grad[tr->arch->n_meta_params + tr->arch->fold_in_off] = 0;
	if (tr->opt.clip_norm > 0)
		clip_gradient(tr->grad, tr->arch->n_params, tr->opt.clip_norm);
	lm_adam_step(&tr->adam, tr->params, tr->grad);
	memset(tr->grad, 0, sizeof(float) * tr->arch->n_params);
	tr->in_batch = 0;
}

/* the query start of a member's episode e: the newest split first, or at random */
static int
episode_start(Trainer *tr, const LmMember *member, int e)
{
	int			newest = lm_query_start(member, &tr->split);

	/* an earlier query start keeps at least one support row */
	if (tr->opt.random_splits && newest > 1)
		return (int) pg_prng_uint64_range(&tr->rng, 1, newest);
	if (e == 0)
		return newest;
	return newest > 1 ? (int) pg_prng_uint64_range(&tr->rng, 1, newest - 1) : -1;
}

/* one member's episodes */
static void
train_member(Trainer *tr, const LmMember *member)
{
	const LmArch *arch = tr->arch;
	double		alpha = tr->opt.support_weight;

	for (int e = 0; e < tr->opt.episodes; e++)
	{
		int			start = episode_start(tr, member, e);
		LmTask		task;

		if (start < 0)
			break;
		task = lm_member_episode(arch, member, start, &tr->split);
		tr->loss_sum += lm_task_meta_grad(arch, tr->params, &task, tr->model->config.inner_steps,
										  tr->model->config.inner_lr,
										  lm_inner_rates(arch, tr->params), tr->opt.order,
										  1.0 - alpha, tr->grad,
										  arch->n_lr_params ? tr->grad + arch->n_meta_params +
										  arch->n_global_params : NULL, tr->meta_work);
		if (alpha > 0 && task.support.n > 0)
		{
			/* the support rows train both blocks too, at the un-adapted θ_meta */
			LmTask		cold = {task.member, {0, NULL, NULL, NULL}, task.support};

			lm_query_grad(arch, tr->params, tr->params + arch->n_meta_params, &cold, 0,
						  alpha, tr->grad + arch->n_meta_params, tr->grad, tr->cold_work);
		}
		tr->n_episodes++;
		if (++tr->in_batch == tr->opt.meta_batch)
			finish_batch(tr);
		CHECK_FOR_INTERRUPTS();
	}
}

/* earlier splits need every row of a member; the newest split only the newest rows */
static int
keep_rows(const Trainer *tr)
{
	if (tr->opt.episodes > 1 || tr->opt.random_splits)
		return INT_MAX;
	return tr->split.support_size + tr->split.query_size;
}

static bool
is_validation(const Trainer *tr, int64 member_id)
{
	return lm_is_validation_member(member_id, tr->model->config.seed, tr->opt.val_fraction);
}

/* one pass over the training members in a seeded order; returns the mean query loss */
static double
train_epoch(Trainer *tr, int epoch)
{
	LmMember	member;

	tr->loss_sum = 0;
	tr->n_episodes = 0;
	if (tr->members)
	{
		/* Fisher-Yates with pg_prng: the member order is the seed's */
		for (int i = tr->n_train - 1; i > 0; i--)
		{
			int			j = (int) pg_prng_uint64_range(&tr->rng, 0, i);
			int			tmp = tr->train_index[i];

			tr->train_index[i] = tr->train_index[j];
			tr->train_index[j] = tmp;
		}
		for (int i = 0; i < tr->n_train; i++)
		{
			member = lm_member_set_get(tr->members, tr->arch, tr->train_index[i]);
			train_member(tr, &member);
		}
	}
	else
	{
		LmMemberStream *stream = lm_stream_open(tr->model, tr->model->source, true,
												tr->model->config.seed + epoch,
												keep_rows(tr));

		lm_stream_reserve(stream, tr->reserved);
		while (lm_stream_next(stream, &member))
			if (!is_validation(tr, member.member_id))
				train_member(tr, &member);
		lm_stream_close(stream);
	}
	finish_batch(tr);
	for (size_t i = 0; i < tr->arch->n_params; i++)
		if (!isfinite(tr->params[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("training of limaml model \"%s\" diverged", tr->model->name),
					 errhint("Lower outer_lr or inner_lr, or set clip_norm.")));
	if (tr->n_episodes == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no members are left for training after the validation split"),
				 errhint("Lower validation_fraction.")));
	return tr->loss_sum / tr->n_episodes;
}

typedef void (*TaskVisit) (Trainer *tr, const LmTask *task, void *arg);

/* a member's newest split, visited */
static void
visit_newest(Trainer *tr, const LmMember *member, const LmSplit *split, TaskVisit visit, void *arg)
{
	LmTask		task = lm_member_episode(tr->arch, member, lm_query_start(member, split), split);

	visit(tr, &task, arg);
	CHECK_FOR_INTERRUPTS();
}

/* visit(tr, task, arg) for the newest split of every validation member, in member order */
static void
each_validation_task(Trainer *tr, TaskVisit visit, void *arg)
{
	LmSplit		split = tr->split;
	LmMember	member;

	if (tr->opt.val_fraction <= 0)
		return;
	split.no_support = false;
	if (tr->members)
		for (int i = 0; i < tr->n_val; i++)
		{
			member = lm_member_set_get(tr->members, tr->arch, tr->val_index[i]);
			visit_newest(tr, &member, &split, visit, arg);
		}
	else
	{
		LmMemberStream *stream = lm_stream_open(tr->model, tr->model->source, false, 0,
												split.support_size + split.query_size);

		lm_stream_reserve(stream, tr->reserved);
		while (lm_stream_next(stream, &member))
			if (is_validation(tr, member.member_id))
				visit_newest(tr, &member, &split, visit, arg);
		lm_stream_close(stream);
	}
}

/*
 * A learned λ is an empirical-Bayes hyperparameter: it is fitted on the
 * validation members' adapted query loss, through the solve, because the
 * training members' own rows trained the item tables and so look more
 * trustworthy than a new member's (measured: fitted on them, λ only fell).
 * The summed ρ gradients of meta_batch tasks are one step of ρ's own Adam.
 */
static void
rho_step(Trainer *tr)
{
	const LmArch *arch = tr->arch;
	float	   *rho = tr->params + arch->n_meta_params + arch->lambda_off;
	float	   *grad = tr->grad + arch->n_meta_params + arch->lambda_off;

	if (tr->in_rho_batch == 0)
		return;
	for (int g = 0; g < lm_lambda_groups(arch); g++)
		grad[g] /= tr->in_rho_batch;
	lm_adam_step(&tr->rho_adam, rho, grad);
	/* the rest of grad is scratch until fit_lambda clears it once, at its end */
	memset(grad, 0, sizeof(float) * lm_lambda_groups(arch));
	tr->in_rho_batch = 0;
}

static void
fit_lambda_task(Trainer *tr, const LmTask *task, void *arg)
{
	const LmArch *arch = tr->arch;

	if (task->support.n == 0 || task->query.n == 0)
		return;
	lm_task_meta_grad(arch, tr->params, task, tr->model->config.inner_steps,
					  tr->model->config.inner_lr, lm_inner_rates(arch, tr->params),
					  tr->opt.order, 1.0, tr->grad,
					  arch->n_lr_params ? tr->grad + arch->n_meta_params + arch->n_global_params : NULL,
					  tr->meta_work);
	if (++tr->in_rho_batch == tr->opt.meta_batch)
		rho_step(tr);
}

/* one pass of ρ steps over the validation members' newest split */
static void
fit_lambda(Trainer *tr)
{
	if (!tr->arch->learn_lambda || tr->opt.val_fraction <= 0)
		return;
	memset(tr->grad, 0, sizeof(float) * tr->arch->n_params);
	each_validation_task(tr, fit_lambda_task, NULL);
	rho_step(tr);
	memset(tr->grad, 0, sizeof(float) * tr->arch->n_params);
}

/* what choose_fold_in carries from task to task */
typedef struct FoldInChoice
{
	const float *params;
	LmCatalogue catalogue;
	LmWork	   *work;
	int			max_rows;
	float	   *scratch;
	long		hits[LM_FOLD_IN_GRID];
	long		members;
} FoldInChoice;

static void
fold_in_task(Trainer *tr, const LmTask *task, void *arg)
{
	FoldInChoice *c = arg;
	const LmConfig *cfg = &tr->model->config;

	if (c->members >= LM_FOLD_IN_MEMBERS)
		return;
	c->members += lm_fold_in_hits(tr->arch, c->params, task, cfg->adapt_steps, cfg->adapt_lr,
								  &c->catalogue, LM_FOLD_IN_TOP_K, c->work, c->max_rows,
								  c->scratch, c->hits);
}

/*
 * The fold-in term's a (fold_in.h): the grid's a with the most validation
 * members (the first LM_FOLD_IN_MEMBERS) whose newest positive reaches the
 * top 10 of the items relation (at most LM_FOLD_IN_ITEMS of them, every
 * k-th by item_id beyond), set in
 * params; its record goes into training.  a stays 0 without validation members.
 */
static void
choose_fold_in(Trainer *tr, float *params, StringInfo training)
{
	const LmArch *arch = tr->arch;
	const LmNegatives *items = lm_model_negatives(tr->model);
	FoldInChoice c = {params};
	int			stride = (items->n_items + LM_FOLD_IN_ITEMS - 1) / LM_FOLD_IN_ITEMS;
	int			n = (items->n_items + stride - 1) / stride;
	int32	   *bucket = palloc(sizeof(int32) * n);
	float	   *features = palloc(sizeof(float) * (Size) n * Max(arch->item_feature_dim, 1));
	int			best = 0;

	for (int i = 0; i < n; i++)
	{
		bucket[i] = lm_item_bucket(arch, items->item_ids[(Size) i * stride]);
		memcpy(features + (Size) i * arch->item_feature_dim,
			   items->features + (Size) i * stride * arch->item_feature_dim,
			   sizeof(float) * arch->item_feature_dim);
	}
	c.catalogue = (LmCatalogue) {n, features, bucket};
	c.max_rows = Max(tr->split.support_size, 256);
	lm_check_work_mem(tr->reserved + lm_work_bytes(arch, c.max_rows) +
					  sizeof(float) * lm_fold_in_scratch_len(arch, n),
					  psprintf("choosing the fold-in term of limaml model \"%s\"", tr->model->name),
					  TRAIN_MEMORY_HINT);
	c.work = lm_work_create(arch, c.max_rows);
	c.scratch = palloc(sizeof(float) * lm_fold_in_scratch_len(arch, n));
	each_validation_task(tr, fold_in_task, &c);
	lm_work_free(c.work);
	for (int g = 1; g < LM_FOLD_IN_GRID; g++)
		if (c.hits[g] > c.hits[best])
			best = g;
	params[arch->n_meta_params + arch->fold_in_off] = (float) lm_fold_in_grid[best];
	if (c.members == 0)
		ereport(NOTICE,
				(errmsg("limaml \"%s\" chooses its fold-in term on validation members, and none has a newest positive after older rows: a stays 0",
						tr->model->name),
				 errhint("Train with validation_fraction > 0.")));

	/* the choice, readable in limaml_versions */
	training->len--;			/* reopen the object */
	training->data[training->len] = '\0';
	appendStringInfo(training, ", \"fold_in_weight\": %g, \"fold_in_hit_rate\": {", lm_fold_in_grid[best]);
	for (int g = 0; g < LM_FOLD_IN_GRID; g++)
		appendStringInfo(training, "%s\"%g\": %s", g ? ", " : "", lm_fold_in_grid[g],
						 json_metric(c.members > 0 ? (double) c.hits[g] / c.members : -1));
	appendStringInfo(training, "}, \"fold_in_members\": %ld}", c.members);
}

static void
validate_task(Trainer *tr, const LmTask *task, void *val)
{
	lm_quality_add((LmQuality *) val, tr->model, tr->params, task);
}

/* cold and adapted quality on the validation members' newest split */
static void
validate(Trainer *tr, LmQuality *val)
{
	lm_quality_init(val, tr->arch);
	each_validation_task(tr, validate_task, val);
}

/*
 * What training holds besides the members' rows, in bytes: the parameters,
 * the best epoch's, the gradient, Adam's two moments, and the work areas of
 * the meta-gradient, the cold support loss and validation.  Checked against
 * limaml.max_work_mem before any of it is allocated.
 */
static double
train_work_bytes(const Trainer *tr)
{
	const LmArch *arch = tr->arch;
	const LmSplit *split = &tr->split;

	return 3.0 * sizeof(float) * arch->n_params + 2.0 * lm_reals_bytes(arch->n_params) +
		lm_meta_work_bytes(arch, split->support_size + split->query_size,
						   tr->model->config.inner_steps) +
		lm_work_bytes(arch, split->support_size) +
		lm_work_bytes(arch, Max(Max(split->support_size, split->query_size), 64));
}

/*
 * Members in memory if they fit in maintenance_work_mem (and half of what
 * limaml.max_work_mem leaves), else streaming; a stream's member rows get
 * the other half.
 */
static void
load_members(Trainer *tr)
{
	double		fixed = train_work_bytes(tr);
	double		half;
	size_t		budget = (size_t) maintenance_work_mem * 1024;

	lm_check_work_mem(fixed, psprintf("training limaml model \"%s\"", tr->model->name),
					  TRAIN_MEMORY_HINT);
	half = ((double) lm_work_mem_bytes() - fixed) / 2;
	budget = Min(budget, (size_t) half);
	tr->reserved = fixed + half;
	tr->members = lm_member_set_load(tr->model, tr->model->source, keep_rows(tr), budget, fixed);
	if (!tr->members)
	{
		ereport(NOTICE,
				(errmsg("limaml \"%s\": the source does not fit in %s (%zu kB); every epoch streams it",
						tr->model->name,
						budget < (size_t) maintenance_work_mem * 1024 ?
						"limaml.max_work_mem" : "maintenance_work_mem", budget / 1024)));
		return;
	}
	if (tr->members->n_members == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("source \"%s\" of limaml model \"%s\" has no rows to train on",
						lm_relation_sql(tr->model->source), tr->model->name)));
	tr->train_index = palloc(sizeof(int) * tr->members->n_members);
	tr->val_index = palloc(sizeof(int) * tr->members->n_members);
	for (int i = 0; i < tr->members->n_members; i++)
	{
		if (is_validation(tr, tr->members->member_id[i]))
			tr->val_index[tr->n_val++] = i;
		else
			tr->train_index[tr->n_train++] = i;
	}
}

/* ------------------------------------------------------- the wide head's start */

/* the training members' rows, appended for lm_wide_init */
typedef struct WideRows
{
	LmWideData	data;
	int64		cap;
} WideRows;

static void
wide_rows_add(WideRows *w, const LmMember *member)
{
	LmWideData *d = &w->data;

	if (d->n + member->n > w->cap)
	{
		int64		cap = Max(w->cap * 2, d->n + member->n);

		d->member = repalloc_huge((void *) d->member, sizeof(int32) * cap);
		d->bucket = repalloc_huge((void *) d->bucket, sizeof(int32) * cap);
		d->label = repalloc_huge((void *) d->label, sizeof(float) * cap);
		w->cap = cap;
	}
	for (int r = 0; r < member->n; r++)
		((int32 *) d->member)[d->n + r] = d->n_members;
	memcpy((int32 *) d->bucket + d->n, member->buckets, sizeof(int32) * member->n);
	memcpy((float *) d->label + d->n, member->labels, sizeof(float) * member->n);
	d->n += member->n;
	d->n_members++;
}

/* true when the version training starts from is the model's initialization */
static bool
from_initialization(int32 model_id, int32 version)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2] = {Int32GetDatum(model_id), Int32GetDatum(version)};
	bool		isnull;
	Datum		d;

	SPI_execute_with_args(psprintf("SELECT training->>'method' = 'initialization' FROM %s.limaml_model_version "
								   "WHERE model_id = $1 AND version = $2", lm_schema_quoted()),
						  2, argtypes, args, NULL, true, 1);
	if (SPI_processed == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(d);
}

/*
 * From the initialization, the wide head starts from the training members'
 * rows (wide_init.h): the validation members stay out, so patience still
 * watches members the start has not seen.
 */
static void
start_wide_head(Trainer *tr)
{
	WideRows	w = {{0}};
	LmMember	member;

	w.cap = 1024;
	w.data.implicit = tr->model->config.negatives > 0;
	w.data.member = palloc(sizeof(int32) * w.cap);
	w.data.bucket = palloc(sizeof(int32) * w.cap);
	w.data.label = palloc(sizeof(float) * w.cap);
	if (tr->members)
		for (int i = 0; i < tr->n_train; i++)
		{
			member = lm_member_set_get(tr->members, tr->arch, tr->train_index[i]);
			wide_rows_add(&w, &member);
		}
	else
	{
		LmMemberStream *stream = lm_stream_open(tr->model, tr->model->source, false, 0,
												keep_rows(tr));

		lm_stream_reserve(stream, tr->reserved);
		while (lm_stream_next(stream, &member))
		{
			CHECK_FOR_INTERRUPTS();
			if (!is_validation(tr, member.member_id))
				wide_rows_add(&w, &member);
		}
		lm_stream_close(stream);
	}
	lm_check_work_mem(tr->reserved + lm_wide_init_bytes(tr->arch, &w.data) +
					  (double) w.cap * (2 * sizeof(int32) + sizeof(float)),
					  psprintf("training limaml model \"%s\"", tr->model->name), TRAIN_MEMORY_HINT);
	lm_wide_init(tr->arch, tr->params, &w.data);
	pfree((void *) w.data.member);
	pfree((void *) w.data.bucket);
	pfree((void *) w.data.label);
}

/*
 * The rows, the kept epoch flagged in column 7 (0.3.0 on; the row type of
 * an older catalog's signature has six columns and ignores it).
 */
static void
emit_rows(ReturnSetInfo *rsinfo, EpochRow *rows, int n, int kept_epoch)
{
	for (int i = 0; i < n; i++)
	{
		Datum		values[7];
		bool		nulls[7] = {false};

		memcpy(values, rows[i].values, sizeof(rows[i].values));
		memcpy(nulls, rows[i].nulls, sizeof(rows[i].nulls));
		values[6] = BoolGetDatum(i + 1 == kept_epoch);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* the closing NOTICE: which epoch the new version holds, and its loss */
static void
report_kept(const LmModel *model, const EpochRow *rows, int n, int kept_epoch)
{
	const EpochRow *kept = &rows[kept_epoch - 1];

	if (!kept->nulls[3])
		ereport(NOTICE,
				(errmsg("limaml_train \"%s\": kept epoch %d of %d", model->name, kept_epoch, n),
				 errdetail("Adapted validation loss %.4f.", DatumGetFloat4(kept->values[3]))));
	else
		ereport(NOTICE,
				(errmsg("limaml_train \"%s\": kept epoch %d of %d", model->name, kept_epoch, n),
				 errdetail("Training loss %.4f (no validation members).", DatumGetFloat4(kept->values[1]))));
}

Datum
limaml_train(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Trainer		tr = {0};
	MemoryContext train_cxt,
				epoch_cxt,
				old;
	int32		model_id,
				from_version;
	LmModel    *model;
	const LmArch *arch;
	float	   *best_params;
	double		best_loss = INFINITY;
	int			best_epoch = 0;
	int			epoch;
	int			kept_epoch;
	double		prev_watched = NAN;
	EpochRow   *rows;
	TimestampTz started = GetCurrentTimestamp();
	StringInfoData history;
	StringInfoData training;

	tr.opt = train_options(fcinfo);
	InitMaterializedSRF(fcinfo, 0);
	train_cxt = AllocSetContextCreate(CurrentMemoryContext, "limaml train", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(train_cxt);

	lm_check_model_owner(text_to_cstring(PG_GETARG_TEXT_PP(0)), "train", false, NULL);
	lm_spi_connect();
	lock_model(PG_GETARG_TEXT_PP(0), &model_id, &from_version);
	model = lm_model_acquire(model_id, from_version, train_cxt);
	arch = &model->arch;
	if (!OidIsValid(model->source))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" has no source relation to train on", model->name)));
	lm_model_check_source(model, model->source);
	if (OidIsValid(model->members))
		lm_check_members_for(model->transforms, model->members);

	/* SPI memory is freed at SPI_finish; keep everything in train_cxt */
	MemoryContextSwitchTo(train_cxt);
	tr.model = model;
	tr.arch = arch;
	tr.split = lm_training_split(model);
	load_members(&tr);

	tr.params = palloc(sizeof(float) * arch->n_params);
	memcpy(tr.params, model->params, sizeof(float) * arch->n_params);
	if (arch->wide && from_initialization(model_id, from_version))
		start_wide_head(&tr);
	best_params = palloc(sizeof(float) * arch->n_params);
	memcpy(best_params, tr.params, sizeof(float) * arch->n_params);
	tr.grad = palloc0(sizeof(float) * arch->n_params);
	lm_adam_init(&tr.adam, arch->n_params, tr.opt.outer_lr);
	tr.adam.weight_decay = tr.opt.weight_decay;
	if (arch->learn_lambda)
		lm_adam_init(&tr.rho_adam, lm_lambda_groups(arch), LM_RHO_LR);
	if (arch->learn_lambda && tr.opt.val_fraction <= 0)
		ereport(NOTICE,
				(errmsg("limaml \"%s\" learns its ridge λ on validation members, and validation_fraction is 0: λ stays where it is",
						model->name),
				 errhint("Train with validation_fraction > 0 to fit it.")));
	/* the learned λ's ρ close the global block: no decay toward λ = 1 */
	tr.adam.n_decay = arch->n_meta_params + arch->n_global_params -
		lm_undecayed_len(arch);
	tr.meta_work = lm_meta_work_create(arch, tr.split.support_size + tr.split.query_size,
									   model->config.inner_steps);
	tr.cold_work = lm_work_create(arch, tr.split.support_size);
	pg_prng_seed(&tr.rng, (uint64) model->config.seed ^ ((uint64) from_version << 32));
	initStringInfo(&history);
	rows = palloc0(sizeof(EpochRow) * tr.opt.epochs);

	/* what one epoch allocates (streams, validation predictions) dies with it */
	epoch_cxt = AllocSetContextCreate(train_cxt, "limaml epoch", ALLOCSET_DEFAULT_SIZES);
	for (epoch = 1; epoch <= tr.opt.epochs; epoch++)
	{
		double		train_loss;
		double		watched;
		LmQuality	val;
		Datum	   *values = rows[epoch - 1].values;
		bool	   *nulls = rows[epoch - 1].nulls;

		MemoryContextReset(epoch_cxt);
		MemoryContextSwitchTo(epoch_cxt);
		if (tr.opt.cosine)
			tr.adam.lr = tr.opt.outer_lr * 0.5 * (1 + cos(M_PI * (epoch - 1) / tr.opt.epochs));
		train_loss = train_epoch(&tr, epoch);
		fit_lambda(&tr);
		validate(&tr, &val);
		values[0] = Int32GetDatum(epoch);
		values[1] = Float4GetDatum((float) train_loss);
		values[2] = nullable_real(lm_quality_loss(&val, 0), &nulls[2]);
		values[3] = nullable_real(lm_quality_loss(&val, 1), &nulls[3]);
		values[4] = nullable_real(lm_quality_auc(&val, 0), &nulls[4]);
		values[5] = nullable_real(lm_quality_auc(&val, 1), &nulls[5]);
		report_epoch(model, epoch, tr.opt.epochs, train_loss, &val, &history);
		MemoryContextSwitchTo(train_cxt);

		/* early stopping watches the adapted validation loss (else training loss) */
		watched = val.rows > 0 ? lm_quality_loss(&val, 1) : train_loss;
		warn_on_jump(model, val.rows > 0 ? "the adapted validation loss" : "the training loss",
					 epoch, prev_watched, watched);
		prev_watched = watched;
		if (watched < best_loss)
		{
			best_loss = watched;
			best_epoch = epoch;
			memcpy(best_params, tr.params, sizeof(float) * arch->n_params);
		}
		else if (tr.opt.patience > 0 && epoch - best_epoch >= tr.opt.patience)
		{
			ereport(NOTICE,
					(errmsg("limaml \"%s\": stopping early after epoch %d; keeping epoch %d",
							model->name, epoch, best_epoch)));
			break;
		}
	}

	kept_epoch = tr.opt.patience > 0 ? best_epoch : Min(epoch, tr.opt.epochs);
	emit_rows(rsinfo, rows, Min(epoch, tr.opt.epochs), kept_epoch);
	report_kept(model, rows, Min(epoch, tr.opt.epochs), kept_epoch);

	initStringInfo(&training);
	appendStringInfo(&training, "{\"method\": \"%s\", \"maml_order\": %d, \"from_version\": %d, "
					 "\"epochs\": %d, \"epochs_run\": %d, \"meta_batch\": %d, \"outer_lr\": %.9g, "
					 "\"validation_fraction\": %.9g, \"clip_norm\": %.9g, \"patience\": %d, "
					 "\"episodes\": %d, \"support_weight\": %.9g, \"random_splits\": %s, "
					 "\"weight_decay\": %.9g, \"lr_schedule\": \"%s\", "
					 "\"streamed\": %s, \"kept_epoch\": %d, \"seconds\": %.3f, \"history\": [%s]}",
					 model->config.inner_steps == 0 ? "conventional" :
					 arch->n_lr_params ? "meta-sgd" : "maml",
					 tr.opt.order, from_version, tr.opt.epochs, Min(epoch, tr.opt.epochs),
					 tr.opt.meta_batch, tr.opt.outer_lr, tr.opt.val_fraction, tr.opt.clip_norm,
					 tr.opt.patience, tr.opt.episodes, tr.opt.support_weight,
					 tr.opt.random_splits ? "true" : "false", tr.opt.weight_decay,
					 tr.opt.cosine ? "cosine" : "constant", tr.members ? "false" : "true",
					 kept_epoch, (GetCurrentTimestamp() - started) / 1e6, history.data);
	{
		float	   *kept = tr.opt.patience > 0 ? best_params : tr.params;

		if (arch->learn_lambda)
		{
			/* the solve's learned λ, readable in limaml_versions (export has ln λ) */
			const float *rho = kept + arch->n_meta_params + arch->lambda_off;

			training.len--;		/* reopen the object */
			training.data[training.len] = '\0';
			appendStringInfoString(&training, ", \"ridge_lambda_learned\": [");
			for (int g = 0; g < lm_lambda_groups(arch); g++)
				appendStringInfo(&training, "%s%.6g", g ? ", " : "", exp(rho[g]));
			appendStringInfoString(&training, "]}");
		}

		/* items never trained will read the mean trained item */
		lm_wide_table_finish(arch, kept + arch->n_meta_params);
		lm_item_table_finish(arch, kept + arch->n_meta_params);
		/* after the tables' unknown rows: validation scores as serving will */
		if (arch->fold_in)
			choose_fold_in(&tr, kept, &training);
		lm_store_version(model_id, kept, arch->n_params, training.data, true);
	}
	lm_spi_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(train_cxt);
	return (Datum) 0;
}
