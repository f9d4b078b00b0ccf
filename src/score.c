/*
 * score.c - limaml_score: one candidate's score for one meta embedding,
 * with the global block of the model version that made the embedding.
 *
 * A query calls it once per candidate, mostly with the same embedding, so
 * fn_extra keeps the last embedding's bytes and the member side of the
 * first layer for it: only a different embedding (a LATERAL join over many
 * members) recomputes that.  The versions a query uses stay pinned until
 * it ends.  One flushed from the cache meanwhile (a catalog change) still
 * serves the statement whose snapshot saw it (versions are immutable, so
 * nothing is stale), and is looked up again by any later statement, which
 * fails with 42704 when it is gone.
 *
 * Each cached version carries a serving plan (serve.h): its global block
 * laid out for the SIMD kernels, built once per backend.
 *
 * For a model with hashed item-ID embeddings the plan's item input is
 * [features ; E[bucket]]: limaml_score(e, features, item_id) copies the
 * features and the item's E row into a buffer of the state
 * (lm_item_serving_input); without an item id it is the unknown item's row.
 */
#include "serving.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(limaml_score);
PG_FUNCTION_INFO_V1(limaml_score_code);
PG_FUNCTION_INFO_V1(limaml_serving_isa);

/* ------------------------------------------------------------ state */

#define SCORE_MAX_VERSIONS 8

typedef struct ScoreVersion
{
	LmModel    *model;			/* pinned until the query ends */
	LmServePlan *plan;
	uint64		stamp;			/* the snapshot that looked it up */
} ScoreVersion;

typedef struct ScoreState
{
	ScoreVersion versions[SCORE_MAX_VERSIONS];	/* versions this query used */
	int			n_versions;
	ScoreVersion *cur;			/* the last embedding's; NULL: nothing cached */
	char	   *embedding;		/* last embedding's bytes, header included */
	size_t		embedding_len;
	size_t		embedding_cap;
	float	   *member_part;	/* [member_len] for the last embedding */
	int			member_cap;
	float	   *item_x;			/* [input_len]: a candidate's item input (item-ID models) */
	int			item_x_cap;
	double		array_buf[LM_SHORT_ARRAY_BUF / sizeof(double)];
} ScoreState;

/* the version that made an embedding, pinned by this query; errors if gone */
static ScoreVersion *
find_version(ScoreState *state, const LmEmbeddingHeader *header, MemoryContext mcxt)
{
	ScoreVersion *slot = NULL;
	LmModel    *model;
	LmServePlan *plan;

	for (int i = 0; i < state->n_versions; i++)
	{
		ScoreVersion *v = &state->versions[i];

		if (lm_model_is(v->model, header->model_uuid, header->model_version))
		{
			if (lm_model_usable(v->model, v->stamp))
				return v;
			slot = v;			/* flushed from the cache: look it up again */
			break;
		}
	}
	model = lm_embedding_model(header, mcxt);
	plan = lm_serving_plan(model);
	if (!slot)
		/* a new version; beyond the slots, reuse one (its pin lasts the query) */
		slot = &state->versions[state->n_versions < SCORE_MAX_VERSIONS ? state->n_versions++
								: (header->model_version & (SCORE_MAX_VERSIONS - 1))];
	slot->model = model;
	slot->plan = plan;
	slot->stamp = lm_snapshot_stamp();
	return slot;
}

/* validates a new embedding and computes its member part */
static void
switch_embedding(ScoreState *state, bytea *raw, MemoryContext mcxt)
{
	LmEmbeddingHeader header;
	const char *payload = lm_embedding_read(raw, &header);
	size_t		len = VARSIZE_ANY_EXHDR(raw);
	ScoreVersion *v;
	float	   *e;

	/* no cached embedding until the switch completes (an error may intervene) */
	state->cur = NULL;
	state->embedding_len = 0;
	v = find_version(state, &header, mcxt);
	if (v->plan->member_len > state->member_cap)
	{
		state->member_part = MemoryContextAlloc(mcxt, sizeof(float) * v->plan->member_len);
		state->member_cap = v->plan->member_len;
	}
	if (v->plan->input_len > state->item_x_cap)
	{
		state->item_x = MemoryContextAlloc(mcxt, sizeof(float) * v->plan->input_len);
		state->item_x_cap = v->plan->input_len;
	}
	e = palloc(sizeof(float) * header.dim);
	memcpy(e, payload, sizeof(float) * header.dim);
	lm_serve_plan_member(v->plan, e, state->member_part);
	pfree(e);

	if (len > state->embedding_cap)
	{
		state->embedding = MemoryContextAlloc(mcxt, len);
		state->embedding_cap = len;
	}
	memcpy(state->embedding, VARDATA_ANY(raw), len);
	state->embedding_len = len;
	state->cur = v;
}

/* the state, switched to the embedding in argument 0 */
static ScoreState *
score_state(FunctionCallInfo fcinfo)
{
	ScoreState *state = fcinfo->flinfo->fn_extra;
	bytea	   *raw;

	if (!state)
	{
		state = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ScoreState));
		fcinfo->flinfo->fn_extra = state;
	}

	raw = PG_GETARG_BYTEA_PP(0);
	if (!state->cur || state->embedding_len != VARSIZE_ANY_EXHDR(raw) ||
		memcmp(state->embedding, VARDATA_ANY(raw), state->embedding_len) != 0 ||
		!lm_model_usable(state->cur->model, state->cur->stamp))
		switch_embedding(state, raw, fcinfo->flinfo->fn_mcxt);
	return state;
}

static Datum
score_datum(const ScoreState *state, lm_real pred)
{
	return Float4GetDatum(loss_served(state->cur->model->arch.loss, pred));
}

/* the array path, features in a real[] datum (has_id false: the unknown item) */
static Datum
score_array(FunctionCallInfo fcinfo, ScoreState *state, Datum features, bool has_id,
			int64 item_id)
{
	const LmServePlan *plan = state->cur->plan;
	int			n_features = plan->arch->item_feature_dim;
	const float *v;
	lm_real		pred = 0;
	int			dim;

	v = lm_item_features(features, n_features, plan->k, state->array_buf, false);
	v = lm_item_serving_input(plan, v, has_id, item_id, state->item_x);
	if (!lm_serve_plan_item_checked(plan, state->member_part, v, &pred))
	{
		/* raises "must not contain NaN or infinity" */
		lm_array_floats(DatumGetArrayTypeP(features), "item_features", n_features, &dim);
		elog(ERROR, "non-finite item_features were not reported");
	}
	return score_datum(state, pred);
}

/*
 * limaml_score(embedding, item_features [, item_id]): a NULL or absent
 * item_id is the unknown item; models without item-ID embeddings ignore it.
 * A NULL embedding or item_features scores NULL.
 */
Datum
limaml_score(PG_FUNCTION_ARGS)
{
	bool		has_id = PG_NARGS() > 2 && !PG_ARGISNULL(2);

	/* NULL in, NULL out, as pgvector's and core's functions (LEFT JOINs) */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	return score_array(fcinfo, score_state(fcinfo), PG_GETARG_DATUM(1), has_id,
					   has_id ? PG_GETARG_INT64(2) : 0);
}

Datum
limaml_score_code(PG_FUNCTION_ARGS)
{
	ScoreState *state;
	const LmServePlan *plan;
	LmItemCodeHeader header;
	bytea	   *raw;
	const char *code;

	/* STRICT in SQL; also NULL-safe under an older script's declaration */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	state = score_state(fcinfo);
	plan = state->cur->plan;
	raw = PG_GETARG_BYTEA_PP(1);

	/*
	 * An untyped literal in limaml_score(e, '{1,0,...}') resolves to this
	 * overload (the other argument is a bytea); it still means real[].
	 */
	if (VARSIZE_ANY_EXHDR(raw) > 0 && VARDATA_ANY(raw)[0] == '{')
		return score_array(fcinfo, state,
						   OidInputFunctionCall(F_ARRAY_IN, text_to_cstring((text *) raw),
												FLOAT4OID, -1),
						   false, 0);

	code = lm_item_code_read(raw, &header);
	if (!lm_model_is(state->cur->model, header.model_uuid, header.model_version) ||
		memcmp(header.content_hash, state->cur->model->content_hash, LM_HASH_PREFIX) != 0)
	{
		lm_check_item_code_format(&header);
		if (lm_model_is(state->cur->model, header.model_uuid, header.model_version))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("item code of version %d of model %s holds another content hash than the meta embedding's",
							header.model_version, lm_uuid_string(header.model_uuid)),
					 errhint("Encode the items again on this node with limaml_item_encode.")));
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("item code of version %d of model %s does not match the meta embedding's version %d of model \"%s\" (%s)",
						header.model_version, lm_uuid_string(header.model_uuid),
						state->cur->model->version, state->cur->model->name,
						lm_uuid_string(state->cur->model->uuid)),
				 errhint("Encode the items with the embedding's version: limaml_item_encode(model, features, version => %d).",
						 state->cur->model->version)));
	}
	if (header.len != plan->code_len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid limaml item code: its length does not match its model's")));
	return score_datum(state, lm_serve_plan_code(plan, state->member_part, code));
}

Datum
limaml_serving_isa(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(lm_isa_name(lm_serve_best_isa())));
}
