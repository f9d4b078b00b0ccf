/*
 * test_kernels.c - lm_dot, lm_axpy and the three GEMM forms of the float
 * build against a plain double-precision reference.
 *
 * Tolerance: |got - ref| <= 1e-5 * (Σ |terms| + |β c|), i.e. a relative
 * error of 1e-5 measured against the magnitude of what was summed (float
 * sums of signed terms can cancel, so |ref| alone is no scale).  Shapes
 * cover both paths of the GEMMs (m·n·k below and at/above 4096), padded
 * strides (whose padding must stay untouched) and β = 0 over NaN.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "check.h"

#ifdef LIMAML_DOUBLE
#error "test_kernels tests the float build of the core"
#endif

#define RTOL 1e-5
#define BLAS_MIN_WORK 4096		/* kernels.c's LM_BLAS_MIN_WORK */

static TestRng rng = {20240601};

static const int sizes[] = {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 1000};
#define N_SIZES ((int) (sizeof(sizes) / sizeof(sizes[0])))

static lm_real *
random_reals(size_t n)
{
	lm_real    *p = malloc((n > 0 ? n : 1) * sizeof(lm_real));

	for (size_t i = 0; i < n; i++)
		p[i] = (lm_real) rng_range(&rng, -1, 1);
	return p;
}

static const char *
path(int m, int n, int k)
{
	return (double) m * n * k >= BLAS_MIN_WORK ? "blas" : "loop";
}

static void
test_dot(void)
{
	for (int s = 0; s < N_SIZES; s++)
		for (int shift = 0; shift < 2; shift++)
		{
			int			n = sizes[s];
			lm_real    *a = random_reals(n + 1);
			lm_real    *b = random_reals(n + 1);
			double		ref = 0,
						mag = 0,
						got;

			/* shift 1: misaligned start, exercises vector heads and tails */
			for (int i = 0; i < n; i++)
			{
				ref += (double) a[i + shift] * b[i + shift];
				mag += fabs((double) a[i + shift] * b[i + shift]);
			}
			got = lm_dot(a + shift, b + shift, n);
			CHECK_CLOSE(got, ref, 0, RTOL * mag + 1e-30, "lm_dot n=%d shift=%d", n, shift);
			free(a);
			free(b);
		}
}

static void
test_axpy(void)
{
	for (int s = 0; s < N_SIZES; s++)
	{
		int			n = sizes[s];
		lm_real    *x = random_reals(n + 1);
		lm_real    *y = random_reals(n + 2);
		lm_real    *y0 = malloc((n + 2) * sizeof(lm_real));
		lm_real		alpha = -0.75f;
		double		worst = 0;
		int			ok = 1;

		memcpy(y0, y, (n + 2) * sizeof(lm_real));
		lm_axpy(y + 1, alpha, x + 1, n);
		for (int i = 0; i < n; i++)
		{
			double		ref = (double) y0[i + 1] + (double) alpha * x[i + 1];
			double		mag = fabs((double) y0[i + 1]) + fabs((double) alpha * x[i + 1]);
			double		err = fabs(y[i + 1] - ref);

			if (!(err <= RTOL * mag + 1e-30))
				ok = 0;
			if (err > worst)
				worst = err;
		}
		CHECK(ok, "lm_axpy n=%d (worst abs err %.3g)", n, worst);
		CHECK(y[0] == y0[0] && y[n + 1] == y0[n + 1], "lm_axpy n=%d leaves neighbours alone", n);
		free(x);
		free(y);
		free(y0);
	}
}

/* lm_colsum_acc: column sums of a strided matrix added to sum, padding untouched */
static void
test_colsum(void)
{
	static const int rows[] = {0, 1, 2, 7, 50};

	for (int s = 0; s < N_SIZES; s++)
		for (int t = 0; t < (int) (sizeof(rows) / sizeof(rows[0])); t++)
		{
			int			m = sizes[s],
						n = rows[t],
						lda = m + 3;
			lm_real    *A = random_reals((size_t) n * lda + 1);
			lm_real    *sum = random_reals(m + 2);
			lm_real    *sum0 = malloc((m + 2) * sizeof(lm_real));
			double		worst = 0;
			int			ok = 1;

			memcpy(sum0, sum, (m + 2) * sizeof(lm_real));
			lm_colsum_acc(n, m, A, lda, sum + 1);
			for (int j = 0; j < m; j++)
			{
				double		ref = sum0[j + 1],
							mag = fabs((double) sum0[j + 1]),
							err;

				for (int r = 0; r < n; r++)
				{
					ref += A[(size_t) r * lda + j];
					mag += fabs((double) A[(size_t) r * lda + j]);
				}
				err = fabs(sum[j + 1] - ref);
				if (!(err <= RTOL * mag + 1e-30))
					ok = 0;
				if (err > worst)
					worst = err;
			}
			CHECK(ok, "lm_colsum_acc n=%d m=%d lda=%d (worst abs err %.3g)", n, m, lda, worst);
			CHECK(sum[0] == sum0[0] && sum[m + 1] == sum0[m + 1],
				  "lm_colsum_acc n=%d m=%d leaves neighbours alone", n, m);
			free(A);
			free(sum);
			free(sum0);
		}
}

/*
 * lm_bias_relu_dot and lm_relu_rank1_colsum (the fused ReLU layer with a
 * scalar output, forward and backward) against a double reference; the
 * forward's act must be exactly the ReLU of pre + bias.
 */
static void
test_relu_layer(void)
{
	static const int rows[] = {1, 3, 4, 7, 50};
	static const int widths[] = {1, 5, 16, 17, 64};

	for (int t = 0; t < 5; t++)
		for (int u = 0; u < 5; u++)
		{
			int			n = rows[t],
						h = widths[u],
						ldp = h + 2,
						lda = h + 1;
			lm_real    *pre = random_reals((size_t) n * ldp);
			lm_real    *bias = random_reals(h);
			lm_real    *w = random_reals(h);
			lm_real    *d = random_reals(n);
			lm_real    *act = random_reals((size_t) n * lda);
			lm_real    *out = random_reals(n);
			lm_real    *sum = random_reals(h);
			lm_real		b = 0.25f;
			int			ok_act = 1,
						ok_out = 1,
						ok_sum = 1;

			lm_bias_relu_dot(n, h, pre, ldp, bias, w, b, act, lda, out);
			for (int r = 0; r < n; r++)
			{
				double		ref = b,
							mag = fabs(b);

				for (int j = 0; j < h; j++)
				{
					lm_real		z = pre[(size_t) r * ldp + j] + bias[j];
					lm_real		a = z > 0 ? z : 0;

					if (act[(size_t) r * lda + j] != a)
						ok_act = 0;
					ref += (double) w[j] * a;
					mag += fabs((double) w[j] * a);
				}
				if (!(fabs(out[r] - ref) <= RTOL * mag + 1e-30))
					ok_out = 0;
			}
			CHECK(ok_act, "lm_bias_relu_dot n=%d h=%d: act = relu(pre + bias)", n, h);
			CHECK(ok_out, "lm_bias_relu_dot n=%d h=%d: out = b + w · act", n, h);

			lm_relu_rank1_colsum(n, h, act, lda, d, w, sum);
			for (int j = 0; j < h; j++)
			{
				double		ref = 0,
							mag = 0;

				for (int r = 0; r < n; r++)
					if (act[(size_t) r * lda + j] > 0)
					{
						ref += (double) d[r] * w[j];
						mag += fabs((double) d[r] * w[j]);
					}
				if (!(fabs(sum[j] - ref) <= RTOL * mag + 1e-30))
					ok_sum = 0;
			}
			CHECK(ok_sum, "lm_relu_rank1_colsum n=%d h=%d", n, h);
			free(pre);
			free(bias);
			free(w);
			free(d);
			free(act);
			free(out);
			free(sum);
		}
}

typedef enum GemmOp
{
	OP_NT, OP_NN, OP_TN_ACC
} GemmOp;

static const char *op_names[] = {"lm_gemm_nt", "lm_gemm_nn", "lm_gemm_tn_acc"};

/*
 * One GEMM call on fresh random operands, checked element by element
 * against the double reference.  beta_nan: C starts as NaN (beta must be 0).
 */
static void
gemm_case(GemmOp op, int m, int n, int k, int pad, double beta, int beta_nan)
{
	/* A: nt/nn [m][k], tn [k][m];  B: nt [n][k], nn/tn [k][n] */
	int			a_rows = op == OP_TN_ACC ? k : m;
	int			a_cols = op == OP_TN_ACC ? m : k;
	int			b_rows = op == OP_NT ? n : k;
	int			b_cols = op == OP_NT ? k : n;
	int			lda = a_cols + 3 * pad;
	int			ldb = b_cols + 5 * pad;
	int			ldc = n + 2 * pad;
	lm_real    *A = random_reals((size_t) a_rows * lda);
	lm_real    *B = random_reals((size_t) b_rows * ldb);
	lm_real    *C = random_reals((size_t) m * ldc);
	lm_real    *C0 = malloc(((size_t) m * ldc + 1) * sizeof(lm_real));
	int			ok = 1,
				pad_ok = 1,
				nan_count = 0;
	double		worst = 0;

	if (beta_nan)
		for (size_t i = 0; i < (size_t) m * ldc; i++)
			C[i] = NAN;
	memcpy(C0, C, (size_t) m * ldc * sizeof(lm_real));

	switch (op)
	{
		case OP_NT:
			lm_gemm_nt(m, n, k, A, lda, B, ldb, (lm_real) beta, C, ldc);
			break;
		case OP_NN:
			lm_gemm_nn(m, n, k, A, lda, B, ldb, (lm_real) beta, C, ldc);
			break;
		case OP_TN_ACC:
			lm_gemm_tn_acc(m, n, k, A, lda, B, ldb, C, ldc);
			break;
	}

	for (int i = 0; i < m; i++)
	{
		for (int j = 0; j < n; j++)
		{
			double		ref = 0,
						mag = 0,
						c0 = C0[(size_t) i * ldc + j],
						got = C[(size_t) i * ldc + j],
						err;

			for (int p = 0; p < k; p++)
			{
				double		a,
							b,
							t;

				a = op == OP_TN_ACC ? A[(size_t) p * lda + i] : A[(size_t) i * lda + p];
				b = op == OP_NT ? B[(size_t) j * ldb + p] : B[(size_t) p * ldb + j];
				t = a * b;
				ref += t;
				mag += fabs(t);
			}
			if (op == OP_TN_ACC || beta != 0)
			{
				double		bc = (op == OP_TN_ACC ? 1.0 : beta) * c0;

				ref += bc;
				mag += fabs(bc);
			}
			if (isnan(got))
				nan_count++;
			err = fabs(got - ref);
			if (!(err <= RTOL * mag + 1e-30))
				ok = 0;
			if (err > worst || isnan(err))
				worst = err;
		}
		/* padding columns j >= n of C must be untouched (bitwise; NaN too) */
		for (int j = n; j < ldc; j++)
			if (memcmp(&C[(size_t) i * ldc + j], &C0[(size_t) i * ldc + j], sizeof(lm_real)) != 0)
				pad_ok = 0;
	}

	CHECK(ok, "%s m=%d n=%d k=%d %s %s beta=%g%s (worst abs err %.3g)",
		  op_names[op], m, n, k, path(m, n, k), pad ? "padded" : "tight",
		  op == OP_TN_ACC ? 1.0 : beta, beta_nan ? " over NaN" : "", worst);
	if (beta_nan)
		CHECK(nan_count == 0, "%s m=%d n=%d k=%d %s beta=0 over NaN gives no NaN (%d found)",
			  op_names[op], m, n, k, path(m, n, k), nan_count);
	if (pad)
		CHECK(pad_ok, "%s m=%d n=%d k=%d %s leaves C's row padding alone",
			  op_names[op], m, n, k, path(m, n, k));
	free(A);
	free(B);
	free(C);
	free(C0);
}

static void
test_gemm(void)
{
	static const int shapes[][3] = {
		{1, 1, 1}, {1, 3, 7}, {3, 7, 8}, {8, 15, 16}, {100, 1, 1}, {7, 64, 8},
		{15, 16, 17},			/* 4080: just below the BLAS threshold */
		{16, 16, 16},			/* 4096: exactly at it */
		{17, 31, 33}, {1, 64, 100}, {31, 33, 17}, {64, 3, 31}, {100, 17, 15},
		{33, 100, 64},
	};

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
	{
		int			m = shapes[s][0],
					n = shapes[s][1],
					k = shapes[s][2];

		for (int pad = 0; pad < 2; pad++)
		{
			gemm_case(OP_NT, m, n, k, pad, 0, 1);
			gemm_case(OP_NT, m, n, k, pad, 1, 0);
			gemm_case(OP_NT, m, n, k, pad, -0.5, 0);
			gemm_case(OP_NN, m, n, k, pad, 0, 1);
			gemm_case(OP_NN, m, n, k, pad, 1, 0);
			gemm_case(OP_NN, m, n, k, pad, -0.5, 0);
			gemm_case(OP_TN_ACC, m, n, k, pad, 1, 0);
		}
	}
}

static void
test_alloc(void)
{
	lm_real    *p = lm_alloc_reals(37);
	int			zero = 1;

	for (int i = 0; i < 37; i++)
		if (p[i] != 0)
			zero = 0;
	CHECK(zero, "lm_alloc_reals zero-fills");
	lm_free(p);
	p = lm_alloc_reals(0);
	CHECK(p != NULL, "lm_alloc_reals(0) returns a pointer");
	lm_free(p);
}

int
main(void)
{
	test_alloc();
	test_dot();
	test_axpy();
	test_colsum();
	test_relu_layer();
	test_gemm();
	return check_done();
}
