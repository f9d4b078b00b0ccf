/*
 * quality.c - pooled cold, adapted (and baseline) predictions and their
 * metrics.
 */
#include "quality.h"

#include <math.h>

#include "core/metrics.h"
#include "utils/memutils.h"

static void
quality_init(LmQuality *q, const LmArch *arch, int n_pred)
{
	memset(q, 0, sizeof(*q));
	q->arch = arch;
	q->n_pred = n_pred;
	q->cap = 1024;
	for (int k = 0; k < n_pred; k++)
		q->pred[k] = palloc(sizeof(double) * q->cap);
	q->y = palloc(sizeof(double) * q->cap);
	q->e = palloc(sizeof(float) * lm_embedding_len(arch));
}

void
lm_quality_init(LmQuality *q, const LmArch *arch)
{
	quality_init(q, arch, 2);
}

void
lm_quality_init_baselines(LmQuality *q, const LmArch *arch)
{
	quality_init(q, arch, LM_N_PRED);
}

void
lm_quality_reset(LmQuality *q)
{
	q->members = 0;
	q->rows = 0;
	memset(q->loss, 0, sizeof(q->loss));
	memset(q->member_auc_sum, 0, sizeof(q->member_auc_sum));
	memset(q->member_ndcg_sum, 0, sizeof(q->member_ndcg_sum));
	q->member_auc_n = 0;
	q->member_ndcg_n = 0;
}

static void
reserve(LmQuality *q, int64 rows)
{
	if (q->rows + rows <= q->cap)
		return;
	q->cap = Max(q->cap * 2, q->rows + rows);
	lm_check_work_mem((double) q->cap * sizeof(double) * (q->n_pred + 1),
					  psprintf("pooling the predictions of " INT64_FORMAT " rows", q->cap),
					  "Validate or evaluate on fewer members");
	for (int k = 0; k < q->n_pred; k++)
		q->pred[k] = repalloc_huge(q->pred[k], sizeof(double) * q->cap);
	q->y = repalloc_huge(q->y, sizeof(double) * q->cap);
}

/* bce: the AUC; mse: the concordance with the values (the AUC of 0/1 values) */
static double
ranking_auc(const LmQuality *q, const double *pred, const double *y, int n)
{
	return q->arch->loss == LM_LOSS_BCE ? lm_auc(pred, y, n) : lm_concordance(pred, y, n);
}

/* the member's AUC and NDCG per predictor, from its rows just pooled */
static void
add_member_ranking(LmQuality *q, int n)
{
	bool		auc_defined = false,
				ndcg_defined = false;

	for (int k = 0; k < q->n_pred; k++)
	{
		double		auc = ranking_auc(q, q->pred[k] + q->rows, q->member_y, n);
		double		ndcg = lm_ndcg(q->pred[k] + q->rows, q->member_y, n, LM_NDCG_K);

		/* both depend on the labels only for being defined */
		if (auc >= 0)
		{
			q->member_auc_sum[k] += auc;
			auc_defined = true;
		}
		if (ndcg >= 0)
		{
			q->member_ndcg_sum[k] += ndcg;
			ndcg_defined = true;
		}
	}
	q->member_auc_n += auc_defined;
	q->member_ndcg_n += ndcg_defined;
}

static void
quality_add(LmQuality *q, const LmModel *model, const float *params, const LmTask *task,
			const double *const baseline[2])
{
	const LmArch *arch = q->arch;
	int			n = task->query.n;
	int			need = Max(n, task->support.n);

	if (n == 0)
		return;
	if (!q->work || q->work->max_rows < need)
	{
		if (q->work)
			lm_work_free(q->work);
		q->work = lm_work_create(arch, Max(need, 64));
		q->member_y = q->member_y ? repalloc(q->member_y, sizeof(double) * q->work->max_rows)
			: palloc(sizeof(double) * q->work->max_rows);
	}
	reserve(q, n);
	for (int k = 0; k < 2; k++)
	{
		/* cold: no step, so the wide head's member part stays zero too */
		lm_adapt_embedding(arch, params, task->member, &task->support,
						   k == 0 ? 0 : model->config.adapt_steps, model->config.adapt_lr,
						   q->e, q->work);
		lm_predict_rows(arch, params, q->e, &task->query, q->work, q->work->pred);
		q->loss[k] += n * loss_forward_backward(arch->loss, q->work->pred, task->query.label,
												n, NULL, 1);
		for (int r = 0; r < n; r++)
			q->pred[k][q->rows + r] = loss_output(arch->loss, q->work->pred[r]);
	}
	for (int k = 2; k < q->n_pred; k++)
		memcpy(q->pred[k] + q->rows, baseline[k - 2], sizeof(double) * n);
	for (int r = 0; r < n; r++)
		q->y[q->rows + r] = q->member_y[r] = task->query.label[r];
	add_member_ranking(q, n);
	q->rows += n;
	q->members++;
}

void
lm_quality_add(LmQuality *q, const LmModel *model, const float *params, const LmTask *task)
{
	Assert(q->n_pred == 2);
	quality_add(q, model, params, task, NULL);
}

void
lm_quality_add_baselines(LmQuality *q, const LmModel *model, const float *params,
						 const LmTask *task, const double *const baseline[2])
{
	Assert(q->n_pred == LM_N_PRED);
	quality_add(q, model, params, task, baseline);
}

void
lm_quality_merge(LmQuality *into, const LmQuality *from)
{
	reserve(into, from->rows);
	Assert(into->n_pred == from->n_pred);
	for (int k = 0; k < into->n_pred; k++)
	{
		memcpy(into->pred[k] + into->rows, from->pred[k], sizeof(double) * from->rows);
		into->member_auc_sum[k] += from->member_auc_sum[k];
		into->member_ndcg_sum[k] += from->member_ndcg_sum[k];
	}
	for (int k = 0; k < 2; k++)
		into->loss[k] += from->loss[k];
	memcpy(into->y + into->rows, from->y, sizeof(double) * from->rows);
	into->rows += from->rows;
	into->members += from->members;
	into->member_auc_n += from->member_auc_n;
	into->member_ndcg_n += from->member_ndcg_n;
}

double
lm_quality_loss(const LmQuality *q, int k)
{
	return q->rows ? q->loss[k] / q->rows : -1;
}

double
lm_quality_auc(const LmQuality *q, int k)
{
	return ranking_auc(q, q->pred[k], q->y, (int) q->rows);
}

double
lm_quality_member_auc(const LmQuality *q, int k)
{
	return q->member_auc_n ? q->member_auc_sum[k] / q->member_auc_n : -1;
}

double
lm_quality_member_ndcg(const LmQuality *q, int k)
{
	return q->member_ndcg_n ? q->member_ndcg_sum[k] / q->member_ndcg_n : -1;
}

double
lm_quality_logloss(const LmQuality *q, int k)
{
	double		sum = 0;

	if (q->arch->loss != LM_LOSS_BCE || q->rows == 0)
		return -1;
	for (int64 r = 0; r < q->rows; r++)
	{
		double		p = Min(Max(q->pred[k][r], 1e-7), 1 - 1e-7);

		sum -= q->y[r] * log(p) + (1 - q->y[r]) * log(1 - p);
	}
	return sum / q->rows;
}

double
lm_quality_mae(const LmQuality *q, int k)
{
	double		sum = 0;

	if (q->arch->loss != LM_LOSS_MSE || q->rows == 0)
		return -1;
	for (int64 r = 0; r < q->rows; r++)
		sum += fabs(q->pred[k][r] - q->y[r]);
	return sum / q->rows;
}

double
lm_quality_rmse(const LmQuality *q, int k)
{
	double		sum = 0;

	if (q->arch->loss != LM_LOSS_MSE || q->rows == 0)
		return -1;
	for (int64 r = 0; r < q->rows; r++)
		sum += (q->pred[k][r] - q->y[r]) * (q->pred[k][r] - q->y[r]);
	return sqrt(sum / q->rows);
}
