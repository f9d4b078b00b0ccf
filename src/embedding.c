/*
 * embedding.c - the meta-embedding bytea: a versioned, checksummed header
 * (LmEmbeddingHeader) followed by float32[dim], little-endian.
 */
#include "limaml.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(limaml_embedding_array);
PG_FUNCTION_INFO_V1(limaml_embedding_info);

bytea *
lm_embedding_encode(const LmModel *model, const float *emb, int n_support)
{
	int			dim = lm_embedding_len(&model->arch);
	size_t		size = sizeof(LmEmbeddingHeader) + dim * sizeof(float);
	bytea	   *raw = palloc(VARHDRSZ + size);
	LmEmbeddingHeader header;

	header.magic = LM_EMBEDDING_MAGIC;
	header.format = LM_EMBEDDING_FORMAT;
	header.dim = (uint16) dim;
	header.model_id = model->model_id;
	header.model_version = model->version;
	header.n_support = n_support;
	header.checksum = 0;
	header.checksum = lm_embedding_checksum(&header, emb);

	SET_VARSIZE(raw, VARHDRSZ + size);
	memcpy(VARDATA(raw), &header, sizeof(header));
	memcpy(VARDATA(raw) + sizeof(header), emb, dim * sizeof(float));
	return raw;
}

static void
bad_embedding(const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid limaml meta embedding: %s", problem),
			 errhint("Meta embeddings come from limaml_adapt or limaml_adapt_agg.")));
}

/*
 * Validates a meta embedding (core/formats.c) and returns its (possibly
 * unaligned) payload; the header is copied into *header.
 */
const char *
lm_embedding_read(bytea *raw, LmEmbeddingHeader *header)
{
	const char *data = VARDATA_ANY(raw);
	const char *problem = NULL;

	switch (lm_embedding_parse(data, VARSIZE_ANY_EXHDR(raw), header, &problem))
	{
		case LM_FORMAT_OK:
			break;
		case LM_FORMAT_CORRUPT:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid limaml meta embedding: checksum mismatch"),
					 errhint("The bytea was altered after limaml wrote it; adapt the member again.")));
			break;
		case LM_FORMAT_INVALID:
			bad_embedding(problem);
			break;
	}
	return data + sizeof(LmEmbeddingHeader);
}

/* the model version that made an embedding; errors if it no longer exists */
LmModel *
lm_embedding_model(const LmEmbeddingHeader *header, MemoryContext holder)
{
	LmModel    *model = lm_model_acquire(header->model_id, header->model_version, holder);

	if (lm_embedding_len(&model->arch) != header->dim)
		bad_embedding("its dimension differs from its model's");
	return model;
}

Datum
limaml_embedding_array(PG_FUNCTION_ARGS)
{
	LmEmbeddingHeader header;
	const char *payload = lm_embedding_read(PG_GETARG_BYTEA_PP(0), &header);
	Datum	   *elems = palloc(sizeof(Datum) * (header.dim + 1));

	lm_embedding_model(&header, CurrentMemoryContext);
	for (int i = 0; i < header.dim; i++)
	{
		float		x;

		memcpy(&x, payload + i * sizeof(float), sizeof(float));
		elems[i] = Float4GetDatum(x);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, header.dim, FLOAT4OID, sizeof(float4),
										  true, TYPALIGN_INT));
}

Datum
limaml_embedding_info(PG_FUNCTION_ARGS)
{
	LmEmbeddingHeader header;
	LmModel    *model;
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false};

	lm_embedding_read(PG_GETARG_BYTEA_PP(0), &header);
	model = lm_embedding_model(&header, CurrentMemoryContext);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "limaml_embedding_info must return a record");
	values[0] = CStringGetTextDatum(model->name);
	values[1] = Int32GetDatum(header.model_id);
	values[2] = Int32GetDatum(header.model_version);
	values[3] = Int32GetDatum(header.dim);
	values[4] = Int32GetDatum(header.n_support);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
