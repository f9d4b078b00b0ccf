/*
 * item_code.c - item codes: a candidate's item side of the global block's
 * first layer, W0[:, d:] · v, precomputed by limaml_item_encode for one
 * model version.  A versioned, checksummed header (LmItemCodeHeader), then
 * float32[len], little-endian; limaml_score(embedding, code) consumes it.
 * For a model with item-ID embeddings the code encodes the item input
 * [features ; E[bucket of item_id]] (a NULL item_id: the unknown item).
 */
#include "serving.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(limaml_item_encode);
PG_FUNCTION_INFO_V1(limaml_item_code_info);

/* format 2, or format 1 in a catalog from before 0.3.0 (as embedding.c) */
bytea *
lm_item_code_encode(const LmModel *model, const LmServePlan *plan, const float *v)
{
	size_t		header_size = LM_ITEM_CODE_HEADER_SIZE(model->has_identity ? 2 : 1);
	size_t		size = header_size + plan->code_len * sizeof(float);
	bytea	   *raw = palloc(VARHDRSZ + size);
	float	   *code = palloc(plan->code_len * sizeof(float));

	lm_serve_plan_encode(plan, v, code);
	if (model->has_identity)
	{
		LmItemCodeHeader header;

		header.magic = LM_ITEM_CODE_MAGIC;
		header.format = LM_ITEM_CODE_FORMAT;
		header.len = (uint16) plan->code_len;
		memcpy(header.model_uuid, model->uuid, LM_UUID_LEN);
		header.model_version = model->version;
		header.flags = 0;
		memcpy(header.content_hash, model->content_hash, LM_HASH_PREFIX);
		header.checksum = 0;
		header.checksum = lm_item_code_checksum(&header, code);
		memcpy(VARDATA(raw), &header, sizeof(header));
	}
	else
	{
		LmItemCodeHeader1 header;

		header.magic = LM_ITEM_CODE_MAGIC;
		header.format = 1;
		header.len = (uint16) plan->code_len;
		header.model_id = model->model_id;
		header.model_version = model->version;
		header.flags = 0;
		header.checksum = 0;
		header.checksum = lm_item_code1_checksum(&header, code);
		memcpy(VARDATA(raw), &header, sizeof(header));
	}
	SET_VARSIZE(raw, VARHDRSZ + size);
	memcpy(VARDATA(raw) + header_size, code, plan->code_len * sizeof(float));
	pfree(code);
	return raw;
}

static void
bad_code(const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid limaml item code: %s", problem),
			 errhint("Item codes come from limaml_item_encode.")));
}

/* core/formats.c validates; this raises its finding */
const char *
lm_item_code_read(bytea *raw, LmItemCodeHeader *header)
{
	const char *data = VARDATA_ANY(raw);
	const char *problem = NULL;

	switch (lm_item_code_parse(data, VARSIZE_ANY_EXHDR(raw), header, &problem))
	{
		case LM_FORMAT_OK:
			break;
		case LM_FORMAT_CORRUPT:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid limaml item code: checksum mismatch"),
					 errhint("The bytea was altered after limaml wrote it; encode the item again.")));
			break;
		case LM_FORMAT_INVALID:
			bad_code(problem);
			break;
	}
	return data + LM_ITEM_CODE_HEADER_SIZE(header->format);
}

/* an item code's format is this catalog's: identities, or local ids before 0.3.0 */
void
lm_check_item_code_format(const LmItemCodeHeader *header)
{
	lm_check_identity_format(header->format, "item code",
							 "Encode the items again with limaml_item_encode.");
}

/* ------------------------------------------------------------ encode */

typedef struct EncodeState
{
	text	   *name;			/* the model argument this state resolved (NULL: default) */
	bool		has_requested;	/* a version argument was given */
	int32		requested;		/* the version argument */
	LmModel    *model;			/* pinned until the query ends */
	LmServePlan *plan;
	uint64		stamp;			/* the snapshot that resolved it */
	float	   *item_x;			/* [item_x_cap]: the item input (item-ID models) */
	int			item_x_cap;
	double		array_buf[LM_SHORT_ARRAY_BUF / sizeof(double)];
} EncodeState;

static bool
same_name(text *a, text *b)
{
	if (!a || !b)
		return a == b;
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* limaml_item_encode(model, item_features, version, item_id) */
Datum
limaml_item_encode(PG_FUNCTION_ARGS)
{
	EncodeState *state = fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;
	text	   *name = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	bool		has_requested = !PG_ARGISNULL(2);
	int32		requested = has_requested ? PG_GETARG_INT32(2) : 0;
	bool		has_id = PG_NARGS() > 3 && !PG_ARGISNULL(3);
	const float *v;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("item_features must not be NULL")));
	if (!state)
	{
		state = MemoryContextAllocZero(mcxt, sizeof(EncodeState));
		fcinfo->flinfo->fn_extra = state;
	}
	if (!state->model || state->has_requested != has_requested ||
		state->requested != requested || !same_name(state->name, name) ||
		!lm_model_usable(state->model, state->stamp))
	{
		int32		model_id;
		int32		version;
		LmModel    *model;

		state->model = NULL;
		lm_model_resolve_version(name, has_requested, requested, &model_id, &version);
		model = lm_model_acquire(model_id, version, mcxt);
		state->plan = lm_serving_plan(model);
		if (state->plan->input_len > state->item_x_cap)
		{
			state->item_x = MemoryContextAlloc(mcxt, sizeof(float) * state->plan->input_len);
			state->item_x_cap = state->plan->input_len;
		}
		state->name = name ? (text *) MemoryContextAlloc(mcxt, VARSIZE_ANY(name)) : NULL;
		if (name)
			memcpy(state->name, name, VARSIZE_ANY(name));
		state->has_requested = has_requested;
		state->requested = requested;
		state->model = model;
		state->stamp = lm_snapshot_stamp();
	}
	v = lm_item_features(PG_GETARG_DATUM(1), state->plan->arch->item_feature_dim, state->plan->k,
						 state->array_buf, true);
	v = lm_item_serving_input(state->plan, v, has_id, has_id ? PG_GETARG_INT64(3) : 0,
							  state->item_x);
	PG_RETURN_BYTEA_P(lm_item_code_encode(state->model, state->plan, v));
}

Datum
limaml_item_code_info(PG_FUNCTION_ARGS)
{
	LmItemCodeHeader header;
	LmModel    *model;
	TupleDesc	desc;
	Datum		values[7];
	bool		nulls[7] = {false};

	lm_item_code_read(PG_GETARG_BYTEA_PP(0), &header);
	lm_check_item_code_format(&header);
	model = lm_model_acquire_identity(header.model_uuid, header.model_version, header.content_hash,
									  "item code", CurrentMemoryContext);
	if (lm_serving_plan(model)->code_len != header.len)
		bad_code("its length does not match its model's");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "limaml_item_code_info must return a record");
	values[0] = CStringGetTextDatum(model->name);
	values[1] = Int32GetDatum(model->model_id);
	values[2] = Int32GetDatum(header.model_version);
	values[3] = Int32GetDatum(header.len);
	values[4] = Int32GetDatum(header.format);
	values[5] = UUIDPGetDatum((pg_uuid_t *) header.model_uuid);
	nulls[5] = header.format == 1;
	values[6] = PointerGetDatum(lm_hash_prefix_bytea(header.content_hash));
	nulls[6] = header.format == 1;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
