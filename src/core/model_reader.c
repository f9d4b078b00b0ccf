/*
 * model_reader.c - the model JSON readers (model_reader.h).  Each helper
 * returns LM_READ_OK or the status it filled *err with; TRY passes it up.
 */
#include "model_reader.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "items.h"
#include "wide.h"

#define TRY(x) do { LmReadStatus st_ = (x); if (st_) return st_; } while (0)

#define FORMAT_NAME "limaml-model"
#define FORMAT_VERSION 3		/* what export writes */
#define FORMAT_VERSION_MIN 1	/* the oldest import reads: 0.1.0's */

typedef struct Doc
{
	const LmJsonOps *ops;
	LmReadError *err;
} Doc;

static LmReadStatus
fail(Doc *d, const char *what, const char *problem)
{
	d->err->what = what;
	snprintf(d->err->problem, sizeof(d->err->problem), "%s", problem);
	return LM_READ_INVALID;
}

/* a member; an absent one fails when required */
static LmReadStatus
get(Doc *d, const void *obj, const char *key, int required, LmJsonField *v)
{
	d->ops->member(d->ops->ctx, obj, key, v);
	if (v->kind == LM_JSON_ABSENT && required)
		return fail(d, key, "is missing");
	return LM_READ_OK;
}

static LmReadStatus
number(Doc *d, const LmJsonField *v, const char *what, double *x)
{
	if (v->kind != LM_JSON_NUMBER)
		return fail(d, what, "must be a number");
	if (!isfinite(v->number))
		return fail(d, what, "must be finite");
	*x = v->number;
	return LM_READ_OK;
}

/* an exact integer, from the number's text (a double would round) */
static LmReadStatus
int64_number(Doc *d, const LmJsonField *v, const char *what, int64_t *x)
{
	if (v->kind != LM_JSON_NUMBER)
		return fail(d, what, "must be a number");
	if (!d->ops->int64_value(d->ops->ctx, v, x))
		return fail(d, what, "must be a 64-bit integer");
	return LM_READ_OK;
}

/* a parameter: finite and within float32's range */
static LmReadStatus
real_number(Doc *d, const LmJsonField *v, const char *what, lm_real *x)
{
	double		y;

	TRY(number(d, v, what, &y));
	if (fabs(y) > FLT_MAX)
		return fail(d, what, "must be within the range of real");
	*x = (lm_real) (float) y;
	return LM_READ_OK;
}

static LmReadStatus
required_number(Doc *d, const void *obj, const char *key, double *x)
{
	LmJsonField v;

	TRY(get(d, obj, key, 1, &v));
	return number(d, &v, key, x);
}

static LmReadStatus
int_member(Doc *d, const void *obj, const char *key, int *out)
{
	double		x;

	TRY(required_number(d, obj, key, &x));
	if (x != floor(x) || fabs(x) > INT32_MAX)
		return fail(d, key, "must be an integer");
	*out = (int) x;
	return LM_READ_OK;
}

/* an optional integer member: dflt when absent */
static LmReadStatus
optional_int(Doc *d, const void *obj, const char *key, int dflt, int *out)
{
	LmJsonField v;

	TRY(get(d, obj, key, 0, &v));
	*out = dflt;
	return v.kind == LM_JSON_ABSENT ? LM_READ_OK : int_member(d, obj, key, out);
}

static LmReadStatus
array(Doc *d, const LmJsonField *v, const char *what)
{
	return v->kind == LM_JSON_ARRAY ? LM_READ_OK : fail(d, what, "must be an array");
}

/* a required member that is an array */
static LmReadStatus
array_member(Doc *d, const void *obj, const char *key, LmJsonField *v)
{
	TRY(get(d, obj, key, 1, v));
	return array(d, v, key);
}

static void
element(Doc *d, const LmJsonField *arr, int i, LmJsonField *v)
{
	d->ops->element(d->ops->ctx, arr->node, i, v);
}

static LmReadStatus
widths(Doc *d, const void *c, const char *key, int *out, int *n)
{
	LmJsonField v;

	TRY(array_member(d, c, key, &v));
	if (v.n_elems > LM_MAX_HIDDEN)
		return fail(d, key, "has too many layers");
	for (int i = 0; i < v.n_elems; i++)
	{
		LmJsonField e;
		double		x;

		element(d, &v, i, &e);
		TRY(number(d, &e, key, &x));
		if (x != floor(x) || x < 1 || x > LM_MAX_WIDTH)
			return fail(d, key, "must hold widths between 1 and 4096");
		out[i] = (int) x;
	}
	*n = v.n_elems;
	return LM_READ_OK;
}

/* an optional true/false member: false when absent */
static LmReadStatus
flag(Doc *d, const void *c, const char *key, int *out)
{
	LmJsonField v;

	TRY(get(d, c, key, 0, &v));
	*out = 0;
	if (v.kind == LM_JSON_ABSENT)
		return LM_READ_OK;
	if (v.kind != LM_JSON_BOOL)
		return fail(d, key, "must be true or false");
	*out = v.boolean;
	return LM_READ_OK;
}

/* the optional item vocabulary: n strictly ascending item ids */
static LmReadStatus
item_vocab(Doc *d, const void *c, int n, LmArch *arch)
{
	LmJsonField v;
	int64_t    *ids;

	TRY(get(d, c, "item_vocab", 0, &v));
	if (v.kind == LM_JSON_ABSENT)
		return LM_READ_OK;
	TRY(array(d, &v, "item_vocab"));
	if (v.n_elems != n)
		return fail(d, "item_vocab", "must hold item_buckets ids");
	ids = d->ops->alloc(d->ops->ctx, sizeof(int64_t) * n);
	for (int i = 0; i < n; i++)
	{
		LmJsonField e;

		element(d, &v, i, &e);
		TRY(int64_number(d, &e, "item_vocab", &ids[i]));
		if (i > 0 && ids[i] <= ids[i - 1])
			return fail(d, "item_vocab", "must be strictly ascending");
	}
	arch->item_vocab = ids;
	return LM_READ_OK;
}

static LmReadStatus
arch_problem(Doc *d, const char *problem)
{
	return problem ? fail(d, "config", problem) : LM_READ_OK;
}

/* the shape: loss, widths, dimensions, then the optional parts in layout order */
static LmReadStatus
read_arch(Doc *d, const void *c, LmArch *arch)
{
	int			meta_hidden[LM_MAX_HIDDEN];
	int			global_hidden[LM_MAX_HIDDEN];
	int			n_meta,
				n_global;
	int			member_dim,
				item_dim,
				embedding_dim;
	int			buckets;
	int			on;
	LmJsonField loss_v;
	LmJsonField v;
	LmLoss		loss;

	TRY(get(d, c, "loss", 1, &loss_v));
	if (loss_v.kind == LM_JSON_STRING && loss_v.n_elems == 3 &&
		memcmp(loss_v.string, "bce", 3) == 0)
		loss = LM_LOSS_BCE;
	else if (loss_v.kind == LM_JSON_STRING && loss_v.n_elems == 3 &&
			 memcmp(loss_v.string, "mse", 3) == 0)
		loss = LM_LOSS_MSE;
	else
		return fail(d, "loss", "must be \"bce\" or \"mse\"");
	TRY(widths(d, c, "meta_hidden", meta_hidden, &n_meta));
	TRY(widths(d, c, "global_hidden", global_hidden, &n_global));
	TRY(int_member(d, c, "member_dim", &member_dim));
	TRY(int_member(d, c, "item_dim", &item_dim));
	TRY(int_member(d, c, "embedding_dim", &embedding_dim));
	TRY(arch_problem(d, lm_arch_init(arch, member_dim, item_dim, embedding_dim, meta_hidden,
									 n_meta, global_hidden, n_global, loss)));

	TRY(optional_int(d, c, "item_buckets", 0, &buckets));
	if (buckets < 0)
		return fail(d, "item_buckets", "must not be negative");
	if (buckets > 0)
	{
		int			dim;

		TRY(int_member(d, c, "item_embedding_dim", &dim));
		TRY(arch_problem(d, lm_arch_enable_item_embedding(arch, buckets, dim)));
		TRY(item_vocab(d, c, arch->item_buckets, arch));
	}
	else
	{
		TRY(get(d, c, "item_vocab", 0, &v));
		if (v.kind != LM_JSON_ABSENT)
			return fail(d, "item_vocab", "needs item_buckets");
	}

	TRY(flag(d, c, "history", &on));
	if (on)
		TRY(arch_problem(d, lm_arch_enable_history(arch, meta_hidden, n_meta)));
	TRY(flag(d, c, "wide", &on));
	if (on)
	{
		int			rank;
		double		lambda;

		TRY(int_member(d, c, "wide_rank", &rank));
		TRY(required_number(d, c, "ridge_lambda", &lambda));
		TRY(arch_problem(d, lm_arch_enable_wide(arch, rank, lambda)));
	}
	TRY(flag(d, c, "wide_features", &on));
	if (on)
		TRY(arch_problem(d, lm_arch_enable_wide_features(arch)));
	TRY(flag(d, c, "bilinear", &on));
	if (on)
		lm_arch_enable_bilinear(arch);
	TRY(flag(d, c, "learn_lambda", &on));
	if (on)
		TRY(arch_problem(d, lm_arch_enable_learned_lambda(arch)));
	TRY(flag(d, c, "fold_in", &on));
	if (on)
		TRY(arch_problem(d, lm_arch_enable_fold_in(arch)));
	TRY(flag(d, c, "meta_sgd", &on));
	if (on)
		lm_arch_enable_meta_sgd(arch);
	return LM_READ_OK;
}

static LmReadStatus
read_config(Doc *d, const void *c, LmArch *arch, LmConfig *cfg)
{
	LmJsonField v;

	TRY(read_arch(d, c, arch));
	TRY(int_member(d, c, "inner_steps", &cfg->inner_steps));
	TRY(required_number(d, c, "inner_lr", &cfg->inner_lr));
	TRY(int_member(d, c, "support_size", &cfg->support_size));
	TRY(int_member(d, c, "query_size", &cfg->query_size));
	TRY(get(d, c, "seed", 1, &v));
	TRY(int64_number(d, &v, "seed", &cfg->seed));
	/* optional: adaptation defaults to the training inner loop */
	TRY(optional_int(d, c, "adapt_steps", cfg->inner_steps, &cfg->adapt_steps));
	TRY(get(d, c, "adapt_lr", 0, &v));
	cfg->adapt_lr = cfg->inner_lr;
	if (v.kind != LM_JSON_ABSENT)
		TRY(number(d, &v, "adapt_lr", &cfg->adapt_lr));
	/* optional: negatives sampled per positive row (positive-only logs) */
	TRY(optional_int(d, c, "negatives", 0, &cfg->negatives));
	if (cfg->negatives > 0 && arch->loss != LM_LOSS_BCE)
		return fail(d, "negatives", "needs loss bce");
	d->err->what = "config:";
	return lm_config_check(cfg, d->err->problem, sizeof(d->err->problem)) ?
		LM_READ_INVALID : LM_READ_OK;
}

LmReadStatus
lm_config_read(const LmJsonOps *ops, const void *config, LmArch *arch, LmConfig *cfg,
			   LmReadError *err)
{
	Doc			d = {ops, err};

	return read_config(&d, config, arch, cfg);
}

LmReadStatus
lm_model_read_config(const LmJsonOps *ops, const void *root, int *format_version,
					 LmArch *arch, LmConfig *cfg, LmReadError *err)
{
	Doc			d = {ops, err};
	LmJsonField v;

	TRY(get(&d, root, "format", 1, &v));
	if (v.kind != LM_JSON_STRING || v.n_elems != (int) strlen(FORMAT_NAME) ||
		memcmp(v.string, FORMAT_NAME, v.n_elems) != 0)
		return fail(&d, "format", "must be \"" FORMAT_NAME "\"");
	TRY(int_member(&d, root, "format_version", format_version));
	if (*format_version < FORMAT_VERSION_MIN || *format_version > FORMAT_VERSION)
		return fail(&d, "format_version", "is not supported by this limaml version");
	TRY(get(&d, root, "config", 1, &v));
	if (v.kind != LM_JSON_OBJECT)
		return fail(&d, "config", "must be an object");
	TRY(read_config(&d, v.node, arch, cfg));
	/* 0.1.0 had no wide head */
	if (*format_version < 2 && arch->wide)
		return fail(&d, "wide", "needs format_version 2");
	return LM_READ_OK;
}

/* ---------------------------------------------------------------- parameters */

/* one block's layers into block, in torch.nn.Linear's layout, checking every shape */
static LmReadStatus
read_block(Doc *d, const void *root, const char *key, const LmDense *layers, int n_layers,
		   lm_real *block)
{
	LmJsonField arr;

	TRY(array_member(d, root, key, &arr));
	if (arr.n_elems != n_layers)
		return fail(d, key, "has the wrong number of layers for its config");
	for (int l = 0; l < n_layers; l++)
	{
		const LmDense *layer = &layers[l];
		LmJsonField lv,
					weight,
					bias;

		element(d, &arr, l, &lv);
		/* an array passes here as the server's jsonb check lets it, and has no weight */
		if (lv.kind != LM_JSON_OBJECT && lv.kind != LM_JSON_ARRAY)
			return fail(d, key, "layers must be objects");
		TRY(array_member(d, lv.node, "weight", &weight));
		TRY(array_member(d, lv.node, "bias", &bias));
		if (weight.n_elems != layer->out_dim || bias.n_elems != layer->out_dim)
			return fail(d, key, "has a layer of the wrong output width");
		for (int o = 0; o < layer->out_dim; o++)
		{
			LmJsonField row,
						x;

			element(d, &weight, o, &row);
			TRY(array(d, &row, "weight"));
			if (row.n_elems != layer->in_dim)
				return fail(d, key, "has a layer of the wrong input width");
			for (int i = 0; i < layer->in_dim; i++)
			{
				element(d, &row, i, &x);
				TRY(real_number(d, &x, "weight",
								&block[layer->w_off + (size_t) o * layer->in_dim + i]));
			}
			element(d, &bias, o, &x);
			TRY(real_number(d, &x, "bias", &block[layer->b_off + o]));
		}
	}
	return LM_READ_OK;
}

/* a [rows][cols] matrix of numbers into m */
static LmReadStatus
read_matrix(Doc *d, const void *root, const char *key, lm_real *m, int rows, int cols)
{
	LmJsonField matrix;

	TRY(array_member(d, root, key, &matrix));
	if (matrix.n_elems != rows)
		return fail(d, key, "has the wrong number of rows for its config");
	for (int o = 0; o < rows; o++)
	{
		LmJsonField row,
					x;

		element(d, &matrix, o, &row);
		TRY(array(d, &row, key));
		if (row.n_elems != cols)
			return fail(d, key, "has a row of the wrong width for its config");
		for (int i = 0; i < cols; i++)
		{
			element(d, &row, i, &x);
			TRY(real_number(d, &x, key, &m[(size_t) o * cols + i]));
		}
	}
	return LM_READ_OK;
}

/*
 * An all-zero row of the item-ID table means "never trained": adaptation and
 * serving read the unknown row instead (items.c).  Format 2 lists those
 * buckets in item_embeddings_untrained, and the list and the table must
 * agree, so that no row meant as a trained item (a padding row, a row that
 * happens to be zero) is quietly served as the unknown item.  Format 1 had
 * no list: its zero rows keep that meaning, with a warning (ops->zero_rows).
 */
static LmReadStatus
check_untrained_rows(Doc *d, const void *root, int format_version, const LmArch *arch,
					 const lm_real *global)
{
	const char *key = "item_embeddings_untrained";
	int			buckets = arch->item_buckets;
	LmJsonField list;
	unsigned char *listed = NULL;
	int			n_unlisted = 0;
	int			first_unlisted = -1;

	TRY(get(d, root, key, 0, &list));
	if (list.kind != LM_JSON_ABSENT)
	{
		TRY(array(d, &list, key));
		listed = d->ops->alloc(d->ops->ctx, buckets);
		memset(listed, 0, buckets);
		for (int i = 0; i < list.n_elems; i++)
		{
			LmJsonField e;
			double		x;
			int32_t		b;

			element(d, &list, i, &e);
			TRY(number(d, &e, key, &x));
			if (x != floor(x) || x < 0 || x >= buckets)
				return fail(d, key, "must hold bucket numbers from 0 to item_buckets - 1");
			b = (int32_t) x;
			if (listed[b])
				return fail(d, key, "must not list a bucket twice");
			if (lm_item_row(arch, global, b, 1) == b)
			{
				d->err->what = key;
				d->err->bucket = b;
				return LM_READ_LISTED_NOT_ZERO;
			}
			listed[b] = 1;
		}
	}
	for (int b = 0; b < buckets; b++)
		if (lm_item_row(arch, global, b, 1) != b && !(listed && listed[b]))
		{
			if (n_unlisted++ == 0)
				first_unlisted = b;
		}
	if (n_unlisted == 0)
		return LM_READ_OK;
	if (format_version >= 2 || listed)
	{
		d->err->what = key;
		d->err->n = n_unlisted;
		d->err->bucket = first_unlisted;
		return LM_READ_UNLISTED_ZERO;
	}
	d->ops->zero_rows(d->ops->ctx, n_unlisted, buckets);
	return LM_READ_OK;
}

LmReadStatus
lm_model_read_params(const LmJsonOps *ops, const void *root, int format_version,
					 const LmArch *arch, lm_real *params, LmReadError *err)
{
	Doc			d = {ops, err};
	lm_real    *global = params + arch->n_meta_params;

	TRY(read_block(&d, root, "meta", arch->meta, arch->n_meta, params));
	TRY(read_block(&d, root, "global", arch->global, arch->n_global, global));
	if (arch->item_buckets)
	{
		TRY(read_matrix(&d, root, "item_embeddings", global + arch->item_table_off,
						arch->item_buckets + 1, arch->item_embedding_dim));
		TRY(check_untrained_rows(&d, root, format_version, arch, global));
	}
	if (arch->wide)
		TRY(read_matrix(&d, root, "wide_table", global + arch->wide_off,
						arch->item_buckets + 1, 1 + arch->wide_rank));
	if (arch->learn_lambda)
	{
		TRY(read_matrix(&d, root, "ridge_log_lambda", global + arch->lambda_off,
						1, lm_lambda_groups(arch)));
		for (int g = 0; g < lm_lambda_groups(arch); g++)
			if (!(global[arch->lambda_off + g] >= LM_LOG_LAMBDA_MIN &&
				  global[arch->lambda_off + g] <= LM_LOG_LAMBDA_MAX))
				return fail(&d, "ridge_log_lambda", "holds a value outside ln 1e-6 to ln 1e6");
	}
	if (arch->fold_in)
	{
		LmJsonField v;

		TRY(get(&d, root, "fold_in_weight", 1, &v));
		TRY(real_number(&d, &v, "fold_in_weight", global + arch->fold_in_off));
	}
	if (arch->bilinear)
		TRY(read_matrix(&d, root, "bilinear", global + arch->bilinear_off,
						arch->embedding_dim, arch->item_dim));
	if (arch->n_lr_params)
		TRY(read_block(&d, root, "inner_rates", arch->meta, arch->n_meta,
					   global + arch->n_global_params));
	return LM_READ_OK;
}

/* ---------------------------------------------------------------- ranges */

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

/* a UUID's dashes: 8-4-4-4-12 digits */
static int
uuid_dash(int i)
{
	return i == 8 || i == 13 || i == 18 || i == 23;
}

/* len characters of hex digits (and, for a uuid, its dashes) into n_bytes */
static int
parse_hex(const char *s, int len, int uuid, uint8_t *out, int n_bytes)
{
	int			k = 0;

	for (int i = 0; i < len; i++)
	{
		int			c = (unsigned char) s[i],
					v;

		if (uuid && uuid_dash(i))
		{
			if (c != '-')
				return 0;
			continue;
		}
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = (c | 0x20) - 'a' + 10;
		else
			return 0;
		if (k >= 2 * n_bytes)
			return 0;
		out[k / 2] = (uint8_t) (k % 2 ? (out[k / 2] | v) : v << 4);
		k++;
	}
	return k == 2 * n_bytes;
}

LmReadStatus
lm_model_read_identity(const LmJsonOps *ops, const void *root, int format_version,
					   LmModelIdentity *id, LmReadError *err)
{
	Doc			d = {ops, err};
	LmJsonField v;
	int64_t		version;

	memset(id, 0, sizeof(*id));
	if (format_version < 3)
		return LM_READ_OK;
	TRY(get(&d, root, "model_uuid", 1, &v));
	if (v.kind != LM_JSON_STRING || v.n_elems != 36 || !parse_hex(v.string, 36, 1, id->uuid, 16))
		return fail(&d, "model_uuid", "must be a UUID string");
	TRY(get(&d, root, "version", 1, &v));
	TRY(int64_number(&d, &v, "version", &version));
	if (version < 0 || version > INT32_MAX)
		return fail(&d, "version", "must be between 0 and 2147483647");
	id->version = (int32_t) version;
	TRY(get(&d, root, "content_hash", 1, &v));
	if (v.kind != LM_JSON_STRING || v.n_elems != 64 || !parse_hex(v.string, 64, 0, id->content_hash, 32))
		return fail(&d, "content_hash", "must be 64 hexadecimal digits");
	id->present = 1;
	return LM_READ_OK;
}
