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

LM_CLONES lm_real
lm_dot(const lm_real *a, const lm_real *b, int n)
{
	lm_real		sum = 0;

	for (int i = 0; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

LM_CLONES void
lm_axpy(lm_real *y, lm_real alpha, const lm_real *x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] += alpha * x[i];
}

static int
use_blas(int m, int n, int k)
{
	return (double) m * n * k >= LM_BLAS_MIN_WORK;
}

void
lm_gemm_nt(int m, int n, int k, const lm_real *A, int lda,
		   const lm_real *B, int ldb, lm_real beta, lm_real *C, int ldc)
{
	if (use_blas(m, n, k))
	{
		cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k,
				   1, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++)
		{
			lm_real		dot = lm_dot(A + (size_t) i * lda, B + (size_t) j * ldb, k);
			lm_real    *c = C + (size_t) i * ldc + j;

			*c = (beta == 0) ? dot : beta * *c + dot;	/* beta 0 ignores garbage */
		}
}

void
lm_gemm_nn(int m, int n, int k, const lm_real *A, int lda,
		   const lm_real *B, int ldb, lm_real beta, lm_real *C, int ldc)
{
	if (use_blas(m, n, k))
	{
		cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k,
				   1, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	for (int i = 0; i < m; i++)
	{
		lm_real    *c = C + (size_t) i * ldc;

		for (int j = 0; j < n; j++)
			c[j] = (beta == 0) ? 0 : beta * c[j];
		for (int p = 0; p < k; p++)
			lm_axpy(c, A[(size_t) i * lda + p], B + (size_t) p * ldb, n);
	}
}

void
lm_gemm_tn_acc(int m, int n, int k, const lm_real *A, int lda,
			   const lm_real *B, int ldb, lm_real *C, int ldc)
{
	if (use_blas(m, n, k))
	{
		cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k,
				   1, A, lda, B, ldb, 1, C, ldc);
		return;
	}
	for (int p = 0; p < k; p++)
		for (int i = 0; i < m; i++)
		{
			lm_real		a = A[(size_t) p * lda + i];

			if (a != 0)
				lm_axpy(C + (size_t) i * ldc, a, B + (size_t) p * ldb, n);
		}
}
