/*
 * block.h - forward and backward passes of the meta block and the global
 * block, on one member's rows.
 *
 * Every row of a member shares one meta embedding e, so the meta block runs
 * on a single row, and the global block's first layer splits into
 *   z0[r] = W0[:, :d] · e  +  (W0[:, d:] · v[r] + b0)
 *           member part       item part ("pre"), fixed while θ_global is
 * The item part is computed once per row and reused by every inner step,
 * and so is P v[r] for the optional bilinear term e · (P v[r]).
 */
#ifndef LM_BLOCK_H
#define LM_BLOCK_H

#include <stdint.h>

#include "arch.h"

/* Scratch buffers for up to max_rows rows; allocated with lm_alloc. */
typedef struct LmWork LmWork;

struct LmWork
{
	int			max_rows;
	lm_real    *meta_act;		/* [meta_act_size] meta activations, one row */
	lm_real    *meta_da;		/* [max_width] x 2: meta backward ping-pong */
	lm_real    *meta_db;
	lm_real    *pre;			/* [max_rows][pre_width] item part of the first global
								 * layer, then P v (bilinear) */
	lm_real    *global_act;		/* [max_rows][global_act_width] global activations */
	lm_real    *dz_a;			/* [max_rows][max_width] global backward ping-pong */
	lm_real    *dz_b;
	lm_real    *dz0_sum;		/* [h0] Σ_rows ∂L/∂z0 */
	lm_real    *pred;			/* [max_rows] */
	lm_real    *dpred;			/* [max_rows] */
	lm_real    *emb;			/* [embedding_dim] */
	lm_real    *demb;			/* [embedding_dim] */
	lm_real    *meta_adapted;	/* [n_meta_params] */
	lm_real    *meta_grad;		/* [n_meta_params] */
	lm_real    *item_x;			/* [max_rows][item_dim] item input with the item-ID part */
	lm_real    *item_dx;		/* [max_rows][item_dim] its gradient */
	lm_real    *bil_q;			/* [item_dim] Pᵀe, then Σ_r dpred[r] x[r] (bilinear) */
	lm_real    *member_x;		/* [meta input] member features and pooled history */
	/* the wide head (wide.h), m = 1 + r; empty without it */
	struct LmWork *support_work;	/* the support rows' deep pass, kept for the solve's backward */
	const lm_real *wide_x;		/* their item input */
	lm_real    *wide_fs;		/* [max_rows][m] the support rows' F̃ */
	lm_real    *wide_bs;		/* [max_rows] their item biases, then base predictions */
	lm_real    *wide_fq;		/* [max_rows][m] the query rows' F̃ */
	lm_real    *wide_bq;		/* [max_rows] their item biases */
	lm_real    *wide_resid;		/* [max_rows] support y − ŷ */
	lm_real    *wide_slope;		/* [max_rows] ∂ŷ/∂z */
	lm_real    *wide_dslope;	/* [max_rows] ∂²ŷ/∂z² */
	lm_real    *wide_dz;		/* [max_rows] ∂L/∂z of the support rows */
	lm_real    *wide_dfs;		/* [max_rows][m] ∂L/∂F̃ of the support rows */
	lm_real    *wide_chol;		/* [m][m] */
	lm_real    *wide_w;			/* [m] the member's (w₀, w): the solve's, plus a · h with fold_in */
	lm_real    *wide_ws;		/* [m] the solve's own w (the backward's) */
	lm_real    *wide_h;			/* [r] fold_in's Σ_s y_s f_s */
	lm_real    *wide_u;			/* [m] */
	lm_real    *wide_gw;		/* [m] ∂L/∂w */
	const int32_t *item_bucket; /* buckets of the rows in item_x (items.h) */
	int			item_fallback;	/* never-trained item rows read the unknown row */
};

LmWork	   *lm_work_create(const LmArch *arch, int max_rows);
/* the bytes lm_work_create allocates, for a memory check before it runs */
size_t		lm_work_bytes(const LmArch *arch, int max_rows);
size_t		lm_reals_bytes(size_t n);
void		lm_work_free(LmWork *work);

/* q[item_dim] = Pᵀ e: the bilinear term e · (P x) is q · x for every row x */
void		lm_bilinear_q(const LmArch *arch, const lm_real *global, const lm_real *e, lm_real *q);

/* e[d] = meta block (θ_meta) on x[member_dim]; keeps activations in work */
void		lm_meta_forward(const LmArch *arch, const lm_real *meta, const lm_real *x,
							LmWork *work, lm_real *e);

/* dmeta[n_meta_params] += ∂L/∂θ_meta given de[d]; needs lm_meta_forward's state */
void		lm_meta_backward(const LmArch *arch, const lm_real *meta, const lm_real *x,
							 const lm_real *de, LmWork *work, lm_real *dmeta);

/* work->pre[n] = [v · W0[:, d:]ᵀ + b0 ; P v] for v[n][item_dim] */
void		lm_global_item_part(const LmArch *arch, const lm_real *global,
								const lm_real *item, int n, LmWork *work);

/* pred[n] = global block on [e ; v[r]], from the rows' work->pre */
void		lm_global_forward(const LmArch *arch, const lm_real *global, const lm_real *e,
							  int n, LmWork *work, lm_real *pred);

/*
 * Backward through the global block given dpred[n]:
 *   de[d] = ∂L/∂e (overwritten);
 *   dglobal[n_global_params] += ∂L/∂θ_global unless NULL (inner loops pass NULL).
 * item[n][item_dim] is read only for dglobal; work->pre must hold the rows'.
 */
void		lm_global_backward(const LmArch *arch, const lm_real *global, const lm_real *e,
							   const lm_real *item, int n, const lm_real *dpred,
							   LmWork *work, lm_real *de, lm_real *dglobal);

#endif
