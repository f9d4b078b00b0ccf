/*
 * quality.h - cold against adapted predictions over a set of members:
 * what training reports for validation members and limaml_evaluate for
 * any members.  "Cold" uses the un-adapted meta block, "adapted" the meta
 * block after the adaptation steps on the member's support set.
 */
#ifndef LIMAML_QUALITY_H
#define LIMAML_QUALITY_H

#include "limaml.h"
#include "core/maml.h"

typedef struct LmQuality
{
	const LmArch *arch;
	int			members;
	int64		rows;
	int64		cap;
	double	   *pred[2];		/* [rows] [0] cold, [1] adapted: probability or value */
	double	   *y;				/* [rows] */
	double		loss[2];		/* Σ over rows of the training loss */
	double		member_auc_sum[2];
	int			member_auc_n;
	LmWork	   *work;			/* grown to the largest member */
	double	   *member_y;
	float	   *e;
} LmQuality;

void		lm_quality_init(LmQuality *q, const LmArch *arch);

/* predicts the task's query rows cold and adapted with params, and pools them */
void		lm_quality_add(LmQuality *q, const LmModel *model, const float *params,
						   const LmTask *task);

/* the pooled predictions of another accumulator (segment totals) */
void		lm_quality_merge(LmQuality *into, const LmQuality *from);

/* k = 0 cold, 1 adapted; -1 when undefined */
double		lm_quality_loss(const LmQuality *q, int k);
double		lm_quality_auc(const LmQuality *q, int k);
double		lm_quality_member_auc(const LmQuality *q, int k);
double		lm_quality_logloss(const LmQuality *q, int k);
double		lm_quality_mae(const LmQuality *q, int k);
double		lm_quality_rmse(const LmQuality *q, int k);

#endif
