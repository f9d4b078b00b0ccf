/*
 * meta_grad.h - a task's meta-gradient through the K inner steps, first or
 * second order, with optional per-parameter inner learning rates
 * (Meta-SGD, Li et al. 2017).
 *
 * Inner loop, α a scalar or a vector over θ_meta (⊙ elementwise):
 *   φ⁰ = θ_meta,  gᵏ = ∇_φ L_S(φᵏ, θ_global),  φᵏ⁺¹ = φᵏ − α ⊙ gᵏ
 * Reverse pass from ḡ = ∇_φ L_Q(φᴷ, θ_global), for k = K−1 … 0:
 *   ∂/∂α         −= ḡ ⊙ gᵏ
 *   ∂/∂θ_global  −= ∇²_{global,φ} L_S(φᵏ) (α ⊙ ḡ)     (second order only)
 *   ḡ            −= ∇²_{φφ} L_S(φᵏ) (α ⊙ ḡ)           (second order only)
 * and ∂/∂θ_meta = ḡ.  First order keeps ḡ = ∇_φ L_Q(φᴷ) throughout.
 * The Hessian-vector products are exact (hvp.h).
 */
#ifndef LM_META_GRAD_H
#define LM_META_GRAD_H

#include "hvp.h"

typedef struct LmMetaWork LmMetaWork;

LmMetaWork *lm_meta_work_create(const LmArch *arch, int max_rows, int max_steps);
/* the bytes lm_meta_work_create allocates, for a memory check before it runs */
size_t		lm_meta_work_bytes(const LmArch *arch, int max_rows, int max_steps);
void		lm_meta_work_free(LmMetaWork *mw);

/*
 * Adds scale · ∂L_Q/∂(θ_meta, θ_global) into grad[n_meta_params + n_global_params]
 * and, when lr_vec is given, scale · ∂L_Q/∂α into grad_lr[n_meta_params].
 * lr_vec NULL means the scalar lr.  Returns the query loss after adaptation.
 */
double		lm_task_meta_grad(const LmArch *arch, const lm_real *params, const LmTask *task,
							  int steps, double lr, const lm_real *lr_vec, int order,
							  double scale, lm_real *grad, lm_real *grad_lr, LmMetaWork *mw);

#endif
