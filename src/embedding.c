/*
 * embedding.c - the meta-embedding bytea: a versioned, checksummed header
 * (LmEmbeddingHeader) followed by float32[dim], little-endian.
 */
#include "limaml.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(limaml_embedding_array);
PG_FUNCTION_INFO_V1(limaml_embedding_info);
PG_FUNCTION_INFO_V1(limaml_embedding_version);

/*
 * Format 2 names the version by its identity; a catalog from before 0.3.0
 * (no identity yet) still writes format 1, which its own SQL reads.
 */
bytea *
lm_embedding_encode(const LmModel *model, const float *emb, int n_support)
{
	int			dim = lm_embedding_len(&model->arch);
	size_t		header_size = LM_EMBEDDING_HEADER_SIZE(model->has_identity ? 2 : 1);
	size_t		size = header_size + dim * sizeof(float);
	bytea	   *raw = palloc(VARHDRSZ + size);

	if (model->has_identity)
	{
		LmEmbeddingHeader header;

		header.magic = LM_EMBEDDING_MAGIC;
		header.format = LM_EMBEDDING_FORMAT;
		header.dim = (uint16) dim;
		memcpy(header.model_uuid, model->uuid, LM_UUID_LEN);
		header.model_version = model->version;
		header.n_support = n_support;
		memcpy(header.content_hash, model->content_hash, LM_HASH_PREFIX);
		header.checksum = 0;
		header.checksum = lm_embedding_checksum(&header, emb);
		memcpy(VARDATA(raw), &header, sizeof(header));
	}
	else
	{
		LmEmbeddingHeader1 header;

		header.magic = LM_EMBEDDING_MAGIC;
		header.format = 1;
		header.dim = (uint16) dim;
		header.model_id = model->model_id;
		header.model_version = model->version;
		header.n_support = n_support;
		header.checksum = 0;
		header.checksum = lm_embedding1_checksum(&header, emb);
		memcpy(VARDATA(raw), &header, sizeof(header));
	}
	SET_VARSIZE(raw, VARHDRSZ + size);
	memcpy(VARDATA(raw) + header_size, emb, dim * sizeof(float));
	return raw;
}

/*
 * An embedding of format 1 names its model by a number of one database,
 * which may be another model on another node: after the update it is not
 * scored (README, "Upgrading"); a format 2 one needs the update first.
 */
void
lm_check_identity_format(int format, const char *what, const char *hint)
{
	bool		identity = lm_catalog_has_identity();

	if (format == 1 && identity)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml %s of format 1 (limaml 0.1.0 or 0.2.0) names its model by a local id and is not used since 0.3.0",
						what),
				 errhint("%s", hint)));
	if (format != 1 && !identity)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml %s of format %d needs the catalog of limaml 0.3.0", what, format),
				 errhint("Run ALTER EXTENSION limaml UPDATE.")));
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
	return data + LM_EMBEDDING_HEADER_SIZE(header->format);
}

/*
 * The model version that made an embedding, by its identity; errors if
 * this node has no such version (identity.c).
 */
LmModel *
lm_embedding_model(const LmEmbeddingHeader *header, MemoryContext holder)
{
	LmModel    *model;

	lm_check_identity_format(header->format, "meta embedding",
							 "Adapt the members again: CALL limaml_refresh('model') re-adapts every stored embedding of format 1, limaml_adapt(member_id, 'model') one member.");
	model = lm_model_acquire_identity(header->model_uuid, header->model_version,
									  header->content_hash, "meta embedding", holder);

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
	Datum		values[8];
	bool		nulls[8] = {false};

	lm_embedding_read(PG_GETARG_BYTEA_PP(0), &header);
	model = lm_embedding_model(&header, CurrentMemoryContext);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "limaml_embedding_info must return a record");
	values[0] = CStringGetTextDatum(model->name);
	values[1] = Int32GetDatum(model->model_id);
	values[2] = Int32GetDatum(header.model_version);
	values[3] = Int32GetDatum(header.dim);
	values[4] = Int32GetDatum(header.n_support);
	/* a catalog from before 0.3.0 declares only the columns above */
	values[5] = Int32GetDatum(header.format);
	values[6] = UUIDPGetDatum((pg_uuid_t *) header.model_uuid);
	nulls[6] = header.format == 1;
	values[7] = PointerGetDatum(lm_hash_prefix_bytea(header.content_hash));
	nulls[7] = header.format == 1;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* the version number in the header, without the catalog; NULL for no valid embedding */
Datum
limaml_embedding_version(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	LmEmbeddingHeader header;
	const char *problem;

	if (lm_embedding_parse(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), &header, &problem) != LM_FORMAT_OK)
		PG_RETURN_NULL();
	PG_RETURN_INT32(header.model_version);
}
