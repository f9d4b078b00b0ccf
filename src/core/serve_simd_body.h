/*
 * serve_simd_body.h - the vector serving kernels, written once over the
 * V_* macros and included by serve_simd.c once per instruction set (W
 * lanes of float, SUFFIX naming the functions, TARGET their attribute).
 *
 * Every version sums each output's terms in the same order (a tile of four
 * vectors of outputs in registers; even and odd inputs in two sets, added
 * at the end), so AVX2 and AVX-512 give the same matvec_t bits.
 */
#define KERNEL_NAME2(name, suffix) name##_##suffix
#define KERNEL_NAME(name, suffix) KERNEL_NAME2(name, suffix)
#define SIMD_FN(name) KERNEL_NAME(name, SUFFIX)

TARGET static void
SIMD_FN(matvec_t) (float *out, const float *W, size_t ld, const float *x,
				   int n_in, int n_out, const float *base, int relu)
{
	int			k = 0;

	for (; k + 4 * W_LANES <= n_out; k += 4 * W_LANES)
	{
		V_T			a0 = V_ZERO(),
					a1 = a0,
					a2 = a0,
					a3 = a0,
					c0 = a0,
					c1 = a0,
					c2 = a0,
					c3 = a0;
		const float *w = W + k;
		int			i = 0;

		for (; i + 2 <= n_in; i += 2, w += 2 * ld)
		{
			V_T			x0 = V_SET1(act(x[i], relu));
			V_T			x1 = V_SET1(act(x[i + 1], relu));

			a0 = V_FMA(x0, V_LOAD(w), a0);
			a1 = V_FMA(x0, V_LOAD(w + W_LANES), a1);
			a2 = V_FMA(x0, V_LOAD(w + 2 * W_LANES), a2);
			a3 = V_FMA(x0, V_LOAD(w + 3 * W_LANES), a3);
			c0 = V_FMA(x1, V_LOAD(w + ld), c0);
			c1 = V_FMA(x1, V_LOAD(w + ld + W_LANES), c1);
			c2 = V_FMA(x1, V_LOAD(w + ld + 2 * W_LANES), c2);
			c3 = V_FMA(x1, V_LOAD(w + ld + 3 * W_LANES), c3);
		}
		if (i < n_in)
		{
			V_T			x0 = V_SET1(act(x[i], relu));

			a0 = V_FMA(x0, V_LOAD(w), a0);
			a1 = V_FMA(x0, V_LOAD(w + W_LANES), a1);
			a2 = V_FMA(x0, V_LOAD(w + 2 * W_LANES), a2);
			a3 = V_FMA(x0, V_LOAD(w + 3 * W_LANES), a3);
		}
		a0 = V_ADD(a0, c0);
		a1 = V_ADD(a1, c1);
		a2 = V_ADD(a2, c2);
		a3 = V_ADD(a3, c3);
		if (base)
		{
			a0 = V_ADD(a0, V_LOAD(base + k));
			a1 = V_ADD(a1, V_LOAD(base + k + W_LANES));
			a2 = V_ADD(a2, V_LOAD(base + k + 2 * W_LANES));
			a3 = V_ADD(a3, V_LOAD(base + k + 3 * W_LANES));
		}
		V_STORE(out + k, a0);
		V_STORE(out + k + W_LANES, a1);
		V_STORE(out + k + 2 * W_LANES, a2);
		V_STORE(out + k + 3 * W_LANES, a3);
	}
	for (; k < n_out; k += W_LANES)
	{
		V_MASK_T	m = V_MASK(n_out - k);
		V_T			a = V_ZERO(),
					c = a;
		const float *w = W + k;
		int			i = 0;

		for (; i + 2 <= n_in; i += 2, w += 2 * ld)
		{
			a = V_FMA(V_SET1(act(x[i], relu)), V_MLOAD(m, w), a);
			c = V_FMA(V_SET1(act(x[i + 1], relu)), V_MLOAD(m, w + ld), c);
		}
		if (i < n_in)
			a = V_FMA(V_SET1(act(x[i], relu)), V_MLOAD(m, w), a);
		a = V_ADD(a, c);
		if (base)
			a = V_ADD(a, V_MLOAD(m, base + k));
		V_MSTORE(out + k, m, a);
	}
}

TARGET static float
SIMD_FN(dot) (const float *w, const float *x, int n, int relu)
{
	V_T			zero = V_ZERO(),
				a0 = zero,
				a1 = zero;
	int			i = 0;

	for (; i + 2 * W_LANES <= n; i += 2 * W_LANES)
	{
		V_T			x0 = V_LOAD(x + i);
		V_T			x1 = V_LOAD(x + i + W_LANES);

		if (relu)
		{
			x0 = V_MAX(x0, zero);
			x1 = V_MAX(x1, zero);
		}
		a0 = V_FMA(V_LOAD(w + i), x0, a0);
		a1 = V_FMA(V_LOAD(w + i + W_LANES), x1, a1);
	}
	for (; i < n; i += W_LANES)
	{
		V_MASK_T	m = V_MASK(n - i);
		V_T			x0 = V_MLOAD(m, x + i);

		if (relu)
			x0 = V_MAX(x0, zero);
		a0 = V_FMA(V_MLOAD(m, w + i), x0, a0);
	}
	return V_REDUCE(V_ADD(a0, a1));
}

/* dot's loop over x = a + b, with ReLU */
TARGET static float
SIMD_FN(relu_dot) (const float *w, const float *a, const void *b, int n)
{
	const float *bf = b;
	V_T			zero = V_ZERO(),
				a0 = zero,
				a1 = zero;
	int			i = 0;

	for (; i + 2 * W_LANES <= n; i += 2 * W_LANES)
	{
		V_T			x0 = V_MAX(V_ADD(V_LOAD(a + i), V_LOAD(bf + i)), zero);
		V_T			x1 = V_MAX(V_ADD(V_LOAD(a + i + W_LANES), V_LOAD(bf + i + W_LANES)), zero);

		a0 = V_FMA(V_LOAD(w + i), x0, a0);
		a1 = V_FMA(V_LOAD(w + i + W_LANES), x1, a1);
	}
	for (; i < n; i += W_LANES)
	{
		V_MASK_T	m = V_MASK(n - i);
		V_T			x0 = V_MAX(V_ADD(V_MLOAD(m, a + i), V_MLOAD(m, bf + i)), zero);

		a0 = V_FMA(V_MLOAD(m, w + i), x0, a0);
	}
	return V_REDUCE(V_ADD(a0, a1));
}

TARGET static void
SIMD_FN(add) (float *out, const float *a, const void *b, int n)
{
	const float *bf = b;

	for (int i = 0; i < n; i += W_LANES)
	{
		V_MASK_T	m = V_MASK(n - i);

		V_MSTORE(out + i, m, V_ADD(V_MLOAD(m, a + i), V_MLOAD(m, bf + i)));
	}
}

/* x - x is 0 for a finite x and NaN otherwise; the sum keeps a NaN */
TARGET static int
SIMD_FN(all_finite) (const float *x, int n)
{
	V_T			bad = V_ZERO();

	for (int i = 0; i < n; i += W_LANES)
	{
		V_T			v = V_MLOAD(V_MASK(n - i), x + i);

		bad = V_ADD(bad, V_SUB(v, v));
	}
	return V_REDUCE(bad) == 0;
}

static const LmServeKernels SIMD_FN(kernels) = {
	ISA, SIMD_FN(matvec_t), SIMD_FN(dot), SIMD_FN(relu_dot), SIMD_FN(add), SIMD_FN(all_finite)
};

#undef KERNEL_NAME2
#undef KERNEL_NAME
#undef SIMD_FN
