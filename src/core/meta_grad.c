/*
 * meta_grad.c - first- and second-order meta-gradients (see meta_grad.h).
 */
#include "meta_grad.h"

#include <string.h>

#include "items.h"
#include "kernels.h"

struct LmMetaWork
{
	int			max_steps;
	LmWork	   *work;
	LmHvpWork  *hvp;
	lm_real    *trajectory;		/* [max_steps + 1][n_meta_params] φᵏ */
	lm_real    *inner_grads;	/* [max_steps][n_meta_params] gᵏ */
	lm_real    *gbar;			/* [n_meta_params] ḡ */
	lm_real    *direction;		/* [n_meta_params] −α ⊙ ḡ */
	lm_real    *hv;				/* [n_meta_params] */
	lm_real    *scratch;		/* [n_meta_params] */
	lm_real    *support_pre;	/* [max_rows][pre_width] the support rows' item part */
	lm_real    *support_x;		/* [max_rows][item_dim] their item input (item-ID models) */
	lm_real    *defer;			/* [max_rows][h0] Σ_k R{δ0} of the reverse pass */
};

/* mirrors lm_meta_work_create buffer by buffer */
size_t
lm_meta_work_bytes(const LmArch *arch, int max_rows, int max_steps)
{
	size_t		n = arch->n_meta_params;
	size_t		rows = max_rows > 0 ? max_rows : 1;

	return sizeof(LmMetaWork) + lm_work_bytes(arch, max_rows) +
		lm_hvp_work_bytes(arch, max_rows) + lm_reals_bytes((size_t) (max_steps + 1) * n) +
		lm_reals_bytes((size_t) (max_steps > 0 ? max_steps : 1) * n) + 4 * lm_reals_bytes(n) +
		lm_reals_bytes(rows * arch->pre_width) +
		lm_reals_bytes(arch->item_buckets ? (size_t) max_rows * arch->item_dim : 0) +
		lm_reals_bytes(rows * arch->global[0].out_dim);
}

LmMetaWork *
lm_meta_work_create(const LmArch *arch, int max_rows, int max_steps)
{
	LmMetaWork *mw = lm_alloc(sizeof(LmMetaWork));
	size_t		n = arch->n_meta_params;

	mw->max_steps = max_steps;
	mw->work = lm_work_create(arch, max_rows);
	mw->hvp = lm_hvp_work_create(arch, max_rows);
	mw->trajectory = lm_alloc_reals((size_t) (max_steps + 1) * n);
	mw->inner_grads = lm_alloc_reals((size_t) (max_steps > 0 ? max_steps : 1) * n);
	mw->gbar = lm_alloc_reals(n);
	mw->direction = lm_alloc_reals(n);
	mw->hv = lm_alloc_reals(n);
	mw->scratch = lm_alloc_reals(n);
	mw->support_pre = lm_alloc_reals((size_t) (max_rows > 0 ? max_rows : 1) * arch->pre_width);
	mw->support_x = lm_alloc_reals(arch->item_buckets ? (size_t) max_rows * arch->item_dim : 0);
	mw->defer = lm_alloc_reals((size_t) (max_rows > 0 ? max_rows : 1) * arch->global[0].out_dim);
	return mw;
}

void
lm_meta_work_free(LmMetaWork *mw)
{
	lm_work_free(mw->work);
	lm_hvp_work_free(mw->hvp);
	lm_free(mw->trajectory);
	lm_free(mw->inner_grads);
	lm_free(mw->gbar);
	lm_free(mw->direction);
	lm_free(mw->hv);
	lm_free(mw->scratch);
	lm_free(mw->support_pre);
	lm_free(mw->support_x);
	lm_free(mw->defer);
	lm_free(mw);
}

/* g = ∇_φ L(φ) on rows (item input x), global block frozen; work->pre holds their item part */
static void
meta_gradient(const LmArch *arch, const lm_real *phi, const lm_real *global,
			  const lm_real *member, const LmRows *rows, const lm_real *x,
			  LmWork *work, lm_real *g)
{
	lm_meta_forward(arch, phi, member, work, work->emb);
	lm_global_forward(arch, global, work->emb, rows->n, work, work->pred);
	loss_forward_backward(arch->loss, work->pred, rows->label, rows->n, work->dpred, 1.0);
	lm_global_backward(arch, global, work->emb, x, rows->n, work->dpred, work, work->demb, NULL);
	memset(g, 0, sizeof(lm_real) * arch->n_meta_params);
	lm_meta_backward(arch, phi, member, work->demb, work, g);
}

double
lm_task_meta_grad(const LmArch *arch, const lm_real *params, const LmTask *task,
				  int steps, double lr, const lm_real *lr_vec, int order,
				  double scale, lm_real *grad, lm_real *grad_lr, LmMetaWork *mw)
{
	size_t		n = arch->n_meta_params;
	const lm_real *global = params + n;
	LmWork	   *work = mw->work;
	const LmRows *support = &task->support;
	lm_real    *phi_last;
	const LmRows none = {0, NULL, NULL, NULL};
	const lm_real *member;
	const lm_real *x = NULL;
	const lm_real *support_x = NULL;
	double		loss;

	if (support->n == 0)
		steps = 0;
	member = lm_meta_input(arch, task->member, steps > 0 ? support : &none, work->member_x);

	/* inner loop, keeping φᵏ and gᵏ for the reverse pass */
	memcpy(mw->trajectory, params, sizeof(lm_real) * n);
	if (steps > 0)
	{
		x = lm_item_input(arch, global, support, work);
		lm_global_item_part(arch, global, x, support->n, work);
		if (order >= 2)
		{
			/* the reverse pass reuses the support rows' item part and input */
			memcpy(mw->support_pre, work->pre, sizeof(lm_real) * support->n * arch->pre_width);
			if (x != support->item)
			{
				memcpy(mw->support_x, x, sizeof(lm_real) * support->n * arch->item_dim);
				x = mw->support_x;
			}
			support_x = x;
		}
	}
	for (int k = 0; k < steps; k++)
	{
		const lm_real *phi = mw->trajectory + (size_t) k * n;
		lm_real    *next = mw->trajectory + (size_t) (k + 1) * n;
		lm_real    *g = mw->inner_grads + (size_t) k * n;

		meta_gradient(arch, phi, global, member, support, x, work, g);
		for (size_t i = 0; i < n; i++)
			next[i] = phi[i] - (lr_vec ? lr_vec[i] : (lm_real) lr) * g[i];
	}
	phi_last = mw->trajectory + (size_t) steps * n;

	/* query loss at φᴷ: ∂/∂θ_global directly, ḡ for the meta block */
	memset(mw->gbar, 0, sizeof(lm_real) * n);
	loss = lm_query_grad(arch, phi_last, global, task, steps > 0, scale, grad + n, mw->gbar, work);

	if (order >= 2 && steps > 0)
	{
		memset(mw->defer, 0, sizeof(lm_real) * support->n * arch->global[0].out_dim);
		lm_hvp_reuse(mw->hvp, mw->support_pre, mw->defer);
	}
	for (int k = steps - 1; k >= 0; k--)
	{
		const lm_real *g = mw->inner_grads + (size_t) k * n;

		if (grad_lr)
			for (size_t i = 0; i < n; i++)
				grad_lr[i] -= mw->gbar[i] * g[i];
		if (order < 2)
			continue;
		/* H(−α ⊙ ḡ) = −H(α ⊙ ḡ): the update's sign comes with the direction */
		for (size_t i = 0; i < n; i++)
			mw->direction[i] = -(lr_vec ? lr_vec[i] : (lm_real) lr) * mw->gbar[i];
		lm_hvp(arch, mw->trajectory + (size_t) k * n, global, member, support,
			   mw->direction, 1.0, mw->hvp, mw->scratch, NULL, mw->hv, grad + n);
		lm_axpy(mw->gbar, 1, mw->hv, (int) n);
	}
	if (order >= 2 && steps > 0)
	{
		const LmDense *l0 = &arch->global[0];

		/* the first layer's item columns: (Σ_k R{δ0})ᵀ X once, not once per step */
		lm_hvp_reuse(mw->hvp, NULL, NULL);
		lm_gemm_tn_acc(l0->out_dim, arch->item_dim, support->n, mw->defer, l0->out_dim,
					   support_x, arch->item_dim, grad + n + l0->w_off + arch->embedding_dim,
					   l0->in_dim);
	}
	lm_axpy(grad, 1, mw->gbar, (int) n);
	return loss;
}
