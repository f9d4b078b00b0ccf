/*
 * wide_init.c - the wide head's starting point from the training rows
 * (see wide_init.h).
 */
#include "wide_init.h"

#include <math.h>
#include <string.h>

#include "wide.h"

/* the prediction's scale of a mean label */
static double
link(const LmArch *arch, double mean)
{
	if (arch->loss != LM_LOSS_BCE)
		return mean;
	mean = mean < 1e-4 ? 1e-4 : mean > 1 - 1e-4 ? 1 - 1e-4 : mean;
	return log(mean / (1 - mean));
}

/* rows grouped by key (a counting sort): order[off[k] .. off[k + 1]) are key k's rows */
static void
group_rows(const int32_t *key, int64_t n, int n_keys, int64_t *off, int64_t *order)
{
	memset(off, 0, sizeof(int64_t) * (n_keys + 1));
	for (int64_t k = 0; k < n; k++)
		if (key[k] >= 0)
			off[key[k] + 1]++;
	for (int i = 0; i < n_keys; i++)
		off[i + 1] += off[i];
	for (int64_t k = 0; k < n; k++)
		if (key[k] >= 0)
			order[off[key[k]]++] = k;
	for (int i = n_keys; i > 0; i--)
		off[i] = off[i - 1];
	off[0] = 0;
}

/*
 * out[r] := (Σ v vᵀ + λ I)⁻¹ Σ res v over the group's rows, v = other[key[k]]
 * (A[r][r] scratch)
 */
static void
ridge_step(const int64_t *order, int64_t from, int64_t to, const int32_t *other_key,
		   const lm_real *other, const lm_real *res, int r, double lambda, lm_real *A, lm_real *out)
{
	memset(A, 0, sizeof(lm_real) * r * r);
	memset(out, 0, sizeof(lm_real) * r);
	for (int64_t i = from; i < to; i++)
	{
		int64_t		k = order[i];
		const lm_real *v = other + (size_t) other_key[k] * r;

		for (int a = 0; a < r; a++)
		{
			out[a] += res[k] * v[a];
			for (int c = 0; c <= a; c++)
				A[a * r + c] += v[a] * v[c];
		}
	}
	for (int a = 0; a < r; a++)
		A[a * r + a] += (lm_real) lambda;
	lm_cholesky(A, r);
	lm_cholesky_solve(A, r, out);
}

double
lm_wide_init_bytes(const LmArch *arch, const LmWideData *data)
{
	double		n = data->n > 0 ? data->n : 1;
	double		keys = (double) data->n_members + arch->item_buckets;
	int			r = arch->wide_rank;

	return 2 * keys * sizeof(double) +
		n * (2 * sizeof(int32_t) + sizeof(lm_real) + 2 * sizeof(int64_t)) +
		(keys + 2) * sizeof(int64_t) + (keys * r + (double) r * r) * sizeof(lm_real) +
		(data->implicit ? keys * (r + 1) * sizeof(double) +
		 n * (sizeof(double) + 2 * sizeof(int32_t)) : 0);
}

/* Q[n][r]'s columns orthonormal (modified Gram-Schmidt); a dependent column becomes 0 */
static void
orthonormalize(double *Q, size_t n, int r)
{
	for (int j = 0; j < r; j++)
	{
		double		norm = 0;

		for (int i = 0; i < j; i++)
		{
			double		dot = 0;

			for (size_t k = 0; k < n; k++)
				dot += Q[k * r + i] * Q[k * r + j];
			for (size_t k = 0; k < n; k++)
				Q[k * r + j] -= dot * Q[k * r + i];
		}
		for (size_t k = 0; k < n; k++)
			norm += Q[k * r + j] * Q[k * r + j];
		norm = norm > 1e-24 ? 1 / sqrt(norm) : 0;
		for (size_t k = 0; k < n; k++)
			Q[k * r + j] *= norm;
	}
}

/*
 * Positive-only logs: F[B][r] (the table's factors) := the top-r right
 * singular subspace of the degree-normalised positive matrix (wide_init.h),
 * unit-variance columns over the buckets with positives.
 */
static void
cooccurrence_factors(const LmArch *arch, const LmWideData *data, const int32_t *bucket,
					 lm_real *W)
{
	int			B = arch->item_buckets;
	int			U = data->n_members;
	int			r = arch->wide_rank;
	int			row_len = lm_wide_row_len(arch);
	double	   *deg_b = lm_alloc(sizeof(double) * ((size_t) B + U + (size_t) (B + U) * r + data->n));
	double	   *deg_u = deg_b + B;
	double	   *Q = deg_u + U;
	double	   *Z = Q + (size_t) B * r;
	double	   *x = Z + (size_t) U * r;		/* [n_pos] X's entries, once per positive row */
	int32_t    *pos_member = lm_alloc(sizeof(int32_t) * 2 * (data->n > 0 ? data->n : 1));
	int32_t    *pos_bucket = pos_member + data->n;
	int64_t		n_pos = 0;
	int			trained = 0;

	memset(deg_b, 0, sizeof(double) * ((size_t) B + U));
	for (int64_t k = 0; k < data->n; k++)
		if (bucket[k] >= 0 && data->label[k] > 0)
		{
			deg_b[bucket[k]]++;
			deg_u[data->member[k]]++;
			pos_member[n_pos] = data->member[k];
			pos_bucket[n_pos++] = bucket[k];
		}
	for (int64_t k = 0; k < n_pos; k++)
		x[k] = 1 / sqrt((deg_u[pos_member[k]] + 1) * (deg_b[pos_bucket[k]] + 1));
	/* the start: the table's random factors, on the buckets with positives */
	for (int b = 0; b < B; b++)
	{
		trained += deg_b[b] > 0;
		for (int j = 0; j < r; j++)
			Q[(size_t) b * r + j] = deg_b[b] > 0 ? W[(size_t) b * row_len + 1 + j] : 0;
	}
	if (trained == 0)
		goto done;
	orthonormalize(Q, B, r);
	for (int step = 0; step < LM_WIDE_INIT_POWER; step++)
	{
		/* Q := Xᵀ X Q, then orthonormal again */
		lm_check_interrupts();
		memset(Z, 0, sizeof(double) * U * r);
		for (int64_t k = 0; k < n_pos; k++)
			for (int j = 0; j < r; j++)
				Z[(size_t) pos_member[k] * r + j] += x[k] * Q[(size_t) pos_bucket[k] * r + j];
		memset(Q, 0, sizeof(double) * B * r);
		for (int64_t k = 0; k < n_pos; k++)
			for (int j = 0; j < r; j++)
				Q[(size_t) pos_bucket[k] * r + j] += x[k] * Z[(size_t) pos_member[k] * r + j];
		orthonormalize(Q, B, r);
	}
	for (int b = 0; b < B; b++)
		if (deg_b[b] > 0)
			for (int j = 0; j < r; j++)
				W[(size_t) b * row_len + 1 + j] = (lm_real) (Q[(size_t) b * r + j] * sqrt((double) trained));
done:
	lm_free(deg_b);
	lm_free(pos_member);
}

void
lm_wide_init(const LmArch *arch, lm_real *params, const LmWideData *data)
{
	int			B = arch->item_buckets;
	int			U = data->n_members;
	int			r = arch->wide_rank;
	int			row_len = lm_wide_row_len(arch);
	lm_real    *global = params + arch->n_meta_params;
	lm_real    *W = global + arch->wide_off;
	double	   *sum = lm_alloc(sizeof(double) * (B + U) * 2);
	double	   *count = sum + B;
	double	   *member_sum = count + B;
	double	   *member_n = member_sum + U;
	int32_t    *bucket = lm_alloc(sizeof(int32_t) * (data->n > 0 ? data->n : 1));
	lm_real    *res = lm_alloc_reals(data->n > 0 ? data->n : 1);
	double		mu = 0,
				kappa,
				base;

	memset(sum, 0, sizeof(double) * (B + U) * 2);
	for (int64_t k = 0; k < data->n; k++)
	{
		int32_t		b = data->bucket[k];

		mu += data->label[k];
		/* the unknown row and never-trained buckets stay out of the fit */
		bucket[k] = b >= 0 && b < B ? b : -1;
		if (bucket[k] >= 0)
		{
			sum[b] += data->label[k];
			count[b]++;
		}
	}
	if (data->n == 0)
		goto done;
	mu /= data->n;
	base = link(arch, mu);
	for (int b = 0; b < B; b++)
		if (count[b] > 0)
			W[(size_t) b * row_len] = (lm_real)
				(link(arch, (sum[b] + LM_WIDE_INIT_SHRINK * mu) / (count[b] + LM_WIDE_INIT_SHRINK)) - base);
	global[arch->global[arch->n_global - 1].b_off] = (lm_real) base;
	if (r == 0)
		goto done;
	if (data->implicit)
	{
		cooccurrence_factors(arch, data, bucket, W);
		goto done;
	}

	/* the bias model's residuals on the label scale */
	for (int b = 0; b < B; b++)
		sum[b] = (sum[b] - count[b] * mu) / (count[b] + LM_WIDE_INIT_SHRINK);
	for (int64_t k = 0; k < data->n; k++)
		if (bucket[k] >= 0)
		{
			member_sum[data->member[k]] += data->label[k] - mu - sum[bucket[k]];
			member_n[data->member[k]]++;
		}
	for (int64_t k = 0; k < data->n; k++)
		if (bucket[k] >= 0)
			res[k] = (lm_real) (data->label[k] - mu - sum[bucket[k]] -
								member_sum[data->member[k]] /
								(member_n[data->member[k]] + LM_WIDE_INIT_MEMBER_SHRINK));
	/* the member solve's row weight σ' ≈ μ(1 − μ) for bce; a measured κ for mse (wide_init.h) */
	kappa = arch->loss == LM_LOSS_BCE ? fmax(mu * (1 - mu), 0.01) : LM_WIDE_INIT_MSE_KAPPA;
	{
		int64_t    *order_u = lm_alloc(sizeof(int64_t) * (data->n + U + 1));
		int64_t    *off_u = order_u + data->n;
		int64_t    *order_b = lm_alloc(sizeof(int64_t) * (data->n + B + 1));
		int64_t    *off_b = order_b + data->n;
		int32_t    *member = lm_alloc(sizeof(int32_t) * data->n);
		lm_real    *P = lm_alloc_reals((size_t) U * r);
		lm_real    *F = lm_alloc_reals((size_t) B * r);
		lm_real    *A = lm_alloc_reals((size_t) r * r);
		double		lambda = arch->ridge_lambda / kappa;

		for (int64_t k = 0; k < data->n; k++)
			member[k] = bucket[k] >= 0 ? data->member[k] : -1;
		group_rows(member, data->n, U, off_u, order_u);
		group_rows(bucket, data->n, B, off_b, order_b);
		for (int b = 0; b < B; b++)
			memcpy(F + (size_t) b * r, W + (size_t) b * row_len + 1, sizeof(lm_real) * r);
		for (int sweep = 0; sweep < LM_WIDE_INIT_SWEEPS; sweep++)
		{
			lm_check_interrupts();
			for (int u = 0; u < U; u++)
			{
				if (u % 4096 == 4095)
					lm_check_interrupts();
				ridge_step(order_u, off_u[u], off_u[u + 1], bucket, F, res, r, lambda, A,
						   P + (size_t) u * r);
			}
			for (int b = 0; b < B; b++)
				if (off_b[b + 1] > off_b[b])
					ridge_step(order_b, off_b[b], off_b[b + 1], member, P, res, r, lambda, A,
							   F + (size_t) b * r);
		}
		for (int b = 0; b < B; b++)
			if (count[b] > 0)
				memcpy(W + (size_t) b * row_len + 1, F + (size_t) b * r, sizeof(lm_real) * r);
		lm_free(order_u);
		lm_free(order_b);
		lm_free(member);
		lm_free(P);
		lm_free(F);
		lm_free(A);
	}
done:
	lm_free(sum);
	lm_free(bucket);
	lm_free(res);
}
