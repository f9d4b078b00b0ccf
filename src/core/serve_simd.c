/*
 * serve_simd.c - serving kernels (see serve_simd.h): the scalar reference
 * here, the vector versions from serve_simd_body.h, instantiated for
 * AVX-512 and for AVX2 + FMA.
 *
 * The vector matvec_t keeps a tile of outputs in registers and accumulates
 * even and odd inputs in two separate sets, added at the end, to hide the
 * FMA latency; AVX2 and AVX-512 use the same order, so they give the same
 * bits.  The scalar reference sums in input order without FMA.
 */
#include "serve_simd.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(LIMAML_DOUBLE)
#define LM_HAVE_X86_SIMD 1
#include <immintrin.h>
#endif

/* ------------------------------------------------------------ scalar */

static inline lm_real
act(lm_real x, int relu)
{
	return relu ? (x > 0 ? x : 0) : x;
}

static void
matvec_t_scalar(lm_real *out, const lm_real *W, size_t ld, const lm_real *x,
				int n_in, int n_out, const lm_real *base, int relu)
{
	for (int k = 0; k < n_out; k++)
		out[k] = 0;
	for (int i = 0; i < n_in; i++)
	{
		lm_real		xi = act(x[i], relu);
		const lm_real *w = W + (size_t) i * ld;

		for (int k = 0; k < n_out; k++)
			out[k] += xi * w[k];
	}
	if (base)
		for (int k = 0; k < n_out; k++)
			out[k] += base[k];
}

static lm_real
dot_scalar(const lm_real *w, const lm_real *x, int n, int relu)
{
	lm_real		sum = 0;

	for (int i = 0; i < n; i++)
		sum += w[i] * act(x[i], relu);
	return sum;
}

static lm_real
relu_dot_scalar(const lm_real *w, const lm_real *a, const void *b, int n)
{
	const char *bytes = b;
	lm_real		sum = 0;

	for (int i = 0; i < n; i++)
	{
		lm_real		bi;

		memcpy(&bi, bytes + i * sizeof(lm_real), sizeof(lm_real));
		sum += w[i] * act(a[i] + bi, 1);
	}
	return sum;
}

static void
add_scalar(lm_real *out, const lm_real *a, const void *b, int n)
{
	const char *bytes = b;

	for (int i = 0; i < n; i++)
	{
		lm_real		bi;

		memcpy(&bi, bytes + i * sizeof(lm_real), sizeof(lm_real));
		out[i] = a[i] + bi;
	}
}

static int
all_finite_scalar(const lm_real *x, int n)
{
	for (int i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return 0;
	return 1;
}

static const LmServeKernels scalar_kernels = {
	LM_ISA_SCALAR, matvec_t_scalar, dot_scalar, relu_dot_scalar, add_scalar, all_finite_scalar
};

#ifdef LM_HAVE_X86_SIMD

/* ------------------------------------------------------------ AVX-512 */

#define AVX512 __attribute__((target("avx512f")))

AVX512 static inline __mmask16
tail_mask16(int left)
{
	return left >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << left) - 1);
}

#define SUFFIX avx512
#define TARGET AVX512
#define ISA LM_ISA_AVX512
#define W_LANES 16
#define V_T __m512
#define V_MASK_T __mmask16
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_MAX(a, b) _mm512_max_ps((a), (b))
#define V_MASK(left) tail_mask16(left)
#define V_MLOAD(m, p) _mm512_maskz_loadu_ps((m), (p))
#define V_MSTORE(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define V_REDUCE(v) _mm512_reduce_add_ps(v)
#include "serve_simd_body.h"
#undef SUFFIX
#undef TARGET
#undef ISA
#undef W_LANES
#undef V_T
#undef V_MASK_T
#undef V_ZERO
#undef V_SET1
#undef V_LOAD
#undef V_STORE
#undef V_FMA
#undef V_ADD
#undef V_SUB
#undef V_MAX
#undef V_MASK
#undef V_MLOAD
#undef V_MSTORE
#undef V_REDUCE

/* ------------------------------------------------------------ AVX2 + FMA */

#define AVX2 __attribute__((target("avx2,fma")))

/* lanes below left are all ones */
AVX2 static inline __m256i
tail_mask8(int left)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AVX2 static inline float
hsum8(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

#define SUFFIX avx2
#define TARGET AVX2
#define ISA LM_ISA_AVX2
#define W_LANES 8
#define V_T __m256
#define V_MASK_T __m256i
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_SUB(a, b) _mm256_sub_ps((a), (b))
#define V_MAX(a, b) _mm256_max_ps((a), (b))
#define V_MASK(left) tail_mask8(left)
#define V_MLOAD(m, p) _mm256_maskload_ps((p), (m))
#define V_MSTORE(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define V_REDUCE(v) hsum8(v)
#include "serve_simd_body.h"

static int
cpu_has(LmIsa isa)
{
	__builtin_cpu_init();
	if (isa == LM_ISA_AVX512)
		return __builtin_cpu_supports("avx512f");
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#endif							/* LM_HAVE_X86_SIMD */

/* ------------------------------------------------------------ dispatch */

const LmServeKernels *
lm_serve_kernels(LmIsa isa)
{
	switch (isa)
	{
		case LM_ISA_SCALAR:
			return &scalar_kernels;
#ifdef LM_HAVE_X86_SIMD
		case LM_ISA_AVX2:
			return cpu_has(LM_ISA_AVX2) ? &kernels_avx2 : NULL;
		case LM_ISA_AVX512:
			return cpu_has(LM_ISA_AVX512) ? &kernels_avx512 : NULL;
#endif
		default:
			return NULL;
	}
}

LmIsa
lm_serve_best_isa(void)
{
	static int	best = -1;

	if (best < 0)
	{
		best = LM_ISA_SCALAR;
		for (int isa = LM_ISA_COUNT - 1; isa > LM_ISA_SCALAR; isa--)
			if (lm_serve_kernels((LmIsa) isa))
			{
				best = isa;
				break;
			}
	}
	return (LmIsa) best;
}

const char *
lm_isa_name(LmIsa isa)
{
	static const char *const names[] = {"scalar", "avx2", "avx512"};

	return isa >= 0 && isa < LM_ISA_COUNT ? names[isa] : "unknown";
}
