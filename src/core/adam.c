/*
 * adam.c - Adam optimizer, the update PyTorch's torch.optim.Adam makes.
 */
#include "adam.h"

#include <math.h>

void
lm_adam_init(LmAdam *adam, size_t n, double lr)
{
	adam->lr = lr;
	adam->beta1 = 0.9;
	adam->beta2 = 0.999;
	adam->eps = 1e-8;
	adam->t = 0;
	adam->weight_decay = 0;
	adam->n_decay = 0;
	adam->n = n;
	adam->m = lm_alloc_reals(n);
	adam->v = lm_alloc_reals(n);
}

void
lm_adam_free(LmAdam *adam)
{
	lm_free(adam->m);
	lm_free(adam->v);
	adam->m = adam->v = NULL;
}

void
lm_adam_step(LmAdam *adam, lm_real *params, const lm_real *grad)
{
	double		c1,
				c2;

	adam->t++;
	c1 = 1.0 - pow(adam->beta1, (double) adam->t);
	c2 = 1.0 - pow(adam->beta2, (double) adam->t);
	for (size_t i = 0; i < adam->n; i++)
	{
		double		g = grad[i];
		double		m = adam->beta1 * adam->m[i] + (1 - adam->beta1) * g;
		double		v = adam->beta2 * adam->v[i] + (1 - adam->beta2) * g * g;

		adam->m[i] = (lm_real) m;
		adam->v[i] = (lm_real) v;
		if (i < adam->n_decay)
			params[i] -= (lm_real) (adam->lr * adam->weight_decay * params[i]);
		params[i] -= (lm_real) (adam->lr * (m / c1) / (sqrt(v / c2) + adam->eps));
	}
}
