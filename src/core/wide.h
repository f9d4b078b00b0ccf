/*
 * wide.h - the wide head: an item bias, and a member vector fitted in
 * closed form against learned item factors (R2-D2-style ridge, Bertinetto
 * et al. 2019), beside the deep MLP.
 *
 * Each item (bucket b, the unknown row for unseen items) has a row
 * W[b] = (bias_b, f_b[r]).  For a member with support rows s, after the
 * inner loop has adapted θ_meta to φ:
 *   z_s   = deep(φ; x_s) + bias_s                 base prediction
 *   F̃_s   = (1, x_s, f_s)                         [m = 1 + p + r]
 *   (F̃ᵀ K F̃ + λ I) w = F̃ᵀ (y − ŷ(z))             ŷ = σ(z), K = diag σ'(z_s) (bce);
 *                                                 ŷ = z,    K = I            (mse)
 * For mse this is the exact ridge fit of the residuals; for bce one Newton
 * (IRLS) step of the L2-penalised logistic fit from z.  A row's prediction is
 *   pred = deep(φ; x) + bias + F̃ · w,
 * so w₀ is the member's adapted bias and w[1..r] its vector against f.
 * x_s are the row's item features with wide_features (p of them), else
 * absent (p = 0): the member's own weights over, say, category columns.
 * λ is ridge_lambda, or with a learned λ (lm_arch_enable_learned_lambda)
 * the diagonal exp(ρ_g) per group g of F̃ (w₀; each column of w_x; w_f),
 * fitted through the solve (on validation members, src/training.c):
 * ∂L/∂λ_i = −u_i w_i (MetaOptNet's view).
 * With fold_in the factor weights the rows see are w_f + a · h, h = Σ_s y_s f_s
 * over the support rows (PureSVD's folded-in member, Cremonesi et al. 2010:
 * negatives, y = 0, add nothing), with one learned scalar a; the solve
 * itself does not see the term.
 * The head runs after the inner loop (which sees the deep part only), so
 * the second-order reverse pass through the inner steps is unchanged; the
 * solve itself is differentiated exactly (A⁻¹ once per task).
 */
#ifndef LM_WIDE_H
#define LM_WIDE_H

#include <stdint.h>

#include "maml.h"

/* in place: A[m][m] (symmetric positive definite) := L with A = L Lᵀ, lower triangle */
void		lm_cholesky(lm_real *A, int m);

/* x := A⁻¹ x from the factor L */
void		lm_cholesky_solve(const lm_real *L, int m, lm_real *x);

/* m = 1 + p + r: the solve's size (p item features with wide_features, else 0) */
static inline int
lm_wide_len(const LmArch *arch)
{
	return 1 + lm_wide_feature_len(arch) + arch->wide_rank;
}

/* a table row: (bias, f[r]) */
static inline int
lm_wide_row_len(const LmArch *arch)
{
	return 1 + arch->wide_rank;
}

/*
 * Ft[n][m] = (1, x, f[b]) and bias[n] = bias[b] for the rows' buckets (the
 * unknown row for a NULL bucket array); with fallback, never-trained items
 * (items.h) read the unknown row.
 */
void		lm_wide_gather(const LmArch *arch, const lm_real *global, const LmRows *rows,
						   int fallback, lm_real *Ft, lm_real *bias);

/* ln of ridge_lambda's range: a learned ρ is held inside it */
#define LM_LOG_LAMBDA_MIN (-13.815510557964274)
#define LM_LOG_LAMBDA_MAX 13.815510557964274

/* λ of the solve's coordinate i (0 ≤ i < lm_wide_len) */
double		lm_wide_lambda(const LmArch *arch, const lm_real *global, int i);

/*
 * w[m] from the support rows' Ft[n][m], base predictions z[n] and labels;
 * keeps what the backward pass needs: chol[m][m] (the Cholesky factor of
 * A), resid[n] = y − ŷ, slope[n] = ∂ŷ/∂z (the bce row weight σ') and
 * dslope[n] = ∂σ'/∂z (0 for mse).
 */
void		lm_wide_solve(const LmArch *arch, const lm_real *global, const lm_real *Ft, const lm_real *z,
						  const lm_real *label, int n, lm_real *chol, lm_real *w,
						  lm_real *resid, lm_real *slope, lm_real *dslope);

/*
 * A serving item's wide section out[lm_wide_len] = (x, bias, f[r]) for its
 * features and bucket (never-trained items read the unknown row); with the
 * member's (w₀, w_x, 1, w) it gives w₀ + F̃ · w.
 */
void		lm_wide_serve_section(const LmArch *arch, const lm_real *global,
								  const lm_real *features, int32_t bucket, lm_real *out);

/* pred[n] += bias[r] + Ft[r] · w */
void		lm_wide_add(const LmArch *arch, const lm_real *Ft, const lm_real *bias,
						const lm_real *w, int n, lm_real *pred);

/*
 * Backward through the solve given gw[m] = ∂L/∂w: with u = A⁻¹ gw (u[m]
 * scratch, overwritten) and κ_s the row's weight,
 *   dz[s]  = −(F̃_s · u) slope_s − (F̃_s · u)(F̃_s · w) dslope_s   (overwritten)
 *   dFt[s] = resid_s u − κ_s ((F̃_s · w) u + (F̃_s · u) w)         (overwritten)
 */
void		lm_wide_solve_backward(const LmArch *arch, const lm_real *Ft, const lm_real *chol,
								   const lm_real *w, const lm_real *resid, const lm_real *slope,
								   const lm_real *dslope, const lm_real *gw, int n, lm_real *u,
								   lm_real *dz, lm_real *dFt);

/* h[r] = Σ_s y_s f_s over the support rows' F̃ (any order gives the same sum up to rounding) */
void		lm_wide_fold_in(const LmArch *arch, const lm_real *Ft, const lm_real *label, int n,
							lm_real *h);

/* w_eff[m] := w, then w_eff's factor weights += a · h */
void		lm_wide_fold_in_add(const LmArch *arch, const lm_real *global, const lm_real *h,
								const lm_real *w, lm_real *w_eff);

/*
 * Backward through w_eff given gw[m] = ∂L/∂w_eff: dglobal's a += gw_f · h
 * (dglobal may be NULL), and the support rows' dFt[s]'s factors += y_s a gw_f.
 */
void		lm_wide_fold_in_backward(const LmArch *arch, const lm_real *global, const lm_real *label,
									 int n, const lm_real *h, const lm_real *gw, lm_real *dFt,
									 lm_real *dglobal);

/* dglobal's ρ[g] += λ_g Σ_{i in g} −u_i w_i, with u from lm_wide_solve_backward */
void		lm_wide_lambda_backward(const LmArch *arch, const lm_real *global, const lm_real *w,
									const lm_real *u, lm_real *dglobal);

/* dglobal's wide rows += (dbias[r], dFt[r][1..]) for the rows' buckets */
void		lm_wide_table_backward(const LmArch *arch, const int32_t *bucket, int n,
								   const lm_real *dbias, const lm_real *dFt, lm_real *dglobal);

/* the unknown row := the mean of the trained items' rows (after lm_item_table_finish's rule) */
void		lm_wide_table_finish(const LmArch *arch, lm_real *global);

#endif
