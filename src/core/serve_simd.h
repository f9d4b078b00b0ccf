/*
 * serve_simd.h - the per-candidate kernels of serving, in a scalar reference
 * and AVX2+FMA and AVX-512 versions chosen at run time.
 *
 * The default build targets baseline x86-64; the vector versions are
 * compiled with per-function target attributes and used only when the CPU
 * has them (__builtin_cpu_supports).  The double build of the core (gradient
 * checks) has only the scalar versions.  Every version takes any size: the
 * vector ones finish rows that are not a multiple of their width with masked
 * loads and stores.
 */
#ifndef LM_SERVE_SIMD_H
#define LM_SERVE_SIMD_H

#include "lm_real.h"

typedef enum LmIsa
{
	LM_ISA_SCALAR = 0,
	LM_ISA_AVX2 = 1,			/* AVX2 + FMA */
	LM_ISA_AVX512 = 2,			/* AVX-512F */
	LM_ISA_COUNT
} LmIsa;

typedef struct LmServeKernels
{
	LmIsa		isa;

	/*
	 * out[k] = Σ_i f(x[i]) · W[i·ld + k]  (+ base[k] when base is not NULL)
	 * for k < n_out, with f = ReLU when relu, else the identity: a dense
	 * layer with its weights stored transposed (one row per input), so the
	 * outputs accumulate in registers.  The sum over i is completed before
	 * base is added.
	 */
	void		(*matvec_t) (lm_real *out, const lm_real *W, size_t ld,
							 const lm_real *x, int n_in, int n_out,
							 const lm_real *base, int relu);

	/* Σ w[i] · f(x[i]), f as above */
	lm_real		(*dot) (const lm_real *w, const lm_real *x, int n, int relu);

	/*
	 * Σ w[i] · ReLU(a[i] + b[i]); b may be unaligned.  The same bits as dot
	 * with relu over the sums a[i] + b[i] (the same order of operations).
	 */
	lm_real		(*relu_dot) (const lm_real *w, const lm_real *a, const void *b, int n);

	/* out[i] = a[i] + b[i]; b may be unaligned (a bytea's payload) */
	void		(*add) (lm_real *out, const lm_real *a, const void *b, int n);

	/* 1 when no x[i] is NaN or infinite */
	int			(*all_finite) (const lm_real *x, int n);
} LmServeKernels;

/* the kernels of an instruction set, or NULL when this CPU or build lacks it */
const LmServeKernels *lm_serve_kernels(LmIsa isa);

/* the widest instruction set this CPU and build support */
LmIsa		lm_serve_best_isa(void);

/* "scalar", "avx2", "avx512" */
const char *lm_isa_name(LmIsa isa);

#endif
