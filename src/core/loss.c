/*
 * loss.c - binary cross-entropy with logits and mean squared error.
 */
#include "loss.h"

#include <math.h>

/* log(1 + e^x) without overflow */
static double
softplus(double x)
{
	return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static double
sigmoid(double x)
{
	if (x >= 0)
		return 1.0 / (1.0 + exp(-x));
	else
	{
		double		e = exp(x);

		return e / (1.0 + e);
	}
}

/* scale · ∂loss/∂pred of one row of n, the mean's 1/n included */
static lm_real
row_gradient(LmLoss loss, double z, double y, int n, double scale)
{
	if (loss == LM_LOSS_BCE)
		return (lm_real) (scale * (sigmoid(z) - y) / n);
	return (lm_real) (scale * 2 * (z - y) / n);
}

double
loss_forward_backward(LmLoss loss, const lm_real *pred, const lm_real *label,
					  int n, lm_real *dpred, double scale)
{
	double		total = 0;

	if (n <= 0)
		return 0;
	for (int r = 0; r < n; r++)
	{
		double		z = pred[r];
		double		y = label[r];

		/* bce: -y log σ(z) - (1-y) log(1-σ(z)) = softplus(z) - y z */
		total += loss == LM_LOSS_BCE ? softplus(z) - y * z : (z - y) * (z - y);
		if (dpred)
			dpred[r] = row_gradient(loss, z, y, n, scale);
	}
	return total / n;
}

void
loss_gradient(LmLoss loss, const lm_real *pred, const lm_real *label, int n,
			  lm_real *dpred, double scale)
{
	for (int r = 0; r < n; r++)
		dpred[r] = row_gradient(loss, pred[r], label[r], n, scale);
}

double
loss_output(LmLoss loss, double pred)
{
	return loss == LM_LOSS_BCE ? sigmoid(pred) : pred;
}
