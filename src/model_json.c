/*
 * model_json.c - a model version as jsonb: the configuration and every
 * parameter, in torch.nn.Linear's layout, read and written without touching
 * the catalog (catalog.c stores configurations this way; export_import.c
 * moves whole versions in and out).  Reading is core/model_reader.c's,
 * through the LmJsonOps on jsonb below, so that the fuzz targets run it
 * too; here its findings become errors.
 *
 * {"format": "limaml-model", "format_version": 3, "name": ..., "version": ...,
 *  "model_uuid": "8-4-4-4-12 hex", "content_hash": "64 hex" (format 3: the
 *             version's identity, kept by import; lm_content_hash),
 *  "config": {"member_dim", "item_dim", "embedding_dim", "meta_hidden",
 *             "global_hidden", "loss", "inner_steps", "inner_lr",
 *             "adapt_steps", "adapt_lr" (optional: default to inner_*),
 *             "support_size", "query_size", "seed", optional "bilinear",
 *             "meta_sgd", "item_buckets", "item_embedding_dim", and (format 2)
 *             "wide", "wide_rank", "ridge_lambda", optional "negatives" (0 when
 *             absent: negatives sampled per positive row), optional "transforms"
 *             (transform.c: the declared feature transforms, fitted)},
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
 * Import reads format 1 (0.1.0: no wide head, no untrained list), 2
 * (0.2.0: no identity) and 3.
 */
#include "limaml.h"

#include "core/items.h"

#include <math.h>

#include "common/cryptohash.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(limaml_content_hash);

#define FORMAT_NAME "limaml-model"
#define FORMAT_VERSION 3		/* what export writes (2 from a catalog before 0.3.0) */

/* ---------------------------------------------------------------- reading */

/*
 * core/model_reader.c reads the document through these operations on jsonb
 * and returns what it found wrong; here it becomes an ereport.
 */

/* one jsonb value as the reader sees it; numbers and containers keep a handle */
static void
jb_field(const JsonbValue *v, LmJsonField *f)
{
	memset(f, 0, sizeof(*f));
	switch (v->type)
	{
		case jbvNumeric:
			f->kind = LM_JSON_NUMBER;
			f->number = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
														   NumericGetDatum(v->val.numeric)));
			f->node = v->val.numeric;
			break;
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
			f->kind = JsonContainerIsArray(v->val.binary.data) ? LM_JSON_ARRAY : LM_JSON_OBJECT;
			f->n_elems = f->kind == LM_JSON_ARRAY ? JsonContainerSize(v->val.binary.data) : 0;
			f->node = v->val.binary.data;
			break;
		default:
			f->kind = LM_JSON_NULL;
			break;
	}
}

static void
jb_member(void *ctx, const void *object, const char *key, LmJsonField *out)
{
	JsonbContainer *c = (JsonbContainer *) object;
	JsonbValue	v;

	if (!JsonContainerIsObject(c) || !getKeyJsonValueFromContainer(c, key, strlen(key), &v))
	{
		memset(out, 0, sizeof(*out));
		return;
	}
	jb_field(&v, out);
}

static void
jb_element(void *ctx, const void *array, int i, LmJsonField *out)
{
	JsonbValue *v = getIthJsonbValueFromContainer((JsonbContainer *) array, i);

	jb_field(v, out);
	pfree(v);
}

/* an exact integer, parsed from the number's text (a double would round) */
static int
jb_int64(void *ctx, const LmJsonField *number, int64_t *out)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum((Numeric) number->node)));
	char	   *end;
	int64		x;

	bool		exact;

	errno = 0;
	x = strtoi64(text, &end, 10);
	exact = errno == 0 && *end == '\0';
	pfree(text);
	*out = x;
	return exact;
}

static void *
jb_alloc(void *ctx, size_t size)
{
	return palloc(size);
}

static void
jb_zero_rows(void *ctx, int n, int buckets)
{
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg_plural("model json: %d of the %d item_embeddings buckets is all zeros and will be served as the unknown item",
						   "model json: %d of the %d item_embeddings buckets are all zeros and will be served as the unknown item",
						   n, n, buckets),
			 errdetail("A format_version 1 document does not say which rows were never trained; limaml reads an all-zero row as never trained."),
			 errhint("Write format_version 2 with the never-trained buckets in %s to make this explicit.",
					 "item_embeddings_untrained")));
}

static const LmJsonOps jsonb_ops = {NULL, jb_member, jb_element, jb_int64, jb_alloc, jb_zero_rows};

static void
raise_problem(LmReadStatus status, const LmReadError *err)
{
	switch (status)
	{
		case LM_READ_OK:
			return;
		case LM_READ_INVALID:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model json: %s %s", err->what, err->problem),
					 errhint("The layout is the one limaml_model_export writes; see the README.")));
			break;
		case LM_READ_LISTED_NOT_ZERO:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model json: %s lists bucket %d, whose item_embeddings row is not all zeros",
							err->what, err->bucket),
					 errhint("List only never-trained buckets, whose rows are all zeros.")));
			break;
		case LM_READ_UNLISTED_ZERO:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg_plural("model json: item_embeddings has %d all-zero row that %s does not list (bucket %d)",
								   "model json: item_embeddings has %d all-zero rows that %s does not list (the first: bucket %d)",
								   err->n, err->n, err->what, err->bucket),
					 errdetail("limaml serves an all-zero row as the unknown item (the last row), so their items would score as unknown items."),
					 errhint("List the never-trained buckets in %s; a trained row must not be all zeros.",
							 err->what)));
			break;
	}
}

/* NULL, or what is wrong with the hyperparameters (create and import share it) */
const char *
lm_config_problem(const LmConfig *cfg)
{
	char		buf[160];

	return lm_config_check(cfg, buf, sizeof(buf)) ? pstrdup(buf) : NULL;
}

void
lm_config_from_jsonb(Jsonb *config, LmArch *arch, LmConfig *cfg)
{
	LmReadError err;

	raise_problem(lm_config_read(&jsonb_ops, &config->root, arch, cfg, &err), &err);
}

float *
lm_model_from_jsonb(Jsonb *json, const char *name, LmArch *arch, LmConfig *cfg,
					LmModelIdentity *id)
{
	LmReadError err;
	float	   *params;
	int			format_version;

	raise_problem(lm_model_read_config(&jsonb_ops, &json->root, &format_version, arch, cfg, &err), &err);
	raise_problem(lm_model_read_identity(&jsonb_ops, &json->root, format_version, id, &err), &err);
	lm_check_model_size(arch, name);
	params = palloc(arch->n_params * sizeof(float));
	raise_problem(lm_model_read_params(&jsonb_ops, &json->root, format_version, arch, params, &err),
		  &err);
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
		if (arch->wide_features)
			appendStringInfoString(&buf, ", \"wide_features\": true");
		if (arch->learn_lambda)
			appendStringInfoString(&buf, ", \"learn_lambda\": true");
		if (arch->fold_in)
			appendStringInfoString(&buf, ", \"fold_in\": true");
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
					 FORMAT_NAME, model->has_identity ? FORMAT_VERSION : 2);
	escape_json(&buf, model->name);
	appendStringInfo(&buf, ", \"version\": %d", model->version);
	if (model->has_identity)
	{
		appendStringInfo(&buf, ", \"model_uuid\": \"%s\", \"content_hash\": \"",
						 lm_uuid_string(model->uuid));
		for (int i = 0; i < LM_CONTENT_HASH_LEN; i++)
			appendStringInfo(&buf, "%02x", model->content_hash[i]);
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfo(&buf, ", \"config\": %s, \"meta\": ",
					 lm_config_with_transforms(lm_config_to_json(&model->arch, &model->config),
											   model->transforms));
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
	if (model->arch.learn_lambda)
	{
		/* ln λ for w₀, each item-feature column, w_f: the solve's learned penalties */
		appendStringInfoString(&buf, ", \"ridge_log_lambda\": ");
		append_matrix(&buf, model->params + model->arch.n_meta_params + model->arch.lambda_off,
					  1, lm_lambda_groups(&model->arch));
	}
	if (model->arch.fold_in)
	{
		/* a of w_f + a · Σ_s y_s f_s */
		appendStringInfoString(&buf, ", \"fold_in_weight\": ");
		append_float(&buf, model->params[model->arch.n_meta_params + model->arch.fold_in_off]);
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

/* ----------------------------------------------------------- content hash */

/*
 * SHA-256 of "limaml content hash 1" NUL, the configuration as jsonb text
 * (lm_config_to_json, with "transforms" when the model has them, printed as
 * PostgreSQL prints jsonb) NUL, then the
 * parameters as little-endian float32, the catalog's params bytes.  Equal
 * on every node for the same export; docs/formats.md spells it out.
 */
void
lm_content_hash(const LmArch *arch, const LmConfig *cfg, const LmTransforms *tf,
				const float *params, uint8 *hash)
{
	static const char tag[] = "limaml content hash 1";
	/* a model's transforms are part of its configuration (none: as before them) */
	Jsonb	   *config = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
															CStringGetDatum(lm_config_with_transforms(lm_config_to_json(arch, cfg), tf))));
	char	   *config_text = JsonbToCString(NULL, &config->root, VARSIZE(config));
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) tag, sizeof(tag)) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) config_text, strlen(config_text) + 1) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) params, arch->n_params * sizeof(float)) < 0 ||
		pg_cryptohash_final(ctx, hash, LM_CONTENT_HASH_LEN) < 0)
		elog(ERROR, "could not compute the SHA-256 content hash: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/* limaml_content_hash(config, params): what a version's content_hash must be */
Datum
limaml_content_hash(PG_FUNCTION_ARGS)
{
	LmArch		arch;
	LmConfig	cfg;
	bytea	   *params = PG_GETARG_BYTEA_PP(1);
	bytea	   *hash = palloc(VARHDRSZ + LM_CONTENT_HASH_LEN);
	float	   *aligned;

	lm_config_from_jsonb(PG_GETARG_JSONB_P(0), &arch, &cfg);
	if (VARSIZE_ANY_EXHDR(params) != arch.n_params * sizeof(float))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params has %zu bytes, but its configuration needs %zu",
						(size_t) VARSIZE_ANY_EXHDR(params), arch.n_params * sizeof(float))));
	aligned = palloc(arch.n_params * sizeof(float));
	memcpy(aligned, VARDATA_ANY(params), arch.n_params * sizeof(float));
	SET_VARSIZE(hash, VARHDRSZ + LM_CONTENT_HASH_LEN);
	lm_content_hash(&arch, &cfg, lm_transforms_from_config(PG_GETARG_JSONB_P(0)), aligned,
					(uint8 *) VARDATA(hash));
	PG_RETURN_BYTEA_P(hash);
}
