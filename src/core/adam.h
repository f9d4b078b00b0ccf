/*
 * adam.h - Adam (Kingma & Ba) with bias correction, on a flat vector.
 */
#ifndef LM_ADAM_H
#define LM_ADAM_H

#include "lm_real.h"

typedef struct LmAdam
{
	double		lr;
	double		beta1;
	double		beta2;
	double		eps;
	double		weight_decay;	/* decoupled (AdamW, Loshchilov & Hutter) */
	size_t		n_decay;		/* params [0, n_decay) decay; the rest do not */
	long		t;				/* steps taken */
	size_t		n;
	lm_real    *m;				/* [n] first moment */
	lm_real    *v;				/* [n] second moment */
} LmAdam;

/* zeroed moments, allocated with lm_alloc; PyTorch's default betas and eps; no decay */
void		lm_adam_init(LmAdam *adam, size_t n, double lr);
void		lm_adam_free(LmAdam *adam);

/* params[i] -= lr · (m̂ / (√v̂ + eps) + weight_decay · params[i]) (decay for i < n_decay) */
void		lm_adam_step(LmAdam *adam, lm_real *params, const lm_real *grad);

#endif
