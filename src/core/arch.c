/*
 * arch.c - layer shapes, parameter offsets and initialization.
 */
#include "arch.h"

#include <math.h>
#include <string.h>

static const char *
add_layer(LmDense *layer, int in_dim, int out_dim, size_t *offset)
{
	if (out_dim < 1 || out_dim > LM_MAX_WIDTH)
		return "layer width out of range";
	layer->in_dim = in_dim;
	layer->out_dim = out_dim;
	layer->w_off = *offset;
	layer->b_off = *offset + (size_t) in_dim * out_dim;
	*offset = layer->b_off + out_dim;
	return NULL;
}

static const char *
build_block(LmDense *layers, int *n_layers, int in_dim, const int *hidden,
			int n_hidden, int out_dim, size_t *n_params)
{
	const char *err;
	int			width = in_dim;

	if (n_hidden < 0 || n_hidden > LM_MAX_HIDDEN)
		return "too many hidden layers";
	*n_layers = 0;
	*n_params = 0;
	for (int l = 0; l < n_hidden; l++)
	{
		if ((err = add_layer(&layers[*n_layers], width, hidden[l], n_params)))
			return err;
		width = hidden[l];
		(*n_layers)++;
	}
	if ((err = add_layer(&layers[*n_layers], width, out_dim, n_params)))
		return err;
	(*n_layers)++;
	return NULL;
}

static void measure(LmArch *arch);

const char *
lm_arch_init(LmArch *arch, int member_dim, int item_dim, int embedding_dim,
			 const int *meta_hidden, int n_meta_hidden,
			 const int *global_hidden, int n_global_hidden, LmLoss loss)
{
	const char *err;

	if (member_dim < 0 || member_dim > LM_MAX_WIDTH)
		return "member feature dimension out of range";
	if (item_dim < 1 || item_dim > LM_MAX_WIDTH)
		return "item feature dimension out of range";
	if (embedding_dim < 1 || embedding_dim > LM_MAX_WIDTH)
		return "embedding dimension out of range";
	if (loss != LM_LOSS_BCE && loss != LM_LOSS_MSE)
		return "unknown loss";

	arch->member_dim = member_dim;
	arch->item_dim = item_dim;
	arch->embedding_dim = embedding_dim;
	arch->loss = loss;

	/* a featureless meta block is one bias-only layer: the learned vector */
	if ((err = build_block(arch->meta, &arch->n_meta, member_dim,
						   meta_hidden, member_dim > 0 ? n_meta_hidden : 0,
						   embedding_dim, &arch->n_meta_params)))
		return err;
	if ((err = build_block(arch->global, &arch->n_global, embedding_dim + item_dim,
						   global_hidden, n_global_hidden, 1, &arch->n_global_params)))
		return err;
	arch->n_lr_params = 0;
	arch->n_params = arch->n_meta_params + arch->n_global_params;
	arch->bilinear = 0;
	arch->bilinear_off = 0;
	arch->pre_width = arch->global[0].out_dim;

	arch->item_feature_dim = item_dim;
	arch->item_buckets = 0;
	arch->item_embedding_dim = 0;
	arch->item_table_off = 0;
	arch->item_vocab = NULL;
	arch->history = 0;
	arch->wide = 0;
	arch->wide_features = 0;
	arch->learn_lambda = 0;
	arch->lambda_off = 0;
	arch->fold_in = 0;
	arch->fold_in_off = 0;
	arch->wide_rank = 0;
	arch->ridge_lambda = 0;
	arch->wide_off = 0;
	measure(arch);
	return NULL;
}

/* activation widths and the widest layer, from the layers */
static void
measure(LmArch *arch)
{
	arch->meta_act_size = 0;
	arch->global_act_width = 0;
	arch->max_width = arch->embedding_dim + arch->item_dim;
	for (int l = 0; l < arch->n_meta; l++)
	{
		arch->meta_act_size += arch->meta[l].out_dim;
		if (arch->meta[l].out_dim > arch->max_width)
			arch->max_width = arch->meta[l].out_dim;
		if (arch->meta[l].in_dim > arch->max_width)
			arch->max_width = arch->meta[l].in_dim;
	}
	for (int l = 0; l < arch->n_global; l++)
	{
		arch->global_act_width += arch->global[l].out_dim;
		if (arch->global[l].out_dim > arch->max_width)
			arch->max_width = arch->global[l].out_dim;
	}
}

const char *
lm_arch_enable_item_embedding(LmArch *arch, int buckets, int dim)
{
	int			hidden[LM_MAX_HIDDEN];
	int			n_hidden = arch->n_global - 1;
	const char *err;

	if (buckets < 1 || buckets > LM_MAX_ITEM_BUCKETS)
		return "item_buckets out of range";
	if (dim < 1 || dim > LM_MAX_WIDTH || arch->item_feature_dim + dim > LM_MAX_WIDTH)
		return "item embedding dimension out of range";
	if (arch->bilinear || arch->n_lr_params || arch->item_buckets)
		return "item embeddings must be enabled first";
	for (int l = 0; l < n_hidden; l++)
		hidden[l] = arch->global[l].out_dim;
	arch->item_dim = arch->item_feature_dim + dim;
	if ((err = build_block(arch->global, &arch->n_global, arch->embedding_dim + arch->item_dim,
						   hidden, n_hidden, 1, &arch->n_global_params)))
		return err;
	arch->item_buckets = buckets;
	arch->item_embedding_dim = dim;
	arch->item_table_off = arch->n_global_params;
	arch->n_global_params += (size_t) (buckets + 1) * dim;
	arch->n_params = arch->n_meta_params + arch->n_global_params;
	arch->pre_width = arch->global[0].out_dim;
	measure(arch);
	return NULL;
}

const char *
lm_arch_enable_history(LmArch *arch, const int *meta_hidden, int n_meta_hidden)
{
	const char *err;
	int			in_dim = arch->member_dim + 2 * arch->item_feature_dim;

	if (arch->history || arch->n_lr_params)
		return "history must be enabled once, before Meta-SGD";
	if (!lm_arch_history_fits(arch))
		return "member features and pooled history are too wide";
	if ((err = build_block(arch->meta, &arch->n_meta, in_dim, meta_hidden, n_meta_hidden,
						   arch->embedding_dim, &arch->n_meta_params)))
		return err;
	arch->history = 1;
	arch->n_params = arch->n_meta_params + arch->n_global_params;
	measure(arch);
	return NULL;
}

const char *
lm_arch_enable_wide(LmArch *arch, int rank, double lambda)
{
	if (!arch->item_buckets)
		return "the wide head needs item ids";
	if (arch->wide || arch->bilinear || arch->n_lr_params)
		return "the wide head must be enabled before the bilinear term and Meta-SGD";
	if (rank < 0 || rank > LM_MAX_WIDE_RANK)
		return "wide rank out of range";
	if (!(lambda > 0 && lambda <= 1e6))
		return "ridge lambda out of range";
	arch->wide = 1;
	arch->wide_rank = rank;
	arch->ridge_lambda = lambda;
	arch->wide_off = arch->n_global_params;
	arch->n_global_params += (size_t) (arch->item_buckets + 1) * (1 + rank);
	arch->n_params = arch->n_meta_params + arch->n_global_params;
	return NULL;
}

const char *
lm_arch_enable_learned_lambda(LmArch *arch)
{
	if (!arch->wide)
		return "a learned lambda needs the wide head";
	if (arch->learn_lambda || arch->fold_in || arch->n_lr_params)
		return "a learned lambda must be enabled once, before the fold-in term and Meta-SGD";
	arch->learn_lambda = 1;
	arch->lambda_off = arch->n_global_params;
	arch->n_global_params += lm_lambda_groups(arch);
	arch->n_params = arch->n_meta_params + arch->n_global_params;
	return NULL;
}

const char *
lm_arch_enable_fold_in(LmArch *arch)
{
	if (!arch->wide || arch->wide_rank == 0)
		return "the fold-in term needs the wide head with factors (wide_rank > 0)";
	if (arch->fold_in || arch->n_lr_params)
		return "the fold-in term must be enabled once, before Meta-SGD";
	arch->fold_in = 1;
	arch->fold_in_off = arch->n_global_params;
	arch->n_global_params += 1;
	arch->n_params = arch->n_meta_params + arch->n_global_params;
	return NULL;
}

const char *
lm_arch_enable_wide_features(LmArch *arch)
{
	if (!arch->wide)
		return "wide features need the wide head";
	if (arch->learn_lambda)
		return "wide features must be enabled before a learned lambda (one λ per column)";
	arch->wide_features = 1;
	return NULL;
}

static void
init_block(const LmDense *layers, int n_layers, lm_real *block,
		   double (*uniform) (void *), void *state)
{
	for (int l = 0; l < n_layers; l++)
	{
		const LmDense *layer = &layers[l];
		size_t		n_w = (size_t) layer->in_dim * layer->out_dim;
		double		bound;

		if (layer->in_dim == 0)
		{
			/* learned vector of a featureless meta block */
			for (int o = 0; o < layer->out_dim; o++)
				block[layer->b_off + o] = (lm_real) (0.2 * uniform(state) - 0.1);
			continue;
		}
		/* He for ReLU layers; LeCun for the linear output layer */
		bound = sqrt((l == n_layers - 1 ? 3.0 : 6.0) / layer->in_dim);

		for (size_t k = 0; k < n_w; k++)
			block[layer->w_off + k] = (lm_real) ((2 * uniform(state) - 1) * bound);
		for (int o = 0; o < layer->out_dim; o++)
			block[layer->b_off + o] = 0;
	}
}

void
lm_arch_init_params(const LmArch *arch, lm_real *params,
					double (*uniform) (void *state), void *state)
{
	init_block(arch->meta, arch->n_meta, params, uniform, state);
	init_block(arch->global, arch->n_global, params + arch->n_meta_params,
			   uniform, state);
	if (arch->item_buckets)
	{
		/* all-zero rows mark items never trained (Adam leaves them at zero) */
		lm_real    *E = params + arch->n_meta_params + arch->item_table_off;

		for (size_t k = 0; k < (size_t) (arch->item_buckets + 1) * arch->item_embedding_dim; k++)
			E[k] = 0;
	}
	if (arch->wide)
	{
		/* zero biases; small random factors (at zero the ridge's gradient vanishes) */
		lm_real    *W = params + arch->n_meta_params + arch->wide_off;
		int			m = 1 + arch->wide_rank;

		for (size_t b = 0; b <= (size_t) arch->item_buckets; b++)
		{
			W[b * m] = 0;
			for (int j = 1; j < m; j++)
				W[b * m + j] = (lm_real) ((2 * uniform(state) - 1) * 0.1);
		}
	}
	if (arch->learn_lambda)
	{
		/* every group starts at the configured λ */
		lm_real    *rho = params + arch->n_meta_params + arch->lambda_off;

		for (int g = 0; g < lm_lambda_groups(arch); g++)
			rho[g] = (lm_real) log(arch->ridge_lambda);
	}
	/* a = 0: the model starts as one without the term */
	if (arch->fold_in)
		params[arch->n_meta_params + arch->fold_in_off] = 0;
	if (arch->bilinear)
	{
		/* small: the MLP carries the start, the interaction grows from it */
		lm_real    *P = params + arch->n_meta_params + arch->bilinear_off;
		double		bound = 0.1 / sqrt((double) arch->item_dim);

		for (size_t k = 0; k < (size_t) arch->embedding_dim * arch->item_dim; k++)
			P[k] = (lm_real) ((2 * uniform(state) - 1) * bound);
	}
}

void
lm_arch_enable_bilinear(LmArch *arch)
{
	arch->bilinear = 1;
	arch->bilinear_off = arch->n_global_params;
	arch->n_global_params += (size_t) arch->embedding_dim * arch->item_dim;
	arch->pre_width = arch->global[0].out_dim + arch->embedding_dim;
	arch->n_params = arch->n_meta_params + arch->n_global_params + arch->n_lr_params;
}

void
lm_arch_enable_meta_sgd(LmArch *arch)
{
	arch->n_lr_params = arch->n_meta_params;
	arch->n_params = arch->n_meta_params + arch->n_global_params + arch->n_lr_params;
}

static int
layers_equal(const LmDense *a, const LmDense *b, int n)
{
	for (int l = 0; l < n; l++)
		if (a[l].in_dim != b[l].in_dim || a[l].out_dim != b[l].out_dim)
			return 0;
	return 1;
}

int
lm_arch_equal(const LmArch *a, const LmArch *b)
{
	return a->member_dim == b->member_dim && a->item_dim == b->item_dim &&
		a->embedding_dim == b->embedding_dim && a->loss == b->loss &&
		a->n_meta == b->n_meta && a->n_global == b->n_global &&
		a->n_lr_params == b->n_lr_params && a->bilinear == b->bilinear &&
		a->wide_features == b->wide_features && a->learn_lambda == b->learn_lambda &&
		a->fold_in == b->fold_in &&
		a->item_buckets == b->item_buckets && a->item_embedding_dim == b->item_embedding_dim &&
		(a->item_vocab == NULL) == (b->item_vocab == NULL) &&
		(a->item_vocab == NULL ||
		 memcmp(a->item_vocab, b->item_vocab, sizeof(int64_t) * a->item_buckets) == 0) &&
		a->history == b->history &&
		a->wide == b->wide && a->wide_rank == b->wide_rank && a->ridge_lambda == b->ridge_lambda &&
		layers_equal(a->meta, b->meta, a->n_meta) &&
		layers_equal(a->global, b->global, a->n_global);
}
