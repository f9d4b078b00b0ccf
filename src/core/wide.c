/*
 * wide.c - the wide head (see wide.h).
 */
#include "wide.h"

#include <math.h>
#include <string.h>

#include "items.h"
#include "kernels.h"

static double
curvature(const LmArch *arch)
{
	return arch->loss == LM_LOSS_BCE ? 0.25 : 1.0;
}

/* the Newton step's weight of a row: σ'(z) for bce (the exact curvature), 1 for mse */
static inline double
row_curvature(const LmArch *arch, double slope, double kappa)
{
	return arch->loss == LM_LOSS_BCE ? slope : kappa;
}

void
lm_wide_gather(const LmArch *arch, const lm_real *global, const LmRows *rows,
			   int fallback, lm_real *Ft, lm_real *bias)
{
	int			m = lm_wide_len(arch);
	int			p = lm_wide_feature_len(arch);
	int			row_len = lm_wide_row_len(arch);
	const lm_real *W = global + arch->wide_off;

	for (int r = 0; r < rows->n; r++)
	{
		int32_t		b = lm_item_row(arch, global, rows->bucket ? rows->bucket[r] : arch->item_buckets,
									fallback);
		const lm_real *row = W + (size_t) b * row_len;
		lm_real    *f = Ft + (size_t) r * m;

		bias[r] = row[0];
		f[0] = 1;
		if (p > 0)
			memcpy(f + 1, rows->item + (size_t) r * arch->item_feature_dim, sizeof(lm_real) * p);
		memcpy(f + 1 + p, row + 1, sizeof(lm_real) * arch->wide_rank);
	}
}

void
lm_wide_serve_section(const LmArch *arch, const lm_real *global, const lm_real *features,
					  int32_t bucket, lm_real *out)
{
	int			p = lm_wide_feature_len(arch);
	const lm_real *row = global + arch->wide_off +
		(size_t) lm_item_row(arch, global, bucket, 1) * lm_wide_row_len(arch);

	memcpy(out, features, sizeof(lm_real) * p);
	out[p] = row[0];
	memcpy(out + p + 1, row + 1, sizeof(lm_real) * arch->wide_rank);
}

void
lm_cholesky(lm_real *A, int m)
{
	for (int j = 0; j < m; j++)
	{
		double		d = A[j * m + j];

		for (int k = 0; k < j; k++)
			d -= (double) A[j * m + k] * A[j * m + k];
		/* λ > 0 keeps d ≥ λ in exact arithmetic; guard the rounding */
		d = sqrt(d > 1e-30 ? d : 1e-30);
		A[j * m + j] = (lm_real) d;
		for (int i = j + 1; i < m; i++)
		{
			double		s = A[i * m + j];

			for (int k = 0; k < j; k++)
				s -= (double) A[i * m + k] * A[j * m + k];
			A[i * m + j] = (lm_real) (s / d);
		}
	}
}

void
lm_cholesky_solve(const lm_real *L, int m, lm_real *x)
{
	for (int i = 0; i < m; i++)
	{
		double		s = x[i];

		for (int k = 0; k < i; k++)
			s -= (double) L[i * m + k] * x[k];
		x[i] = (lm_real) (s / L[i * m + i]);
	}
	for (int i = m - 1; i >= 0; i--)
	{
		double		s = x[i];

		for (int k = i + 1; k < m; k++)
			s -= (double) L[k * m + i] * x[k];
		x[i] = (lm_real) (s / L[i * m + i]);
	}
}

/* the group of coordinate i: 0 the member bias, 1..p the item-feature columns, p + 1 the factors */
static inline int
lambda_group(const LmArch *arch, int i)
{
	int			p = lm_wide_feature_len(arch);

	return i <= p ? i : p + 1;
}

/* ρ inside ridge_lambda's range (1e-6 to 1e6), so the solve stays finite and well posed */
static inline int
rho_inside(double rho)
{
	return rho >= LM_LOG_LAMBDA_MIN && rho <= LM_LOG_LAMBDA_MAX;
}

double
lm_wide_lambda(const LmArch *arch, const lm_real *global, int i)
{
	double		rho;

	if (!arch->learn_lambda)
		return arch->ridge_lambda;
	rho = global[arch->lambda_off + lambda_group(arch, i)];
	return exp(rho < LM_LOG_LAMBDA_MIN ? LM_LOG_LAMBDA_MIN :
			   rho > LM_LOG_LAMBDA_MAX ? LM_LOG_LAMBDA_MAX : rho);
}

void
lm_wide_lambda_backward(const LmArch *arch, const lm_real *global, const lm_real *w,
						const lm_real *u, lm_real *dglobal)
{
	if (!arch->learn_lambda || dglobal == NULL)
		return;
	/* ∂A/∂λ_i = e_i e_iᵀ, ∂L/∂A = −u wᵀ; ∂λ/∂ρ = λ */
	for (int i = 0; i < lm_wide_len(arch); i++)
		if (rho_inside(global[arch->lambda_off + lambda_group(arch, i)]))
			dglobal[arch->lambda_off + lambda_group(arch, i)] -=
				(lm_real) (lm_wide_lambda(arch, global, i) * u[i] * w[i]);
}

void
lm_wide_solve(const LmArch *arch, const lm_real *global, const lm_real *Ft, const lm_real *z,
			  const lm_real *label, int n, lm_real *chol, lm_real *w,
			  lm_real *resid, lm_real *slope, lm_real *dslope)
{
	int			m = lm_wide_len(arch);
	double		kappa = curvature(arch);

	for (int s = 0; s < n; s++)
	{
		double		yhat = arch->loss == LM_LOSS_BCE ? 1 / (1 + exp(-(double) z[s])) : z[s];

		resid[s] = (lm_real) (label[s] - yhat);
		slope[s] = (lm_real) (arch->loss == LM_LOSS_BCE ? yhat * (1 - yhat) : 1);
		/* ∂σ'/∂z = σ'(1 − 2σ): the bce row weight moves with z */
		dslope[s] = (lm_real) (arch->loss == LM_LOSS_BCE ? yhat * (1 - yhat) * (1 - 2 * yhat) : 0);
	}
	/* A = F̃ᵀ diag(κ_s) F̃ + λI (lower triangle), c = F̃ᵀ resid */
	memset(chol, 0, sizeof(lm_real) * m * m);
	memset(w, 0, sizeof(lm_real) * m);
	for (int s = 0; s < n; s++)
	{
		const lm_real *f = Ft + (size_t) s * m;
		double		k = row_curvature(arch, slope[s], kappa);

		for (int i = 0; i < m; i++)
		{
			lm_axpy(chol + (size_t) i * m, (lm_real) (k * f[i]), f, i + 1);
			w[i] += resid[s] * f[i];
		}
	}
	for (int i = 0; i < m; i++)
		chol[i * m + i] += (lm_real) lm_wide_lambda(arch, global, i);
	lm_cholesky(chol, m);
	lm_cholesky_solve(chol, m, w);
}

void
lm_wide_add(const LmArch *arch, const lm_real *Ft, const lm_real *bias,
			const lm_real *w, int n, lm_real *pred)
{
	int			m = lm_wide_len(arch);

	for (int r = 0; r < n; r++)
		pred[r] += bias[r] + lm_dot(Ft + (size_t) r * m, w, m);
}

void
lm_wide_solve_backward(const LmArch *arch, const lm_real *Ft, const lm_real *chol,
					   const lm_real *w, const lm_real *resid, const lm_real *slope,
					   const lm_real *dslope, const lm_real *gw, int n, lm_real *u,
					   lm_real *dz, lm_real *dFt)
{
	int			m = lm_wide_len(arch);
	double		kappa = curvature(arch);

	/* w = A⁻¹c: ∂L/∂c = u, ∂L/∂A = −u wᵀ */
	memcpy(u, gw, sizeof(lm_real) * m);
	lm_cholesky_solve(chol, m, u);
	for (int s = 0; s < n; s++)
	{
		const lm_real *f = Ft + (size_t) s * m;
		lm_real    *df = dFt + (size_t) s * m;
		lm_real		fu = lm_dot(f, u, m);
		lm_real		fw = lm_dot(f, w, m);
		lm_real		k = (lm_real) row_curvature(arch, slope[s], kappa);
		/* bce: κ_s = σ'(z) moves with z too, ∂σ'/∂z = σ'(1 − 2σ) */

		dz[s] = -fu * slope[s] - fu * fw * dslope[s];
		for (int i = 0; i < m; i++)
			df[i] = resid[s] * u[i] - k * (fw * u[i] + fu * w[i]);
	}
}

void
lm_wide_fold_in(const LmArch *arch, const lm_real *Ft, const lm_real *label, int n, lm_real *h)
{
	int			m = lm_wide_len(arch);
	int			f0 = m - arch->wide_rank;

	memset(h, 0, sizeof(lm_real) * arch->wide_rank);
	for (int s = 0; s < n; s++)
		if (label[s] != 0)
			lm_axpy(h, label[s], Ft + (size_t) s * m + f0, arch->wide_rank);
}

void
lm_wide_fold_in_add(const LmArch *arch, const lm_real *global, const lm_real *h,
					const lm_real *w, lm_real *w_eff)
{
	int			m = lm_wide_len(arch);

	memcpy(w_eff, w, sizeof(lm_real) * m);
	lm_axpy(w_eff + m - arch->wide_rank, global[arch->fold_in_off], h, arch->wide_rank);
}

void
lm_wide_fold_in_backward(const LmArch *arch, const lm_real *global, const lm_real *label,
						 int n, const lm_real *h, const lm_real *gw, lm_real *dFt,
						 lm_real *dglobal)
{
	int			m = lm_wide_len(arch);
	int			f0 = m - arch->wide_rank;
	lm_real		a = global[arch->fold_in_off];

	if (dglobal)
		dglobal[arch->fold_in_off] += lm_dot(gw + f0, h, arch->wide_rank);
	for (int s = 0; s < n; s++)
		if (label[s] != 0)
			lm_axpy(dFt + (size_t) s * m + f0, label[s] * a, gw + f0, arch->wide_rank);
}

void
lm_wide_table_backward(const LmArch *arch, const int32_t *bucket, int n,
					   const lm_real *dbias, const lm_real *dFt, lm_real *dglobal)
{
	int			m = lm_wide_len(arch);
	int			p = lm_wide_feature_len(arch);
	int			row_len = lm_wide_row_len(arch);
	lm_real    *dW = dglobal + arch->wide_off;

	for (int r = 0; r < n; r++)
	{
		lm_real    *row = dW + (size_t) (bucket ? bucket[r] : arch->item_buckets) * row_len;

		row[0] += dbias[r];
		/* F̃'s leading 1 and the item features are constants */
		lm_axpy(row + 1, 1, dFt + (size_t) r * m + 1 + p, arch->wide_rank);
	}
}

void
lm_wide_table_finish(const LmArch *arch, lm_real *global)
{
	int			m = lm_wide_row_len(arch);
	lm_real    *W = global + arch->wide_off;
	lm_real    *unknown = W + (size_t) arch->item_buckets * m;
	long		trained = 0;

	if (!arch->wide)
		return;
	memset(unknown, 0, sizeof(lm_real) * m);
	for (int b = 0; b < arch->item_buckets; b++)
		if (lm_item_row(arch, global, b, 1) == b)
		{
			lm_axpy(unknown, 1, W + (size_t) b * m, m);
			trained++;
		}
	for (int j = 0; j < m && trained > 0; j++)
		unknown[j] /= trained;
}
