/*
 * fuzz_bytea.c - libFuzzer targets of the bytea readers (core/formats.c)
 * that the server runs on every score: built as fuzz_embedding (the meta
 * embedding) and, with -DFUZZ_ITEM_CODE, as fuzz_item_code.  Each input is
 * read as given, then resealed with a valid checksum (a forged header), so
 * that the checks behind the CRC are reached too.
 */
#include <stdlib.h>
#include <string.h>

#include "formats.h"

#ifdef FUZZ_ITEM_CODE
#define Header LmItemCodeHeader
#define MAGIC LM_ITEM_CODE_MAGIC
#define FORMAT LM_ITEM_CODE_FORMAT
#define parse lm_item_code_parse
#define checksum_of lm_item_code_checksum
#define N_FLOATS(h) ((h).len)
#define FORGERY_CHECKED(h) ((h).flags == 0)
#else
#define Header LmEmbeddingHeader
#define MAGIC LM_EMBEDDING_MAGIC
#define FORMAT LM_EMBEDDING_FORMAT
#define parse lm_embedding_parse
#define checksum_of lm_embedding_checksum
#define N_FLOATS(h) ((h).dim)
#define FORGERY_CHECKED(h) ((h).n_support >= 0)
#endif

static void
check(const uint8_t *data, size_t size, int sealed)
{
	Header h;
	const char *problem = NULL;
	LmFormatStatus st = parse(data, size, &h, &problem);
	const uint8_t *payload = data + sizeof(h);

	if (st == LM_FORMAT_INVALID && problem == NULL)
		abort();
	if (sealed && st == LM_FORMAT_CORRUPT)
		abort();
	if (st != LM_FORMAT_OK)
		return;
	/* what the server then relies on */
	if (h.magic != MAGIC || h.format != FORMAT ||
		size != sizeof(h) + (size_t) N_FLOATS(h) * sizeof(float) || !FORGERY_CHECKED(h) ||
		lm_first_non_finite(payload, N_FLOATS(h)) >= 0 ||
		checksum_of(&h, payload) != h.checksum)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Header h;
	uint8_t    *copy;

	check(data, size, 0);
	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	if (size != sizeof(h) + (size_t) N_FLOATS(h) * sizeof(float))
		return 0;
	copy = malloc(size);
	memcpy(copy, data, size);
	h.checksum = checksum_of(&h, copy + sizeof(h));
	memcpy(copy, &h, sizeof(h));
	check(copy, size, 1);
	free(copy);
	return 0;
}
