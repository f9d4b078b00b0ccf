/*
 * kernels.h - vector and matrix kernels shared by every layer.
 *
 * Matrices are row-major.  Small shapes run plain loops (which the
 * compiler vectorizes); shapes with enough work go to OpenBLAS.
 */
#ifndef LM_KERNELS_H
#define LM_KERNELS_H

#include "lm_real.h"

/* Σ a[i] b[i] */
lm_real		lm_dot(const lm_real *a, const lm_real *b, int n);

/* y[i] += alpha x[i] */
void		lm_axpy(lm_real *y, lm_real alpha, const lm_real *x, int n);

/* sum[j] += Σ_r A[r][j] for r < n, j < m   (A row stride lda) */
void		lm_colsum_acc(int n, int m, const lm_real *A, int lda, lm_real *sum);

/*
 * A ReLU layer whose input is a per-row part plus a shared vector, followed
 * by one linear output unit, fused into one pass over the rows:
 *   act[r][j] = max(pre[r][j] + bias[j], 0)       (act row stride lda)
 *   out[r]    = b + Σ_j w[j] act[r][j]
 */
void		lm_bias_relu_dot(int n, int h, const lm_real *pre, int ldp, const lm_real *bias,
							 const lm_real *w, lm_real b, lm_real *act, int lda, lm_real *out);

/*
 * Its backward to the shared vector, summed over rows:
 *   sum[j] = Σ_r [act[r][j] > 0] d[r] w[j]        (overwrites sum)
 */
void		lm_relu_rank1_colsum(int n, int h, const lm_real *act, int lda, const lm_real *d,
								 const lm_real *w, lm_real *sum);


/*
 * C[m][n] = beta C + A[m][k] · B[n][k]ᵀ   (A row stride lda, B row stride ldb)
 * The "NT" form of a dense layer's forward pass: rows of B are output units.
 */
void		lm_gemm_nt(int m, int n, int k, const lm_real *A, int lda,
					   const lm_real *B, int ldb, lm_real beta, lm_real *C, int ldc);

/* C[m][n] = beta C + A[m][k] · B[k][n]   (backward to a layer's input) */
void		lm_gemm_nn(int m, int n, int k, const lm_real *A, int lda,
					   const lm_real *B, int ldb, lm_real beta, lm_real *C, int ldc);

/* C[m][n] += A[k][m]ᵀ · B[k][n]   (weight gradient: Σ over rows of outer products) */
void		lm_gemm_tn_acc(int m, int n, int k, const lm_real *A, int lda,
						   const lm_real *B, int ldb, lm_real *C, int ldc);

#endif
