/*
 * quality.h - cold against adapted predictions over a set of members:
 * what training reports for validation members and limaml_evaluate for
 * any members.  "Cold" uses the un-adapted meta block, "adapted" the meta
 * block after the adaptation steps on the member's support set.
 * limaml_evaluate adds two baselines' predictions of the same rows
 * (popularity and bias, computed by the caller).
 */
#ifndef LIMAML_QUALITY_H
#define LIMAML_QUALITY_H

#include "limaml.h"
#include "core/maml.h"

/* the predictors: the model cold and adapted, then the baselines */
typedef enum LmPredictor
{
	LM_PRED_COLD,
	LM_PRED_ADAPTED,
	LM_PRED_POPULARITY,
	LM_PRED_BIAS,
	LM_N_PRED
} LmPredictor;

/* the rank cut-off of NDCG */
#define LM_NDCG_K 10

typedef struct LmQuality
{
	const LmArch *arch;
	int			n_pred;			/* 2, or LM_N_PRED with the baselines */
	int			members;
	int64		rows;
	int64		cap;
	double	   *pred[LM_N_PRED];	/* [rows] by LmPredictor: probability or value */
	double	   *y;				/* [rows] */
	double		loss[2];		/* Σ over rows of the training loss, cold and adapted */
	double		member_auc_sum[LM_N_PRED];
	int			member_auc_n;
	double		member_ndcg_sum[LM_N_PRED];
	int			member_ndcg_n;
	LmWork	   *work;			/* grown to the largest member */
	double	   *member_y;
	float	   *e;
} LmQuality;

void		lm_quality_init(LmQuality *q, const LmArch *arch);
/* the same with room for the baselines */
void		lm_quality_init_baselines(LmQuality *q, const LmArch *arch);
/* forgets the pooled rows, keeps the buffers */
void		lm_quality_reset(LmQuality *q);

/* predicts the task's query rows cold and adapted with params, and pools them */
void		lm_quality_add(LmQuality *q, const LmModel *model, const float *params,
						   const LmTask *task);

/*
 * the same plus the baselines' predictions of the query rows: baseline[0]
 * popularity, baseline[1] bias, [task->query.n] each
 */
void		lm_quality_add_baselines(LmQuality *q, const LmModel *model, const float *params,
									 const LmTask *task, const double *const baseline[2]);

/* the pooled predictions of another accumulator (segment totals) */
void		lm_quality_merge(LmQuality *into, const LmQuality *from);

/* k: an LmPredictor (the loss: cold or adapted only); -1 when undefined */
double		lm_quality_loss(const LmQuality *q, int k);
double		lm_quality_auc(const LmQuality *q, int k);
double		lm_quality_member_auc(const LmQuality *q, int k);
double		lm_quality_member_ndcg(const LmQuality *q, int k);
double		lm_quality_logloss(const LmQuality *q, int k);
double		lm_quality_mae(const LmQuality *q, int k);
double		lm_quality_rmse(const LmQuality *q, int k);

#endif
