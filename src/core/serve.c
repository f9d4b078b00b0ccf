/*
 * serve.c - per-candidate forward pass of the global block (see serve.h).
 */
#include "serve.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "block.h"
#include "items.h"
#include "kernels.h"
#include "wide.h"

/* where the member vector's wide section starts: after h0 and the bilinear q, e */
static int
wide_at(const LmArch *arch)
{
	return arch->global[0].out_dim + (arch->bilinear ? arch->item_dim + arch->embedding_dim : 0);
}

int
lm_serve_member_len(const LmArch *arch)
{
	return wide_at(arch) + (arch->wide ? 1 + lm_wide_len(arch) : 0);
}

int
lm_serve_input_len(const LmArch *arch)
{
	return arch->item_dim + (arch->wide ? lm_wide_len(arch) : 0);
}

void
lm_serve_input(const LmArch *arch, const lm_real *global, const lm_real *features,
			   int32_t bucket, lm_real *v)
{
	LmRows		row = {1, features, NULL, &bucket};

	if (arch->item_buckets == 0)
	{
		memcpy(v, features, sizeof(lm_real) * arch->item_dim);
		return;
	}
	lm_item_gather(arch, global, &row, 1, v);
	if (arch->wide)
	{
		/* (x, bias, f) after the item input */
		lm_wide_serve_section(arch, global, features, bucket, v + arch->item_dim);
	}
}

void
lm_serve_member_part(const LmArch *arch, const lm_real *global,
					 const lm_real *e, lm_real *member_part)
{
	const LmDense *l0 = &arch->global[0];
	int			d = arch->embedding_dim;
	int			p = arch->item_dim;

	for (int o = 0; o < l0->out_dim; o++)
		member_part[o] = global[l0->b_off + o] +
			lm_dot(global + l0->w_off + (size_t) o * l0->in_dim, e, d);
	if (arch->bilinear)
	{
		/* q = Pᵀ e once per embedding, so a candidate's term is one dot */
		lm_real    *q = member_part + l0->out_dim;

		lm_bilinear_q(arch, global, e, q);
		memcpy(q + p, e, sizeof(lm_real) * d);
	}
	if (arch->wide)
	{
		/* (w₀, w_x, 1, w[r]): a candidate's wide term is w₀ + (w_x, 1, w) · (x, bias, f) */
		int			p = lm_wide_feature_len(arch);
		lm_real    *t = member_part + wide_at(arch);

		t[0] = e[d];
		memcpy(t + 1, e + d + 1, sizeof(lm_real) * p);
		t[1 + p] = 1;
		memcpy(t + 2 + p, e + d + 1 + p, sizeof(lm_real) * arch->wide_rank);
	}
}

lm_real
lm_serve_item(const LmArch *arch, const lm_real *global,
			  const lm_real *member_part, const lm_real *v,
			  lm_real *scratch_a, lm_real *scratch_b)
{
	const LmDense *l0 = &arch->global[0];
	int			d = arch->embedding_dim;
	lm_real    *in = scratch_a;
	lm_real    *out = scratch_b;

	for (int o = 0; o < l0->out_dim; o++)
		in[o] = member_part[o] +
			lm_dot(global + l0->w_off + (size_t) o * l0->in_dim + d, v, arch->item_dim);
	for (int l = 1; l < arch->n_global; l++)
	{
		const LmDense *layer = &arch->global[l];
		lm_real    *tmp;

		for (int i = 0; i < layer->in_dim; i++)
			in[i] = in[i] > 0 ? in[i] : 0;
		for (int o = 0; o < layer->out_dim; o++)
			out[o] = global[layer->b_off + o] +
				lm_dot(global + layer->w_off + (size_t) o * layer->in_dim, in, layer->in_dim);
		tmp = in;
		in = out;
		out = tmp;
	}
	if (arch->bilinear)
		in[0] += lm_dot(member_part + l0->out_dim, v, arch->item_dim);
	if (arch->wide)
	{
		const lm_real *t = member_part + wide_at(arch);

		in[0] += t[0] + lm_dot(t + 1, v + arch->item_dim, lm_wide_len(arch));
	}
	return in[0];
}

/* ------------------------------------------------------------ plans */

#define PLAN_ALIGN 16			/* reals: 64-byte rows for float */

static size_t
round_up(size_t n)
{
	return (n + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}

/* hands out aligned, zeroed runs of reals from the plan's block */
static lm_real *
take(lm_real **next, size_t n)
{
	lm_real    *p = *next;

	memset(p, 0, n * sizeof(lm_real));
	*next += round_up(n);
	return p;
}

/* W[out][in] (columns from col, n_cols of them) transposed into wt[n_cols][ld] */
static void
transpose(lm_real *wt, size_t ld, const lm_real *W, int out_dim, int in_dim,
		  int col, int n_cols)
{
	for (int o = 0; o < out_dim; o++)
		for (int j = 0; j < n_cols; j++)
			wt[(size_t) j * ld + o] = W[(size_t) o * in_dim + col + j];
}

LmServePlan *
lm_serve_plan_create(const LmArch *arch, const lm_real *global, LmIsa isa)
{
	const LmServeKernels *k = lm_serve_kernels(isa == LM_ISA_COUNT ? lm_serve_best_isa() : isa);
	const LmDense *l0 = &arch->global[0];
	size_t		n_reals;
	size_t		width;
	char	   *mem;
	lm_real    *next;
	LmServePlan *plan;

	if (!k)
		return NULL;

	/*
	 * sizes first, in the order take() hands them out below; the scratch
	 * buffers also hold an item code's wide section (lm_serve_plan_code),
	 * which can be wider than every layer
	 */
	width = (size_t) arch->max_width;
	if (arch->wide && (size_t) lm_wide_len(arch) > width)
		width = (size_t) lm_wide_len(arch);
	width = round_up(width) + PLAN_ALIGN;
	n_reals = 2 * width + PLAN_ALIGN;
	n_reals += round_up((size_t) arch->item_dim * (l0->out_dim == 1 ? 1 : round_up(l0->out_dim)));
	for (int l = 1; l < arch->n_global; l++)
	{
		const LmDense *layer = &arch->global[l];

		n_reals += (l == arch->n_global - 1 ? round_up(layer->in_dim)
					: (size_t) layer->in_dim * round_up(layer->out_dim))
			+ round_up(layer->out_dim);
	}

	mem = lm_alloc(sizeof(LmServePlan) + n_reals * sizeof(lm_real));
	plan = (LmServePlan *) mem;
	memset(plan, 0, sizeof(*plan));
	next = (lm_real *) (mem + sizeof(LmServePlan));
	next = (lm_real *) (((uintptr_t) next + PLAN_ALIGN * sizeof(lm_real) - 1)
						& ~(uintptr_t) (PLAN_ALIGN * sizeof(lm_real) - 1));

	plan->mem = mem;
	plan->k = k;
	plan->arch = arch;
	plan->global = global;
	plan->d = arch->embedding_dim;
	plan->p = arch->item_dim;
	plan->h0 = l0->out_dim;
	plan->input_len = lm_serve_input_len(arch);
	plan->wide_len = arch->wide ? lm_wide_len(arch) : 0;
	plan->wide_at = wide_at(arch);
	plan->code_len = plan->h0 + (arch->bilinear ? plan->d : 0) + plan->wide_len;
	plan->member_len = lm_serve_member_len(arch);
	plan->P = arch->bilinear ? global + arch->bilinear_off : NULL;
	plan->scratch_a = take(&next, width);
	plan->scratch_b = take(&next, width);

	/* a single first-layer unit (no hidden layer): its row is already "transposed" */
	plan->ld0 = plan->h0 == 1 ? 1 : round_up(plan->h0);
	plan->wt0 = take(&next, (size_t) plan->p * plan->ld0);
	transpose(plan->wt0, plan->ld0, global + l0->w_off, plan->h0, l0->in_dim, plan->d, plan->p);

	plan->n_upper = arch->n_global - 1;
	for (int l = 1; l < arch->n_global; l++)
	{
		const LmDense *layer = &arch->global[l];
		LmServeLayer *u = &plan->upper[l - 1];

		u->in_dim = layer->in_dim;
		u->out_dim = layer->out_dim;
		/* the output layer only: a hidden layer of width 1 is a matrix like any other */
		if (l == arch->n_global - 1)
		{
			u->w = take(&next, layer->in_dim);
			memcpy(u->w, global + layer->w_off, layer->in_dim * sizeof(lm_real));
		}
		else
		{
			u->ld = round_up(layer->out_dim);
			u->wt = take(&next, (size_t) layer->in_dim * u->ld);
			transpose(u->wt, u->ld, global + layer->w_off, layer->out_dim, layer->in_dim,
					  0, layer->in_dim);
		}
		u->b = take(&next, layer->out_dim);
		memcpy(u->b, global + layer->b_off, layer->out_dim * sizeof(lm_real));
	}
	return plan;
}

void
lm_serve_plan_free(LmServePlan *plan)
{
	if (plan)
		lm_free(plan->mem);
}

void
lm_serve_plan_member(const LmServePlan *plan, const lm_real *e, lm_real *member_part)
{
	lm_serve_member_part(plan->arch, plan->global, e, member_part);
}

/* the bilinear term q · v, q = Pᵀe from the member vector */
static lm_real
bilinear_term(const LmServePlan *plan, const lm_real *member_part, const lm_real *v)
{
	return plan->P ? plan->k->dot(member_part + plan->h0, v, plan->p, 0) : 0;
}

/* the wide term w₀ + (1, w) · (bias, f) for the item's wide section t[1 + r] */
static lm_real
wide_term(const LmServePlan *plan, const lm_real *member_part, const lm_real *t)
{
	const lm_real *m = member_part + plan->wide_at;

	return plan->wide_len ? m[0] + plan->k->dot(m + 1, t, plan->wide_len, 0) : 0;
}

/* the first layer's item part, W0[:, d:] · v, into out[h0] (+ base when given) */
static void
first_layer(const LmServePlan *plan, const lm_real *v, const lm_real *base, lm_real *out)
{
	plan->k->matvec_t(out, plan->wt0, plan->ld0, v, plan->p, plan->h0, base, 0);
}

/*
 * The prediction from the first layer's pre-activation h[h0] (member part
 * plus item part), which lies in one of the scratch buffers.  Terms that
 * read trailing sections of an item code go here.
 */
static lm_real
finish(const LmServePlan *plan, lm_real *h)
{
	lm_real    *x = h;
	lm_real    *spare = h == plan->scratch_a ? plan->scratch_b : plan->scratch_a;

	if (plan->n_upper == 0)
		return h[0];
	for (int l = 0; l < plan->n_upper - 1; l++)
	{
		const LmServeLayer *u = &plan->upper[l];
		lm_real    *out = spare;

		plan->k->matvec_t(out, u->wt, u->ld, x, u->in_dim, u->out_dim, u->b, 1);
		spare = x;
		x = out;
	}
	{
		const LmServeLayer *u = &plan->upper[plan->n_upper - 1];

		return plan->k->dot(u->w, x, u->in_dim, 1) + u->b[0];
	}
}

void
lm_serve_plan_encode(const LmServePlan *plan, const lm_real *v, lm_real *code)
{
	first_layer(plan, v, NULL, code);
	if (plan->P)				/* P v beside the item part */
		for (int i = 0; i < plan->d; i++)
			code[plan->h0 + i] = lm_dot(plan->P + (size_t) i * plan->p, v, plan->p);
	/* the wide section last, as lm_serve_input leaves it */
	memcpy(code + plan->code_len - plan->wide_len, v + plan->p, sizeof(lm_real) * plan->wide_len);
}

lm_real
lm_serve_plan_item(const LmServePlan *plan, const lm_real *member_part, const lm_real *v)
{
	first_layer(plan, v, member_part, plan->scratch_a);
	return finish(plan, plan->scratch_a) + bilinear_term(plan, member_part, v) +
		wide_term(plan, member_part, v + plan->p);
}

int
lm_serve_plan_item_checked(const LmServePlan *plan, const lm_real *member_part,
						   const lm_real *v, lm_real *pred)
{
	lm_real		h0;

	first_layer(plan, v, member_part, plan->scratch_a);
	h0 = plan->scratch_a[0];
	if (!isfinite(h0) && !plan->k->all_finite(v, plan->p))
		return 0;
	*pred = finish(plan, plan->scratch_a) + bilinear_term(plan, member_part, v) +
		wide_term(plan, member_part, v + plan->p);
	return 1;
}

/* the prediction from a code without the bilinear term */
static lm_real
code_layers(const LmServePlan *plan, const lm_real *member_part, const void *code)
{
	if (plan->n_upper == 1)
	{
		/* one hidden layer: its ReLU and the output in one pass, finish's bits */
		const LmServeLayer *u = &plan->upper[0];

		return plan->k->relu_dot(u->w, member_part, code, plan->h0) + u->b[0];
	}
	plan->k->add(plan->scratch_a, member_part, code, plan->h0);
	return finish(plan, plan->scratch_a);
}

lm_real
lm_serve_plan_code(const LmServePlan *plan, const lm_real *member_part, const void *code)
{
	lm_real		pred = code_layers(plan, member_part, code);

	if (plan->P)
	{
		/* e · (P v): the code may be unaligned */
		memcpy(plan->scratch_b, (const char *) code + plan->h0 * sizeof(lm_real),
			   plan->d * sizeof(lm_real));
		pred += plan->k->dot(member_part + plan->h0 + plan->p, plan->scratch_b, plan->d, 0);
	}
	if (plan->wide_len)
	{
		memcpy(plan->scratch_b, (const char *) code +
			   (plan->code_len - plan->wide_len) * sizeof(lm_real), plan->wide_len * sizeof(lm_real));
		pred += wide_term(plan, member_part, plan->scratch_b);
	}
	return pred;
}

lm_real
lm_serve_plan_code_item(const LmServePlan *plan, const lm_real *member_part,
						const lm_real *code, const lm_real *v)
{
	return code_layers(plan, member_part, code) + bilinear_term(plan, member_part, v) +
		wide_term(plan, member_part, v + plan->p);
}
