/*
 * arch.h - the LiMAML network's shape and the layout of its parameters.
 *
 * Meta block:   x[member_dim] -> ReLU MLP -> e[embedding_dim]  (linear output)
 *               With member_dim 0 it is one bias-only layer: a learned vector.
 * Global block: [e ; v[item_dim]] -> ReLU MLP -> one prediction (logit or value),
 *               plus, optionally, a bilinear member-item term e · (P v)
 * History (history => true): the meta block reads x = [member features ;
 *               mean_s v_s ; mean_s (y_s − ȳ) v_s] over the support rows s
 *               (zeros for a member without rows), so the embedding reflects
 *               the member's history before any gradient step.
 * Wide head (wide.h, needs item ids): + b[item] + w₀ + w · f[item], where
 *               the member's (w₀, w[r]) is a ridge solve on the support rows
 *               after the inner loop, and b, f[r] are learned per item.
 *
 * All parameters live in one flat vector, meta block first:
 *   params[0 .. n_meta_params)            θ_meta, adapted in the inner loop
 *   then n_global_params                  θ_global, frozen in the inner loop:
 *                                         the MLP's layers, the item table E,
 *                                         the wide table, then P[d][item_dim]
 *   then n_lr_params                      Meta-SGD: one inner rate per θ_meta entry
 * Each layer stores W[out][in] row-major (torch.nn.Linear's layout), then b[out].
 * Layer offsets are relative to the start of their block.
 */
#ifndef LM_ARCH_H
#define LM_ARCH_H

#include <stdint.h>

#include "lm_real.h"
#include "loss.h"

#define LM_MAX_HIDDEN 8			/* hidden layers per block */
#define LM_MAX_WIDTH 4096		/* any layer's width, and feature dimensions */
#define LM_MAX_ITEM_BUCKETS 10000000	/* rows of the item-ID embedding table */
#define LM_MAX_WIDE_RANK 256		/* factors of the wide head */
#define LM_MAX_ITEM_VOCAB 100000	/* items an exact vocabulary holds; hashing beyond */

typedef struct LmDense
{
	int			in_dim;
	int			out_dim;
	size_t		w_off;			/* W[out_dim][in_dim] */
	size_t		b_off;			/* b[out_dim] */
} LmDense;

typedef struct LmArch
{
	int			member_dim;		/* member features the caller gives */
	int			history;		/* the meta block also reads the pooled support rows */
	int			item_dim;		/* the global block's item input: features, then the
								 * item-ID embedding */
	int			item_feature_dim;	/* item features the caller gives */
	int			item_buckets;	/* item-ID rows (hashed buckets, or the vocabulary's
								 * items); 0: no item-ID embedding */
	const int64_t *item_vocab;	/* [item_buckets] ascending item ids, one row each, or
								 * NULL: ids are hashed into the buckets (items.h) */
	int			item_embedding_dim;
	size_t		item_table_off; /* E[item_buckets + 1][dim] in the global block; the
								 * last row is the unknown item's */
	int			embedding_dim;
	LmLoss		loss;
	int			n_meta;			/* layers in the meta block */
	LmDense		meta[LM_MAX_HIDDEN + 1];
	int			n_global;		/* layers in the global block; the first reads [e ; v] */
	LmDense		global[LM_MAX_HIDDEN + 1];
	size_t		n_meta_params;
	size_t		n_global_params;
	size_t		n_lr_params;	/* n_meta_params with Meta-SGD, else 0 */
	size_t		n_params;
	int			wide;			/* the wide head (wide.h) */
	int			wide_rank;		/* r: item factors of the wide head (0: biases only) */
	double		ridge_lambda;	/* λ of the wide head's ridge solve */
	int			wide_features;	/* the solve also reads the row's item features */
	int			learn_lambda;	/* λ = exp(ρ) per group of F̃, ρ trained (wide.h) */
	size_t		lambda_off;		/* ρ[lm_lambda_groups] in the global block */
	int			fold_in;		/* adds a · f · Σ_s y_s f_s to the wide head (wide.h) */
	size_t		fold_in_off;	/* a, one scalar in the global block */
	size_t		wide_off;		/* [item_buckets + 1][1 + r] (bias, factors) in the
								 * global block; the last row is the unknown item's */
	int			bilinear;		/* adds e · (P v) to the prediction */
	size_t		bilinear_off;	/* P[d][item_dim] inside the global block */
	int			pre_width;		/* per-row precompute: h0, plus d with the bilinear term */
	int			meta_act_size;	/* Σ meta layer widths: one row of activations */
	int			global_act_width;	/* Σ global layer widths: activations per row */
	int			max_width;		/* widest layer input or output in either block */
} LmArch;

/*
 * Fills *arch; returns NULL, or a static message naming the first invalid
 * dimension.  Hidden widths of the meta block are ignored when member_dim is 0.
 */
const char *lm_arch_init(LmArch *arch, int member_dim, int item_dim, int embedding_dim,
						 const int *meta_hidden, int n_meta_hidden,
						 const int *global_hidden, int n_global_hidden, LmLoss loss);

/*
 * Adds a hashed item-ID embedding to the item input, [v ; E[bucket]]: the
 * global block's first layer widens and E joins θ_global.  Call it right
 * after lm_arch_init; returns NULL or a message.
 */
const char *lm_arch_enable_item_embedding(LmArch *arch, int buckets, int dim);

/*
 * Adds the wide head (needs the item-ID embedding, before the bilinear term
 * and Meta-SGD); returns NULL or a message.
 */
const char *lm_arch_enable_wide(LmArch *arch, int rank, double lambda);

/*
 * The wide head's solve also reads the row's item features, F̃ = (1, x, f):
 * a member's closed-form weights over the item features (a category's
 * one-hot column, say) beside its weights over the learned factors.  The
 * parameter layout does not change (enable it before a learned λ, which
 * has one per column); returns NULL or a message.
 */
const char *lm_arch_enable_wide_features(LmArch *arch);

/*
 * The wide head's λ is learned in the outer loop: ρ = ln λ for the member
 * bias, for each item-feature column (automatic relevance determination: a
 * column that does not predict a member's rows gets a large λ) and for the
 * factor weights join the global block's end, starting at ln ridge_lambda
 * (after the bilinear term, before Meta-SGD; weight decay spares them);
 * enable after the wide head's features; returns NULL or a message.
 */
const char *lm_arch_enable_learned_lambda(LmArch *arch);

/*
 * Adds the fold-in term to the wide head: the member's factor weights
 * become w_f + a · Σ_s y_s f_s (PureSVD's folded-in member beside the
 * solve), with one learned scalar a at the global block's end, starting at
 * 0 (after a learned λ, before Meta-SGD; weight decay spares it); needs
 * factors; returns NULL or a message.
 */
const char *lm_arch_enable_fold_in(LmArch *arch);

/*
 * Widens the meta block's input by the pooled support rows (2 × item
 * features), rebuilding it with these hidden widths (before Meta-SGD);
 * returns NULL or a message.
 */
const char *lm_arch_enable_history(LmArch *arch, const int *meta_hidden, int n_meta_hidden);

/* whether the meta block's input, widened by the pooled history, stays within LM_MAX_WIDTH */
static inline int
lm_arch_history_fits(const LmArch *arch)
{
	return arch->member_dim + 2 * arch->item_feature_dim <= LM_MAX_WIDTH;
}

/* item features the wide head's solve reads (0 unless wide_features) */
static inline int
lm_wide_feature_len(const LmArch *arch)
{
	return arch->wide && arch->wide_features ? arch->item_feature_dim : 0;
}

/* learned λ groups of F̃ = (1, x, f): w₀, one per item-feature column, w_f */
static inline int
lm_lambda_groups(const LmArch *arch)
{
	return arch->learn_lambda ? 2 + lm_wide_feature_len(arch) : 0;
}

/* the global block's tail that weight decay spares: the learned λ's ρ, then a */
static inline int
lm_undecayed_len(const LmArch *arch)
{
	return lm_lambda_groups(arch) + arch->fold_in;
}

/* floats in a meta embedding: e[d], then (w₀, w_x[item features], w[r]) with the wide head */
static inline int
lm_embedding_len(const LmArch *arch)
{
	return arch->embedding_dim + (arch->wide ? 1 + lm_wide_feature_len(arch) + arch->wide_rank : 0);
}

/* adds the bilinear term's P to the global block (before enabling Meta-SGD) */
void		lm_arch_enable_bilinear(LmArch *arch);

/* adds Meta-SGD's per-parameter inner learning rates to the layout */
void		lm_arch_enable_meta_sgd(LmArch *arch);

/* the Meta-SGD rates inside params, or NULL for a scalar rate */
static inline const lm_real *
lm_inner_rates(const LmArch *arch, const lm_real *params)
{
	return arch->n_lr_params ? params + arch->n_meta_params + arch->n_global_params : NULL;
}

/* same shapes and loss */
int			lm_arch_equal(const LmArch *a, const LmArch *b);

/* pointers to a block's parameters inside the flat vector */
static inline lm_real *
lm_meta_params(const LmArch *arch, lm_real *params)
{
	(void) arch;
	return params;
}

static inline lm_real *
lm_global_params(const LmArch *arch, lm_real *params)
{
	return params + arch->n_meta_params;
}

/*
 * He-uniform weights for ReLU layers, zero biases; the learned vector of a
 * featureless meta block gets U(-0.1, 0.1).  uniform() returns [0,1) and
 * comes from the caller so the extension can use pg_prng.
 */
void		lm_arch_init_params(const LmArch *arch, lm_real *params,
								double (*uniform) (void *state), void *state);

#endif
