/*
 * maml.c - inner loop, first-order meta-gradient, adaptation, prediction.
 */
#include "maml.h"

#include <string.h>

#include "items.h"
#include "kernels.h"
#include "wide.h"

const lm_real *
lm_meta_input(const LmArch *arch, const lm_real *member, const LmRows *support, lm_real *x)
{
	int			p = arch->item_feature_dim;
	lm_real    *mean,
			   *centred;
	double		ybar = 0;

	if (!arch->history)
		return member;
	if (arch->member_dim > 0)
		memcpy(x, member, sizeof(lm_real) * arch->member_dim);
	mean = x + arch->member_dim;
	centred = mean + p;
	memset(mean, 0, sizeof(lm_real) * 2 * p);
	if (support->n == 0)
		return x;
	for (int s = 0; s < support->n; s++)
		ybar += support->label[s];
	ybar /= support->n;
	/* Σ v / n and Σ (y − ȳ) v / n: order-free, so the aggregate gives the same bits up to summation order */
	for (int s = 0; s < support->n; s++)
	{
		const lm_real *v = support->item + (size_t) s * p;

		lm_axpy(mean, (lm_real) (1.0 / support->n), v, p);
		lm_axpy(centred, (lm_real) ((support->label[s] - ybar) / support->n), v, p);
	}
	return x;
}

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
	member = lm_meta_input(arch, member, support, work->member_x);

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

/* the deep part's predictions work->pred[n] at embedding e for rows; x returned */
static const lm_real *
deep_forward(const LmArch *arch, const lm_real *global, const lm_real *e,
			 const LmRows *rows, LmWork *work)
{
	const lm_real *x = lm_item_input(arch, global, rows, work);

	lm_global_item_part(arch, global, x, rows->n, work);
	lm_global_forward(arch, global, e, rows->n, work, work->pred);
	return x;
}

/*
 * The wide head's w for e on the support rows (zero when nothing adapts):
 * the solve's own in work->wide_ws, the rows' (with fold_in's a · h) in
 * work->wide_w; their F̃, and their deep pass in work->support_work, stay
 * for the backward.
 */
static void
wide_fit(const LmArch *arch, const lm_real *global, const lm_real *e,
		 const LmRows *support, int adapts, LmWork *work)
{
	LmWork	   *sw = work->support_work;
	int			m = lm_wide_len(arch);

	memset(work->wide_w, 0, sizeof(lm_real) * m);
	if (!adapts || support->n == 0)
		return;
	sw->item_fallback = work->item_fallback;
	work->wide_x = deep_forward(arch, global, e, support, sw);
	lm_wide_gather(arch, global, support, work->item_fallback, work->wide_fs, work->wide_bs);
	for (int s = 0; s < support->n; s++)
		work->wide_bs[s] += sw->pred[s];
	lm_wide_solve(arch, global, work->wide_fs, work->wide_bs, support->label, support->n,
				  work->wide_chol, work->wide_ws, work->wide_resid, work->wide_slope,
				  work->wide_dslope);
	if (arch->fold_in)
	{
		lm_wide_fold_in(arch, work->wide_fs, support->label, support->n, work->wide_h);
		lm_wide_fold_in_add(arch, global, work->wide_h, work->wide_ws, work->wide_w);
	}
	else
		memcpy(work->wide_w, work->wide_ws, sizeof(lm_real) * m);
}

double
lm_query_grad(const LmArch *arch, const lm_real *phi, const lm_real *global,
			  const LmTask *task, int adapts, double scale, lm_real *dglobal,
			  lm_real *dphi, LmWork *work)
{
	const LmRows *support = &task->support;
	const LmRows *query = &task->query;
	int			ridge = arch->wide && adapts && support->n > 0;
	int			m = lm_wide_len(arch);
	const LmRows none = {0, NULL, NULL, NULL};
	/* nothing adapts (cold, conventional): no history either */
	const lm_real *member = lm_meta_input(arch, task->member, adapts ? support : &none,
										  work->member_x);
	const lm_real *x;
	double		loss;

	lm_meta_forward(arch, phi, member, work, work->emb);
	if (arch->wide)
		wide_fit(arch, global, work->emb, support, adapts, work);

	x = deep_forward(arch, global, work->emb, query, work);
	if (arch->wide)
	{
		lm_wide_gather(arch, global, query, work->item_fallback, work->wide_fq, work->wide_bq);
		lm_wide_add(arch, work->wide_fq, work->wide_bq, work->wide_w, query->n, work->pred);
	}
	loss = loss_forward_backward(arch->loss, work->pred, query->label, query->n,
								 work->dpred, scale);
	lm_global_backward(arch, global, work->emb, x, query->n, work->dpred,
					   work, work->demb, dglobal);
	if (arch->wide)
	{
		/* query rows: ∂/∂bias = δ, ∂/∂f = δ w[1..]; ∂L/∂w = Σ δ F̃ */
		memset(work->wide_gw, 0, sizeof(lm_real) * m);
		for (int q = 0; q < query->n; q++)
		{
			lm_real    *df = work->wide_dfs + (size_t) q * m;

			for (int i = 0; i < m; i++)
				df[i] = work->dpred[q] * work->wide_w[i];
			lm_axpy(work->wide_gw, work->dpred[q], work->wide_fq + (size_t) q * m, m);
		}
		if (dglobal)
			lm_wide_table_backward(arch, query->bucket, query->n, work->dpred,
								   work->wide_dfs, dglobal);
	}
	if (ridge)
	{
		/* through the solve into the support rows' base predictions and items */
		LmWork	   *sw = work->support_work;

		lm_wide_solve_backward(arch, work->wide_fs, work->wide_chol, work->wide_ws,
							   work->wide_resid, work->wide_slope, work->wide_dslope, work->wide_gw,
							   support->n, work->wide_u, work->wide_dz, work->wide_dfs);
		lm_wide_lambda_backward(arch, global, work->wide_ws, work->wide_u, dglobal);
		if (arch->fold_in)
			lm_wide_fold_in_backward(arch, global, support->label, support->n, work->wide_h,
									 work->wide_gw, work->wide_dfs, dglobal);
		if (dglobal)
			lm_wide_table_backward(arch, support->bucket, support->n, work->wide_dz,
								   work->wide_dfs, dglobal);
		lm_global_backward(arch, global, work->emb, work->wide_x, support->n, work->wide_dz,
						   sw, sw->demb, dglobal);
		lm_axpy(work->demb, 1, sw->demb, arch->embedding_dim);
	}
	lm_meta_backward(arch, phi, member, work->demb, work, dphi);
	return loss;
}

double
lm_task_grad_fo(const LmArch *arch, const lm_real *params, const LmTask *task,
				int steps, double lr, double scale, lm_real *grad, LmWork *work)
{
	const lm_real *global = params + arch->n_meta_params;

	lm_inner_loop(arch, params, global, task->member, &task->support,
				  steps, lr, work->meta_adapted, work);
	/* first order: the gradient at θ_meta^K stands in for the one at θ_meta⁰ */
	return lm_query_grad(arch, work->meta_adapted, global, task, steps > 0, scale,
						 grad + arch->n_meta_params, grad, work);
}

void
lm_adapt_embedding(const LmArch *arch, const lm_real *params,
				   const lm_real *member, const LmRows *support,
				   int steps, double lr, lm_real *emb, LmWork *work)
{
	const lm_real *global = params + arch->n_meta_params;
	const LmRows none = {0, NULL, NULL, NULL};

	/* adaptation serves: items never trained read the unknown item's row */
	work->item_fallback = 1;
	lm_inner_loop_rates(arch, params, global, member, support,
						steps, lr, lm_inner_rates(arch, params), work->meta_adapted, work);
	lm_meta_forward(arch, work->meta_adapted,
					lm_meta_input(arch, member, steps > 0 ? support : &none, work->member_x),
					work, emb);
	if (arch->wide)
	{
		wide_fit(arch, global, emb, support, steps > 0, work);
		memcpy(emb + arch->embedding_dim, work->wide_w, sizeof(lm_real) * lm_wide_len(arch));
	}
	work->item_fallback = 0;
}

void
lm_predict_rows(const LmArch *arch, const lm_real *params, const lm_real *e,
				const LmRows *rows, LmWork *work, lm_real *pred)
{
	const lm_real *global = params + arch->n_meta_params;
	const lm_real *item;

	work->item_fallback = 1;
	item = lm_item_input(arch, global, rows, work);
	lm_global_item_part(arch, global, item, rows->n, work);
	lm_global_forward(arch, global, e, rows->n, work, pred);
	if (arch->wide)
	{
		lm_wide_gather(arch, global, rows, 1, work->wide_fq, work->wide_bq);
		lm_wide_add(arch, work->wide_fq, work->wide_bq, e + arch->embedding_dim, rows->n, pred);
	}
	work->item_fallback = 0;
}

void
lm_predict(const LmArch *arch, const lm_real *params, const lm_real *e,
		   const lm_real *item, int n, LmWork *work, lm_real *pred)
{
	LmRows		rows = {n, item, NULL, NULL};

	lm_predict_rows(arch, params, e, &rows, work, pred);
}
