/*
 * wide_init.h - where training starts the wide head (wide.h): its item
 * biases and factors fitted to the training rows in closed form.
 *
 * Adam moves a parameter by about the learning rate per step, so in the few
 * hundred steps of a training run zero-initialised item biases reach a
 * tenth of the items' real spread, and factors started small stay small:
 * the member's ridge solve, penalised by λ, then gives them no weight.
 * Starting from the data's own estimates removes both limits; meta-training
 * refines them from there.  With μ the mean label, for each item table row
 * b with training rows (n_b rows, label sum s_b):
 *   bias_b      = link((s_b + K μ) / (n_b + K)) − link(μ)     K = LM_WIDE_INIT_SHRINK
 *   output bias = link(μ)    (the global block's last layer)
 * (link: the logit for bce, rates clamped to [1e-4, 1 − 1e-4]; the identity
 * for mse), and the factors f_b come from alternating least
 * squares on the residuals of the bias model, r = y − μ − β_b − β_u with
 * β_b = (s_b − n_b μ) / (n_b + K), β_u = Σ_u (y − μ − β_b) / (n_u + K_u):
 *   LM_WIDE_INIT_SWEEPS times: p_u = (Σ f fᵀ + λ' I)⁻¹ Σ r f over u's rows,
 *                              f_b = (Σ p pᵀ + λ' I)⁻¹ Σ r p over b's rows,
 * from the random factors already in params, with λ' = ridge_lambda / κ.
 * For bce κ = μ(1 − μ): the penalty the member's own solve puts on w in
 * label units (σ' ≈ κ), so the solve at adaptation repeats p_u's step.
 * For mse the solve's row weight is 1, but λ' = ridge_lambda overfits the
 * items to the training members' long histories (planted 1/5 ratings:
 * adapted RMSE 1.71 above cold 1.55); κ = LM_WIDE_INIT_MSE_KAPPA was
 * measured on MovieLens and the planted ratings (README: the wide head).
 * Positive-only logs (implicit, rows with sampled negatives) start the
 * factors differently: ALS on those residuals collapses to zero (a member's
 * few positives weigh less than λ') or, less penalised, fits the sampled
 * negatives' noise; neither finds what members share (the shop's
 * categories).  There the factors are the top-r right singular subspace of
 * the degree-normalised positive matrix (Cremonesi et al.'s PureSVD,
 * normalised as in a symmetric graph Laplacian):
 *   X[u][b] = Σ over u's positive rows on b of 1 / √((n_u + 1)(n_b + 1)),
 * found by LM_WIDE_INIT_POWER steps of subspace iteration from the random
 * factors in params, and scaled to unit-variance columns over the buckets
 * with positives (the member's solve is invariant to the basis's rotation).
 * Rows without trained buckets (NULL item ids, the unknown row) count only
 * toward μ; buckets without rows keep their parameters.
 */
#ifndef LM_WIDE_INIT_H
#define LM_WIDE_INIT_H

#include <stdint.h>

#include "arch.h"

#define LM_WIDE_INIT_SHRINK 25.0	/* item pseudo-rows (the bias baseline's) */
#define LM_WIDE_INIT_MEMBER_SHRINK 10.0
#define LM_WIDE_INIT_SWEEPS 5
#define LM_WIDE_INIT_POWER 20		/* subspace iteration steps (implicit) */
#define LM_WIDE_INIT_MSE_KAPPA (1.0 / 6)	/* mse: λ' = 6 ridge_lambda */

/* the training rows: row k is member member[k]'s label on item table row bucket[k] */
typedef struct LmWideData
{
	int64_t		n;
	int			n_members;
	const int32_t *member;		/* [n] in 0 .. n_members − 1 */
	const int32_t *bucket;		/* [n] in 0 .. item_buckets (the unknown row) */
	const float *label;			/* [n] */
	int			implicit;		/* positive-only rows with sampled negatives */
} LmWideData;

/* bytes lm_wide_init allocates for data */
double		lm_wide_init_bytes(const LmArch *arch, const LmWideData *data);

/* params' item biases, output bias and item factors from data (arch->wide) */
void		lm_wide_init(const LmArch *arch, lm_real *params, const LmWideData *data);

#endif
