/*
 * block.c - meta block and global block passes (see block.h for the math).
 */
#include "block.h"

#include <string.h>

#include "dense.h"
#include "items.h"
#include "kernels.h"
#include "wide.h"

static LmWork *work_create(const LmArch *arch, int max_rows, int nested);
static size_t work_bytes(const LmArch *arch, int max_rows, int nested);

/* bytes of n reals as lm_alloc_reals allocates them */
size_t
lm_reals_bytes(size_t n)
{
	return (n > 0 ? n : 1) * sizeof(lm_real);
}

/* what lm_work_create(arch, max_rows) allocates, for checks before it does */
size_t
lm_work_bytes(const LmArch *arch, int max_rows)
{
	return work_bytes(arch, max_rows, 0);
}

/* mirrors work_create buffer by buffer (test_maml checks the two agree) */
static size_t
work_bytes(const LmArch *arch, int max_rows, int nested)
{
	size_t		rows = max_rows > 0 ? max_rows : 1;
	size_t		m = arch->wide ? lm_wide_len(arch) : 0;
	size_t		wr = arch->wide ? rows : 0;
	size_t		item_x = arch->item_buckets ? rows * arch->item_dim : 0;

	return sizeof(LmWork) +
		lm_reals_bytes(arch->meta_act_size) + 2 * lm_reals_bytes(arch->max_width) +
		lm_reals_bytes(rows * arch->pre_width) + lm_reals_bytes(rows * arch->global_act_width) +
		2 * lm_reals_bytes(rows * arch->max_width) + lm_reals_bytes(arch->global[0].out_dim) +
		2 * lm_reals_bytes(rows) + 2 * lm_reals_bytes(arch->embedding_dim) +
		2 * lm_reals_bytes(arch->n_meta_params) + 2 * lm_reals_bytes(item_x) +
		lm_reals_bytes(arch->bilinear ? arch->item_dim : 0) +
		(arch->wide && !nested ? work_bytes(arch, max_rows, 1) : 0) +
		lm_reals_bytes(arch->meta[0].in_dim) +
		3 * lm_reals_bytes(wr * m) + 6 * lm_reals_bytes(wr) +
		lm_reals_bytes(m * m) + 4 * lm_reals_bytes(m) +
		lm_reals_bytes(arch->wide ? arch->wide_rank : 0);
}

LmWork *
lm_work_create(const LmArch *arch, int max_rows)
{
	return work_create(arch, max_rows, 0);
}

static LmWork *
work_create(const LmArch *arch, int max_rows, int nested)
{
	LmWork	   *work = lm_alloc(sizeof(LmWork));
	size_t		rows = max_rows > 0 ? max_rows : 1;
	int			h0 = arch->global[0].out_dim;

	work->max_rows = (int) rows;
	work->meta_act = lm_alloc_reals(arch->meta_act_size);
	work->meta_da = lm_alloc_reals(arch->max_width);
	work->meta_db = lm_alloc_reals(arch->max_width);
	work->pre = lm_alloc_reals(rows * arch->pre_width);
	work->global_act = lm_alloc_reals(rows * arch->global_act_width);
	work->dz_a = lm_alloc_reals(rows * arch->max_width);
	work->dz_b = lm_alloc_reals(rows * arch->max_width);
	work->dz0_sum = lm_alloc_reals(h0);
	work->pred = lm_alloc_reals(rows);
	work->dpred = lm_alloc_reals(rows);
	work->emb = lm_alloc_reals(arch->embedding_dim);
	work->demb = lm_alloc_reals(arch->embedding_dim);
	work->meta_adapted = lm_alloc_reals(arch->n_meta_params);
	work->meta_grad = lm_alloc_reals(arch->n_meta_params);
	work->item_x = lm_alloc_reals(arch->item_buckets ? rows * arch->item_dim : 0);
	work->item_dx = lm_alloc_reals(arch->item_buckets ? rows * arch->item_dim : 0);
	work->bil_q = lm_alloc_reals(arch->bilinear ? arch->item_dim : 0);
	work->support_work = arch->wide && !nested ? work_create(arch, max_rows, 1) : NULL;
	work->wide_x = NULL;
	work->member_x = lm_alloc_reals(arch->meta[0].in_dim);
	{
		size_t		m = arch->wide ? lm_wide_len(arch) : 0;
		size_t		wr = arch->wide ? rows : 0;

		work->wide_fs = lm_alloc_reals(wr * m);
		work->wide_bs = lm_alloc_reals(wr);
		work->wide_fq = lm_alloc_reals(wr * m);
		work->wide_bq = lm_alloc_reals(wr);
		work->wide_resid = lm_alloc_reals(wr);
		work->wide_slope = lm_alloc_reals(wr);
		work->wide_dslope = lm_alloc_reals(wr);
		work->wide_dz = lm_alloc_reals(wr);
		work->wide_dfs = lm_alloc_reals(wr * m);
		work->wide_chol = lm_alloc_reals(m * m);
		work->wide_w = lm_alloc_reals(m);
		work->wide_ws = lm_alloc_reals(m);
		work->wide_h = lm_alloc_reals(arch->wide ? arch->wide_rank : 0);
		work->wide_u = lm_alloc_reals(m);
		work->wide_gw = lm_alloc_reals(m);
	}
	work->item_bucket = NULL;
	work->item_fallback = 0;
	return work;
}

void
lm_work_free(LmWork *work)
{
	if (!work)
		return;
	lm_free(work->meta_act);
	lm_free(work->meta_da);
	lm_free(work->meta_db);
	lm_free(work->pre);
	lm_free(work->global_act);
	lm_free(work->dz_a);
	lm_free(work->dz_b);
	lm_free(work->dz0_sum);
	lm_free(work->pred);
	lm_free(work->dpred);
	lm_free(work->emb);
	lm_free(work->demb);
	lm_free(work->meta_adapted);
	lm_free(work->meta_grad);
	lm_free(work->item_x);
	lm_free(work->item_dx);
	lm_free(work->bil_q);
	lm_work_free(work->support_work);
	lm_free(work->member_x);
	lm_free(work->wide_fs);
	lm_free(work->wide_bs);
	lm_free(work->wide_fq);
	lm_free(work->wide_bq);
	lm_free(work->wide_resid);
	lm_free(work->wide_slope);
	lm_free(work->wide_dslope);
	lm_free(work->wide_dz);
	lm_free(work->wide_dfs);
	lm_free(work->wide_chol);
	lm_free(work->wide_w);
	lm_free(work->wide_ws);
	lm_free(work->wide_h);
	lm_free(work->wide_u);
	lm_free(work->wide_gw);
	lm_free(work);
}

void
lm_bilinear_q(const LmArch *arch, const lm_real *global, const lm_real *e, lm_real *q)
{
	lm_gemm_nn(1, arch->item_dim, arch->embedding_dim, e, arch->embedding_dim,
			   global + arch->bilinear_off, arch->item_dim, 0, q, arch->item_dim);
}

/* ---------------------------------------------------------------- meta */

void
lm_meta_forward(const LmArch *arch, const lm_real *meta, const lm_real *x,
				LmWork *work, lm_real *e)
{
	const lm_real *in = x;
	lm_real    *act = work->meta_act;

	for (int l = 0; l < arch->n_meta; l++)
	{
		const LmDense *layer = &arch->meta[l];

		dense_forward(act, in, meta + layer->w_off, layer->in_dim,
					  meta + layer->b_off, 1, layer->in_dim, layer->out_dim);
		if (l < arch->n_meta - 1)
			relu_forward(act, act, layer->out_dim);
		in = act;
		act += layer->out_dim;
	}
	memcpy(e, in, sizeof(lm_real) * arch->embedding_dim);
}

void
lm_meta_backward(const LmArch *arch, const lm_real *meta, const lm_real *x,
				 const lm_real *de, LmWork *work, lm_real *dmeta)
{
	lm_real    *dout = work->meta_da;
	lm_real    *din = work->meta_db;
	int			act_off = arch->meta_act_size;

	memcpy(dout, de, sizeof(lm_real) * arch->embedding_dim);
	for (int l = arch->n_meta - 1; l >= 0; l--)
	{
		const LmDense *layer = &arch->meta[l];
		const lm_real *in;

		act_off -= layer->out_dim;
		in = l > 0 ? work->meta_act + act_off - layer->in_dim : x;
		dense_backward(l > 0 ? din : NULL, dmeta + layer->w_off, dmeta + layer->b_off,
					   dout, in, meta + layer->w_off, layer->in_dim,
					   1, layer->in_dim, layer->out_dim);
		if (l > 0)
		{
			lm_real    *tmp;

			relu_backward(din, din, in, layer->in_dim);
			tmp = dout;
			dout = din;
			din = tmp;
		}
	}
}

/* -------------------------------------------------------------- global */

/* layer l's activations [max_rows][out_dim] inside work->global_act */
static lm_real *
global_act(const LmArch *arch, LmWork *work, int l)
{
	size_t		off = 0;

	for (int j = 0; j < l; j++)
		off += arch->global[j].out_dim;
	return work->global_act + off * work->max_rows;
}

void
lm_global_item_part(const LmArch *arch, const lm_real *global,
					const lm_real *item, int n, LmWork *work)
{
	const LmDense *l0 = &arch->global[0];
	int			d = arch->embedding_dim;
	int			h0 = l0->out_dim;

	for (int r = 0; r < n; r++)
		memcpy(work->pre + (size_t) r * arch->pre_width, global + l0->b_off, sizeof(lm_real) * h0);
	lm_gemm_nt(n, h0, arch->item_dim, item, arch->item_dim, global + l0->w_off + d,
			   l0->in_dim, 1, work->pre, arch->pre_width);
	if (arch->bilinear)			/* P v for every row, beside the item part */
		lm_gemm_nt(n, d, arch->item_dim, item, arch->item_dim, global + arch->bilinear_off,
				   arch->item_dim, 0, work->pre + h0, arch->pre_width);
}

/* pred[r] += e · (P v[r]), P v[r] precomputed beside the item part */
static void
add_bilinear(const LmArch *arch, const lm_real *e, int n, const LmWork *work, lm_real *pred)
{
	int			h0 = arch->global[0].out_dim;

	if (!arch->bilinear)
		return;
	for (int r = 0; r < n; r++)
		pred[r] += lm_dot(e, work->pre + (size_t) r * arch->pre_width + h0, arch->embedding_dim);
}

/* one hidden layer and a scalar output: fused forward, and backward without dglobal */
static inline int
one_hidden_scalar(const LmArch *arch)
{
	return arch->n_global == 2 && arch->global[1].out_dim == 1;
}

void
lm_global_forward(const LmArch *arch, const lm_real *global, const lm_real *e,
				  int n, LmWork *work, lm_real *pred)
{
	const lm_real *pre = work->pre;
	int			pw = arch->pre_width;
	const LmDense *l0 = &arch->global[0];
	int			h0 = l0->out_dim;
	int			last = arch->n_global - 1;
	lm_real    *z0 = last == 0 ? pred : global_act(arch, work, 0);
	lm_real    *member_part = work->dz0_sum;	/* free until backward */

	/* member part W0[:, :d] · e, once for all rows */
	lm_gemm_nt(1, h0, arch->embedding_dim, e, arch->embedding_dim, global + l0->w_off,
			   l0->in_dim, 0, member_part, h0);
	if (one_hidden_scalar(arch))
	{
		/* the common shape: the ReLU layer and the output in one pass */
		const LmDense *l1 = &arch->global[1];

		lm_bias_relu_dot(n, h0, pre, pw, member_part, global + l1->w_off, global[l1->b_off],
						 z0, h0, pred);
		add_bilinear(arch, e, n, work, pred);
		return;
	}
	for (int r = 0; r < n; r++)
		for (int o = 0; o < h0; o++)
			z0[(size_t) r * h0 + o] = pre[(size_t) r * pw + o] + member_part[o];
	if (last == 0)
	{
		add_bilinear(arch, e, n, work, pred);
		return;
	}
	relu_forward(z0, z0, (size_t) n * h0);

	for (int l = 1; l <= last; l++)
	{
		const LmDense *layer = &arch->global[l];
		lm_real    *out = l == last ? pred : global_act(arch, work, l);

		dense_forward(out, global_act(arch, work, l - 1), global + layer->w_off,
					  layer->in_dim, global + layer->b_off, n,
					  layer->in_dim, layer->out_dim);
		if (l < last)
			relu_forward(out, out, (size_t) n * layer->out_dim);
	}
	add_bilinear(arch, e, n, work, pred);
}

void
lm_global_backward(const LmArch *arch, const lm_real *global, const lm_real *e,
				   const lm_real *item, int n, const lm_real *dpred,
				   LmWork *work, lm_real *de, lm_real *dglobal)
{
	const LmDense *l0 = &arch->global[0];
	int			d = arch->embedding_dim;
	int			h0 = l0->out_dim;
	const lm_real *dout = dpred;
	lm_real    *din = work->dz_a;
	lm_real    *spare = work->dz_b;

	if (!dglobal && one_hidden_scalar(arch))
	{
		/* Σ_r ∂L/∂z0[r] = Σ_r [act0[r] > 0] dpred[r] w1, without the per-row matrix */
		lm_relu_rank1_colsum(n, h0, global_act(arch, work, 0), h0, dpred,
							 global + arch->global[1].w_off, work->dz0_sum);
		goto first_layer;
	}
	for (int l = arch->n_global - 1; l >= 1; l--)
	{
		const LmDense *layer = &arch->global[l];
		const lm_real *in = global_act(arch, work, l - 1);
		lm_real    *tmp;

		dense_backward(din, dglobal ? dglobal + layer->w_off : NULL,
					   dglobal ? dglobal + layer->b_off : NULL,
					   dout, in, global + layer->w_off, layer->in_dim,
					   n, layer->in_dim, layer->out_dim);
		relu_backward(din, din, in, (size_t) n * layer->in_dim);
		dout = din;
		tmp = spare;
		spare = din;
		din = tmp;
	}

	/* first layer: every row shares e, so sum ∂L/∂z0 over rows first */
	memset(work->dz0_sum, 0, sizeof(lm_real) * h0);
	lm_colsum_acc(n, h0, dout, h0, work->dz0_sum);
first_layer:
	/* de = W0[:, :d]ᵀ · Σ_r ∂L/∂z0[r] */
	lm_gemm_nn(1, d, h0, work->dz0_sum, h0, global + l0->w_off, l0->in_dim, 0, de, d);
	if (arch->bilinear)
	{
		/* ∂/∂e of Σ_r dpred[r] e · (P v[r]) = Σ_r dpred[r] P v[r] */
		for (int r = 0; r < n; r++)
			lm_axpy(de, dpred[r], work->pre + (size_t) r * arch->pre_width + h0, d);
		/* ∂/∂P = e ⊗ Σ_r dpred[r] v[r]: the row sum first, then one outer product */
		if (dglobal)
		{
			lm_gemm_nn(1, arch->item_dim, n, dpred, n, item, arch->item_dim, 0,
					   work->bil_q, arch->item_dim);
			lm_gemm_tn_acc(d, arch->item_dim, 1, e, d, work->bil_q, arch->item_dim,
						   dglobal + arch->bilinear_off, arch->item_dim);
		}
	}
	if (!dglobal)
		return;
	lm_gemm_tn_acc(h0, d, 1, work->dz0_sum, h0, e, d, dglobal + l0->w_off, l0->in_dim);
	lm_gemm_tn_acc(h0, arch->item_dim, n, dout, h0, item, arch->item_dim,
				   dglobal + l0->w_off + d, l0->in_dim);
	lm_axpy(dglobal + l0->b_off, 1, work->dz0_sum, h0);
	if (arch->item_buckets)
	{
		/* ∂L/∂x[r] = W0[:, d:]ᵀ ∂L/∂z0[r] (+ dpred[r] Pᵀe), into the item-ID rows */
		lm_gemm_nn(n, arch->item_dim, h0, dout, h0, global + l0->w_off + d, l0->in_dim, 0,
				   work->item_dx, arch->item_dim);
		if (arch->bilinear)
		{
			/* Pᵀe once, not per row */
			lm_bilinear_q(arch, global, e, work->bil_q);
			for (int r = 0; r < n; r++)
				lm_axpy(work->item_dx + (size_t) r * arch->item_dim, dpred[r], work->bil_q,
						arch->item_dim);
		}
		lm_item_table_backward(arch, work->item_dx, work->item_bucket, n, dglobal);
	}
}
