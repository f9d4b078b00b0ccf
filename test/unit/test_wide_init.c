/*
 * test_wide_init.c - the wide head's start from the training rows
 * (src/core/wide_init.c): biases by hand, the ALS recurrence of one member,
 * a planted rank-1 taste recovered, planted groups in a positive-only log's
 * factors, and what must stay untouched.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wide.h"
#include "wide_init.h"

static lm_real *
wide_params(LmArch *arch, LmLoss loss, int buckets, int rank, double lambda)
{
	TestRng		rng = {7};
	lm_real    *params;

	lm_arch_init(arch, 0, 1, 2, NULL, 0, NULL, 0, loss);
	lm_arch_enable_item_embedding(arch, buckets, 2);
	lm_arch_enable_wide(arch, rank, lambda);
	params = lm_alloc_reals(arch->n_params);
	lm_arch_init_params(arch, params, rng_uniform, &rng);
	return params;
}

static lm_real *
wide_row(const LmArch *arch, lm_real *params, int b)
{
	return params + arch->n_meta_params + arch->wide_off + (size_t) b * lm_wide_row_len(arch);
}

static double
output_bias(const LmArch *arch, const lm_real *params)
{
	return params[arch->n_meta_params + arch->global[arch->n_global - 1].b_off];
}

/* biases by hand; a bucket without rows and the unknown row keep theirs */
static void
test_biases(void)
{
	LmArch		arch;
	int32_t		member[5] = {0, 0, 1, 1, 1};
	int32_t		bucket[5] = {0, 0, 0, 3, 1};	/* 3: the unknown row */
	float		label[5] = {1, 3, 2, 4, 5};
	LmWideData	data = {5, 2, member, bucket, label, 0};
	lm_real    *params = wide_params(&arch, LM_LOSS_MSE, 3, 0, 3);
	lm_real		before2 = wide_row(&arch, params, 2)[0];
	lm_real		before3 = wide_row(&arch, params, 3)[0];

	lm_wide_init(&arch, params, &data);
	/* μ = 3; bucket 0: (6 + 25·3) / 28 − 3 = −3/28; bucket 1: (5 + 75) / 26 − 3 */
	CHECK_CLOSE(output_bias(&arch, params), 3, 1e-12, 1e-14, "wide init: output bias is the mean label (mse)");
	CHECK_CLOSE(wide_row(&arch, params, 0)[0], -3.0 / 28, 1e-12, 1e-14, "wide init: bucket 0's bias by hand (mse)");
	CHECK_CLOSE(wide_row(&arch, params, 1)[0], 80.0 / 26 - 3, 1e-12, 1e-14, "wide init: bucket 1's bias by hand (mse)");
	CHECK(wide_row(&arch, params, 2)[0] == before2, "wide init: a bucket without rows keeps its bias");
	CHECK(wide_row(&arch, params, 3)[0] == before3, "wide init: the unknown row keeps its bias");
	free(params);

	{
		float		y[5] = {1, 0, 1, 1, 0};
		LmWideData	d = {5, 2, member, bucket, y, 0};
		double		mu = 0.6,
					p0 = (2 + 25 * mu) / 28,
					p1 = (0 + 25 * mu) / 26;

		params = wide_params(&arch, LM_LOSS_BCE, 3, 0, 3);
		lm_wide_init(&arch, params, &d);
		CHECK_CLOSE(output_bias(&arch, params), log(mu / (1 - mu)), 1e-12, 1e-14,
					"wide init: output bias is the mean label's logit (bce)");
		CHECK_CLOSE(wide_row(&arch, params, 0)[0], log(p0 / (1 - p0)) - log(mu / (1 - mu)), 1e-12, 1e-14,
					"wide init: bucket 0's bias by hand (bce)");
		CHECK_CLOSE(wide_row(&arch, params, 1)[0], log(p1 / (1 - p1)) - log(mu / (1 - mu)), 1e-12, 1e-14,
					"wide init: bucket 1's bias by hand (bce)");
		free(params);
	}
}

/* one member, two items, rank 1 (bce): the sweeps are p = Σ f r / (Σ f² + λ'), f = p r / (p² + λ') */
static void
test_one_row(void)
{
	LmArch		arch;
	int32_t		member[2] = {0, 0};
	int32_t		bucket[2] = {0, 1};
	float		label[2] = {1, 0};
	LmWideData	data = {2, 1, member, bucket, label, 0};
	lm_real    *params = wide_params(&arch, LM_LOSS_BCE, 2, 1, 0.5);
	double		f[2] = {wide_row(&arch, params, 0)[1], wide_row(&arch, params, 1)[1]};
	/* μ = 0.5, κ = 0.25, λ' = 0.5 / 0.25; β_b = ±0.5 / 26, β_u = 0 */
	double		lambda = 2,
				r[2] = {0.5 - 0.5 / 26, -0.5 + 0.5 / 26};
	double		p = 0;

	for (int s = 0; s < LM_WIDE_INIT_SWEEPS; s++)
	{
		p = (f[0] * r[0] + f[1] * r[1]) / (f[0] * f[0] + f[1] * f[1] + lambda);
		for (int b = 0; b < 2; b++)
			f[b] = p * r[b] / (p * p + lambda);
	}
	lm_wide_init(&arch, params, &data);
	CHECK_CLOSE(wide_row(&arch, params, 0)[1], f[0], 1e-10, 1e-14, "wide init: ALS recurrence, item 0");
	CHECK_CLOSE(wide_row(&arch, params, 1)[1], f[1], 1e-10, 1e-14, "wide init: ALS recurrence, item 1");
	free(params);

	/* mse: the same recurrence with κ = LM_WIDE_INIT_MSE_KAPPA; μ = 3, β_b = ±1 / 26, β_u = 0 */
	{
		float		y[2] = {4, 2};
		LmWideData	d = {2, 1, member, bucket, y, 0};

		params = wide_params(&arch, LM_LOSS_MSE, 2, 1, 0.5);
		f[0] = wide_row(&arch, params, 0)[1];
		f[1] = wide_row(&arch, params, 1)[1];
		lambda = 0.5 / LM_WIDE_INIT_MSE_KAPPA;
		r[0] = 1 - 1.0 / 26;
		r[1] = -1 + 1.0 / 26;
		for (int s = 0; s < LM_WIDE_INIT_SWEEPS; s++)
		{
			p = (f[0] * r[0] + f[1] * r[1]) / (f[0] * f[0] + f[1] * f[1] + lambda);
			for (int b = 0; b < 2; b++)
				f[b] = p * r[b] / (p * p + lambda);
		}
		lm_wide_init(&arch, params, &d);
		CHECK_CLOSE(wide_row(&arch, params, 0)[1], f[0], 1e-10, 1e-14, "wide init: ALS recurrence, item 0 (mse)");
		CHECK_CLOSE(wide_row(&arch, params, 1)[1], f[1], 1e-10, 1e-14, "wide init: ALS recurrence, item 1 (mse)");
		free(params);
	}
}

/* members who like one half of the items and dislike the other: the factor splits the halves */
static void
test_planted(void)
{
	enum {U = 40, B = 20};
	LmArch		arch;
	int32_t		member[U * B],
				bucket[U * B];
	float		label[U * B];
	LmWideData	data = {0, U, member, bucket, label, 0};
	lm_real    *params = wide_params(&arch, LM_LOSS_BCE, B, 2, 3);
	double		sxy = 0,
				sxx = 0,
				syy = 0;

	for (int u = 0; u < U; u++)
		for (int b = 0; b < B; b++)
			if ((u * 7 + b * 3) % 4 != 0)	/* three rows in four */
			{
				member[data.n] = u;
				bucket[data.n] = b;
				label[data.n++] = ((u % 2) == (b % 2)) ? 1 : 0;
			}
	lm_wide_init(&arch, params, &data);
	/* the taste is rank 1: project the factors on their first coordinate's sign pattern */
	for (int b = 0; b < B; b++)
	{
		lm_real    *row = wide_row(&arch, params, b);
		double		x = row[1] * wide_row(&arch, params, 0)[1] + row[2] * wide_row(&arch, params, 0)[2];
		double		want = (b % 2) ? -1 : 1;

		sxy += x * want;
		sxx += x * x;
		syy += want * want;
	}
	CHECK(fabs(sxy) / sqrt(sxx * syy) > 0.99, "wide init: the factors split the planted halves (|corr| %.4f)",
		  fabs(sxy) / sqrt(sxx * syy));
	free(params);
}

/*
 * Positive-only rows with sampled negatives (implicit): members click inside
 * one of three planted item groups, negatives anywhere.  The start's factor
 * subspace holds the groups: an item's factors are nearer its own group's
 * mean than any other group's, the columns have unit variance over the
 * buckets with positives, and a bucket with negatives only keeps its factors.
 */
static void
test_implicit(void)
{
	enum {U = 60, B = 31, G = 3, PER = 8};
	LmArch		arch;
	int32_t		member[U * PER * 2],
				bucket[U * PER * 2];
	float		label[U * PER * 2];
	LmWideData	data = {0, U, member, bucket, label, 1};
	lm_real    *params = wide_params(&arch, LM_LOSS_BCE, B, 4, 3);
	double		mean[G][4] = {{0}},
				var[4] = {0};
	lm_real		before[4];
	int			nearest_own = 0;

	memcpy(before, wide_row(&arch, params, B - 1) + 1, sizeof(before));
	for (int u = 0; u < U; u++)
		for (int k = 0; k < PER; k++)
		{
			/* a positive in the member's group (items g, g + 3, …), then a negative anywhere but B − 1's */
			member[data.n] = u;
			bucket[data.n] = (u % G) + G * ((u * 5 + k * 7) % 10);
			label[data.n++] = 1;
			member[data.n] = u;
			bucket[data.n] = (u * 11 + k * 13) % 30;
			label[data.n++] = 0;
		}
	/* bucket B − 1 only ever appears as a negative */
	bucket[1] = B - 1;
	lm_wide_init(&arch, params, &data);
	for (int b = 0; b < 30; b++)
		for (int j = 0; j < 4; j++)
		{
			mean[b % G][j] += wide_row(&arch, params, b)[1 + j] / 10.0;
			var[j] += wide_row(&arch, params, b)[1 + j] * wide_row(&arch, params, b)[1 + j] / 30.0;
		}
	for (int b = 0; b < 30; b++)
	{
		double		best = INFINITY;
		int			best_g = -1;

		for (int g = 0; g < G; g++)
		{
			double		d = 0;

			for (int j = 0; j < 4; j++)
				d += pow(wide_row(&arch, params, b)[1 + j] - mean[g][j], 2);
			if (d < best)
				best = d, best_g = g;
		}
		nearest_own += best_g == b % G;
	}
	CHECK(nearest_own == 30, "wide init (implicit): every item is nearest its own group (%d of 30)", nearest_own);
	for (int j = 0; j < 4; j++)
		CHECK_CLOSE(var[j], 1, 1e-6, 1e-9, "wide init (implicit): factor column %d has unit variance", j);
	CHECK(memcmp(before, wide_row(&arch, params, B - 1) + 1, sizeof(before)) == 0,
		  "wide init (implicit): a bucket with negatives only keeps its factors");
	free(params);
}

/* the start's long loops let the caller interrupt them: the hook is called, ALS and implicit */
static int	interrupt_checks;

static void
count_interrupt_checks(void)
{
	interrupt_checks++;
}

static void
test_interrupts(void)
{
	LmArch		arch;
	int32_t		member[4] = {0, 0, 1, 1};
	int32_t		bucket[4] = {0, 1, 0, 1};
	float		label[4] = {1, 0, 0, 1};
	LmWideData	data = {4, 2, member, bucket, label, 0};

	lm_check_interrupts = count_interrupt_checks;
	for (int implicit = 0; implicit <= 1; implicit++)
	{
		lm_real    *params = wide_params(&arch, LM_LOSS_BCE, 2, 1, 1);

		data.implicit = implicit;
		interrupt_checks = 0;
		lm_wide_init(&arch, params, &data);
		CHECK(interrupt_checks >= (implicit ? LM_WIDE_INIT_POWER : LM_WIDE_INIT_SWEEPS),
			  "wide init%s: checks for interrupts (%d times)", implicit ? " (implicit)" : "", interrupt_checks);
		free(params);
	}
}

/* lm_alloc that keeps the largest total it has handed out at once */
static size_t live_bytes,
			peak_bytes;

static void *
counting_alloc(size_t size)
{
	size_t	   *p = malloc(size + sizeof(size_t));

	*p = size;
	live_bytes += size;
	peak_bytes = live_bytes > peak_bytes ? live_bytes : peak_bytes;
	return p + 1;
}

static void
counting_free(void *ptr)
{
	size_t	   *p = (size_t *) ptr - 1;

	live_bytes -= *p;
	free(p);
}

static void
test_bytes(void)
{
	LmArch		arch;
	int32_t		member[6] = {0, 1, 2, 0, 1, 2};
	int32_t		bucket[6] = {0, 1, 2, 3, 4, 5};
	float		label[6] = {1, 0, 1, 0, 1, 1};
	LmWideData	data = {6, 3, member, bucket, label, 0};
	lm_real    *params = wide_params(&arch, LM_LOSS_BCE, 8, 4, 3);

	for (int implicit = 0; implicit <= 1; implicit++)
	{
		data.implicit = implicit;
		live_bytes = peak_bytes = 0;
		lm_alloc = counting_alloc;
		lm_free = counting_free;
		lm_wide_init(&arch, params, &data);
		lm_alloc = malloc;
		lm_free = free;
		CHECK(live_bytes == 0, "wide init%s: frees what it allocates", implicit ? " (implicit)" : "");
		CHECK(peak_bytes <= lm_wide_init_bytes(&arch, &data), "wide init%s: lm_wide_init_bytes (%.0f) covers the peak (%zu)",
			  implicit ? " (implicit)" : "", lm_wide_init_bytes(&arch, &data), peak_bytes);
	}
	free(params);
}

int
main(void)
{
	test_biases();
	test_one_row();
	test_planted();
	test_implicit();
	test_interrupts();
	test_bytes();
	return check_done();
}
