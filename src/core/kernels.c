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
static inline lm_real
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
	for (int j = 0; j < LM_LANES; j++)
		sum += acc[j];
	return sum;
}

static inline void
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
		for (int j = 0; j < n; j++)
		{
			lm_real		dot = dot_inline(A + (size_t) i * lda, B + (size_t) j * ldb, k);
			lm_real    *c = C + (size_t) i * ldc + j;

			*c = (beta == 0) ? dot : beta * *c + dot;	/* beta 0 ignores garbage */
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
