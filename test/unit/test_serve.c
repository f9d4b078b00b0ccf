/*
 * test_serve.c - the serving kernels of every instruction set this CPU has
 * against a double-precision reference and against the scalar kernels, and
 * serving plans against lm_serve_item.
 *
 * Tolerance: 1e-6 relative to the magnitude of what was summed (Σ |terms|,
 * propagated through the layers for whole networks), since float sums of
 * signed terms can cancel and |result| alone is no scale.  Sizes include
 * ones that are not multiples of any vector width, and padded strides whose
 * padding must stay untouched.  Where the design promises identical bits
 * (AVX2 and AVX-512 item parts; an item code against the fused path) the
 * test asks for identical bits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "items.h"
#include "maml.h"
#include "serve.h"
#include "serve_crc.h"
#include "wide.h"
#include "check.h"

#ifdef LIMAML_DOUBLE
#error "test_serve tests the float build of the core"
#endif

#define RTOL 1e-6

static TestRng rng = {20260505};

static const int sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 130};
#define N_SIZES ((int) (sizeof(sizes) / sizeof(sizes[0])))

static float *
random_floats(size_t n)
{
	float	   *p = malloc((n > 0 ? n : 1) * sizeof(float));

	for (size_t i = 0; i < n; i++)
		p[i] = (float) rng_range(&rng, -1, 1);
	return p;
}

static const LmServeKernels *isas[LM_ISA_COUNT];
static int	n_isas;

static void
find_isas(void)
{
	for (int i = 0; i < LM_ISA_COUNT; i++)
		if (lm_serve_kernels((LmIsa) i))
			isas[n_isas++] = lm_serve_kernels((LmIsa) i);
	printf("# instruction sets: ");
	for (int i = 0; i < n_isas; i++)
		printf("%s ", lm_isa_name(isas[i]->isa));
	printf("(best %s)\n", lm_isa_name(lm_serve_best_isa()));
	CHECK(isas[0]->isa == LM_ISA_SCALAR, "scalar kernels always exist");
	CHECK(lm_serve_kernels(lm_serve_best_isa()) != NULL, "best isa is available");
}

static double
relu_d(double x, int relu)
{
	return relu ? (x > 0 ? x : 0) : x;
}

/* ------------------------------------------------------------ kernels */

/*
 * One check per n_in and property, over every n_out, ReLU or not, base or
 * not, tight or padded stride; the detail names the first failing case.
 */
static void
test_matvec_t(void)
{
	for (int a = 0; a < N_SIZES; a++)
	{
		int			n_in = sizes[a];
		char		fail_ref[128] = "",
					fail_scalar[128] = "",
					fail_pad[128] = "",
					fail_bits[128] = "";
		double		worst = 0;

		for (int b = 0; b < N_SIZES; b++)
			for (int variant = 0; variant < 4; variant++)
			{
				int			n_out = sizes[b];
				int			relu = variant & 1;
				int			with_base = variant >> 1;
				size_t		ld = n_out + (variant == 3 ? 5 : 0);
				float	   *W = random_floats(n_in * ld + 1);
				float	   *x = random_floats(n_in);
				float	   *base = with_base ? random_floats(n_out) : NULL;
				float	   *out[LM_ISA_COUNT];
				char		where[96];

				snprintf(where, sizeof(where), "n_out=%d relu=%d base=%d ld=%zu",
						 n_out, relu, with_base, ld);
				for (int s = 0; s < n_isas; s++)
				{
					out[s] = malloc((n_out + 16) * sizeof(float));
					for (int k = 0; k < n_out + 16; k++)
						out[s][k] = 12345.0f;
					isas[s]->matvec_t(out[s], W, ld, x, n_in, n_out, base, relu);
					for (int k = n_out; k < n_out + 16; k++)
						if (out[s][k] != 12345.0f && !fail_pad[0])
							snprintf(fail_pad, sizeof(fail_pad), "%s %s", lm_isa_name(isas[s]->isa), where);
				}
				for (int k = 0; k < n_out; k++)
				{
					double		ref = base ? base[k] : 0,
								mag = base ? fabs(base[k]) : 0;

					for (int i = 0; i < n_in; i++)
					{
						double		t = relu_d(x[i], relu) * W[(size_t) i * ld + k];

						ref += t;
						mag += fabs(t);
					}
					for (int s = 0; s < n_isas; s++)
					{
						double		err = fabs(out[s][k] - ref);

						if (err > RTOL * mag + 1e-30 && !fail_ref[0])
							snprintf(fail_ref, sizeof(fail_ref), "%s %s k=%d", lm_isa_name(isas[s]->isa), where, k);
						if (fabs(out[s][k] - out[0][k]) > RTOL * mag + 1e-30 && !fail_scalar[0])
							snprintf(fail_scalar, sizeof(fail_scalar), "%s %s k=%d", lm_isa_name(isas[s]->isa), where, k);
						if (mag > 0 && err / mag > worst)
							worst = err / mag;
					}
				}
				if (lm_serve_kernels(LM_ISA_AVX2) && lm_serve_kernels(LM_ISA_AVX512) &&
					memcmp(out[1], out[2], n_out * sizeof(float)) != 0 && !fail_bits[0])
					snprintf(fail_bits, sizeof(fail_bits), "%s", where);
				for (int s = 0; s < n_isas; s++)
					free(out[s]);
				free(W);
				free(x);
				free(base);
			}
		check_report(!fail_ref[0], __FILE__, __LINE__, fail_ref,
					 "matvec_t n_in=%d, every isa vs the double reference (worst rel %.2g)", n_in, worst);
		check_report(!fail_scalar[0], __FILE__, __LINE__, fail_scalar,
					 "matvec_t n_in=%d, simd vs scalar within 1e-6", n_in);
		check_report(!fail_pad[0], __FILE__, __LINE__, fail_pad,
					 "matvec_t n_in=%d, nothing written past n_out", n_in);
		if (lm_serve_kernels(LM_ISA_AVX2) && lm_serve_kernels(LM_ISA_AVX512))
			check_report(!fail_bits[0], __FILE__, __LINE__, fail_bits,
						 "matvec_t n_in=%d, avx2 and avx512 give the same bits", n_in);
	}
}

static void
test_dot(void)
{
	static const int dot_sizes[] = {0, 1, 5, 8, 15, 16, 17, 31, 32, 33, 47, 64, 100, 1000, 4099};

	for (int a = 0; a < (int) (sizeof(dot_sizes) / sizeof(dot_sizes[0])); a++)
		for (int variant = 0; variant < 4; variant++)
		{
			int			n = dot_sizes[a];
			int			relu = variant & 1;
			int			shift = variant >> 1;	/* misaligned start */
			float	   *w = random_floats(n + 1);
			float	   *x = random_floats(n + 1);
			double		ref = 0,
						mag = 0;

			for (int i = 0; i < n; i++)
			{
				double		t = (double) w[i + shift] * relu_d(x[i + shift], relu);

				ref += t;
				mag += fabs(t);
			}
			for (int s = 0; s < n_isas; s++)
			{
				float		got = isas[s]->dot(w + shift, x + shift, n, relu);
				float		scalar = isas[0]->dot(w + shift, x + shift, n, relu);

				CHECK_CLOSE(got, ref, 0, RTOL * mag + 1e-30, "dot %s n=%d relu=%d shift=%d vs reference",
							lm_isa_name(isas[s]->isa), n, relu, shift);
				if (s > 0)
					CHECK_CLOSE(got, scalar, 0, RTOL * mag + 1e-30, "dot %s n=%d relu=%d shift=%d vs scalar",
								lm_isa_name(isas[s]->isa), n, relu, shift);
			}
			free(w);
			free(x);
		}
}

/* an IEEE add: every isa gives the same bits, from unaligned input too */
static void
test_add(void)
{
	for (int a = 0; a < N_SIZES; a++)
	{
		int			n = sizes[a];
		float	   *x = random_floats(n);
		float	   *y = random_floats(n);
		char	   *unaligned = malloc(n * sizeof(float) + 3);

		memcpy(unaligned + 3, y, n * sizeof(float));
		for (int s = 0; s < n_isas; s++)
		{
			float	   *out = malloc((n + 16) * sizeof(float));
			int			ok = 1;

			for (int k = 0; k < n + 16; k++)
				out[k] = 12345.0f;
			isas[s]->add(out, x, unaligned + 3, n);
			for (int k = 0; k < n; k++)
				ok &= out[k] == x[k] + y[k];
			for (int k = n; k < n + 16; k++)
				ok &= out[k] == 12345.0f;
			CHECK(ok, "add %s n=%d: exact sums from unaligned input, nothing past n",
				  lm_isa_name(isas[s]->isa), n);
			{
				float	   *w = random_floats(n);
				float		fused = isas[s]->relu_dot(w, x, unaligned + 3, n);
				float		apart = isas[s]->dot(w, out, n, 1);

				CHECK(memcmp(&fused, &apart, sizeof(float)) == 0,
					  "relu_dot %s n=%d: the bits of dot(relu) over add", lm_isa_name(isas[s]->isa), n);
				free(w);
			}
			free(out);
		}
		free(x);
		free(y);
		free(unaligned);
	}
}

static void
test_all_finite(void)
{
	static const float bad[] = {INFINITY, -INFINITY, NAN};

	for (int a = 0; a < N_SIZES; a++)
	{
		int			n = sizes[a];
		float	   *x = random_floats(n + 1);

		x[n] = NAN;				/* just past the end: must not be read */
		for (int s = 0; s < n_isas; s++)
		{
			int			ok = isas[s]->all_finite(x, n) == 1;

			for (int pos = 0; pos < n; pos++)
				for (int b = 0; b < 3; b++)
				{
					float		keep = x[pos];

					x[pos] = bad[b];
					ok &= isas[s]->all_finite(x, n) == 0;
					x[pos] = keep;
				}
			x[0] = 3.4e38f;		/* large but finite */
			ok &= isas[s]->all_finite(x, n) == 1;
			CHECK(ok, "all_finite %s n=%d: finite, and each position NaN/±inf", lm_isa_name(isas[s]->isa), n);
		}
		free(x);
	}
}

/* ------------------------------------------------------------ plans */

/*
 * Double forward pass of the global block over [e ; v], also propagating
 * each unit's magnitude (|b| + Σ |w|·mag(input)), the scale of the float
 * rounding errors.
 */
static double
reference_pred(const LmArch *arch, const float *global, const float *e, const float *v,
			   double *mag_out)
{
	double		in[LM_MAX_WIDTH * 2],
				in_mag[LM_MAX_WIDTH * 2],
				out[LM_MAX_WIDTH],
				out_mag[LM_MAX_WIDTH];
	int			n_in = arch->embedding_dim + arch->item_dim;

	for (int i = 0; i < arch->embedding_dim; i++)
		in[i] = e[i];
	for (int i = 0; i < arch->item_dim; i++)
		in[arch->embedding_dim + i] = v[i];
	for (int i = 0; i < n_in; i++)
		in_mag[i] = fabs(in[i]);
	for (int l = 0; l < arch->n_global; l++)
	{
		const LmDense *layer = &arch->global[l];

		for (int o = 0; o < layer->out_dim; o++)
		{
			double		s = global[layer->b_off + o],
						m = fabs(s);

			for (int i = 0; i < layer->in_dim; i++)
			{
				double		w = global[layer->w_off + (size_t) o * layer->in_dim + i];

				s += w * in[i];
				m += fabs(w) * in_mag[i];
			}
			out[o] = s;
			out_mag[o] = m;
		}
		for (int o = 0; o < layer->out_dim; o++)
		{
			in[o] = l < arch->n_global - 1 && out[o] < 0 ? 0 : out[o];
			in_mag[o] = out_mag[o];
		}
	}
	if (arch->bilinear)
	{
		/* + e · (P v) */
		const float *P = global + arch->bilinear_off;

		for (int i = 0; i < arch->embedding_dim; i++)
			for (int j = 0; j < arch->item_dim; j++)
			{
				double		t = (double) e[i] * P[(size_t) i * arch->item_dim + j] * v[j];

				in[0] += t;
				in_mag[0] += fabs(t);
			}
	}
	*mag_out = in_mag[0];
	return in[0];
}

typedef struct Shape
{
	int			d,
				p;
	int			hidden[3];
	int			n_hidden;
	int			bilinear;
} Shape;

static const Shape shapes[] = {
	{32, 32, {64}, 1, 0},			/* the benchmark's */
	{32, 64, {64}, 1, 0},
	{16, 8, {32}, 1, 0},
	{3, 5, {0}, 0, 0},				/* no hidden layer: h0 is 1 */
	{7, 13, {17, 5}, 2, 0},
	{1, 1, {1}, 1, 0},
	{33, 31, {100, 33, 9}, 3, 0},
	{8, 100, {200, 64}, 2, 0},
	{32, 32, {64}, 1, 1},		/* with the bilinear term */
	{3, 5, {0}, 0, 1},
	{7, 13, {17, 5}, 2, 1},
	{7, 13, {17, 1}, 2, 0},		/* a hidden layer of width 1 above the first (fuzzing) */
	{8, 4, {9, 1, 3}, 3, 1},
};

#define N_ITEMS 20

static void
test_plans(void)
{
	for (int sh = 0; sh < (int) (sizeof(shapes) / sizeof(shapes[0])); sh++)
	{
		const Shape *s = &shapes[sh];
		LmArch		arch;
		const char *err = lm_arch_init(&arch, 0, s->p, s->d, NULL, 0, s->hidden, s->n_hidden, LM_LOSS_BCE);
		float	   *params;
		float	   *global;
		char		tag[64];
		float	   *e;
		float	   *items[N_ITEMS];
		float	   *scratch_a,
				   *scratch_b;
		float		codes_by_isa[LM_ISA_COUNT][LM_MAX_WIDTH];

		snprintf(tag, sizeof(tag), "d=%d p=%d hidden=%d:%d,%d%s", s->d, s->p, s->n_hidden,
				 s->n_hidden ? s->hidden[0] : 0, s->n_hidden > 1 ? s->hidden[1] : 0,
				 s->bilinear ? " bilinear" : "");
		CHECK(err == NULL, "%s arch", tag);
		if (err)
			continue;
		if (s->bilinear)
			lm_arch_enable_bilinear(&arch);
		params = malloc(arch.n_params * sizeof(float));
		lm_arch_init_params(&arch, params, rng_uniform, &rng);
		global = params + arch.n_meta_params;
		/* non-zero biases, so their handling is tested too */
		for (int l = 0; l < arch.n_global; l++)
			for (int o = 0; o < arch.global[l].out_dim; o++)
				global[arch.global[l].b_off + o] = (float) rng_range(&rng, -0.3, 0.3);
		scratch_a = malloc(arch.max_width * sizeof(float));
		scratch_b = malloc(arch.max_width * sizeof(float));
		e = random_floats(s->d);
		for (int it = 0; it < N_ITEMS; it++)
			items[it] = random_floats(s->p);

		for (int si = 0; si < n_isas; si++)
		{
			LmServePlan *plan = lm_serve_plan_create(&arch, global, isas[si]->isa);
			float	   *mp = malloc(lm_serve_member_len(&arch) * sizeof(float));
			float	   *mp_ref = malloc(lm_serve_member_len(&arch) * sizeof(float));
			int			ok_ref = 1,
						ok_scalar_ref = 1,
						ok_code = 1,
						ok_code_item = 1;
			double		worst = 0;

			CHECK(plan != NULL, "%s plan %s", tag, lm_isa_name(isas[si]->isa));
			if (!plan)
				continue;
			CHECK(plan->code_len == arch.global[0].out_dim + (s->bilinear ? s->d : 0),
				  "%s code_len is the first layer's width (+ d with the bilinear term)", tag);
			lm_serve_plan_member(plan, e, mp);
			lm_serve_member_part(&arch, global, e, mp_ref);
			CHECK(memcmp(mp, mp_ref, lm_serve_member_len(&arch) * sizeof(float)) == 0,
				  "%s %s member part", tag, lm_isa_name(isas[si]->isa));

			for (int it = 0; it < N_ITEMS; it++)
			{
				float	   *v = items[it];
				double		mag;
				double		ref = reference_pred(&arch, global, e, v, &mag);
				float		got = lm_serve_plan_item(plan, mp, v);
				float		scalar = lm_serve_item(&arch, global, mp_ref, v, scratch_a, scratch_b);
				/* the code at an odd offset, as in a bytea with a 1-byte header */
				char		buf[LM_MAX_WIDTH * sizeof(float) + 1];
				float		code_got;

				ok_ref &= fabs(got - ref) <= RTOL * mag;
				ok_scalar_ref &= fabs(got - scalar) <= RTOL * mag;
				if (fabs(got - ref) / mag > worst)
					worst = fabs(got - ref) / mag;

				lm_serve_plan_encode(plan, v, codes_by_isa[si]);
				memcpy(buf + 1, codes_by_isa[si], plan->code_len * sizeof(float));
				code_got = lm_serve_plan_code(plan, mp, buf + 1);
				/* bit-exact, but for the bilinear term: e·(Pv) against (Pᵀe)·v */
				ok_code &= s->bilinear ? fabs(code_got - got) <= RTOL * mag
					: memcmp(&code_got, &got, sizeof(float)) == 0;
				/* with the features at hand as well: always the array path's bits */
				code_got = lm_serve_plan_code_item(plan, mp, codes_by_isa[si], v);
				ok_code_item &= memcmp(&code_got, &got, sizeof(float)) == 0;
			}
			/* the checked path: same bits for finite items, 0 for any NaN/±inf */
			{
				int			ok_checked = 1;
				float	   *v = items[0];
				float		want = lm_serve_plan_item(plan, mp, v);
				float		got = 0;

				ok_checked &= lm_serve_plan_item_checked(plan, mp, v, &got) == 1 && got == want;
				for (int j = 0; j < s->p; j++)
					for (int b = 0; b < 3; b++)
					{
						float		keep = v[j];

						v[j] = b == 0 ? INFINITY : b == 1 ? -INFINITY : NAN;
						ok_checked &= lm_serve_plan_item_checked(plan, mp, v, &got) == 0;
						v[j] = keep;
					}
				CHECK(ok_checked, "%s %s checked item: finite scores, NaN/±inf at every position refused",
					  tag, lm_isa_name(isas[si]->isa));
			}
			check_report(ok_ref, __FILE__, __LINE__, "differs from the double reference",
						 "%s %s plan vs double reference (worst rel %.2g)", tag,
						 lm_isa_name(isas[si]->isa), worst);
			CHECK(ok_scalar_ref, "%s %s plan vs lm_serve_item", tag, lm_isa_name(isas[si]->isa));
			CHECK(ok_code_item, "%s %s item code and features: the array path's bits", tag,
				  lm_isa_name(isas[si]->isa));
			CHECK(ok_code, "%s %s item code scores as the array (same bits without the bilinear term)", tag,
				  lm_isa_name(isas[si]->isa));
			lm_serve_plan_free(plan);
			free(mp);
			free(mp_ref);
		}
		/* the last item's code, by every isa: AVX2 and AVX-512 agree exactly */
		if (lm_serve_kernels(LM_ISA_AVX2) && lm_serve_kernels(LM_ISA_AVX512))
			CHECK(memcmp(codes_by_isa[1], codes_by_isa[2], arch.global[0].out_dim * sizeof(float)) == 0,
				  "%s item code: avx2 and avx512 same bits", tag);
		for (int it = 0; it < N_ITEMS; it++)
			free(items[it]);
		free(e);
		free(scratch_a);
		free(scratch_b);
		free(params);
	}
}

static void
test_unsupported_isa(void)
{
	LmArch		arch;
	int			hidden[1] = {4};

	lm_arch_init(&arch, 0, 3, 2, NULL, 0, hidden, 1, LM_LOSS_MSE);
	CHECK(lm_serve_kernels(LM_ISA_COUNT) == NULL, "no kernels for an unknown isa");
	CHECK(strcmp(lm_isa_name(LM_ISA_AVX512), "avx512") == 0, "isa names");
	for (int i = 0; i < LM_ISA_COUNT; i++)
		if (!lm_serve_kernels((LmIsa) i))
		{
			float		params[64] = {0};

			CHECK(lm_serve_plan_create(&arch, params, (LmIsa) i) == NULL,
				  "no plan for %s on this cpu", lm_isa_name((LmIsa) i));
		}
}

/* the fast CRC-32C against the bitwise reference, every length to 1100 */
static void
test_crc(void)
{
	unsigned char buf[1200];
	int			ok = 1;
	int			first_bad = -1;

	CHECK((lm_crc32c_update(0xFFFFFFFFu, "123456789", 9) ^ 0xFFFFFFFFu) == 0xE3069283u,
		  "crc32c check value of \"123456789\" (hardware %d)", lm_crc32c_hardware());
	CHECK((lm_crc32c_update_ref(0xFFFFFFFFu, "123456789", 9) ^ 0xFFFFFFFFu) == 0xE3069283u,
		  "crc32c reference check value");
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char) (rng_next(&rng) >> 56);
	for (int len = 0; len <= 1100; len++)
	{
		uint32_t	init = (uint32_t) rng_next(&rng);
		int			offset = len % 7;	/* unaligned starts */

		if (lm_crc32c_update(init, buf + offset, len) != lm_crc32c_update_ref(init, buf + offset, len))
		{
			ok = 0;
			if (first_bad < 0)
				first_bad = len;
		}
	}
	CHECK(ok, "crc32c fast = reference for lengths 0..1100 (first bad length %d)", first_bad);
}

/*
 * The wide head: every serving path (plan, code, code + features, the
 * scalar reference) scores an item as lm_predict_rows does, for trained,
 * never-trained and unknown items, with and without the bilinear term;
 * rank 40 makes the code's wide section wider than every layer (the plan's
 * scratch buffer overflowed there: found by fuzz_model_config).
 */
static void
test_wide_serving(void)
{
	for (int variant = 0; variant < 8; variant++)
	{
		int			bil = variant & 1;
		int			wx = (variant >> 1) & 1;
		int			rank = variant < 4 ? 3 : 40;
		LmArch		arch;
		int			hidden[1] = {8};
		int			B = 6;
		float	   *params;
		float	   *global;
		float	   *emb;
		float		features[4];
		float		v[64],
					code[128],
					mp[128];
		float		scratch_a[64],
					scratch_b[64];
		int			ok = 1;
		double		worst = 0;
		LmWork	   *work;

		lm_arch_init(&arch, 0, 4, 3, NULL, 0, hidden, 1, LM_LOSS_BCE);
		lm_arch_enable_item_embedding(&arch, B, 2);
		CHECK(lm_arch_enable_wide(&arch, rank, 1.0) == NULL, "wide serving: arch");
		if (wx)
			lm_arch_enable_wide_features(&arch);
		if (bil)
			lm_arch_enable_bilinear(&arch);
		params = malloc(arch.n_params * sizeof(float));
		lm_arch_init_params(&arch, params, rng_uniform, &rng);
		global = params + arch.n_meta_params;
		/* buckets 0..3 trained (non-zero E rows), 4 and 5 never */
		for (int b = 0; b < 4; b++)
			for (int j = 0; j < 2; j++)
				global[arch.item_table_off + b * 2 + j] = (float) rng_range(&rng, -1, 1);
		for (size_t k = 0; k < (size_t) (B + 1) * (1 + rank); k++)
			global[arch.wide_off + k] = (float) rng_range(&rng, -1, 1);
		lm_wide_table_finish(&arch, global);
		lm_item_table_finish(&arch, global);
		emb = random_floats(lm_embedding_len(&arch));
		work = lm_work_create(&arch, 1);
		CHECK(lm_serve_input_len(&arch) == arch.item_dim + 1 + rank + (wx ? 4 : 0),
			  "wide serving rank %d: the input carries (x, bias, f)", rank);
		for (int si = 0; si < n_isas; si++)
		{
			LmServePlan *plan = lm_serve_plan_create(&arch, global, isas[si]->isa);

			lm_serve_plan_member(plan, emb, mp);
			for (int32_t b = 0; b <= B; b++)
			{
				LmRows		row = {1, features, NULL, &b};
				float		want,
							got[4];

				for (int j = 0; j < 4; j++)
					features[j] = (float) rng_range(&rng, -1, 1);
				lm_predict_rows(&arch, params, emb, &row, work, &want);
				lm_serve_input(&arch, global, features, b, v);
				got[0] = lm_serve_plan_item(plan, mp, v);
				lm_serve_plan_encode(plan, v, code);
				got[1] = lm_serve_plan_code(plan, mp, code);
				got[2] = lm_serve_plan_code_item(plan, mp, code, v);
				got[3] = lm_serve_item(&arch, global, mp, v, scratch_a, scratch_b);
				for (int k = 0; k < 4; k++)
				{
					ok &= fabsf(got[k] - want) <= 1e-5f * (1 + fabsf(want));
					worst = fmax(worst, fabs(got[k] - want));
				}
			}
			lm_serve_plan_free(plan);
		}
		CHECK(ok, "wide serving rank %d%s%s: plan, code, code + features and the reference score "
			  "as lm_predict_rows for trained, never-trained and unknown items (worst %.2g)",
			  rank, bil ? " with the bilinear term" : "", wx ? " with the item features" : "", worst);
		lm_work_free(work);
		free(emb);
		free(params);
	}
}

int
main(void)
{
	find_isas();
	test_matvec_t();
	test_dot();
	test_add();
	test_all_finite();
	test_plans();
	test_wide_serving();
	test_unsupported_isa();
	test_crc();
	return check_done();
}
