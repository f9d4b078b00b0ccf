/*
 * score.c - limaml_score: one candidate's score for one meta embedding,
 * with the global block of the model version that made the embedding.
 *
 * A query calls it once per candidate, mostly with the same embedding, so
 * fn_extra keeps the last embedding's bytes, its pinned model version and
 * the member side of the first layer; a new embedding (a LATERAL join
 * over many members) only recomputes that.
 */
#include "limaml.h"

#include "core/serve.h"
#include "fmgr.h"

PG_FUNCTION_INFO_V1(limaml_score);

typedef struct ScoreState
{
	LmModel    *model;
	char	   *embedding;		/* last embedding's bytes, header included */
	size_t		embedding_len;
	size_t		embedding_cap;
	float	   *member_part;	/* [h0] for the last embedding */
	float	   *scratch_a;		/* [max_width] */
	float	   *scratch_b;
} ScoreState;

/* validates a new embedding and prepares the state for it */
static void
switch_embedding(ScoreState *state, bytea *raw, MemoryContext mcxt)
{
	LmEmbeddingHeader header;
	const char *payload = lm_embedding_read(raw, &header);
	size_t		len = VARSIZE_ANY_EXHDR(raw);
	LmModel    *model = state->model;
	float	   *e;

	if (!model || model->model_id != header.model_id || model->version != header.model_version)
	{
		model = lm_embedding_model(&header, mcxt);
		state->model = model;
		state->member_part = MemoryContextAlloc(mcxt, sizeof(float) * model->arch.global[0].out_dim);
		state->scratch_a = MemoryContextAlloc(mcxt, sizeof(float) * model->arch.max_width);
		state->scratch_b = MemoryContextAlloc(mcxt, sizeof(float) * model->arch.max_width);
	}
	e = palloc(sizeof(float) * header.dim);
	memcpy(e, payload, sizeof(float) * header.dim);
	lm_serve_member_part(&model->arch, model->params + model->arch.n_meta_params,
						 e, state->member_part);
	pfree(e);

	if (len > state->embedding_cap)
	{
		state->embedding = MemoryContextAlloc(mcxt, len);
		state->embedding_cap = len;
	}
	memcpy(state->embedding, VARDATA_ANY(raw), len);
	state->embedding_len = len;
}

Datum
limaml_score(PG_FUNCTION_ARGS)
{
	ScoreState *state = fcinfo->flinfo->fn_extra;
	bytea	   *raw;
	const LmArch *arch;
	float	   *item;
	int			item_dim;
	float		pred;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("meta embedding must not be NULL"),
				 errhint("Members without an embedding need limaml_adapt first.")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("item_features must not be NULL")));
	if (!state)
	{
		state = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ScoreState));
		fcinfo->flinfo->fn_extra = state;
	}

	raw = PG_GETARG_BYTEA_PP(0);
	if (!state->model || state->embedding_len != VARSIZE_ANY_EXHDR(raw) ||
		memcmp(state->embedding, VARDATA_ANY(raw), state->embedding_len) != 0)
		switch_embedding(state, raw, fcinfo->flinfo->fn_mcxt);

	arch = &state->model->arch;
	item = lm_array_floats(PG_GETARG_ARRAYTYPE_P(1), "item_features", arch->item_dim, &item_dim);
	pred = lm_serve_item(arch, state->model->params + arch->n_meta_params,
						 state->member_part, item, state->scratch_a, state->scratch_b);
	PG_RETURN_FLOAT4((float) loss_output(arch->loss, pred));
}
