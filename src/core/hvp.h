/*
 * hvp.h - exact Hessian-vector products of one member's loss, by
 * Pearlmutter's R-operator, for second-order MAML.
 *
 * The direction w perturbs only the meta block (θ_meta), as the inner loop
 * does.  For L(θ_meta, θ_global) on rows (item, label) of member x:
 *   grad_meta   = ∇_meta L                         (overwritten)
 *   grad_global = ∇_global L                       (added, unless NULL)
 *   hv_meta     = ∇²_{meta,meta} L · w             (overwritten)
 *   hv_global   = ∇²_{global,meta} L · w           (added, unless NULL)
 * ReLU's second derivative is zero almost everywhere, so the products are
 * exact wherever the gradient is defined.
 */
#ifndef LM_HVP_H
#define LM_HVP_H

#include "maml.h"

typedef struct LmHvpWork LmHvpWork;

LmHvpWork  *lm_hvp_work_create(const LmArch *arch, int max_rows);
size_t		lm_hvp_work_bytes(const LmArch *arch, int max_rows);
void		lm_hvp_work_free(LmHvpWork *hw);

/*
 * For several products on the same rows and θ_global (the reverse pass of
 * second-order MAML): pre, when not NULL, is the rows' work->pre from
 * lm_global_item_part (item part, then P v), so it is not recomputed; defer,
 * when not NULL, [n][h0], accumulates R{δ0} instead of adding R{δ0}ᵀ X to
 * hv_global's first-layer item columns, so the caller adds deferᵀ X once.
 */
void		lm_hvp_reuse(LmHvpWork *hw, const lm_real *pre, lm_real *defer);

/* returns the loss; scale multiplies every output (and not the loss) */
double		lm_hvp(const LmArch *arch, const lm_real *meta, const lm_real *global,
				   const lm_real *member, const LmRows *rows, const lm_real *w, double scale,
				   LmHvpWork *hw, lm_real *grad_meta, lm_real *grad_global,
				   lm_real *hv_meta, lm_real *hv_global);

#endif
