/*
 * kernels.c - dot, axpy and the three GEMM forms used by the layers.
 *
 * dot/axpy are cloned for AVX2 and AVX-512 and picked at load time, so the
 * default build runs on any x86-64.  GEMMs below LM_BLAS_MIN_WORK
 * multiply-adds stay in loops: OpenBLAS call overhead dominates there.
 */
#include "kernels.h"

#include <cblas.h>
#include <stdlib.h>

#define LM_BLAS_MIN_WORK 4096

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LM_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define LM_CLONES
#endif

#ifdef LIMAML_DOUBLE
#define cblas_gemm cblas_dgemm
#else
#define cblas_gemm cblas_sgemm
#endif

void	   *(*lm_alloc)(size_t size) = malloc;
void		(*lm_free)(void *ptr) = free;

static void
no_interrupts(void)
{
}

void		(*lm_check_interrupts)(void) = no_interrupts;

lm_real *
lm_alloc_reals(size_t n)
{
	lm_real    *p = lm_alloc((n > 0 ? n : 1) * sizeof(lm_real));

	for (size_t i = 0; i < n; i++)
		p[i] = 0;
	return p;
}

/*
 * LM_LANES independent partial sums, added up in a fixed order: the
 * compiler may not reorder a floating-point reduction, but it vectorizes
 * these lanes, and the result is the same on every instruction set.
 */
#ifdef LIMAML_DOUBLE
#define LM_LANES 8
#else
#define LM_LANES 16
#endif

/* the bodies every kernel inlines, so each clone vectorizes them for its target */
static inline __attribute__((always_inline)) lm_real
dot_inline(const lm_real *a, const lm_real *b, int n)
{
	lm_real		acc[LM_LANES] = {0};
	lm_real		sum = 0;
	int			i = 0;

	for (; i + LM_LANES <= n; i += LM_LANES)
		for (int j = 0; j < LM_LANES; j++)
			acc[j] += a[i + j] * b[i + j];
	for (; i < n; i++)
		sum += a[i] * b[i];
	/* halves added pairwise, unrolled: a fixed order that stays in registers */
#if LM_LANES == 16
	for (int j = 0; j < 8; j++)
		acc[j] += acc[j + 8];
#endif
	for (int j = 0; j < 4; j++)
		acc[j] += acc[j + 4];
	acc[0] += acc[2];
	acc[1] += acc[3];
	return sum + (acc[0] + acc[1]);
}

/*
 * Four dot products with a shared vector x, each summed exactly as
 * dot_inline sums it (same lanes, same order), but interleaved so the four
 * dependency chains overlap.
 */
static inline __attribute__((always_inline)) void
dot4_inline(const lm_real *a0, const lm_real *a1, const lm_real *a2, const lm_real *a3,
			const lm_real *x, int n, lm_real *out)
{
	lm_real		acc0[LM_LANES] = {0},
				acc1[LM_LANES] = {0},
				acc2[LM_LANES] = {0},
				acc3[LM_LANES] = {0};
	lm_real		s0 = 0,
				s1 = 0,
				s2 = 0,
				s3 = 0;
	int			i = 0;

	for (; i + LM_LANES <= n; i += LM_LANES)
		for (int j = 0; j < LM_LANES; j++)
		{
			acc0[j] += a0[i + j] * x[i + j];
			acc1[j] += a1[i + j] * x[i + j];
			acc2[j] += a2[i + j] * x[i + j];
			acc3[j] += a3[i + j] * x[i + j];
		}
	for (; i < n; i++)
	{
		s0 += a0[i] * x[i];
		s1 += a1[i] * x[i];
		s2 += a2[i] * x[i];
		s3 += a3[i] * x[i];
	}
#if LM_LANES == 16
	for (int j = 0; j < 8; j++)
	{
		acc0[j] += acc0[j + 8];
		acc1[j] += acc1[j + 8];
		acc2[j] += acc2[j + 8];
		acc3[j] += acc3[j + 8];
	}
#endif
	for (int j = 0; j < 4; j++)
	{
		acc0[j] += acc0[j + 4];
		acc1[j] += acc1[j + 4];
		acc2[j] += acc2[j + 4];
		acc3[j] += acc3[j + 4];
	}
	acc0[0] += acc0[2];
	acc0[1] += acc0[3];
	acc1[0] += acc1[2];
	acc1[1] += acc1[3];
	acc2[0] += acc2[2];
	acc2[1] += acc2[3];
	acc3[0] += acc3[2];
	acc3[1] += acc3[3];
	out[0] = s0 + (acc0[0] + acc0[1]);
	out[1] = s1 + (acc1[0] + acc1[1]);
	out[2] = s2 + (acc2[0] + acc2[1]);
	out[3] = s3 + (acc3[0] + acc3[1]);
}

static inline __attribute__((always_inline)) void
axpy_inline(lm_real *y, lm_real alpha, const lm_real *x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] += alpha * x[i];
}

LM_CLONES lm_real
lm_dot(const lm_real *a, const lm_real *b, int n)
{
	return dot_inline(a, b, n);
}

LM_CLONES void
lm_axpy(lm_real *y, lm_real alpha, const lm_real *x, int n)
{
	axpy_inline(y, alpha, x, n);
}

LM_CLONES void
lm_colsum_acc(int n, int m, const lm_real *A, int lda, lm_real *sum)
{
	for (int r = 0; r < n; r++)
		axpy_inline(sum, 1, A + (size_t) r * lda, m);
}

LM_CLONES void
lm_bias_relu_dot(int n, int h, const lm_real *pre, int ldp, const lm_real *bias,
				 const lm_real *w, lm_real b, lm_real *act, int lda, lm_real *out)
{
	int			r = 0;

	for (int q = 0; q < n; q++)
	{
		const lm_real *p = pre + (size_t) q * ldp;
		lm_real    *a = act + (size_t) q * lda;

		for (int j = 0; j < h; j++)
		{
			lm_real		z = p[j] + bias[j];

			a[j] = z > 0 ? z : 0;
		}
	}
	for (; r + 4 <= n; r += 4)
	{
		lm_real		dots[4];

		dot4_inline(act + (size_t) r * lda, act + (size_t) (r + 1) * lda,
					act + (size_t) (r + 2) * lda, act + (size_t) (r + 3) * lda, w, h, dots);
		for (int q = 0; q < 4; q++)
			out[r + q] = b + dots[q];
	}
	for (; r < n; r++)
		out[r] = b + dot_inline(act + (size_t) r * lda, w, h);
}

LM_CLONES void
lm_relu_rank1_colsum(int n, int h, const lm_real *act, int lda, const lm_real *d,
					 const lm_real *w, lm_real *sum)
{
	for (int j = 0; j < h; j++)
		sum[j] = 0;
	/* d[r] w[j] per element, as the unfused backward rounds it */
	for (int r = 0; r < n; r++)
	{
		const lm_real *a = act + (size_t) r * lda;
		lm_real		dr = d[r];

		for (int j = 0; j < h; j++)
		{
			lm_real		g = dr * w[j];

			sum[j] += a[j] > 0 ? g : 0;
		}
	}
}

static int
use_blas(int m, int n, int k)
{
	return (double) m * n * k >= LM_BLAS_MIN_WORK;
}

/*
 * The loop paths: one call each, the inner loop inlined (a call per row
 * would cost more than the row's arithmetic at these sizes).
 */
LM_CLONES static void
gemm_nt_loop(int m, int n, int k, const lm_real *A, int lda,
			 const lm_real *B, int ldb, lm_real beta, lm_real *C, int ldc)
{
	for (int i = 0; i < m; i++)
	{
		const lm_real *a = A + (size_t) i * lda;
		lm_real    *c = C + (size_t) i * ldc;
		int			j = 0;

		for (; j + 4 <= n; j += 4)
		{
			lm_real		dots[4];

			dot4_inline(B + (size_t) j * ldb, B + (size_t) (j + 1) * ldb,
						B + (size_t) (j + 2) * ldb, B + (size_t) (j + 3) * ldb, a, k, dots);
			for (int q = 0; q < 4; q++)
				c[j + q] = (beta == 0) ? dots[q] : beta * c[j + q] + dots[q];	/* beta 0 ignores garbage */
		}
		for (; j < n; j++)
		{
			lm_real		dot = dot_inline(a, B + (size_t) j * ldb, k);

			c[j] = (beta == 0) ? dot : beta * c[j] + dot;
		}
	}
}

LM_CLONES static void
gemm_nn_loop(int m, int n, int k, const lm_real *A, int lda,
			 const lm_real *B, int ldb, lm_real beta, lm_real *C, int ldc)
{
	for (int i = 0; i < m; i++)
	{
		lm_real    *c = C + (size_t) i * ldc;

		for (int j = 0; j < n; j++)
			c[j] = (beta == 0) ? 0 : beta * c[j];
		for (int p = 0; p < k; p++)
			axpy_inline(c, A[(size_t) i * lda + p], B + (size_t) p * ldb, n);
	}
}

LM_CLONES static void
gemm_tn_acc_loop(int m, int n, int k, const lm_real *A, int lda,
				 const lm_real *B, int ldb, lm_real *C, int ldc)
{
	for (int p = 0; p < k; p++)
		for (int i = 0; i < m; i++)
		{
			lm_real		a = A[(size_t) p * lda + i];

			if (a != 0)
				axpy_inline(C + (size_t) i * ldc, a, B + (size_t) p * ldb, n);
		}
}

void
lm_gemm_nt(int m, int n, int k, const lm_real *A, int lda,
		   const lm_real *B, int ldb, lm_real beta, lm_real *C, int ldc)
{
	if (use_blas(m, n, k))
		cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k,
				   1, A, lda, B, ldb, beta, C, ldc);
	else
		gemm_nt_loop(m, n, k, A, lda, B, ldb, beta, C, ldc);
}

void
lm_gemm_nn(int m, int n, int k, const lm_real *A, int lda,
		   const lm_real *B, int ldb, lm_real beta, lm_real *C, int ldc)
{
	if (use_blas(m, n, k))
		cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k,
				   1, A, lda, B, ldb, beta, C, ldc);
	else
		gemm_nn_loop(m, n, k, A, lda, B, ldb, beta, C, ldc);
}

void
lm_gemm_tn_acc(int m, int n, int k, const lm_real *A, int lda,
			   const lm_real *B, int ldb, lm_real *C, int ldc)
{
	if (use_blas(m, n, k))
		cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k,
				   1, A, lda, B, ldb, 1, C, ldc);
	else
		gemm_tn_acc_loop(m, n, k, A, lda, B, ldb, C, ldc);
}
