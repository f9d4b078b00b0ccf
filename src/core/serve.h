/*
 * serve.h - scoring candidates against a fixed meta embedding.
 *
 * A query ranks many candidates for one embedding e, so the member side of
 * the global block's first layer is computed once per embedding:
 *   member_part[h0] = W0[:, :d] · e + b0
 * and each candidate costs its item part W0[:, d:] · v plus the layers
 * above.  An item code stores that item part, so scoring a code costs only
 *   relu(member_part + item_part) and the layers above.
 *
 * lm_serve_member_part and lm_serve_item are the plain reference.  Serving
 * uses an LmServePlan: the global block's weights re-laid out for the
 * kernels of serve_simd.h (each layer transposed, one row per input), made
 * once per model version.
 *
 * Bit-exactness: on one machine the fused path (lm_serve_plan_item) and the
 * code path (lm_serve_plan_encode, then lm_serve_plan_code) give the same
 * bits, because both sum the item part first and add the member part after;
 * with the bilinear term they differ in rounding only (q · v against
 * e · (P v)), and lm_serve_plan_code_item, given the features too, gives the
 * fused path's bits.  AVX2 and AVX-512 also give the same item parts.
 *
 * The member vector (member_len floats) is the member part [h0]; with the
 * bilinear term e·(P v) it continues with q = Pᵀe [item_dim] and e [d], so
 * a candidate's term is q · v (or, from a code, e · (P v)).
 * Item code layout (code_len floats): the first layer's item part [h0], then
 * P v [d] with the bilinear term.
 *
 * With the wide head (wide.h) the item input v continues past item_dim with
 * the item's (x, bias, f[r]) (lm_serve_input; x, the item features, only
 * with wide_features), the member vector with (w₀, w_x, 1, w[r]) and the
 * item code with (x, bias, f[r]); a candidate's wide term is
 * w₀ + (w_x, 1, w) · (x, bias, f), added last.
 */
#ifndef LM_SERVE_H
#define LM_SERVE_H

#include <stdint.h>

#include "arch.h"
#include "serve_simd.h"

/* floats in a serving item input: item_dim, plus (x, bias, f[r]) with the wide head */
int			lm_serve_input_len(const LmArch *arch);

/*
 * v[lm_serve_input_len] for an item's features[item_feature_dim] and bucket
 * (item_buckets for the unknown item): the item-ID embedding and wide rows,
 * never-trained items reading the unknown rows
 */
void		lm_serve_input(const LmArch *arch, const lm_real *global, const lm_real *features,
						   int32_t bucket, lm_real *v);

/* the member vector member_part[member_len] from the embedding e[lm_embedding_len] */
void		lm_serve_member_part(const LmArch *arch, const lm_real *global,
								 const lm_real *e, lm_real *member_part);

/* floats in the member vector: h0, plus item_dim + d with the bilinear term */
int			lm_serve_member_len(const LmArch *arch);

/*
 * The prediction (logit or value) for item v[item_dim]; scratch_a and
 * scratch_b hold max_width values each.  The scalar reference of serving.
 */
lm_real		lm_serve_item(const LmArch *arch, const lm_real *global,
						  const lm_real *member_part, const lm_real *v,
						  lm_real *scratch_a, lm_real *scratch_b);

/* one layer above the first, weights transposed: wt[in][ld] */
typedef struct LmServeLayer
{
	int			in_dim;
	int			out_dim;
	size_t		ld;				/* row stride of wt, out_dim rounded up to 16 */
	lm_real    *wt;				/* NULL for the output layer (out_dim 1), which uses w;
								 * a hidden layer of width 1 has one */
	lm_real    *w;				/* the output layer's weights [in_dim] */
	lm_real    *b;				/* [out_dim] */
} LmServeLayer;

typedef struct LmServePlan
{
	const LmServeKernels *k;
	const LmArch *arch;			/* the caller's; must outlive the plan */
	const lm_real *global;		/* the caller's global parameters (member side) */
	int			d;				/* embedding_dim */
	int			p;				/* item_dim */
	int			h0;				/* first layer's width */
	int			code_len;		/* floats in an item code */
	int			member_len;		/* floats in the member vector */
	const lm_real *P;			/* bilinear P[d][item_dim], or NULL */
	int			input_len;		/* floats in an item input (lm_serve_input_len) */
	int			wide_len;		/* 1 + r with the wide head, else 0 */
	int			wide_at;		/* the member vector's wide section */
	/* first layer, item columns: wt0[p][ld0] (ld0 is 1 when h0 is 1) */
	size_t		ld0;
	lm_real    *wt0;
	int			n_upper;		/* layers above the first */
	LmServeLayer upper[LM_MAX_HIDDEN];
	lm_real    *scratch_a;		/* [max width], so a plan is not reentrant */
	lm_real    *scratch_b;
	void	   *mem;			/* the one allocation (lm_alloc) behind it all */
} LmServePlan;

/*
 * Builds a plan for arch and its global parameters with the kernels of isa
 * (the best one when isa is LM_ISA_COUNT); NULL when this CPU lacks isa.
 * Memory comes from lm_alloc; release it with lm_serve_plan_free.
 */
LmServePlan *lm_serve_plan_create(const LmArch *arch, const lm_real *global, LmIsa isa);
void		lm_serve_plan_free(LmServePlan *plan);

/* member_part[member_len] from e[d] */
void		lm_serve_plan_member(const LmServePlan *plan, const lm_real *e, lm_real *member_part);

/* code[code_len]: the item's code, v[item_dim] */
void		lm_serve_plan_encode(const LmServePlan *plan, const lm_real *v, lm_real *code);

/* the prediction for v[item_dim] */
lm_real		lm_serve_plan_item(const LmServePlan *plan, const lm_real *member_part,
							   const lm_real *v);

/*
 * lm_serve_plan_item for a v that may hold NaN or ±inf: returns 0 for such
 * a v, else 1 with the prediction in *pred.  Nearly free: a non-finite v[j]
 * makes every first-layer unit non-finite (inf·w is ±inf, inf·0 and inf-inf
 * are NaN), so v itself is examined only when the first unit is.
 */
int			lm_serve_plan_item_checked(const LmServePlan *plan, const lm_real *member_part,
									   const lm_real *v, lm_real *pred);

/*
 * the prediction from an item's code and its features: lm_serve_plan_item's
 * bits (the bilinear term from v, as there) at about lm_serve_plan_code's
 * cost; for callers that hold both (limaml_top_k)
 */
lm_real		lm_serve_plan_code_item(const LmServePlan *plan, const lm_real *member_part,
									const lm_real *code, const lm_real *v);

/*
 * the prediction for an item code; code may be unaligned (a bytea's
 * payload), it is read with memcpy
 */
lm_real		lm_serve_plan_code(const LmServePlan *plan, const lm_real *member_part,
							   const void *code);

#endif
