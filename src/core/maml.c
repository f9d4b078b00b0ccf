/*
 * maml.c - inner loop, first-order meta-gradient, adaptation, prediction.
 */
#include "maml.h"

#include <string.h>

#include "items.h"
#include "kernels.h"

double
lm_inner_loop(const LmArch *arch, const lm_real *meta0, const lm_real *global,
			  const lm_real *member, const LmRows *support,
			  int steps, double lr, lm_real *meta_out, LmWork *work)
{
	return lm_inner_loop_rates(arch, meta0, global, member, support, steps, lr, NULL,
							   meta_out, work);
}

double
lm_inner_loop_rates(const LmArch *arch, const lm_real *meta0, const lm_real *global,
					const lm_real *member, const LmRows *support, int steps,
					double lr, const lm_real *rates, lm_real *meta_out, LmWork *work)
{
	double		first_loss = 0;
	const lm_real *item;

	if (meta_out != meta0)
		memcpy(meta_out, meta0, sizeof(lm_real) * arch->n_meta_params);
	if (support->n == 0 || steps == 0)
		return 0;

	/* the item part is fixed while θ_global is: once per row, not per step */
	item = lm_item_input(arch, global, support, work);
	lm_global_item_part(arch, global, item, support->n, work);
	for (int k = 0; k < steps; k++)
	{
		lm_meta_forward(arch, meta_out, member, work, work->emb);
		lm_global_forward(arch, global, work->emb, support->n, work, work->pred);
		if (k == 0)
			first_loss = loss_forward_backward(arch->loss, work->pred, support->label,
											   support->n, work->dpred, 1.0);
		else
			loss_gradient(arch->loss, work->pred, support->label, support->n, work->dpred, 1.0);
		lm_global_backward(arch, global, work->emb, item, support->n, work->dpred,
						   work, work->demb, NULL);
		memset(work->meta_grad, 0, sizeof(lm_real) * arch->n_meta_params);
		lm_meta_backward(arch, meta_out, member, work->demb, work, work->meta_grad);
		if (rates)
			for (size_t i = 0; i < arch->n_meta_params; i++)
				meta_out[i] -= rates[i] * work->meta_grad[i];
		else
			lm_axpy(meta_out, (lm_real) -lr, work->meta_grad, (int) arch->n_meta_params);
	}
	return first_loss;
}

double
lm_task_grad_fo(const LmArch *arch, const lm_real *params, const LmTask *task,
				int steps, double lr, double scale, lm_real *grad, LmWork *work)
{
	const lm_real *global = params + arch->n_meta_params;
	const LmRows *query = &task->query;
	const lm_real *item;
	double		loss;

	lm_inner_loop(arch, params, global, task->member, &task->support,
				  steps, lr, work->meta_adapted, work);

	lm_meta_forward(arch, work->meta_adapted, task->member, work, work->emb);
	item = lm_item_input(arch, global, query, work);
	lm_global_item_part(arch, global, item, query->n, work);
	lm_global_forward(arch, global, work->emb, query->n, work, work->pred);
	loss = loss_forward_backward(arch->loss, work->pred, query->label, query->n,
								 work->dpred, scale);
	lm_global_backward(arch, global, work->emb, item, query->n, work->dpred,
					   work, work->demb, grad + arch->n_meta_params);
	/* first order: the gradient at θ_meta^K stands in for the one at θ_meta⁰ */
	lm_meta_backward(arch, work->meta_adapted, task->member, work->demb, work, grad);
	return loss;
}

void
lm_adapt_embedding(const LmArch *arch, const lm_real *params,
				   const lm_real *member, const LmRows *support,
				   int steps, double lr, lm_real *emb, LmWork *work)
{
	/* adaptation serves: items never trained read the unknown item's row */
	work->item_fallback = 1;
	lm_inner_loop_rates(arch, params, params + arch->n_meta_params, member, support,
						steps, lr, lm_inner_rates(arch, params), work->meta_adapted, work);
	work->item_fallback = 0;
	lm_meta_forward(arch, work->meta_adapted, member, work, emb);
}

void
lm_predict_rows(const LmArch *arch, const lm_real *params, const lm_real *e,
				const LmRows *rows, LmWork *work, lm_real *pred)
{
	const lm_real *global = params + arch->n_meta_params;
	const lm_real *item;

	work->item_fallback = 1;
	item = lm_item_input(arch, global, rows, work);
	work->item_fallback = 0;
	lm_global_item_part(arch, global, item, rows->n, work);
	lm_global_forward(arch, global, e, rows->n, work, pred);
}

void
lm_predict(const LmArch *arch, const lm_real *params, const lm_real *e,
		   const lm_real *item, int n, LmWork *work, lm_real *pred)
{
	LmRows		rows = {n, item, NULL, NULL};

	lm_predict_rows(arch, params, e, &rows, work, pred);
}
