/*
 * fuzz_bytea.c - libFuzzer targets of the bytea readers (core/formats.c)
 * that the server runs on every score: built as fuzz_embedding (the meta
 * embedding) and, with -DFUZZ_ITEM_CODE, as fuzz_item_code.  Each input is
 * read as given, then resealed with a valid checksum (a forged header), so
 * that the checks behind the CRC are reached too.  Format 2 is resealed as
 * such, format 1 (0.1.0, 0.2.0) with its own header.
 */
#include <stdlib.h>
#include <string.h>

#include "formats.h"

#ifdef FUZZ_ITEM_CODE
#define Header LmItemCodeHeader
#define Header1 LmItemCodeHeader1
#define MAGIC LM_ITEM_CODE_MAGIC
#define FORMAT LM_ITEM_CODE_FORMAT
#define HEADER_SIZE LM_ITEM_CODE_HEADER_SIZE
#define parse lm_item_code_parse
#define checksum_of lm_item_code_checksum
#define checksum1_of lm_item_code1_checksum
#define N_FLOATS(h) ((h).len)
#define FORGERY_CHECKED(h) ((h).flags == 0)
#else
#define Header LmEmbeddingHeader
#define Header1 LmEmbeddingHeader1
#define MAGIC LM_EMBEDDING_MAGIC
#define FORMAT LM_EMBEDDING_FORMAT
#define HEADER_SIZE LM_EMBEDDING_HEADER_SIZE
#define parse lm_embedding_parse
#define checksum_of lm_embedding_checksum
#define checksum1_of lm_embedding1_checksum
#define N_FLOATS(h) ((h).dim)
#define FORGERY_CHECKED(h) ((h).n_support >= 0)
#endif

static void
check(const uint8_t *data, size_t size, int sealed)
{
	Header		h;
	const char *problem = NULL;
	LmFormatStatus st = parse(data, size, &h, &problem);
	const uint8_t *payload = data + HEADER_SIZE(h.format);

	if (st == LM_FORMAT_INVALID && problem == NULL)
		abort();
	if (sealed && st == LM_FORMAT_CORRUPT)
		abort();
	if (st != LM_FORMAT_OK)
		return;
	/* what the server then relies on */
	if (h.magic != MAGIC || (h.format != FORMAT && h.format != 1) ||
		size != HEADER_SIZE(h.format) + (size_t) N_FLOATS(h) * sizeof(float) || !FORGERY_CHECKED(h) ||
		lm_first_non_finite(payload, N_FLOATS(h)) >= 0)
		abort();
	if (h.format == FORMAT && checksum_of(&h, payload) != h.checksum)
		abort();
}

/* a copy with a valid checksum for its format; NULL when the sizes do not fit one */
static uint8_t *
resealed(const uint8_t *data, size_t size)
{
	uint8_t    *copy;

	if (size >= sizeof(Header1) && ((const Header1 *) (const void *) data)->format == 1)
	{
		Header1		h1;

		memcpy(&h1, data, sizeof(h1));
		if (size != sizeof(h1) + (size_t) N_FLOATS(h1) * sizeof(float))
			return NULL;
		copy = malloc(size);
		memcpy(copy, data, size);
		h1.checksum = checksum1_of(&h1, copy + sizeof(h1));
		memcpy(copy, &h1, sizeof(h1));
		return copy;
	}
	if (size < sizeof(Header))
		return NULL;
	{
		Header		h;

		memcpy(&h, data, sizeof(h));
		if (size != sizeof(h) + (size_t) N_FLOATS(h) * sizeof(float))
			return NULL;
		copy = malloc(size);
		memcpy(copy, data, size);
		h.checksum = checksum_of(&h, copy + sizeof(h));
		memcpy(copy, &h, sizeof(h));
		return copy;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *copy;

	check(data, size, 0);
	if ((copy = resealed(data, size)) != NULL)
	{
		check(copy, size, 1);
		free(copy);
	}
	return 0;
}
