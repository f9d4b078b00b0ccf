/*
 * test_formats.c - the PG-free readers the server runs on untrusted input
 * (core/formats.c, core/model_reader.c): every rejection, with the message
 * the glue raises, and in particular what the checksum cannot vouch for: a
 * forged header with a valid CRC-32C and a NaN or infinite payload, a
 * negative n_support or non-zero reserved flags.
 */
#include <stddef.h>
#include <string.h>

#include "check.h"
#include "formats.h"
#include "../fuzz/json_text.h"
#include "serve_crc.h"

/* ---------------------------------------------------------------- bytea */

typedef struct Bytes
{
	unsigned char b[sizeof(LmEmbeddingHeader) + 8 * sizeof(float)];
	size_t		size;
} Bytes;

/* the identity the test embeddings and item codes carry */
static void
identity(uint8_t *uuid, uint8_t *hash)
{
	for (int i = 0; i < LM_UUID_LEN; i++)
		uuid[i] = (uint8_t) (0x10 + i);
	for (int i = 0; i < LM_HASH_PREFIX; i++)
		hash[i] = (uint8_t) (0xa0 + i);
}

static Bytes
embedding(int dim, int n_support)
{
	Bytes		r;
	LmEmbeddingHeader h = {0};
	float		x[8];

	h.magic = LM_EMBEDDING_MAGIC;
	h.format = LM_EMBEDDING_FORMAT;
	h.dim = (uint16_t) dim;
	identity(h.model_uuid, h.content_hash);
	h.model_version = 2;
	h.n_support = n_support;
	for (int i = 0; i < dim; i++)
		x[i] = 0.25f * (float) (i + 1);
	h.checksum = lm_embedding_checksum(&h, x);
	memcpy(r.b, &h, sizeof(h));
	memcpy(r.b + sizeof(h), x, dim * sizeof(float));
	r.size = sizeof(h) + dim * sizeof(float);
	return r;
}

/* as 0.1.0 and 0.2.0 wrote them: model id 7 of one database */
static Bytes
embedding1(int dim, int n_support)
{
	Bytes		r;
	LmEmbeddingHeader1 h = {LM_EMBEDDING_MAGIC, 1, (uint16_t) dim, 7, 2, n_support, 0};
	float		x[8];

	for (int i = 0; i < dim; i++)
		x[i] = 0.25f * (float) (i + 1);
	h.checksum = lm_embedding1_checksum(&h, x);
	memcpy(r.b, &h, sizeof(h));
	memcpy(r.b + sizeof(h), x, dim * sizeof(float));
	r.size = sizeof(h) + dim * sizeof(float);
	return r;
}

static Bytes
item_code(int len)
{
	Bytes		r;
	LmItemCodeHeader h = {0};
	float		x[8];

	h.magic = LM_ITEM_CODE_MAGIC;
	h.format = LM_ITEM_CODE_FORMAT;
	h.len = (uint16_t) len;
	identity(h.model_uuid, h.content_hash);
	h.model_version = 2;
	h.flags = 0;
	for (int i = 0; i < len; i++)
		x[i] = -0.5f * (float) (i + 1);
	h.checksum = lm_item_code_checksum(&h, x);
	memcpy(r.b, &h, sizeof(h));
	memcpy(r.b + sizeof(h), x, len * sizeof(float));
	r.size = sizeof(h) + len * sizeof(float);
	return r;
}

static Bytes
item_code1(int len)
{
	Bytes		r;
	LmItemCodeHeader1 h = {LM_ITEM_CODE_MAGIC, 1, (uint16_t) len, 7, 2, 0, 0};
	float		x[8];

	for (int i = 0; i < len; i++)
		x[i] = -0.5f * (float) (i + 1);
	h.checksum = lm_item_code1_checksum(&h, x);
	memcpy(r.b, &h, sizeof(h));
	memcpy(r.b + sizeof(h), x, len * sizeof(float));
	r.size = sizeof(h) + len * sizeof(float);
	return r;
}

#define N_SUPPORT_OFF offsetof(LmEmbeddingHeader, n_support)
#define FLAGS_OFF offsetof(LmItemCodeHeader, flags)

/* writes a 32-bit field at off, then (reseal) a valid checksum: a forgery */
static void
poke(Bytes *r, size_t off, const void *value, int reseal)
{
	memcpy(r->b + off, value, 4);
	if (reseal && r->b[0] == 'L' && r->b[3] == 'B')
	{
		LmEmbeddingHeader h;

		memcpy(&h, r->b, sizeof(h));
		h.checksum = lm_embedding_checksum(&h, r->b + sizeof(h));
		memcpy(r->b, &h, sizeof(h));
	}
	else if (reseal)
	{
		LmItemCodeHeader h;

		memcpy(&h, r->b, sizeof(h));
		h.checksum = lm_item_code_checksum(&h, r->b + sizeof(h));
		memcpy(r->b, &h, sizeof(h));
	}
}

/* the reader's status is want and, when given, its problem that text */
static int
says(const Bytes *r, int item_code, LmFormatStatus want, const char *problem)
{
	LmEmbeddingHeader eh;
	LmItemCodeHeader ch;
	const char *got = NULL;
	LmFormatStatus st = item_code ? lm_item_code_parse(r->b, r->size, &ch, &got) :
		lm_embedding_parse(r->b, r->size, &eh, &got);

	if (st != want)
		return 0;
	return problem == NULL || (got && strcmp(got, problem) == 0);
}

#define embedding_says(r, want, problem) says(r, 0, want, problem)
#define code_says(r, want, problem) says(r, 1, want, problem)

static void
check_embedding(void)
{
	Bytes		r = embedding(4, 3);
	LmEmbeddingHeader h;
	const char *problem = NULL;
	float		nan = NAN,
				inf = INFINITY;
	int32_t		neg = -1,
				other = 0x12345678;
	uint16_t	three = 3;
	uint8_t		uuid[LM_UUID_LEN],
				hash[LM_HASH_PREFIX];
	int32_t		seven = 7;

	identity(uuid, hash);
	CHECK(lm_embedding_parse(r.b, r.size, &h, &problem) == LM_FORMAT_OK && h.dim == 4 &&
		  h.format == 2 && memcmp(h.model_uuid, uuid, LM_UUID_LEN) == 0 && h.model_version == 2 &&
		  memcmp(h.content_hash, hash, LM_HASH_PREFIX) == 0 && h.n_support == 3,
		  "embedding: a valid one reads with its header and identity");
	CHECK(sizeof(LmEmbeddingHeader) == 44 && offsetof(LmEmbeddingHeader, model_uuid) == 8 &&
		  offsetof(LmEmbeddingHeader, model_version) == 24 &&
		  offsetof(LmEmbeddingHeader, content_hash) == 32 && sizeof(LmEmbeddingHeader1) == 24,
		  "embedding: the layouts docs/formats.md and limaml_refresh rely on");
	r = embedding(4, 3);
	r.b[8 + 5] ^= 1;
	CHECK(embedding_says(&r, LM_FORMAT_CORRUPT, NULL), "embedding: a changed UUID is corruption");
	r = embedding(4, 3);
	r.b[32] ^= 1;
	CHECK(embedding_says(&r, LM_FORMAT_CORRUPT, NULL), "embedding: a changed content hash is corruption");
	r = embedding1(4, 3);
	CHECK(lm_embedding_parse(r.b, r.size, &h, &problem) == LM_FORMAT_OK && h.format == 1 &&
		  h.dim == 4 && memcmp(h.model_uuid, &seven, 4) == 0 && h.model_uuid[4] == 0 &&
		  h.model_uuid[15] == 0 && h.model_version == 2 && h.n_support == 3 && h.content_hash[0] == 0 &&
		  LM_EMBEDDING_HEADER_SIZE(h.format) == 24,
		  "embedding: format 1 reads, its model id where the UUID goes, no hash");
	r.size = sizeof(LmEmbeddingHeader1) - 1;
	CHECK(embedding_says(&r, LM_FORMAT_INVALID, "it is truncated"), "embedding: format 1 truncated header");
	r = embedding1(4, 3);
	r.size -= 4;
	CHECK(embedding_says(&r, LM_FORMAT_INVALID,
						 "its length does not match its dimension (truncated?)"),
		  "embedding: format 1 truncated payload");
	r = embedding1(4, 3);
	r.b[sizeof(LmEmbeddingHeader1)] ^= 1;
	CHECK(embedding_says(&r, LM_FORMAT_CORRUPT, NULL), "embedding: format 1 corruption");
	r = embedding(1, 3);
	r.size = sizeof(LmEmbeddingHeader1) + 4;
	CHECK(embedding_says(&r, LM_FORMAT_INVALID, "it is truncated"),
		  "embedding: format 2 cut to a format 1 length is truncated");
	r = embedding(4, 3);
	r.size = sizeof(LmEmbeddingHeader) - 1;
	CHECK(embedding_says(&r, LM_FORMAT_INVALID, "it is truncated"), "embedding: truncated header");
	r = embedding(4, 3);
	r.size -= 1;
	CHECK(embedding_says(&r, LM_FORMAT_INVALID,
						 "its length does not match its dimension (truncated?)"),
		  "embedding: truncated payload");
	r = embedding(4, 3);
	poke(&r, 0, &other, 1);
	CHECK(embedding_says(&r, LM_FORMAT_INVALID, "it is not a limaml meta embedding"),
		  "embedding: wrong magic");
	r = embedding(4, 3);
	memcpy(r.b + 4, &three, 2);
	CHECK(embedding_says(&r, LM_FORMAT_INVALID, "its format version is not supported"),
		  "embedding: format 3");
	r = embedding(4, 3);
	r.b[sizeof(LmEmbeddingHeader) + 5] ^= 1;
	CHECK(embedding_says(&r, LM_FORMAT_CORRUPT, NULL), "embedding: a flipped payload bit is corruption");
	r = embedding(4, 3);
	poke(&r, N_SUPPORT_OFF, &neg, 0);
	CHECK(embedding_says(&r, LM_FORMAT_CORRUPT, NULL), "embedding: a changed n_support is corruption");
	r = embedding(4, 3);
	poke(&r, N_SUPPORT_OFF, &neg, 1);
	CHECK(embedding_says(&r, LM_FORMAT_INVALID, "its n_support is negative"),
		  "embedding: forged negative n_support with a valid checksum");
	r = embedding(4, 3);
	poke(&r, sizeof(LmEmbeddingHeader) + 8, &nan, 1);
	CHECK(embedding_says(&r, LM_FORMAT_INVALID, "its payload holds a non-finite value"),
		  "embedding: forged NaN payload with a valid checksum");
	r = embedding(4, 3);
	poke(&r, sizeof(LmEmbeddingHeader) + 12, &inf, 1);
	CHECK(embedding_says(&r, LM_FORMAT_INVALID, "its payload holds a non-finite value"),
		  "embedding: forged infinite payload with a valid checksum");
	r = item_code(4);
	CHECK(embedding_says(&r, LM_FORMAT_INVALID, "it is not a limaml meta embedding"),
		  "embedding: an item code is not one");
}

static void
check_item_code(void)
{
	Bytes		r = item_code(3);
	LmItemCodeHeader h;
	const char *problem = NULL;
	float		nan = NAN;
	uint32_t	flags = 1,
				other = 0x12345678;

	CHECK(lm_item_code_parse(r.b, r.size, &h, &problem) == LM_FORMAT_OK && h.len == 3 &&
		  h.flags == 0 && h.format == 2 && h.model_uuid[0] == 0x10 && h.content_hash[7] == 0xa7 &&
		  h.model_version == 2, "item code: a valid one reads with its header and identity");
	CHECK(sizeof(LmItemCodeHeader) == 44 && offsetof(LmItemCodeHeader, model_version) == 24 &&
		  offsetof(LmItemCodeHeader, content_hash) == 32 && sizeof(LmItemCodeHeader1) == 24,
		  "item code: the layouts docs/formats.md describes");
	r = item_code(3);
	r.b[20] ^= 1;
	CHECK(code_says(&r, LM_FORMAT_CORRUPT, NULL), "item code: a changed UUID is corruption");
	r = item_code1(3);
	CHECK(lm_item_code_parse(r.b, r.size, &h, &problem) == LM_FORMAT_OK && h.format == 1 &&
		  h.len == 3 && h.model_uuid[0] == 7 && h.model_version == 2,
		  "item code: format 1 reads, its model id where the UUID goes");
	r.b[r.size - 1] ^= 0x40;
	CHECK(code_says(&r, LM_FORMAT_CORRUPT, NULL), "item code: format 1 corruption");
	r = item_code1(3);
	r.size -= 1;
	CHECK(code_says(&r, LM_FORMAT_INVALID, "its length does not match its header (truncated?)"),
		  "item code: format 1 truncated");
	r = item_code(3);
	r.size = 3;
	CHECK(code_says(&r, LM_FORMAT_INVALID, "it is truncated"), "item code: truncated header");
	r = item_code(3);
	r.size += 4;
	CHECK(code_says(&r, LM_FORMAT_INVALID, "its length does not match its header (truncated?)"),
		  "item code: trailing bytes");
	r = embedding(3, 0);
	CHECK(code_says(&r, LM_FORMAT_INVALID, "it is a meta embedding, not an item code"),
		  "item code: a meta embedding is named as such");
	r = item_code(3);
	poke(&r, 0, &other, 1);
	CHECK(code_says(&r, LM_FORMAT_INVALID, "it is not a limaml item code"),
		  "item code: wrong magic");
	r = item_code(3);
	r.b[4] = 9;
	CHECK(code_says(&r, LM_FORMAT_INVALID, "its format version is not supported"),
		  "item code: format 9");
	r = item_code(3);
	r.b[r.size - 1] ^= 0x40;
	CHECK(code_says(&r, LM_FORMAT_CORRUPT, NULL), "item code: a flipped payload bit is corruption");
	r = item_code(3);
	poke(&r, FLAGS_OFF, &flags, 1);
	CHECK(code_says(&r, LM_FORMAT_INVALID, "its reserved flags are not zero"),
		  "item code: forged reserved flags with a valid checksum");
	r = item_code(3);
	poke(&r, sizeof(LmItemCodeHeader), &nan, 1);
	CHECK(code_says(&r, LM_FORMAT_INVALID, "its payload holds a non-finite value"),
		  "item code: forged NaN payload with a valid checksum");
}

static void
check_crc(void)
{
	unsigned char payload[5] = {1, 2, 3, 4, 5};
	LmEmbeddingHeader h = {LM_EMBEDDING_MAGIC, 2, 1, {1}, 1, 0, {2}, 0xdeadbeef};
	LmEmbeddingHeader zeroed = h;
	uint32_t	want;

	/* the standard check value of CRC-32C: PostgreSQL's INIT/COMP/FIN_CRC32C */
	CHECK((lm_crc32c_update(0xFFFFFFFF, "123456789", 9) ^ 0xFFFFFFFF) == 0xE3069283,
		  "crc: CRC-32C of \"123456789\" is e3069283");
	zeroed.checksum = 0;
	want = lm_crc32c_update_ref(0xFFFFFFFF, &zeroed, sizeof(zeroed));
	want = lm_crc32c_update_ref(want, payload, 4) ^ 0xFFFFFFFF;
	CHECK(lm_embedding_checksum(&h, payload) == want,
		  "crc: the embedding's covers the header with its checksum field zero, then dim floats");
	CHECK(lm_first_non_finite(payload + 1, 1) == -1 && lm_first_non_finite(payload, 0) == -1,
		  "first_non_finite: finite and empty payloads");
}

/* --------------------------------------------------------------- model JSON */

/* a valid configuration's members; a test leaves one out or overrides it (the last wins) */
static const char *const base[] = {
	"\"loss\": \"bce\"", "\"meta_hidden\": [16]", "\"global_hidden\": [32, 16]",
	"\"member_dim\": 4", "\"item_dim\": 3", "\"embedding_dim\": 8", "\"inner_steps\": 5",
	"\"inner_lr\": 0.1", "\"support_size\": 10", "\"query_size\": 10", "\"seed\": 42"
};

static LmModelIdentity last_identity;	/* what the last document's identity read */

/*
 * The reader's verdict on a configuration (the base without member `without`,
 * then `extra`) or, with doc, on a whole document: NULL when accepted, else
 * the message the glue raises, less its "model json: " prefix.
 */
static const char *
verdict(const char *without, const char *extra, const char *doc, LmArch *arch, int *warnings)
{
	static char msg[512];
	char		text[4096] = "{";
	Value		root;
	Arena		arena = {0};
	LmJsonOps	ops = value_ops(&arena);
	LmReadError err = {0};
	LmConfig	cfg;
	LmArch		a;
	int			fv;
	LmReadStatus st;

	for (size_t i = 0; !doc && i < sizeof(base) / sizeof(base[0]); i++)
		if (!without || strncmp(base[i] + 1, without, strlen(without)) != 0 ||
			base[i][strlen(without) + 1] != '"')
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s",
					 text[1] ? ", " : "", base[i]);
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s}", extra ? extra : "");
	if (doc)
		snprintf(text, sizeof(text), "%s", doc);
	if (!json_parse((const uint8_t *) text, strlen(text), &root))
	{
		value_free(&root);
		return "(test error: not JSON)";
	}
	arch = arch ? arch : &a;
	if (!doc)
		st = lm_config_read(&ops, &root, arch, &cfg, &err);
	else if (!(st = lm_model_read_config(&ops, &root, &fv, arch, &cfg, &err)) &&
			 !(st = lm_model_read_identity(&ops, &root, fv, &last_identity, &err)))
	{
		lm_real    *params = malloc(sizeof(lm_real) * arch->n_params);

		st = lm_model_read_params(&ops, &root, fv, arch, params, &err);
		free(params);
	}
	if (warnings)
		*warnings = arena.zero_rows;
	if (st == LM_READ_INVALID)
		snprintf(msg, sizeof(msg), "%s %s", err.what, err.problem);
	else if (st == LM_READ_LISTED_NOT_ZERO)
		snprintf(msg, sizeof(msg), "%s lists bucket %d", err.what, err.bucket);
	else if (st == LM_READ_UNLISTED_ZERO)
		snprintf(msg, sizeof(msg), "%d unlisted zero rows, the first %d", err.n, err.bucket);
	arena_free(&arena);
	value_free(&root);
	return st ? msg : NULL;
}

#define SAYS(got, want, name) \
	do { \
		const char *got_ = (got); \
		check_report(got_ && strcmp(got_, (want)) == 0, __FILE__, __LINE__, \
					 got_ ? got_ : "accepted", "model json: %s", name); \
	} while (0)

#define REJECTS(without, extra, want, name) SAYS(verdict(without, extra, NULL, NULL, NULL), want, name)

static void
check_config(void)
{
	LmArch		arch,
				direct;
	int			meta[] = {16},
				global[] = {32, 16};

	CHECK(verdict(NULL, NULL, NULL, &arch, NULL) == NULL &&
		  lm_arch_init(&direct, 4, 3, 8, meta, 1, global, 2, LM_LOSS_BCE) == NULL &&
		  arch.n_params == direct.n_params, "model json: a valid configuration reads");
	REJECTS("loss", NULL, "loss is missing", "loss missing");
	REJECTS(NULL, ", \"loss\": \"bcex\"", "loss must be \"bce\" or \"mse\"", "unknown loss");
	REJECTS(NULL, ", \"meta_hidden\": \"16\"", "meta_hidden must be an array", "widths not an array");
	REJECTS(NULL, ", \"global_hidden\": [4, 4, 4, 4, 4, 4, 4, 4, 4]",
			"global_hidden has too many layers", "nine hidden layers");
	REJECTS(NULL, ", \"meta_hidden\": [0]", "meta_hidden must hold widths between 1 and 4096",
			"a zero width");
	REJECTS(NULL, ", \"member_dim\": 1.5", "member_dim must be an integer", "fractional member_dim");
	REJECTS(NULL, ", \"item_dim\": \"3\"", "item_dim must be a number", "item_dim a string");
	REJECTS(NULL, ", \"embedding_dim\": 1e400", "embedding_dim must be finite",
			"embedding_dim beyond double");
	REJECTS(NULL, ", \"embedding_dim\": 0", "config embedding dimension out of range",
			"zero embedding_dim (lm_arch_init)");
	REJECTS(NULL, ", \"item_buckets\": -1", "item_buckets must not be negative",
			"negative item_buckets");
	REJECTS(NULL, ", \"item_buckets\": 3", "item_embedding_dim is missing",
			"item_buckets without item_embedding_dim");
	REJECTS(NULL, ", \"item_vocab\": [3, 5, 9]", "item_vocab needs item_buckets",
			"item_vocab without item_buckets");
	REJECTS(NULL, ", \"item_buckets\": 4, \"item_embedding_dim\": 2, \"item_vocab\": [3, 5, 9]",
			"item_vocab must hold item_buckets ids", "a vocabulary of the wrong size");
	REJECTS(NULL, ", \"item_buckets\": 3, \"item_embedding_dim\": 2, \"item_vocab\": [3, 9, 5]",
			"item_vocab must be strictly ascending", "an unsorted vocabulary");
	REJECTS(NULL, ", \"item_buckets\": 3, \"item_embedding_dim\": 2, \"item_vocab\": [3, 5.5, 9]",
			"item_vocab must be a 64-bit integer", "a fractional item id");
	REJECTS(NULL, ", \"history\": \"yes\"", "history must be true or false",
			"a flag that is a string");
	REJECTS(NULL, ", \"wide\": true", "wide_rank is missing", "wide without wide_rank");
	REJECTS(NULL, ", \"wide_features\": 1", "wide_features must be true or false",
			"wide_features a number");
	REJECTS(NULL, ", \"item_buckets\": 3, \"item_embedding_dim\": 2, \"wide\": true, "
			"\"wide_rank\": 2", "ridge_lambda is missing", "wide without ridge_lambda");
	REJECTS("seed", NULL, "seed is missing", "seed missing");
	REJECTS(NULL, ", \"seed\": 9223372036854775808", "seed must be a 64-bit integer",
			"seed beyond int64");
	REJECTS(NULL, ", \"loss\": \"mse\", \"negatives\": 4", "negatives needs loss bce",
			"negatives with mse");
	REJECTS(NULL, ", \"inner_lr\": 1000",
			"config: inner_lr must be between 1e-06 and 100, not 1000", "inner_lr out of range");
	REJECTS(NULL, ", \"adapt_steps\": 5000",
			"config: adapt_steps must be between 0 and 1000, not 5000", "adapt_steps out of range");
	REJECTS(NULL, ", \"negatives\": 101",
			"config: negatives must be between 1 and 100, not 101", "too many negatives");
	{
		LmConfig	c = {5, NAN, 5, 0.1, 10, 10, 1, 0};
		char		buf[160];

		CHECK(lm_config_check(&c, buf, sizeof(buf)) &&
			  strcmp(buf, "inner_lr must be between 1e-06 and 100, not NaN") == 0,
			  "model json: NaN is spelled as PostgreSQL spells it");
		c.inner_lr = 0.1;
		c.adapt_lr = -INFINITY;
		CHECK(lm_config_check(&c, buf, sizeof(buf)) &&
			  strcmp(buf, "adapt_lr must be between 1e-06 and 100, not -Infinity") == 0,
			  "model json: so is -Infinity");
	}
}

/* a document of a model with no hidden layers: meta 1 -> 2, global [2 + 1] -> 1, 2 buckets of 1 */
#define DOC(format, config_extra, meta, global, rest) \
	"{\"format\": \"" format "\", \"format_version\": 2, \"config\": {\"member_dim\": 1, " \
	"\"item_dim\": 1, \"embedding_dim\": 2, \"meta_hidden\": [], \"global_hidden\": [], " \
	"\"loss\": \"bce\", \"inner_steps\": 1, \"inner_lr\": 0.1, \"support_size\": 1, " \
	"\"query_size\": 1, \"seed\": 1, \"item_buckets\": 2, \"item_embedding_dim\": 1" \
	config_extra "}, \"meta\": " meta ", \"global\": " global rest "}"
#define META "[{\"weight\": [[1], [2]], \"bias\": [0, 0]}]"
#define GLOBAL "[{\"weight\": [[1, 2, 3, 4]], \"bias\": [0.5]}]"
#define ROWS ", \"item_embeddings\": [[1], [0], [0.5]], \"item_embeddings_untrained\": [1]"
#define DOC_SAYS(doc, want, name) SAYS(verdict(NULL, NULL, doc, NULL, NULL), want, name)

static void
check_document(void)
{
	int			warnings = -1;

	CHECK(verdict(NULL, NULL, DOC("limaml-model", "", META, GLOBAL, ROWS), NULL, NULL) == NULL,
		  "model json: a valid document reads");
	DOC_SAYS("[1]", "format is missing", "a document that is no object");
	DOC_SAYS(DOC("limaml-modeL", "", META, GLOBAL, ROWS), "format must be \"limaml-model\"",
			 "a foreign format");
	DOC_SAYS("{\"format\": \"limaml-model\", \"format_version\": 4}",
			 "format_version is not supported by this limaml version", "format_version 4");
	DOC_SAYS("{\"format\": \"limaml-model\", \"format_version\": 2, \"config\": []}",
			 "config must be an object", "a config that is an array");
	DOC_SAYS("{\"format\": \"limaml-model\", \"format_version\": 1, \"config\": {\"member_dim\": 1, "
			 "\"item_dim\": 1, \"embedding_dim\": 2, \"meta_hidden\": [], \"global_hidden\": [], "
			 "\"loss\": \"bce\", \"inner_steps\": 1, \"inner_lr\": 0.1, \"support_size\": 1, "
			 "\"query_size\": 1, \"seed\": 1, \"item_buckets\": 2, \"item_embedding_dim\": 1, "
			 "\"wide\": true, \"wide_rank\": 0, \"ridge_lambda\": 1}}",
			 "wide needs format_version 2", "a wide head in format 1");
	DOC_SAYS(DOC("limaml-model", "", "[]", GLOBAL, ROWS),
			 "meta has the wrong number of layers for its config", "a missing layer");
	DOC_SAYS(DOC("limaml-model", "", "[7]", GLOBAL, ROWS), "meta layers must be objects",
			 "a layer that is a number");
	DOC_SAYS(DOC("limaml-model", "", "[[]]", GLOBAL, ROWS), "weight is missing",
			 "a layer that is an array");
	DOC_SAYS(DOC("limaml-model", "", "[{\"weight\": [[1]], \"bias\": [0, 0]}]", GLOBAL, ROWS),
			 "meta has a layer of the wrong output width", "too few weight rows");
	DOC_SAYS(DOC("limaml-model", "", "[{\"weight\": [[1], [2, 3]], \"bias\": [0, 0]}]", GLOBAL, ROWS),
			 "meta has a layer of the wrong input width", "a weight row too wide");
	DOC_SAYS(DOC("limaml-model", "", "[{\"weight\": [[1], 2], \"bias\": [0, 0]}]", GLOBAL, ROWS),
			 "weight must be an array", "a weight row that is a number");
	DOC_SAYS(DOC("limaml-model", "", "[{\"weight\": [[1], [2]], \"bias\": [0, null]}]", GLOBAL, ROWS),
			 "bias must be a number", "a null bias");
	DOC_SAYS(DOC("limaml-model", "", "[{\"weight\": [[1], [1e39]], \"bias\": [0, 0]}]", GLOBAL, ROWS),
			 "weight must be within the range of real", "a weight beyond float32");
	DOC_SAYS(DOC("limaml-model", "", META, "[{\"weight\": [[1, 2, 3, 1e400]], \"bias\": [0.5]}]", ROWS),
			 "weight must be finite", "a weight beyond double");
	DOC_SAYS(DOC("limaml-model", "", META, GLOBAL, ", \"item_embeddings\": [[1], [0]]"),
			 "item_embeddings has the wrong number of rows for its config", "a missing item row");
	DOC_SAYS(DOC("limaml-model", "", META, GLOBAL, ", \"item_embeddings\": [[1], [0], [0.5, 1]]"),
			 "item_embeddings has a row of the wrong width for its config", "an item row too wide");
	DOC_SAYS(DOC("limaml-model", "", META, GLOBAL, ", \"item_embeddings\": [[1], [0], [0.5]]"),
			 "1 unlisted zero rows, the first 1", "format 2: an all-zero row not listed");
	DOC_SAYS(DOC("limaml-model", "", META, GLOBAL,
				 ", \"item_embeddings\": [[1], [0], [0.5]], \"item_embeddings_untrained\": [0, 1]"),
			 "item_embeddings_untrained lists bucket 0", "a listed row that is not all zeros");
	DOC_SAYS(DOC("limaml-model", "", META, GLOBAL,
				 ", \"item_embeddings\": [[1], [0], [0.5]], \"item_embeddings_untrained\": [1, 1]"),
			 "item_embeddings_untrained must not list a bucket twice", "a bucket listed twice");
	DOC_SAYS(DOC("limaml-model", "", META, GLOBAL,
				 ", \"item_embeddings\": [[1], [0], [0.5]], \"item_embeddings_untrained\": [2]"),
			 "item_embeddings_untrained must hold bucket numbers from 0 to item_buckets - 1",
			 "the unknown row listed");
	DOC_SAYS(DOC("limaml-model", ", \"bilinear\": true", META, GLOBAL, ROWS), "bilinear is missing",
			 "a bilinear model without P");
	CHECK(verdict(NULL, NULL, "{\"format\": \"limaml-model\", \"format_version\": 1, \"config\": "
				  "{\"member_dim\": 1, \"item_dim\": 1, \"embedding_dim\": 2, \"meta_hidden\": [], "
				  "\"global_hidden\": [], \"loss\": \"bce\", \"inner_steps\": 1, \"inner_lr\": 0.1, "
				  "\"support_size\": 1, \"query_size\": 1, \"seed\": 1, \"item_buckets\": 2, "
				  "\"item_embedding_dim\": 1}, \"meta\": " META ", \"global\": " GLOBAL
				  ", \"item_embeddings\": [[1], [0], [0.5]]}", NULL, &warnings) == NULL &&
		  warnings == 1, "model json: format 1: an all-zero row reads, with a warning");
}

/* format 3: the DOC above with an identity */
#define UUID_OK "0123abcd-4567-89ef-0123-456789abcdef"
#define HASH_OK "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
#define DOC3(identity) \
	"{\"format\": \"limaml-model\", \"format_version\": 3" identity ", \"config\": {\"member_dim\": 1, " \
	"\"item_dim\": 1, \"embedding_dim\": 2, \"meta_hidden\": [], \"global_hidden\": [], " \
	"\"loss\": \"bce\", \"inner_steps\": 1, \"inner_lr\": 0.1, \"support_size\": 1, " \
	"\"query_size\": 1, \"seed\": 1, \"item_buckets\": 2, \"item_embedding_dim\": 1}, " \
	"\"meta\": " META ", \"global\": " GLOBAL ROWS "}"

static void
check_identity(void)
{
	memset(&last_identity, 0, sizeof(last_identity));
	CHECK(verdict(NULL, NULL, DOC3(", \"version\": 7, \"model_uuid\": \"" UUID_OK "\", "
								   "\"content_hash\": \"" HASH_OK "\""), NULL, NULL) == NULL &&
		  last_identity.present && last_identity.version == 7 && last_identity.uuid[0] == 0x01 &&
		  last_identity.uuid[1] == 0x23 && last_identity.uuid[15] == 0xef &&
		  last_identity.content_hash[1] == 0x11 && last_identity.content_hash[31] == 0xff,
		  "model json: format 3 reads its identity (hex in either case)");
	CHECK(verdict(NULL, NULL, DOC("limaml-model", "", META, GLOBAL, ROWS), NULL, NULL) == NULL &&
		  !last_identity.present, "model json: format 2 has no identity");
	DOC_SAYS(DOC3(", \"version\": 7, \"content_hash\": \"" HASH_OK "\""), "model_uuid is missing",
			 "format 3 without model_uuid");
	DOC_SAYS(DOC3(", \"version\": 7, \"model_uuid\": \"0123abcd-4567-89ef-0123-456789abcde\", "
				  "\"content_hash\": \"" HASH_OK "\""), "model_uuid must be a UUID string",
			 "a UUID a digit short");
	DOC_SAYS(DOC3(", \"version\": 7, \"model_uuid\": \"0123abcd-4567-89ef-0123x456789abcdef\", "
				  "\"content_hash\": \"" HASH_OK "\""), "model_uuid must be a UUID string",
			 "a UUID without its last dash");
	DOC_SAYS(DOC3(", \"version\": 7, \"model_uuid\": \"0123abcd-4567-89ef-0123-456789abcdeg\", "
				  "\"content_hash\": \"" HASH_OK "\""), "model_uuid must be a UUID string",
			 "a UUID with a non-hex digit");
	DOC_SAYS(DOC3(", \"version\": 7, \"model_uuid\": 5, \"content_hash\": \"" HASH_OK "\""),
			 "model_uuid must be a UUID string", "a UUID that is a number");
	DOC_SAYS(DOC3(", \"version\": -1, \"model_uuid\": \"" UUID_OK "\", \"content_hash\": \"" HASH_OK "\""),
			 "version must be between 0 and 2147483647", "a negative version");
	DOC_SAYS(DOC3(", \"version\": 1.5, \"model_uuid\": \"" UUID_OK "\", \"content_hash\": \"" HASH_OK "\""),
			 "version must be a 64-bit integer", "a fractional version");
	DOC_SAYS(DOC3(", \"model_uuid\": \"" UUID_OK "\", \"content_hash\": \"" HASH_OK "\""),
			 "version is missing", "format 3 without version");
	DOC_SAYS(DOC3(", \"version\": 7, \"model_uuid\": \"" UUID_OK "\", \"content_hash\": \"00ff\""),
			 "content_hash must be 64 hexadecimal digits", "a short content hash");
	DOC_SAYS(DOC3(", \"version\": 7, \"model_uuid\": \"" UUID_OK "\", "
				  "\"content_hash\": \"z0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\""),
			 "content_hash must be 64 hexadecimal digits", "a content hash with a non-hex digit");
}

int
main(void)
{
	(void) check_close;
	check_crc();
	check_embedding();
	check_item_code();
	check_config();
	check_document();
	check_identity();
	return check_done();
}
