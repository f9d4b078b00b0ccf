/*
 * model_config.c - the configuration document's reader (model_config.h).
 * Each helper returns 0, or 1 after filling the error; TRY passes it up.
 */
#include "model_config.h"

#include <math.h>
#include <stdio.h>

#define TRY(x) do { if (x) return 1; } while (0)

const char *const lm_config_keys[LM_N_CONFIG_KEYS] = {
	"loss", "meta_hidden", "global_hidden", "member_dim",
	"item_dim", "embedding_dim", "item_buckets",
	"item_embedding_dim", "item_vocab", "history", "wide",
	"wide_rank", "ridge_lambda", "bilinear", "meta_sgd",
	"inner_steps", "inner_lr", "support_size", "query_size",
	"seed", "adapt_steps", "adapt_lr", "negatives"
};

int
lm_config_max_elems(LmConfigKey key)
{
	switch (key)
	{
		case LM_CK_META_HIDDEN:
		case LM_CK_GLOBAL_HIDDEN:
			return LM_MAX_HIDDEN;
		case LM_CK_ITEM_VOCAB:
			return LM_MAX_ITEM_BUCKETS;
		default:
			return 0;
	}
}

static int
fail(LmConfigError *err, const char *what, const char *problem)
{
	err->what = what;
	snprintf(err->problem, sizeof(err->problem), "%s", problem);
	return 1;
}

/* a member, or NULL when absent and optional */
static int
get(const LmJsonField *f, LmConfigKey key, int required, const LmJsonField **v,
	LmConfigError *err)
{
	*v = f[key].kind == LM_JSON_ABSENT ? NULL : &f[key];
	if (*v == NULL && required)
		return fail(err, lm_config_keys[key], "is missing");
	return 0;
}

static int
number(const LmJsonField *v, const char *what, double *x, LmConfigError *err)
{
	if (v == NULL || v->kind != LM_JSON_NUMBER)
		return fail(err, what, "must be a number");
	if (!isfinite(v->number))
		return fail(err, what, "must be finite");
	*x = v->number;
	return 0;
}

/* an exact integer, from the number's text (a double would round) */
static int
int64_value(const LmJsonField *v, const char *what, int64_t *x, LmConfigError *err)
{
	if (v == NULL || v->kind != LM_JSON_NUMBER)
		return fail(err, what, "must be a number");
	if (!v->is_int64)
		return fail(err, what, "must be a 64-bit integer");
	*x = v->int64;
	return 0;
}

static int
required_number(const LmJsonField *f, LmConfigKey key, double *x, LmConfigError *err)
{
	const LmJsonField *v;

	TRY(get(f, key, 1, &v, err));
	return number(v, lm_config_keys[key], x, err);
}

static int
int_member(const LmJsonField *f, LmConfigKey key, int *out, LmConfigError *err)
{
	double		x;

	TRY(required_number(f, key, &x, err));
	if (x != floor(x) || fabs(x) > INT32_MAX)
		return fail(err, lm_config_keys[key], "must be an integer");
	*out = (int) x;
	return 0;
}

/* an optional integer member: dflt when absent */
static int
optional_int(const LmJsonField *f, LmConfigKey key, int dflt, int *out, LmConfigError *err)
{
	if (f[key].kind == LM_JSON_ABSENT)
	{
		*out = dflt;
		return 0;
	}
	return int_member(f, key, out, err);
}

static int
widths(const LmJsonField *f, LmConfigKey key, int *out, int *n, LmConfigError *err)
{
	const char *what = lm_config_keys[key];
	const LmJsonField *v;

	TRY(get(f, key, 1, &v, err));
	if (v->kind != LM_JSON_ARRAY)
		return fail(err, what, "must be an array");
	if (v->n_elems > LM_MAX_HIDDEN)
		return fail(err, what, "has too many layers");
	for (int i = 0; i < v->n_elems; i++)
	{
		double		x;

		TRY(number(&v->elems[i], what, &x, err));
		if (x != floor(x) || x < 1 || x > LM_MAX_WIDTH)
			return fail(err, what, "must hold widths between 1 and 4096");
		out[i] = (int) x;
	}
	*n = v->n_elems;
	return 0;
}

/* an optional true/false member: false when absent */
static int
flag(const LmJsonField *f, LmConfigKey key, int *out, LmConfigError *err)
{
	*out = 0;
	if (f[key].kind == LM_JSON_ABSENT)
		return 0;
	if (f[key].kind != LM_JSON_BOOL)
		return fail(err, lm_config_keys[key], "must be true or false");
	*out = f[key].boolean;
	return 0;
}

/* the optional item vocabulary: n strictly ascending item ids into vocab */
static int
item_vocab(const LmJsonField *f, int n, int64_t *vocab, LmArch *arch, LmConfigError *err)
{
	const LmJsonField *v = &f[LM_CK_ITEM_VOCAB];

	if (v->kind == LM_JSON_ABSENT)
		return 0;
	if (v->kind != LM_JSON_ARRAY)
		return fail(err, "item_vocab", "must be an array");
	if (v->n_elems != n)
		return fail(err, "item_vocab", "must hold item_buckets ids");
	for (int i = 0; i < n; i++)
	{
		TRY(int64_value(&v->elems[i], "item_vocab", &vocab[i], err));
		if (i > 0 && vocab[i] <= vocab[i - 1])
			return fail(err, "item_vocab", "must be strictly ascending");
	}
	arch->item_vocab = vocab;
	return 0;
}

static int
arch_problem(const char *problem, LmConfigError *err)
{
	return problem ? fail(err, "config", problem) : 0;
}

/* the shape: loss, widths, dimensions, then the optional parts in layout order */
static int
read_arch(const LmJsonField *f, int64_t *vocab, LmArch *arch, LmConfigError *err)
{
	int			meta_hidden[LM_MAX_HIDDEN];
	int			global_hidden[LM_MAX_HIDDEN];
	int			n_meta,
				n_global;
	int			member_dim,
				item_dim,
				embedding_dim;
	int			buckets = 0;
	int			on;
	const LmJsonField *loss_v;
	LmLoss		loss;

	TRY(get(f, LM_CK_LOSS, 1, &loss_v, err));
	if (loss_v->kind == LM_JSON_STRING && loss_v->n_elems == 3 &&
		loss_v->string[0] == 'b' && loss_v->string[1] == 'c' && loss_v->string[2] == 'e')
		loss = LM_LOSS_BCE;
	else if (loss_v->kind == LM_JSON_STRING && loss_v->n_elems == 3 &&
			 loss_v->string[0] == 'm' && loss_v->string[1] == 's' && loss_v->string[2] == 'e')
		loss = LM_LOSS_MSE;
	else
		return fail(err, "loss", "must be \"bce\" or \"mse\"");
	TRY(widths(f, LM_CK_META_HIDDEN, meta_hidden, &n_meta, err));
	TRY(widths(f, LM_CK_GLOBAL_HIDDEN, global_hidden, &n_global, err));
	TRY(int_member(f, LM_CK_MEMBER_DIM, &member_dim, err));
	TRY(int_member(f, LM_CK_ITEM_DIM, &item_dim, err));
	TRY(int_member(f, LM_CK_EMBEDDING_DIM, &embedding_dim, err));
	TRY(arch_problem(lm_arch_init(arch, member_dim, item_dim, embedding_dim, meta_hidden,
								  n_meta, global_hidden, n_global, loss), err));

	TRY(optional_int(f, LM_CK_ITEM_BUCKETS, 0, &buckets, err));
	if (buckets < 0)
		return fail(err, "item_buckets", "must not be negative");
	if (buckets > 0)
	{
		int			dim;

		TRY(int_member(f, LM_CK_ITEM_EMBEDDING_DIM, &dim, err));
		TRY(arch_problem(lm_arch_enable_item_embedding(arch, buckets, dim), err));
		TRY(item_vocab(f, arch->item_buckets, vocab, arch, err));
	}
	else if (f[LM_CK_ITEM_VOCAB].kind != LM_JSON_ABSENT)
		return fail(err, "item_vocab", "needs item_buckets");

	TRY(flag(f, LM_CK_HISTORY, &on, err));
	if (on)
		TRY(arch_problem(lm_arch_enable_history(arch, meta_hidden, n_meta), err));
	TRY(flag(f, LM_CK_WIDE, &on, err));
	if (on)
	{
		int			rank;
		double		lambda;

		TRY(int_member(f, LM_CK_WIDE_RANK, &rank, err));
		TRY(required_number(f, LM_CK_RIDGE_LAMBDA, &lambda, err));
		TRY(arch_problem(lm_arch_enable_wide(arch, rank, lambda), err));
	}
	TRY(flag(f, LM_CK_BILINEAR, &on, err));
	if (on)
		lm_arch_enable_bilinear(arch);
	TRY(flag(f, LM_CK_META_SGD, &on, err));
	if (on)
		lm_arch_enable_meta_sgd(arch);
	return 0;
}

int
lm_config_read(const LmJsonField *fields, int64_t *vocab, LmArch *arch, LmConfig *cfg,
			   LmConfigError *err)
{
	const LmJsonField *v;

	TRY(read_arch(fields, vocab, arch, err));
	TRY(int_member(fields, LM_CK_INNER_STEPS, &cfg->inner_steps, err));
	TRY(required_number(fields, LM_CK_INNER_LR, &cfg->inner_lr, err));
	TRY(int_member(fields, LM_CK_SUPPORT_SIZE, &cfg->support_size, err));
	TRY(int_member(fields, LM_CK_QUERY_SIZE, &cfg->query_size, err));
	TRY(get(fields, LM_CK_SEED, 1, &v, err));
	TRY(int64_value(v, "seed", &cfg->seed, err));
	/* optional: adaptation defaults to the training inner loop */
	TRY(optional_int(fields, LM_CK_ADAPT_STEPS, cfg->inner_steps, &cfg->adapt_steps, err));
	cfg->adapt_lr = cfg->inner_lr;
	if (fields[LM_CK_ADAPT_LR].kind != LM_JSON_ABSENT)
		TRY(required_number(fields, LM_CK_ADAPT_LR, &cfg->adapt_lr, err));
	/* optional: negatives sampled per positive row (positive-only logs) */
	TRY(optional_int(fields, LM_CK_NEGATIVES, 0, &cfg->negatives, err));
	if (cfg->negatives > 0 && arch->loss != LM_LOSS_BCE)
		return fail(err, "negatives", "needs loss bce");
	err->what = "config:";
	return lm_config_check(cfg, err->problem, sizeof(err->problem));
}

/* %g as PostgreSQL's snprintf prints it: NaN and Infinity spelled out */
static const char *
g(double x, char *buf, size_t len)
{
	if (isnan(x))
		return "NaN";
	if (isinf(x))
		return x > 0 ? "Infinity" : "-Infinity";
	snprintf(buf, len, "%g", x);
	return buf;
}

int
lm_config_check(const LmConfig *cfg, char *buf, size_t len)
{
	char		num[32];

	if (cfg->inner_steps < 0 || cfg->inner_steps > 1000)
		snprintf(buf, len, "inner_steps must be between 0 and 1000, not %d", cfg->inner_steps);
	else if (!(cfg->inner_lr >= 1e-6 && cfg->inner_lr <= 100))
		snprintf(buf, len, "inner_lr must be between 1e-06 and 100, not %s",
				 g(cfg->inner_lr, num, sizeof(num)));
	else if (cfg->support_size < 1 || cfg->support_size > 100000)
		snprintf(buf, len, "support_size must be between 1 and 100000, not %d", cfg->support_size);
	else if (cfg->query_size < 1 || cfg->query_size > 100000)
		snprintf(buf, len, "query_size must be between 1 and 100000, not %d", cfg->query_size);
	else if (cfg->adapt_steps < 0 || cfg->adapt_steps > 1000)
		snprintf(buf, len, "adapt_steps must be between 0 and 1000, not %d", cfg->adapt_steps);
	else if (!(cfg->adapt_lr >= 1e-6 && cfg->adapt_lr <= 100))
		snprintf(buf, len, "adapt_lr must be between 1e-06 and 100, not %s",
				 g(cfg->adapt_lr, num, sizeof(num)));
	else if (cfg->negatives < 0 || cfg->negatives > LM_MAX_NEGATIVES)
		snprintf(buf, len, "negatives must be between 1 and %d, not %d", LM_MAX_NEGATIVES,
				 cfg->negatives);
	else
		return 0;
	return 1;
}
