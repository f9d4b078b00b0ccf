/*
 * formats.c - readers of the meta-embedding and item-code bytea formats
 * (formats.h), free of PostgreSQL so that the fuzz targets run them.
 */
#include "formats.h"

#include <math.h>
#include <string.h>

#include "serve_crc.h"

/* the register, started and finished as PostgreSQL's INIT/FIN_CRC32C do */
static uint32_t
checksum(const void *header, size_t header_size, const void *payload, size_t n_floats)
{
	uint32_t	crc = 0xFFFFFFFF;

	crc = lm_crc32c_update(crc, header, header_size);
	crc = lm_crc32c_update(crc, payload, n_floats * sizeof(float));
	return crc ^ 0xFFFFFFFF;
}

uint32_t
lm_embedding_checksum(const LmEmbeddingHeader *header, const void *payload)
{
	LmEmbeddingHeader h = *header;

	h.checksum = 0;
	return checksum(&h, sizeof(h), payload, h.dim);
}

uint32_t
lm_item_code_checksum(const LmItemCodeHeader *header, const void *payload)
{
	LmItemCodeHeader h = *header;

	h.checksum = 0;
	return checksum(&h, sizeof(h), payload, h.len);
}

static LmFormatStatus
invalid(const char **problem, const char *what)
{
	*problem = what;
	return LM_FORMAT_INVALID;
}

uint32_t
lm_embedding1_checksum(const LmEmbeddingHeader1 *header, const void *payload)
{
	LmEmbeddingHeader1 h = *header;

	h.checksum = 0;
	return checksum(&h, sizeof(h), payload, h.dim);
}

uint32_t
lm_item_code1_checksum(const LmItemCodeHeader1 *header, const void *payload)
{
	LmItemCodeHeader1 h = *header;

	h.checksum = 0;
	return checksum(&h, sizeof(h), payload, h.len);
}

/* format 1's local model id where format 2 has the UUID (formats.h) */
static void
put_model_id(uint8_t *uuid, int32_t model_id)
{
	memset(uuid, 0, LM_UUID_LEN);
	memcpy(uuid, &model_id, sizeof(model_id));
}

/* a format 1 embedding, already known to be long enough for its header */
static LmFormatStatus
embedding1_parse(const char *data, size_t size, LmEmbeddingHeader *header, const char **problem)
{
	LmEmbeddingHeader1 h;
	const char *payload = data + sizeof(h);

	memcpy(&h, data, sizeof(h));
	header->format = 1;
	header->dim = h.dim;
	put_model_id(header->model_uuid, h.model_id);
	header->model_version = h.model_version;
	header->n_support = h.n_support;
	memset(header->content_hash, 0, LM_HASH_PREFIX);
	header->checksum = h.checksum;
	if (size != sizeof(h) + (size_t) h.dim * sizeof(float))
		return invalid(problem, "its length does not match its dimension (truncated?)");
	if (lm_embedding1_checksum(&h, payload) != h.checksum)
		return LM_FORMAT_CORRUPT;
	if (h.n_support < 0)
		return invalid(problem, "its n_support is negative");
	if (lm_first_non_finite(payload, h.dim) >= 0)
		return invalid(problem, "its payload holds a non-finite value");
	return LM_FORMAT_OK;
}

static LmFormatStatus
item_code1_parse(const char *data, size_t size, LmItemCodeHeader *header, const char **problem)
{
	LmItemCodeHeader1 h;
	const char *payload = data + sizeof(h);

	memcpy(&h, data, sizeof(h));
	header->format = 1;
	header->len = h.len;
	put_model_id(header->model_uuid, h.model_id);
	header->model_version = h.model_version;
	header->flags = h.flags;
	memset(header->content_hash, 0, LM_HASH_PREFIX);
	header->checksum = h.checksum;
	if (size != sizeof(h) + (size_t) h.len * sizeof(float))
		return invalid(problem, "its length does not match its header (truncated?)");
	if (lm_item_code1_checksum(&h, payload) != h.checksum)
		return LM_FORMAT_CORRUPT;
	if (h.flags != 0)
		return invalid(problem, "its reserved flags are not zero");
	if (lm_first_non_finite(payload, h.len) >= 0)
		return invalid(problem, "its payload holds a non-finite value");
	return LM_FORMAT_OK;
}

LmFormatStatus
lm_embedding_parse(const void *data, size_t size, LmEmbeddingHeader *header,
				   const char **problem)
{
	const char *payload = (const char *) data + sizeof(LmEmbeddingHeader);

	memset(header, 0, sizeof(*header));
	if (size < sizeof(LmEmbeddingHeader1))
		return invalid(problem, "it is truncated");
	memcpy(header, data, sizeof(LmEmbeddingHeader1));
	if (header->magic != LM_EMBEDDING_MAGIC)
		return invalid(problem, "it is not a limaml meta embedding");
	if (header->format == 1)
		return embedding1_parse(data, size, header, problem);
	if (size < sizeof(LmEmbeddingHeader))
		return invalid(problem, "it is truncated");
	memcpy(header, data, sizeof(LmEmbeddingHeader));
	if (header->format != LM_EMBEDDING_FORMAT)
		return invalid(problem, "its format version is not supported");
	if (size != sizeof(LmEmbeddingHeader) + (size_t) header->dim * sizeof(float))
		return invalid(problem, "its length does not match its dimension (truncated?)");
	if (lm_embedding_checksum(header, payload) != header->checksum)
		return LM_FORMAT_CORRUPT;

	/* the checksum detects corruption, not forgery: check what it vouches for */
	if (header->n_support < 0)
		return invalid(problem, "its n_support is negative");
	if (lm_first_non_finite(payload, header->dim) >= 0)
		return invalid(problem, "its payload holds a non-finite value");
	return LM_FORMAT_OK;
}

LmFormatStatus
lm_item_code_parse(const void *data, size_t size, LmItemCodeHeader *header,
				   const char **problem)
{
	const char *payload = (const char *) data + sizeof(LmItemCodeHeader);

	memset(header, 0, sizeof(*header));
	if (size < sizeof(LmItemCodeHeader1))
		return invalid(problem, "it is truncated");
	memcpy(header, data, sizeof(LmItemCodeHeader1));
	if (header->magic != LM_ITEM_CODE_MAGIC)
		return invalid(problem, header->magic == LM_EMBEDDING_MAGIC ?
					   "it is a meta embedding, not an item code" :
					   "it is not a limaml item code");
	if (header->format == 1)
		return item_code1_parse(data, size, header, problem);
	if (size < sizeof(LmItemCodeHeader))
		return invalid(problem, "it is truncated");
	memcpy(header, data, sizeof(LmItemCodeHeader));
	if (header->format != LM_ITEM_CODE_FORMAT)
		return invalid(problem, "its format version is not supported");
	if (size != sizeof(LmItemCodeHeader) + (size_t) header->len * sizeof(float))
		return invalid(problem, "its length does not match its header (truncated?)");
	if (lm_item_code_checksum(header, payload) != header->checksum)
		return LM_FORMAT_CORRUPT;

	/* the checksum detects corruption, not forgery: check what it vouches for */
	if (header->flags != 0)
		return invalid(problem, "its reserved flags are not zero");
	if (lm_first_non_finite(payload, header->len) >= 0)
		return invalid(problem, "its payload holds a non-finite value");
	return LM_FORMAT_OK;
}

int64_t
lm_first_non_finite(const void *payload, size_t n)
{
	const char *p = payload;

	for (size_t i = 0; i < n; i++)
	{
		float		x;

		memcpy(&x, p + i * sizeof(float), sizeof(float));
		if (!isfinite(x))
			return (int64_t) i;
	}
	return -1;
}
