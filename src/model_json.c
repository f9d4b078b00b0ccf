/*
 * model_json.c - a model version as jsonb: the configuration and every
 * parameter, in torch.nn.Linear's layout, read and written without touching
 * the catalog (catalog.c stores configurations this way; export_import.c
 * moves whole versions in and out).  The checks of hyperparameters that
 * limaml_create_model and import share live here too.
 *
 * {"format": "limaml-model", "format_version": 2, "name": ..., "version": ...,
 *  "config": {"member_dim", "item_dim", "embedding_dim", "meta_hidden",
 *             "global_hidden", "loss", "inner_steps", "inner_lr",
 *             "adapt_steps", "adapt_lr" (optional: default to inner_*),
 *             "support_size", "query_size", "seed", optional "bilinear",
 *             "meta_sgd", "item_buckets", "item_embedding_dim", and (format 2)
 *             "wide", "wide_rank", "ridge_lambda", optional "negatives" (0 when
 *             absent: negatives sampled per positive row)},
 *  "meta":   [{"weight": [[...] x out] (each [in]), "bias": [out]}, ...],
 *  "global": [...same...],
 *  "item_embeddings": [[...] x (item_buckets + 1)] (each [item_embedding_dim]; the last
 *                     row is the unknown item's)  (item-ID models only),
 *  "item_embeddings_untrained": [bucket, ...] (format 2, item-ID models: the
 *                     rows that are all zeros, served as the unknown item),
 *  "wide_table": [[bias, f...] x (item_buckets + 1)]  (format 2, wide head only),
 *  "bilinear": [[...] x embedding_dim] (each [item_dim + item_embedding_dim])  (bilinear only),
 *  "inner_rates": [...the meta block's layout...]}   (Meta-SGD models only)
 * Floats print with 9 significant digits, which float32 survives exactly.
 * Import reads format 1 (0.1.0: no wide head, no untrained list) and 2.
 */
#include "limaml.h"

#include "core/items.h"

#include <float.h>
#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/numeric.h"

#define FORMAT_NAME "limaml-model"
#define FORMAT_VERSION 2		/* what export writes */
#define FORMAT_VERSION_MIN 1	/* the oldest import reads: 0.1.0's */

/* ---------------------------------------------------------------- reading */

static void
json_error(const char *what, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("model json: %s %s", what, problem),
			 errhint("The layout is the one limaml_model_export writes; see the README.")));
}

static JsonbValue *
json_get(JsonbContainer *obj, const char *key, bool required)
{
	JsonbValue *v = palloc(sizeof(JsonbValue));

	if (!JsonContainerIsObject(obj) ||
		!getKeyJsonValueFromContainer(obj, key, strlen(key), v))
	{
		if (required)
			json_error(key, "is missing");
		return NULL;
	}
	return v;
}

static double
json_number(JsonbValue *v, const char *what)
{
	double		x;

	if (v == NULL || v->type != jbvNumeric)
		json_error(what, "must be a number");
	x = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
										   NumericGetDatum(v->val.numeric)));
	if (!isfinite(x))
		json_error(what, "must be finite");
	return x;
}

/* a parameter: finite and within float32's range */
static float
json_float(JsonbValue *v, const char *what)
{
	double		x = json_number(v, what);

	if (fabs(x) > FLT_MAX)
		json_error(what, "must be within the range of real");
	return (float) x;
}

static JsonbContainer *
json_array(JsonbValue *v, const char *what)
{
	if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		json_error(what, "must be an array");
	return v->val.binary.data;
}

static int
json_int(JsonbContainer *obj, const char *key)
{
	double		x = json_number(json_get(obj, key, true), key);

	if (x != floor(x) || fabs(x) > PG_INT32_MAX)
		json_error(key, "must be an integer");
	return (int) x;
}

/* NULL, or what is wrong with the hyperparameters (create and import share it) */
const char *
lm_config_problem(const LmConfig *cfg)
{
	char		buf[160];

	return lm_config_check(cfg, buf, sizeof(buf)) ? pstrdup(buf) : NULL;
}

/* one member (v NULL: absent) as core/model_config.c reads it */
static void
json_field(JsonbValue *v, LmJsonField *f, int max_elems)
{
	memset(f, 0, sizeof(*f));
	if (v == NULL)
		return;
	switch (v->type)
	{
		case jbvNumeric:
			{
				char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
																	 NumericGetDatum(v->val.numeric)));
				char	   *end;

				f->kind = LM_JSON_NUMBER;
				f->number = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
															   NumericGetDatum(v->val.numeric)));
				errno = 0;
				f->int64 = strtoi64(text, &end, 10);
				f->is_int64 = errno == 0 && *end == '\0';
				pfree(text);
				break;
			}
		case jbvString:
			f->kind = LM_JSON_STRING;
			f->string = v->val.string.val;
			f->n_elems = v->val.string.len;
			break;
		case jbvBool:
			f->kind = LM_JSON_BOOL;
			f->boolean = v->val.boolean;
			break;
		case jbvBinary:
			if (JsonContainerIsArray(v->val.binary.data))
			{
				JsonbContainer *arr = v->val.binary.data;
				LmJsonField *elems;

				f->kind = LM_JSON_ARRAY;
				f->n_elems = JsonContainerSize(arr);
				if (f->n_elems > max_elems)
					break;
				/* elements' own elements are never read */
				elems = palloc(sizeof(LmJsonField) * (f->n_elems + 1));
				for (int i = 0; i < f->n_elems; i++)
					json_field(getIthJsonbValueFromContainer(arr, i), &elems[i], 0);
				f->elems = elems;
				break;
			}
			f->kind = LM_JSON_OTHER;
			break;
		default:
			f->kind = LM_JSON_OTHER;
			break;
	}
}

/* the configuration object: shape into *arch, hyperparameters into *cfg */
static void
config_from_container(JsonbContainer *c, LmArch *arch, LmConfig *cfg)
{
	LmJsonField fields[LM_N_CONFIG_KEYS];
	int64	   *vocab;
	LmConfigError err;

	for (int k = 0; k < LM_N_CONFIG_KEYS; k++)
		json_field(json_get(c, lm_config_keys[k], false), &fields[k],
				   lm_config_max_elems((LmConfigKey) k));
	vocab = fields[LM_CK_ITEM_VOCAB].elems ?
		palloc(sizeof(int64) * (fields[LM_CK_ITEM_VOCAB].n_elems + 1)) : NULL;
	if (lm_config_read(fields, vocab, arch, cfg, &err))
		json_error(err.what, err.problem);
}

void
lm_config_from_jsonb(Jsonb *config, LmArch *arch, LmConfig *cfg)
{
	config_from_container(&config->root, arch, cfg);
}

/* reads one block's layers into params, checking every shape */
static void
read_block(JsonbContainer *model, const char *key, const LmDense *layers,
		   int n_layers, float *block)
{
	JsonbContainer *arr = json_array(json_get(model, key, true), key);

	if (JsonContainerSize(arr) != (uint32) n_layers)
		json_error(key, "has the wrong number of layers for its config");
	for (int l = 0; l < n_layers; l++)
	{
		const LmDense *layer = &layers[l];
		JsonbValue *lv = getIthJsonbValueFromContainer(arr, l);
		JsonbContainer *weight,
				   *bias;

		if (lv == NULL || lv->type != jbvBinary)
			json_error(key, "layers must be objects");
		weight = json_array(json_get(lv->val.binary.data, "weight", true), "weight");
		bias = json_array(json_get(lv->val.binary.data, "bias", true), "bias");
		if (JsonContainerSize(weight) != (uint32) layer->out_dim ||
			JsonContainerSize(bias) != (uint32) layer->out_dim)
			json_error(key, "has a layer of the wrong output width");
		for (int o = 0; o < layer->out_dim; o++)
		{
			JsonbContainer *row = json_array(getIthJsonbValueFromContainer(weight, o), "weight");

			if (JsonContainerSize(row) != (uint32) layer->in_dim)
				json_error(key, "has a layer of the wrong input width");
			for (int i = 0; i < layer->in_dim; i++)
				block[layer->w_off + (size_t) o * layer->in_dim + i] =
					json_float(getIthJsonbValueFromContainer(row, i), "weight");
			block[layer->b_off + o] =
				json_float(getIthJsonbValueFromContainer(bias, o), "bias");
		}
	}
}

/* a [rows][cols] matrix of numbers into m */
static void
read_matrix(JsonbContainer *obj, const char *key, float *m, int rows, int cols)
{
	JsonbContainer *matrix = json_array(json_get(obj, key, true), key);

	if (JsonContainerSize(matrix) != (uint32) rows)
		json_error(key, "has the wrong number of rows for its config");
	for (int o = 0; o < rows; o++)
	{
		JsonbContainer *row = json_array(getIthJsonbValueFromContainer(matrix, o), key);

		if (JsonContainerSize(row) != (uint32) cols)
			json_error(key, "has a row of the wrong width for its config");
		for (int i = 0; i < cols; i++)
			m[(size_t) o * cols + i] = json_float(getIthJsonbValueFromContainer(row, i), key);
	}
}

/*
 * An all-zero row of the item-ID table means "never trained": adaptation and
 * serving read the unknown row instead (core/items.c).  Format 2 lists those
 * buckets in item_embeddings_untrained, and the list and the table must
 * agree, so that no row meant as a trained item (a padding row, a row that
 * happens to be zero) is quietly served as the unknown item.  Format 1 had
 * no list: its zero rows keep that meaning, with a warning.
 */
static void
check_untrained_rows(JsonbContainer *root, int format_version, const LmArch *arch,
					 const float *global)
{
	const char *key = "item_embeddings_untrained";
	int			buckets = arch->item_buckets;
	JsonbValue *list_v = json_get(root, key, false);
	bool	   *listed = NULL;
	int			n_unlisted = 0;
	int			first_unlisted = -1;

	if (list_v)
	{
		JsonbContainer *list = json_array(list_v, key);

		listed = palloc0(sizeof(bool) * buckets);
		for (uint32 i = 0; i < JsonContainerSize(list); i++)
		{
			double		x = json_number(getIthJsonbValueFromContainer(list, i), key);
			int32		b;

			if (x != floor(x) || x < 0 || x >= buckets)
				json_error(key, "must hold bucket numbers from 0 to item_buckets - 1");
			b = (int32) x;
			if (listed[b])
				json_error(key, "must not list a bucket twice");
			if (lm_item_row(arch, global, b, 1) == b)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("model json: %s lists bucket %d, whose item_embeddings row is not all zeros",
								key, b),
						 errhint("List only never-trained buckets, whose rows are all zeros.")));
			listed[b] = true;
		}
	}
	for (int b = 0; b < buckets; b++)
		if (lm_item_row(arch, global, b, 1) != b && !(listed && listed[b]))
		{
			if (n_unlisted++ == 0)
				first_unlisted = b;
		}
	if (n_unlisted == 0)
		return;
	if (format_version >= 2 || listed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("model json: item_embeddings has %d all-zero row that %s does not list (bucket %d)",
							   "model json: item_embeddings has %d all-zero rows that %s does not list (the first: bucket %d)",
							   n_unlisted, n_unlisted, key, first_unlisted),
				 errdetail("limaml serves an all-zero row as the unknown item (the last row), so their items would score as unknown items."),
				 errhint("List the never-trained buckets in %s; a trained row must not be all zeros.",
						 key)));
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg_plural("model json: %d of the %d item_embeddings buckets is all zeros and will be served as the unknown item",
						   "model json: %d of the %d item_embeddings buckets are all zeros and will be served as the unknown item",
						   n_unlisted, n_unlisted, buckets),
			 errdetail("A format_version 1 document does not say which rows were never trained; limaml reads an all-zero row as never trained."),
			 errhint("Write format_version 2 with the never-trained buckets in %s to make this explicit.",
					 key)));
}

float *
lm_model_from_jsonb(Jsonb *json, const char *name, LmArch *arch, LmConfig *cfg)
{
	JsonbContainer *root = &json->root;
	JsonbValue *format;
	JsonbValue *config_v;
	float	   *params;
	int			format_version;

	format = json_get(root, "format", true);
	if (format->type != jbvString || format->val.string.len != strlen(FORMAT_NAME) ||
		strncmp(format->val.string.val, FORMAT_NAME, format->val.string.len) != 0)
		json_error("format", "must be \"" FORMAT_NAME "\"");
	format_version = json_int(root, "format_version");
	if (format_version < FORMAT_VERSION_MIN || format_version > FORMAT_VERSION)
		json_error("format_version", "is not supported by this limaml version");
	config_v = json_get(root, "config", true);
	if (config_v->type != jbvBinary || !JsonContainerIsObject(config_v->val.binary.data))
		json_error("config", "must be an object");
	config_from_container(config_v->val.binary.data, arch, cfg);
	/* 0.1.0 had no wide head */
	if (format_version < 2 && arch->wide)
		json_error("wide", "needs format_version 2");

	lm_check_model_size(arch, name);
	params = palloc(arch->n_params * sizeof(float));
	read_block(root, "meta", arch->meta, arch->n_meta, params);
	read_block(root, "global", arch->global, arch->n_global, params + arch->n_meta_params);
	if (arch->item_buckets)
	{
		read_matrix(root, "item_embeddings", params + arch->n_meta_params + arch->item_table_off,
					arch->item_buckets + 1, arch->item_embedding_dim);
		check_untrained_rows(root, format_version, arch, params + arch->n_meta_params);
	}
	if (arch->wide)
		read_matrix(root, "wide_table", params + arch->n_meta_params + arch->wide_off,
					arch->item_buckets + 1, 1 + arch->wide_rank);
	if (arch->bilinear)
		read_matrix(root, "bilinear", params + arch->n_meta_params + arch->bilinear_off,
					arch->embedding_dim, arch->item_dim);
	if (arch->n_lr_params)
		read_block(root, "inner_rates", arch->meta, arch->n_meta,
				   params + arch->n_meta_params + arch->n_global_params);
	return params;
}

/* ---------------------------------------------------------------- writing */

const char *
lm_loss_name(LmLoss loss)
{
	return loss == LM_LOSS_BCE ? "bce" : "mse";
}


static void
append_float(StringInfo buf, float x)
{
	if (!isfinite(x))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model parameter is not finite")));
	appendStringInfo(buf, "%.9g", x);
}

static void
append_int_list(StringInfo buf, const LmDense *layers, int n_hidden)
{
	appendStringInfoChar(buf, '[');
	for (int l = 0; l < n_hidden; l++)
		appendStringInfo(buf, "%s%d", l ? ", " : "", layers[l].out_dim);
	appendStringInfoChar(buf, ']');
}

char *
lm_config_to_json(const LmArch *arch, const LmConfig *cfg)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"member_dim\": %d, \"item_dim\": %d, \"embedding_dim\": %d, "
					 "\"meta_hidden\": ", arch->member_dim, arch->item_feature_dim, arch->embedding_dim);
	append_int_list(&buf, arch->meta, arch->n_meta - 1);
	appendStringInfoString(&buf, ", \"global_hidden\": ");
	append_int_list(&buf, arch->global, arch->n_global - 1);
	appendStringInfo(&buf, ", \"loss\": \"%s\", \"inner_steps\": %d, \"inner_lr\": ",
					 lm_loss_name(arch->loss), cfg->inner_steps);
	append_float(&buf, (float) cfg->inner_lr);
	appendStringInfo(&buf, ", \"adapt_steps\": %d, \"adapt_lr\": ", cfg->adapt_steps);
	append_float(&buf, (float) cfg->adapt_lr);
	appendStringInfo(&buf, ", \"support_size\": %d, \"query_size\": %d, \"seed\": " INT64_FORMAT
					 ", \"bilinear\": %s, \"meta_sgd\": %s, \"item_buckets\": %d, "
					 "\"item_embedding_dim\": %d", cfg->support_size, cfg->query_size,
					 cfg->seed, arch->bilinear ? "true" : "false",
					 arch->n_lr_params ? "true" : "false", arch->item_buckets,
					 arch->item_embedding_dim);
	/* optional members, written only when they differ from 0.1.0's model */
	if (arch->item_vocab)
	{
		appendStringInfoString(&buf, ", \"item_vocab\": [");
		for (int i = 0; i < arch->item_buckets; i++)
			appendStringInfo(&buf, "%s" INT64_FORMAT, i > 0 ? ", " : "", arch->item_vocab[i]);
		appendStringInfoChar(&buf, ']');
	}
	if (cfg->negatives > 0)
		appendStringInfo(&buf, ", \"negatives\": %d", cfg->negatives);
	if (arch->history)
		appendStringInfoString(&buf, ", \"history\": true");
	if (arch->wide)
	{
		appendStringInfo(&buf, ", \"wide\": true, \"wide_rank\": %d, \"ridge_lambda\": ",
						 arch->wide_rank);
		append_float(&buf, (float) arch->ridge_lambda);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* [[m[0][0], ...], ...] for m[rows][cols] */
static void
append_matrix(StringInfo buf, const float *m, int rows, int cols)
{
	appendStringInfoChar(buf, '[');
	for (int o = 0; o < rows; o++)
	{
		appendStringInfoString(buf, o ? ", [" : "[");
		for (int i = 0; i < cols; i++)
		{
			if (i)
				appendStringInfoString(buf, ", ");
			append_float(buf, m[(size_t) o * cols + i]);
		}
		appendStringInfoChar(buf, ']');
	}
	appendStringInfoChar(buf, ']');
}

static void
append_block(StringInfo buf, const LmDense *layers, int n_layers, const float *block)
{
	appendStringInfoChar(buf, '[');
	for (int l = 0; l < n_layers; l++)
	{
		const LmDense *layer = &layers[l];

		appendStringInfoString(buf, l ? ", {\"weight\": " : "{\"weight\": ");
		append_matrix(buf, block + layer->w_off, layer->out_dim, layer->in_dim);
		appendStringInfoString(buf, ", \"bias\": [");
		for (int o = 0; o < layer->out_dim; o++)
		{
			if (o)
				appendStringInfoString(buf, ", ");
			append_float(buf, block[layer->b_off + o]);
		}
		appendStringInfoString(buf, "]}");
	}
	appendStringInfoChar(buf, ']');
}

/* , "item_embeddings_untrained": [the buckets whose rows are all zeros] */
static void
append_untrained(StringInfo buf, const LmArch *arch, const float *global)
{
	bool		any = false;

	appendStringInfoString(buf, ", \"item_embeddings_untrained\": [");
	for (int b = 0; b < arch->item_buckets; b++)
		if (lm_item_row(arch, global, b, 1) != b)
		{
			appendStringInfo(buf, any ? ", %d" : "%d", b);
			any = true;
		}
	appendStringInfoChar(buf, ']');
}

char *
lm_model_to_json(const LmModel *model)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"format\": \"%s\", \"format_version\": %d, \"name\": ",
					 FORMAT_NAME, FORMAT_VERSION);
	escape_json(&buf, model->name);
	appendStringInfo(&buf, ", \"version\": %d, \"config\": %s, \"meta\": ", model->version,
					 lm_config_to_json(&model->arch, &model->config));
	append_block(&buf, model->arch.meta, model->arch.n_meta, model->params);
	appendStringInfoString(&buf, ", \"global\": ");
	append_block(&buf, model->arch.global, model->arch.n_global,
				 model->params + model->arch.n_meta_params);
	if (model->arch.item_buckets)
	{
		appendStringInfoString(&buf, ", \"item_embeddings\": ");
		append_matrix(&buf, model->params + model->arch.n_meta_params + model->arch.item_table_off,
					  model->arch.item_buckets + 1, model->arch.item_embedding_dim);
		append_untrained(&buf, &model->arch, model->params + model->arch.n_meta_params);
	}
	if (model->arch.wide)
	{
		appendStringInfoString(&buf, ", \"wide_table\": ");
		append_matrix(&buf, model->params + model->arch.n_meta_params + model->arch.wide_off,
					  model->arch.item_buckets + 1, 1 + model->arch.wide_rank);
	}
	if (model->arch.bilinear)
	{
		appendStringInfoString(&buf, ", \"bilinear\": ");
		append_matrix(&buf, model->params + model->arch.n_meta_params + model->arch.bilinear_off,
					  model->arch.embedding_dim, model->arch.item_dim);
	}
	if (model->arch.n_lr_params)
	{
		appendStringInfoString(&buf, ", \"inner_rates\": ");
		append_block(&buf, model->arch.meta, model->arch.n_meta,
					 lm_inner_rates(&model->arch, model->params));
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}
