/*
 * quality.c - pooled cold and adapted predictions and their metrics.
 */
#include "quality.h"

#include <math.h>

#include "core/metrics.h"
#include "utils/memutils.h"

void
lm_quality_init(LmQuality *q, const LmArch *arch)
{
	memset(q, 0, sizeof(*q));
	q->arch = arch;
	q->cap = 1024;
	q->pred[0] = palloc(sizeof(double) * q->cap);
	q->pred[1] = palloc(sizeof(double) * q->cap);
	q->y = palloc(sizeof(double) * q->cap);
	q->e = palloc(sizeof(float) * lm_embedding_len(arch));
}

static void
reserve(LmQuality *q, int64 rows)
{
	if (q->rows + rows <= q->cap)
		return;
	q->cap = Max(q->cap * 2, q->rows + rows);
	for (int k = 0; k < 2; k++)
		q->pred[k] = repalloc_huge(q->pred[k], sizeof(double) * q->cap);
	q->y = repalloc_huge(q->y, sizeof(double) * q->cap);
}

void
lm_quality_add(LmQuality *q, const LmModel *model, const float *params, const LmTask *task)
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
	for (int r = 0; r < n; r++)
		q->y[q->rows + r] = q->member_y[r] = task->query.label[r];
	if (arch->loss == LM_LOSS_BCE)
	{
		double		cold = lm_auc(q->pred[0] + q->rows, q->member_y, n);
		double		adapted = lm_auc(q->pred[1] + q->rows, q->member_y, n);

		if (cold >= 0)
		{
			q->member_auc_sum[0] += cold;
			q->member_auc_sum[1] += adapted;
			q->member_auc_n++;
		}
	}
	q->rows += n;
	q->members++;
}

void
lm_quality_merge(LmQuality *into, const LmQuality *from)
{
	reserve(into, from->rows);
	for (int k = 0; k < 2; k++)
	{
		memcpy(into->pred[k] + into->rows, from->pred[k], sizeof(double) * from->rows);
		into->loss[k] += from->loss[k];
		into->member_auc_sum[k] += from->member_auc_sum[k];
	}
	memcpy(into->y + into->rows, from->y, sizeof(double) * from->rows);
	into->rows += from->rows;
	into->members += from->members;
	into->member_auc_n += from->member_auc_n;
}

double
lm_quality_loss(const LmQuality *q, int k)
{
	return q->rows ? q->loss[k] / q->rows : -1;
}

double
lm_quality_auc(const LmQuality *q, int k)
{
	return q->arch->loss == LM_LOSS_BCE ? lm_auc(q->pred[k], q->y, (int) q->rows) : -1;
}

double
lm_quality_member_auc(const LmQuality *q, int k)
{
	return q->member_auc_n ? q->member_auc_sum[k] / q->member_auc_n : -1;
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
