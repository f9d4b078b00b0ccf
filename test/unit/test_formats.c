/*
 * test_formats.c - the PG-free readers the server runs on untrusted input
 * (core/formats.c, core/model_config.c): every rejection, with the message
 * the glue raises, and in particular what the checksum cannot vouch for: a
 * forged header with a valid CRC-32C and a NaN or infinite payload, a
 * negative n_support or non-zero reserved flags.
 */
#include <string.h>

#include "check.h"
#include "formats.h"
#include "model_config.h"
#include "serve_crc.h"

/* ---------------------------------------------------------------- bytea */

typedef struct Bytes
{
	unsigned char b[sizeof(LmEmbeddingHeader) + 8 * sizeof(float)];
	size_t		size;
} Bytes;

static Bytes
embedding(int dim, int n_support)
{
	Bytes		r;
	LmEmbeddingHeader h = {LM_EMBEDDING_MAGIC, LM_EMBEDDING_FORMAT, (uint16_t) dim, 7, 2,
	n_support, 0};
	float		x[8];

	for (int i = 0; i < dim; i++)
		x[i] = 0.25f * (float) (i + 1);
	h.checksum = lm_embedding_checksum(&h, x);
	memcpy(r.b, &h, sizeof(h));
	memcpy(r.b + sizeof(h), x, dim * sizeof(float));
	r.size = sizeof(h) + dim * sizeof(float);
	return r;
}

static Bytes
item_code(int len)
{
	Bytes		r;
	LmItemCodeHeader h = {LM_ITEM_CODE_MAGIC, LM_ITEM_CODE_FORMAT, (uint16_t) len, 7, 2, 0, 0};
	float		x[8];

	for (int i = 0; i < len; i++)
		x[i] = -0.5f * (float) (i + 1);
	h.checksum = lm_item_code_checksum(&h, x);
	memcpy(r.b, &h, sizeof(h));
	memcpy(r.b + sizeof(h), x, len * sizeof(float));
	r.size = sizeof(h) + len * sizeof(float);
	return r;
}

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
	uint16_t	two = 2;

	CHECK(lm_embedding_parse(r.b, r.size, &h, &problem) == LM_FORMAT_OK && h.dim == 4 &&
		  h.model_id == 7 && h.model_version == 2 && h.n_support == 3,
		  "embedding: a valid one reads with its header");
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
	memcpy(r.b + 4, &two, 2);
	CHECK(embedding_says(&r, LM_FORMAT_INVALID, "its format version is not supported"),
		  "embedding: format 2");
	r = embedding(4, 3);
	r.b[sizeof(LmEmbeddingHeader) + 5] ^= 1;
	CHECK(embedding_says(&r, LM_FORMAT_CORRUPT, NULL), "embedding: a flipped payload bit is corruption");
	r = embedding(4, 3);
	poke(&r, 16, &neg, 0);
	CHECK(embedding_says(&r, LM_FORMAT_CORRUPT, NULL), "embedding: a changed n_support is corruption");
	r = embedding(4, 3);
	poke(&r, 16, &neg, 1);
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
		  h.flags == 0, "item code: a valid one reads with its header");
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
	poke(&r, 16, &flags, 1);
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
	LmEmbeddingHeader h = {LM_EMBEDDING_MAGIC, 1, 1, 1, 1, 0, 0xdeadbeef};
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

/* --------------------------------------------------------------- config */

static LmJsonField f[LM_N_CONFIG_KEYS];
static LmJsonField elems[3][16];

static void
num(LmConfigKey k, double x)
{
	memset(&f[k], 0, sizeof(f[k]));
	f[k].kind = LM_JSON_NUMBER;
	f[k].number = x;
	f[k].is_int64 = x == floor(x) && fabs(x) < 1e18;
	f[k].int64 = f[k].is_int64 ? (int64_t) x : 0;
}

static void
str(LmConfigKey k, const char *s)
{
	memset(&f[k], 0, sizeof(f[k]));
	f[k].kind = LM_JSON_STRING;
	f[k].string = s;
	f[k].n_elems = (int) strlen(s);
}

static void
flag(LmConfigKey k, int on)
{
	memset(&f[k], 0, sizeof(f[k]));
	f[k].kind = LM_JSON_BOOL;
	f[k].boolean = on;
}

static void
absent(LmConfigKey k)
{
	memset(&f[k], 0, sizeof(f[k]));
}

/* an array of n numbers v[i] (slot: which element buffer) */
static void
arr(LmConfigKey k, int slot, const double *v, int n)
{
	memset(&f[k], 0, sizeof(f[k]));
	f[k].kind = LM_JSON_ARRAY;
	f[k].n_elems = n;
	for (int i = 0; i < n && i < 16; i++)
	{
		memset(&elems[slot][i], 0, sizeof(elems[slot][i]));
		elems[slot][i].kind = LM_JSON_NUMBER;
		elems[slot][i].number = v[i];
		elems[slot][i].is_int64 = v[i] == floor(v[i]);
		elems[slot][i].int64 = (int64_t) v[i];
	}
	f[k].elems = n <= 16 ? elems[slot] : NULL;
}

static void
valid_config(void)
{
	static const double meta[] = {16},
				global[] = {32, 16};

	memset(f, 0, sizeof(f));
	str(LM_CK_LOSS, "bce");
	arr(LM_CK_META_HIDDEN, 0, meta, 1);
	arr(LM_CK_GLOBAL_HIDDEN, 1, global, 2);
	num(LM_CK_MEMBER_DIM, 4);
	num(LM_CK_ITEM_DIM, 3);
	num(LM_CK_EMBEDDING_DIM, 8);
	num(LM_CK_INNER_STEPS, 5);
	num(LM_CK_INNER_LR, 0.1);
	num(LM_CK_SUPPORT_SIZE, 10);
	num(LM_CK_QUERY_SIZE, 10);
	num(LM_CK_SEED, 42);
}

/* the reader's verdict on f: NULL when accepted, else "<what> <problem>" */
static const char *
verdict(void)
{
	static char msg[256];
	int64_t		vocab[16];
	LmArch		arch;
	LmConfig	cfg;
	LmConfigError err = {0};

	if (!lm_config_read(f, vocab, &arch, &cfg, &err))
		return NULL;
	snprintf(msg, sizeof(msg), "%s %s", err.what, err.problem);
	return msg;
}

#define REJECTS(want, name) \
	do { \
		const char *got_ = verdict(); \
		check_report(got_ && strcmp(got_, (want)) == 0, __FILE__, __LINE__, \
					 got_ ? got_ : "accepted", "config: %s", name); \
		valid_config(); \
	} while (0)

static void
check_config(void)
{
	static const double nine[9] = {4, 4, 4, 4, 4, 4, 4, 4, 4};
	static const double zero[] = {0};
	static const double vocab[] = {3, 5, 9};
	static const double unsorted[] = {3, 9, 5};
	static const double fraction[] = {3, 5.5, 9};
	int64_t		ids[16];
	LmArch		arch,
				direct;
	LmConfig	cfg;
	LmConfigError err = {0};
	int			meta[] = {16},
				global[] = {32, 16};

	valid_config();
	CHECK(lm_config_read(f, ids, &arch, &cfg, &err) == 0 &&
		  lm_arch_init(&direct, 4, 3, 8, meta, 1, global, 2, LM_LOSS_BCE) == NULL &&
		  arch.n_params == direct.n_params && cfg.adapt_steps == 5 && cfg.adapt_lr == 0.1 &&
		  cfg.negatives == 0 && cfg.seed == 42,
		  "config: a valid one reads, adapt_* default to inner_*");

	absent(LM_CK_LOSS);
	REJECTS("loss is missing", "loss missing");
	str(LM_CK_LOSS, "bcex");
	REJECTS("loss must be \"bce\" or \"mse\"", "unknown loss");
	str(LM_CK_META_HIDDEN, "16");
	REJECTS("meta_hidden must be an array", "widths not an array");
	arr(LM_CK_GLOBAL_HIDDEN, 1, nine, 9);
	REJECTS("global_hidden has too many layers", "nine hidden layers");
	arr(LM_CK_META_HIDDEN, 0, zero, 1);
	REJECTS("meta_hidden must hold widths between 1 and 4096", "a zero width");
	num(LM_CK_MEMBER_DIM, 1.5);
	REJECTS("member_dim must be an integer", "fractional member_dim");
	str(LM_CK_ITEM_DIM, "3");
	REJECTS("item_dim must be a number", "item_dim a string");
	num(LM_CK_EMBEDDING_DIM, INFINITY);
	REJECTS("embedding_dim must be finite", "infinite embedding_dim");
	num(LM_CK_EMBEDDING_DIM, 0);
	REJECTS("config embedding dimension out of range", "zero embedding_dim (lm_arch_init)");
	num(LM_CK_ITEM_BUCKETS, -1);
	REJECTS("item_buckets must not be negative", "negative item_buckets");
	num(LM_CK_ITEM_BUCKETS, 3);
	REJECTS("item_embedding_dim is missing", "item_buckets without item_embedding_dim");
	arr(LM_CK_ITEM_VOCAB, 2, vocab, 3);
	REJECTS("item_vocab needs item_buckets", "item_vocab without item_buckets");
	num(LM_CK_ITEM_BUCKETS, 4);
	num(LM_CK_ITEM_EMBEDDING_DIM, 2);
	arr(LM_CK_ITEM_VOCAB, 2, vocab, 3);
	REJECTS("item_vocab must hold item_buckets ids", "a vocabulary of the wrong size");
	num(LM_CK_ITEM_BUCKETS, 3);
	num(LM_CK_ITEM_EMBEDDING_DIM, 2);
	arr(LM_CK_ITEM_VOCAB, 2, unsorted, 3);
	REJECTS("item_vocab must be strictly ascending", "an unsorted vocabulary");
	num(LM_CK_ITEM_BUCKETS, 3);
	num(LM_CK_ITEM_EMBEDDING_DIM, 2);
	arr(LM_CK_ITEM_VOCAB, 2, fraction, 3);
	REJECTS("item_vocab must be a 64-bit integer", "a fractional item id");
	str(LM_CK_HISTORY, "yes");
	REJECTS("history must be true or false", "a flag that is a string");
	flag(LM_CK_WIDE, 1);
	REJECTS("wide_rank is missing", "wide without wide_rank");
	absent(LM_CK_SEED);
	REJECTS("seed is missing", "seed missing");
	num(LM_CK_SEED, 1e19);
	REJECTS("seed must be a 64-bit integer", "seed beyond int64");
	str(LM_CK_LOSS, "mse");
	num(LM_CK_NEGATIVES, 4);
	REJECTS("negatives needs loss bce", "negatives with mse");
	num(LM_CK_INNER_LR, 1000);
	REJECTS("config: inner_lr must be between 1e-06 and 100, not 1000", "inner_lr out of range");
	num(LM_CK_ADAPT_STEPS, 5000);
	REJECTS("config: adapt_steps must be between 0 and 1000, not 5000", "adapt_steps out of range");
	num(LM_CK_NEGATIVES, 101);
	REJECTS("config: negatives must be between 1 and 100, not 101", "too many negatives");
	{
		LmConfig	c = {5, NAN, 5, 0.1, 10, 10, 1, 0};
		char		buf[160];

		CHECK(lm_config_check(&c, buf, sizeof(buf)) &&
			  strcmp(buf, "inner_lr must be between 1e-06 and 100, not NaN") == 0,
			  "config: NaN is spelled as PostgreSQL spells it");
		c.inner_lr = 0.1;
		c.adapt_lr = -INFINITY;
		CHECK(lm_config_check(&c, buf, sizeof(buf)) &&
			  strcmp(buf, "adapt_lr must be between 1e-06 and 100, not -Infinity") == 0,
			  "config: so is -Infinity");
	}
}

int
main(void)
{
	check_crc();
	check_embedding();
	check_item_code();
	check_config();
	return check_done();
}
