/*
 * maml.h - the inner loop, the first-order meta-gradient, adaptation and
 * prediction for one member (one MAML task).
 *
 * Inner loop (global block frozen), from θ_meta⁰ for k = 0..K-1:
 *   θ_meta^{k+1} = θ_meta^k - α ∇_{θ_meta} L_support(θ_meta^k, θ_global)
 * First-order meta-gradient of the task (FOMAML):
 *   g_meta   = ∇_{θ_meta}   L_query(θ_meta^K, θ_global)
 *   g_global = ∇_{θ_global} L_query(θ_meta^K, θ_global)
 */
#ifndef LM_MAML_H
#define LM_MAML_H

#include <stdint.h>

#include "block.h"

/* One member's rows: item[n][item_dim], label[n], oldest first. */
typedef struct LmRows
{
	int			n;
	const lm_real *item;		/* [n][item_feature_dim] */
	const lm_real *label;
	const int32_t *bucket;		/* [n] item-ID buckets, or NULL (the unknown item) */
} LmRows;

typedef struct LmTask
{
	const lm_real *member;		/* [member_dim]; NULL when member_dim is 0 */
	LmRows		support;
	LmRows		query;
} LmTask;

/*
 * The meta block's input for a member's features and support rows: the
 * features, then with history the pooled rows (arch.h); returns member
 * itself without history, else x (meta[0].in_dim values).
 */
const lm_real *lm_meta_input(const LmArch *arch, const lm_real *member, const LmRows *support,
							 lm_real *x);

/*
 * The functions below take the member's own features (member_dim) and
 * build the meta block's input themselves.
 *
 * K SGD steps on the support loss from meta0 into meta_out (which may equal
 * work->meta_adapted).  An empty support set or K = 0 copies meta0.
 * Returns the support loss before the first step (0 when empty).
 */
double		lm_inner_loop(const LmArch *arch, const lm_real *meta0, const lm_real *global,
						  const lm_real *member, const LmRows *support,
						  int steps, double lr, lm_real *meta_out, LmWork *work);

/* lm_inner_loop with one rate per θ_meta entry (Meta-SGD); NULL rates use lr */
double		lm_inner_loop_rates(const LmArch *arch, const lm_real *meta0, const lm_real *global,
								const lm_real *member, const LmRows *support, int steps,
								double lr, const lm_real *rates, lm_real *meta_out, LmWork *work);

/*
 * Adds scale · (g_meta, g_global) of one task into grad[n_params] and
 * returns the query loss after adaptation.
 */
double		lm_task_grad_fo(const LmArch *arch, const lm_real *params, const LmTask *task,
							int steps, double lr, double scale,
							lm_real *grad, LmWork *work);

/*
 * The query loss at the adapted φ, with the wide head fitted on the support
 * rows when adapts (else w = 0), and its gradient: ∂/∂θ_global added to
 * dglobal unless NULL, ∂/∂φ added to dphi; scale as in loss_forward_backward.
 */
double		lm_query_grad(const LmArch *arch, const lm_real *phi, const lm_real *global,
						  const LmTask *task, int adapts, double scale, lm_real *dglobal,
						  lm_real *dphi, LmWork *work);

/*
 * The meta embedding emb[lm_embedding_len]: the adapted meta block's output
 * e[d], then the wide head's (w₀, w) (Meta-SGD rates from params).
 */
void		lm_adapt_embedding(const LmArch *arch, const lm_real *params,
							   const lm_real *member, const LmRows *support,
							   int steps, double lr, lm_real *emb, LmWork *work);

/* pred[rows->n] from an embedding e[lm_embedding_len] for rows with their item-ID buckets */
void		lm_predict_rows(const LmArch *arch, const lm_real *params, const lm_real *e,
							const LmRows *rows, LmWork *work, lm_real *pred);

/* pred[n] from an embedding e[d] (logits for bce, values for mse); unknown item ids */
void		lm_predict(const LmArch *arch, const lm_real *params, const lm_real *e,
					   const lm_real *item, int n, LmWork *work, lm_real *pred);

#endif
