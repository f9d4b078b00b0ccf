/*
 * hvp.c - R-operator passes through both blocks (see hvp.h).
 *
 * Notation per layer: z = W a_in + b, a = relu(z) (linear output layers),
 * δ = ∂L/∂z, and R{·} the directional derivative along w.  With V the
 * direction's part for W (zero in the global block):
 *   R{z} = W R{a_in} + V a_in + R{b}          R{a} = 1[z>0] R{z}
 *   R{dW} = R{δ} a_inᵀ + δ R{a_in}ᵀ          R{db} = R{δ}
 *   R{δ_in} = 1[z_in>0] (Vᵀ δ + Wᵀ R{δ})
 * and at the loss R{δ_out} = ℓ''(pred) R{pred} / n.
 */
#include "hvp.h"

#include <math.h>
#include <string.h>

#include "dense.h"
#include "items.h"
#include "kernels.h"

struct LmHvpWork
{
	int			max_rows;
	lm_real    *meta_act;		/* [meta_act_size] a per meta layer */
	lm_real    *meta_ract;		/* [meta_act_size] R{a} */
	lm_real    *meta_delta;		/* [meta_act_size] δ per meta layer */
	lm_real    *meta_rdelta;	/* [meta_act_size] R{δ} */
	lm_real    *act;			/* [max_rows][global_act_width] a per global layer */
	lm_real    *ract;			/* R{a} */
	lm_real    *delta;			/* δ per global layer */
	lm_real    *rdelta;			/* R{δ} */
	lm_real    *pre;			/* [max_rows][h0] item part of the first layer */
	lm_real    *bil;			/* [max_rows][d] P v per row (bilinear term) */
	const lm_real *given_pre;	/* the caller's item part, rows of pre_width (lm_hvp_reuse) */
	lm_real    *defer;			/* accumulates R{δ0} for the first layer's item columns */
	const lm_real *pre_rows;	/* the item part and P v this call reads, and their strides */
	int			pre_stride;
	const lm_real *bil_rows;
	int			bil_stride;
	const lm_real *x;			/* the rows' item input (features, item-ID part) */
	lm_real    *xbuf;			/* [max_rows][item_dim] when there is an item-ID part */
	lm_real    *dx;				/* [max_rows][item_dim] its gradient, and q = Pᵀe, Pᵀ R{e} */
	lm_real    *q;
	lm_real    *rq;
	lm_real    *s;				/* [item_dim] Σ_r δ_r v_r, and its R{} */
	lm_real    *rs;
	lm_real    *e;				/* [d] embedding, R{e}, ∂L/∂e, R{∂L/∂e} */
	lm_real    *re;
	lm_real    *de;
	lm_real    *rde;
	lm_real    *sum;			/* [max_width] Σ over rows of δ0, R{δ0} */
	lm_real    *rsum;
	lm_real    *tmp;			/* [max_rows][max_width] */
};

/* mirrors lm_hvp_work_create buffer by buffer */
size_t
lm_hvp_work_bytes(const LmArch *arch, int max_rows)
{
	size_t		rows = max_rows > 0 ? max_rows : 1;
	size_t		x = arch->item_buckets ? rows * arch->item_dim : 0;

	return sizeof(LmHvpWork) + 4 * lm_reals_bytes(arch->meta_act_size) +
		4 * lm_reals_bytes(rows * arch->global_act_width) +
		lm_reals_bytes(rows * arch->global[0].out_dim) +
		lm_reals_bytes(rows * arch->embedding_dim) + 2 * lm_reals_bytes(x) +
		4 * lm_reals_bytes(arch->item_dim) + 4 * lm_reals_bytes(arch->embedding_dim) +
		2 * lm_reals_bytes(arch->max_width) + lm_reals_bytes(rows * arch->max_width);
}

LmHvpWork *
lm_hvp_work_create(const LmArch *arch, int max_rows)
{
	LmHvpWork  *hw = lm_alloc(sizeof(LmHvpWork));
	size_t		rows = max_rows > 0 ? max_rows : 1;
	size_t		global = rows * arch->global_act_width;

	hw->max_rows = (int) rows;
	hw->meta_act = lm_alloc_reals(arch->meta_act_size);
	hw->meta_ract = lm_alloc_reals(arch->meta_act_size);
	hw->meta_delta = lm_alloc_reals(arch->meta_act_size);
	hw->meta_rdelta = lm_alloc_reals(arch->meta_act_size);
	hw->act = lm_alloc_reals(global);
	hw->ract = lm_alloc_reals(global);
	hw->delta = lm_alloc_reals(global);
	hw->rdelta = lm_alloc_reals(global);
	hw->pre = lm_alloc_reals(rows * arch->global[0].out_dim);
	hw->bil = lm_alloc_reals(rows * arch->embedding_dim);
	hw->xbuf = lm_alloc_reals(arch->item_buckets ? rows * arch->item_dim : 0);
	hw->dx = lm_alloc_reals(arch->item_buckets ? rows * arch->item_dim : 0);
	hw->q = lm_alloc_reals(arch->item_dim);
	hw->rq = lm_alloc_reals(arch->item_dim);
	hw->s = lm_alloc_reals(arch->item_dim);
	hw->given_pre = NULL;
	hw->defer = NULL;
	hw->rs = lm_alloc_reals(arch->item_dim);
	hw->e = lm_alloc_reals(arch->embedding_dim);
	hw->re = lm_alloc_reals(arch->embedding_dim);
	hw->de = lm_alloc_reals(arch->embedding_dim);
	hw->rde = lm_alloc_reals(arch->embedding_dim);
	hw->sum = lm_alloc_reals(arch->max_width);
	hw->rsum = lm_alloc_reals(arch->max_width);
	hw->tmp = lm_alloc_reals(rows * arch->max_width);
	return hw;
}

void
lm_hvp_work_free(LmHvpWork *hw)
{
	lm_real    *bufs[] = {hw->meta_act, hw->meta_ract, hw->meta_delta, hw->meta_rdelta,
		hw->act, hw->ract, hw->delta, hw->rdelta, hw->pre, hw->bil, hw->s, hw->rs,
		hw->xbuf, hw->dx, hw->q, hw->rq,
		hw->e, hw->re, hw->de, hw->rde,
	hw->sum, hw->rsum, hw->tmp};

	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
		lm_free(bufs[i]);
	lm_free(hw);
}

/* offset of meta layer l's values in the meta_* buffers */
static size_t
meta_off(const LmArch *arch, int l)
{
	size_t		off = 0;

	for (int j = 0; j < l; j++)
		off += arch->meta[j].out_dim;
	return off;
}

/* offset of global layer l's [rows][out_dim] block in act/ract/delta/rdelta */
static size_t
global_off(const LmArch *arch, const LmHvpWork *hw, int l)
{
	size_t		off = 0;

	for (int j = 0; j < l; j++)
		off += arch->global[j].out_dim;
	return off * hw->max_rows;
}

/* 1[z > 0] ⊙ x in place, where a = relu(z) tells the sign of z */
static void
mask_by(lm_real *x, const lm_real *a, size_t count)
{
	/* a select, not a conditional store, so the loop vectorizes */
	for (size_t k = 0; k < count; k++)
		x[k] = a[k] > 0 ? x[k] : 0;
}

/* meta block forward and R-forward: e, R{e} */
static void
meta_forward_r(const LmArch *arch, const lm_real *meta, const lm_real *x,
			   const lm_real *w, LmHvpWork *hw)
{
	const lm_real *in = x;
	const lm_real *rin = NULL;	/* R{x} = 0 */

	for (int l = 0; l < arch->n_meta; l++)
	{
		const LmDense *layer = &arch->meta[l];
		lm_real    *a = hw->meta_act + meta_off(arch, l);
		lm_real    *ra = hw->meta_ract + meta_off(arch, l);

		dense_forward(a, in, meta + layer->w_off, layer->in_dim, meta + layer->b_off,
					  1, layer->in_dim, layer->out_dim);
		/* R{z} = V a_in + R{b} + W R{a_in} */
		dense_forward(ra, in, w + layer->w_off, layer->in_dim, w + layer->b_off,
					  1, layer->in_dim, layer->out_dim);
		if (rin)
			for (int o = 0; o < layer->out_dim; o++)
				ra[o] += lm_dot(meta + layer->w_off + (size_t) o * layer->in_dim, rin, layer->in_dim);
		if (l < arch->n_meta - 1)
		{
			relu_forward(a, a, layer->out_dim);
			mask_by(ra, a, layer->out_dim);
		}
		in = a;
		rin = ra;
	}
	memcpy(hw->e, in, sizeof(lm_real) * arch->embedding_dim);
	memcpy(hw->re, rin, sizeof(lm_real) * arch->embedding_dim);
}

/* global block forward and R-forward from e, R{e}; pred and R{pred} in the last layer */
static void
global_forward_r(const LmArch *arch, const lm_real *global, const LmRows *rows, LmHvpWork *hw)
{
	const LmDense *l0 = &arch->global[0];
	int			n = rows->n;
	int			h0 = l0->out_dim;
	lm_real    *z0 = hw->act;
	lm_real    *rz0 = hw->ract;

	if (hw->given_pre)
	{
		hw->pre_rows = hw->given_pre;
		hw->pre_stride = arch->pre_width;
		hw->bil_rows = hw->given_pre + h0;
		hw->bil_stride = arch->pre_width;
	}
	else
	{
		dense_forward(hw->pre, hw->x, global + l0->w_off + arch->embedding_dim, l0->in_dim,
					  global + l0->b_off, n, arch->item_dim, h0);
		if (arch->bilinear)
			lm_gemm_nt(n, arch->embedding_dim, arch->item_dim, hw->x, arch->item_dim,
					   global + arch->bilinear_off, arch->item_dim, 0, hw->bil,
					   arch->embedding_dim);
		hw->pre_rows = hw->pre;
		hw->pre_stride = h0;
		hw->bil_rows = hw->bil;
		hw->bil_stride = arch->embedding_dim;
	}
	for (int o = 0; o < h0; o++)
	{
		const lm_real *wrow = global + l0->w_off + (size_t) o * l0->in_dim;

		hw->sum[o] = lm_dot(wrow, hw->e, arch->embedding_dim);
		hw->rsum[o] = lm_dot(wrow, hw->re, arch->embedding_dim);
	}
	for (int r = 0; r < n; r++)
		for (int o = 0; o < h0; o++)
		{
			z0[(size_t) r * h0 + o] = hw->pre_rows[(size_t) r * hw->pre_stride + o] + hw->sum[o];
			rz0[(size_t) r * h0 + o] = hw->rsum[o];
		}
	for (int l = 0; l < arch->n_global; l++)
	{
		const LmDense *layer = &arch->global[l];
		lm_real    *a = hw->act + global_off(arch, hw, l);
		lm_real    *ra = hw->ract + global_off(arch, hw, l);

		if (l > 0)
		{
			const lm_real *in = hw->act + global_off(arch, hw, l - 1);
			const lm_real *rin = hw->ract + global_off(arch, hw, l - 1);

			dense_forward(a, in, global + layer->w_off, layer->in_dim, global + layer->b_off,
						  n, layer->in_dim, layer->out_dim);
			dense_forward(ra, rin, global + layer->w_off, layer->in_dim, NULL,
						  n, layer->in_dim, layer->out_dim);
		}
		if (l < arch->n_global - 1)
		{
			relu_forward(a, a, (size_t) n * layer->out_dim);
			mask_by(ra, a, (size_t) n * layer->out_dim);
		}
	}
	if (arch->bilinear)
	{
		/* pred += e · (P v), R{pred} += R{e} · (P v): P is not perturbed */
		lm_real    *pred = hw->act + global_off(arch, hw, arch->n_global - 1);
		lm_real    *rpred = hw->ract + global_off(arch, hw, arch->n_global - 1);

		for (int r = 0; r < n; r++)
		{
			const lm_real *pv = hw->bil_rows + (size_t) r * hw->bil_stride;

			pred[r] += lm_dot(hw->e, pv, arch->embedding_dim);
			rpred[r] += lm_dot(hw->re, pv, arch->embedding_dim);
		}
	}
}

/* loss, δ and R{δ} at the prediction */
static double
loss_r(const LmArch *arch, const LmRows *rows, double scale, LmHvpWork *hw)
{
	size_t		last = global_off(arch, hw, arch->n_global - 1);
	const lm_real *pred = hw->act + last;
	const lm_real *rpred = hw->ract + last;
	lm_real    *delta = hw->delta + last;
	lm_real    *rdelta = hw->rdelta + last;
	int			n = rows->n;
	double		loss = loss_forward_backward(arch->loss, pred, rows->label, n, delta, scale);

	for (int r = 0; r < n; r++)
	{
		double		curvature;

		if (arch->loss == LM_LOSS_BCE)
		{
			double		p = loss_output(LM_LOSS_BCE, pred[r]);

			curvature = p * (1 - p);
		}
		else
			curvature = 2;
		rdelta[r] = (lm_real) (scale * curvature * rpred[r] / n);
	}
	return loss;
}

/*
 * The bilinear term's share, with δ the loss gradient at the prediction:
 *   ∂L/∂e += Σ_r δ_r P v_r          R{∂L/∂e} += Σ_r R{δ_r} P v_r
 *   ∂L/∂P += e ⊗ s, s = Σ_r δ_r v_r  R{∂L/∂P} += R{e} ⊗ s + e ⊗ R{s}
 */
static void
bilinear_backward_r(const LmArch *arch, const LmRows *rows, LmHvpWork *hw,
					lm_real *grad_global, lm_real *hv_global)
{
	size_t		last = global_off(arch, hw, arch->n_global - 1);
	const lm_real *delta = hw->delta + last;
	const lm_real *rdelta = hw->rdelta + last;
	int			d = arch->embedding_dim;
	int			p = arch->item_dim;

	memset(hw->s, 0, sizeof(lm_real) * p);
	memset(hw->rs, 0, sizeof(lm_real) * p);
	for (int r = 0; r < rows->n; r++)
	{
		lm_axpy(hw->de, delta[r], hw->bil_rows + (size_t) r * hw->bil_stride, d);
		lm_axpy(hw->rde, rdelta[r], hw->bil_rows + (size_t) r * hw->bil_stride, d);
		lm_axpy(hw->s, delta[r], hw->x + (size_t) r * p, p);
		lm_axpy(hw->rs, rdelta[r], hw->x + (size_t) r * p, p);
	}
	for (int i = 0; i < d; i++)
	{
		if (grad_global)
			lm_axpy(grad_global + arch->bilinear_off + (size_t) i * p, hw->e[i], hw->s, p);
		if (hv_global)
		{
			lm_axpy(hv_global + arch->bilinear_off + (size_t) i * p, hw->re[i], hw->s, p);
			lm_axpy(hv_global + arch->bilinear_off + (size_t) i * p, hw->e[i], hw->rs, p);
		}
	}
}

/*
 * The item-ID rows' share: with δ0 the first layer's δ rows,
 *   ∂L/∂x[r] = W0[:, d:]ᵀ δ0[r] + δ_r Pᵀe
 *   R{∂L/∂x[r]} = W0[:, d:]ᵀ R{δ0[r]} + R{δ_r} Pᵀe + δ_r Pᵀ R{e}
 * scattered into E's rows by bucket.
 */
static void
item_table_backward_r(const LmArch *arch, const lm_real *global, const LmRows *rows,
					  LmHvpWork *hw, lm_real *grad_global, lm_real *hv_global)
{
	const LmDense *l0 = &arch->global[0];
	size_t		last = global_off(arch, hw, arch->n_global - 1);
	int			n = rows->n;
	int			p = arch->item_dim;
	int			d = arch->embedding_dim;

	if (arch->bilinear)
	{
		lm_bilinear_q(arch, global, hw->e, hw->q);
		lm_bilinear_q(arch, global, hw->re, hw->rq);
	}
	for (int pass = 0; pass < 2; pass++)
	{
		lm_real    *target = pass == 0 ? grad_global : hv_global;

		if (!target)
			continue;
		lm_gemm_nn(n, p, l0->out_dim, pass == 0 ? hw->delta : hw->rdelta, l0->out_dim,
				   global + l0->w_off + d, l0->in_dim, 0, hw->dx, p);
		if (arch->bilinear)
			for (int r = 0; r < n; r++)
			{
				lm_real    *dx = hw->dx + (size_t) r * p;

				if (pass == 0)
					lm_axpy(dx, hw->delta[last + r], hw->q, p);
				else
				{
					lm_axpy(dx, hw->rdelta[last + r], hw->q, p);
					lm_axpy(dx, hw->delta[last + r], hw->rq, p);
				}
			}
		lm_item_table_backward(arch, hw->dx, rows->bucket, n, target);
	}
}

/* global backward and R-backward: grads, cross term, ∂L/∂e and R{∂L/∂e} */
static void
global_backward_r(const LmArch *arch, const lm_real *global, const LmRows *rows,
				  LmHvpWork *hw, lm_real *grad_global, lm_real *hv_global)
{
	const LmDense *l0 = &arch->global[0];
	int			n = rows->n;
	int			d = arch->embedding_dim;
	int			h0 = l0->out_dim;

	for (int l = arch->n_global - 1; l >= 1; l--)
	{
		const LmDense *layer = &arch->global[l];
		const lm_real *W = global + layer->w_off;
		size_t		in_off = global_off(arch, hw, l - 1);
		const lm_real *a_in = hw->act + in_off;
		const lm_real *ra_in = hw->ract + in_off;
		const lm_real *delta = hw->delta + global_off(arch, hw, l);
		const lm_real *rdelta = hw->rdelta + global_off(arch, hw, l);
		lm_real    *delta_in = hw->delta + in_off;
		lm_real    *rdelta_in = hw->rdelta + in_off;
		size_t		count = (size_t) n * layer->in_dim;

		dense_backward(delta_in, grad_global ? grad_global + layer->w_off : NULL,
					   grad_global ? grad_global + layer->b_off : NULL,
					   delta, a_in, W, layer->in_dim, n, layer->in_dim, layer->out_dim);
		dense_backward(rdelta_in, hv_global ? hv_global + layer->w_off : NULL,
					   hv_global ? hv_global + layer->b_off : NULL,
					   rdelta, a_in, W, layer->in_dim, n, layer->in_dim, layer->out_dim);
		if (hv_global)			/* δ R{a_in}ᵀ */
			dense_backward(NULL, hv_global + layer->w_off, NULL, delta, ra_in, W,
						   layer->in_dim, n, layer->in_dim, layer->out_dim);
		mask_by(delta_in, a_in, count);
		mask_by(rdelta_in, a_in, count);
	}

	/* first layer, input [e ; v]: every row shares e and R{e} */
	memset(hw->sum, 0, sizeof(lm_real) * h0);
	memset(hw->rsum, 0, sizeof(lm_real) * h0);
	for (int r = 0; r < n; r++)
	{
		lm_axpy(hw->sum, 1, hw->delta + (size_t) r * h0, h0);
		lm_axpy(hw->rsum, 1, hw->rdelta + (size_t) r * h0, h0);
	}
	memset(hw->de, 0, sizeof(lm_real) * d);
	memset(hw->rde, 0, sizeof(lm_real) * d);
	for (int o = 0; o < h0; o++)
	{
		const lm_real *wrow = global + l0->w_off + (size_t) o * l0->in_dim;

		lm_axpy(hw->de, hw->sum[o], wrow, d);
		lm_axpy(hw->rde, hw->rsum[o], wrow, d);
	}
	if (arch->bilinear)
		bilinear_backward_r(arch, rows, hw, grad_global, hv_global);
	if (arch->item_buckets)
		item_table_backward_r(arch, global, rows, hw, grad_global, hv_global);
	if (grad_global)
	{
		for (int o = 0; o < h0; o++)
			lm_axpy(grad_global + l0->w_off + (size_t) o * l0->in_dim, hw->sum[o], hw->e, d);
		lm_gemm_tn_acc(h0, arch->item_dim, n, hw->delta, h0, hw->x, arch->item_dim,
					   grad_global + l0->w_off + d, l0->in_dim);
		lm_axpy(grad_global + l0->b_off, 1, hw->sum, h0);
	}
	if (hv_global)
	{
		for (int o = 0; o < h0; o++)
		{
			lm_real    *grow = hv_global + l0->w_off + (size_t) o * l0->in_dim;

			lm_axpy(grow, hw->rsum[o], hw->e, d);
			lm_axpy(grow, hw->sum[o], hw->re, d);
		}
		if (hw->defer)			/* the caller multiplies by the rows once, later */
			lm_axpy(hw->defer, 1, hw->rdelta, n * h0);
		else
			lm_gemm_tn_acc(h0, arch->item_dim, n, hw->rdelta, h0, hw->x, arch->item_dim,
						   hv_global + l0->w_off + d, l0->in_dim);
		lm_axpy(hv_global + l0->b_off, 1, hw->rsum, h0);
	}
}

/* meta backward and R-backward from ∂L/∂e and R{∂L/∂e} */
static void
meta_backward_r(const LmArch *arch, const lm_real *meta, const lm_real *x, const lm_real *w,
				LmHvpWork *hw, lm_real *grad_meta, lm_real *hv_meta)
{
	size_t		last = meta_off(arch, arch->n_meta - 1);

	memset(grad_meta, 0, sizeof(lm_real) * arch->n_meta_params);
	memset(hv_meta, 0, sizeof(lm_real) * arch->n_meta_params);
	memcpy(hw->meta_delta + last, hw->de, sizeof(lm_real) * arch->embedding_dim);
	memcpy(hw->meta_rdelta + last, hw->rde, sizeof(lm_real) * arch->embedding_dim);
	for (int l = arch->n_meta - 1; l >= 0; l--)
	{
		const LmDense *layer = &arch->meta[l];
		const lm_real *delta = hw->meta_delta + meta_off(arch, l);
		const lm_real *rdelta = hw->meta_rdelta + meta_off(arch, l);
		const lm_real *a_in = l > 0 ? hw->meta_act + meta_off(arch, l - 1) : x;
		lm_real    *delta_in = l > 0 ? hw->meta_delta + meta_off(arch, l - 1) : NULL;
		lm_real    *rdelta_in = l > 0 ? hw->meta_rdelta + meta_off(arch, l - 1) : NULL;

		dense_backward(delta_in, grad_meta + layer->w_off, grad_meta + layer->b_off,
					   delta, a_in, meta + layer->w_off, layer->in_dim,
					   1, layer->in_dim, layer->out_dim);
		/* R{dW} = R{δ} a_inᵀ + δ R{a_in}ᵀ;  R{δ_in} = Wᵀ R{δ} + Vᵀ δ */
		dense_backward(rdelta_in, hv_meta + layer->w_off, hv_meta + layer->b_off,
					   rdelta, a_in, meta + layer->w_off, layer->in_dim,
					   1, layer->in_dim, layer->out_dim);
		if (l > 0)
		{
			const lm_real *ra_in = hw->meta_ract + meta_off(arch, l - 1);

			dense_backward(hw->tmp, hv_meta + layer->w_off, NULL, delta, ra_in,
						   w + layer->w_off, layer->in_dim, 1, layer->in_dim, layer->out_dim);
			lm_axpy(rdelta_in, 1, hw->tmp, layer->in_dim);
			mask_by(delta_in, a_in, layer->in_dim);
			mask_by(rdelta_in, a_in, layer->in_dim);
		}
	}
}

void
lm_hvp_reuse(LmHvpWork *hw, const lm_real *pre, lm_real *defer)
{
	hw->given_pre = pre;
	hw->defer = defer;
}

double
lm_hvp(const LmArch *arch, const lm_real *meta, const lm_real *global,
	   const lm_real *member, const LmRows *rows, const lm_real *w, double scale,
	   LmHvpWork *hw, lm_real *grad_meta, lm_real *grad_global,
	   lm_real *hv_meta, lm_real *hv_global)
{
	double		loss;

	meta_forward_r(arch, meta, member, w, hw);
	/* training reads every item's own row, trained or not */
	hw->x = lm_item_gather(arch, global, rows, 0, hw->xbuf);
	if (rows->n == 0)
	{
		memset(grad_meta, 0, sizeof(lm_real) * arch->n_meta_params);
		memset(hv_meta, 0, sizeof(lm_real) * arch->n_meta_params);
		return 0;
	}
	global_forward_r(arch, global, rows, hw);
	loss = loss_r(arch, rows, scale, hw);
	global_backward_r(arch, global, rows, hw, grad_global, hv_global);
	meta_backward_r(arch, meta, member, w, hw, grad_meta, hv_meta);
	return loss;
}
