/*
 * loss.h - losses on a row vector of predictions, mean over rows.
 */
#ifndef LM_LOSS_H
#define LM_LOSS_H

#include <math.h>

#include "lm_real.h"

typedef enum LmLoss
{
	LM_LOSS_BCE = 0,			/* binary cross-entropy on logits, labels in [0,1] */
	LM_LOSS_MSE = 1				/* squared error on values */
} LmLoss;

/*
 * Returns the mean loss over n rows of pred[n] against label[n] and, when
 * dpred is not NULL, writes dpred[r] = scale · ∂loss/∂pred[r] (the mean's
 * 1/n included).  The loss is computed in double for stable sums.
 */
double		loss_forward_backward(LmLoss loss, const lm_real *pred, const lm_real *label,
								  int n, lm_real *dpred, double scale);

/* loss_forward_backward's dpred without the loss (no log per row) */
void		loss_gradient(LmLoss loss, const lm_real *pred, const lm_real *label, int n,
						  lm_real *dpred, double scale);

/* what a prediction means to a user: σ(logit) for bce, the value for mse */
double		loss_output(LmLoss loss, double pred);

/*
 * loss_output as serving returns it (limaml_score, limaml_top_k): in float,
 * so a bce score is exactly 1 past a logit of about 17
 */
static inline float
loss_served(LmLoss loss, lm_real pred)
{
	return loss == LM_LOSS_BCE ? 1.0f / (1.0f + expf(-(float) pred)) : (float) pred;
}

#endif
