/*
 * gen_corpus.c - writes the seed corpus of the fuzz targets into
 * corpus/<target>/ (run once with `make corpus`; the files are committed):
 * valid meta embeddings and item codes, model configurations in
 * config_input.h's encoding (each followed by parameter bytes to serve),
 * and the same models as model JSON documents, as limaml_model_export
 * writes them (format 3 with an identity for those with a wide head; format
 * 1 for the others), and embeddings and item codes of format 1 too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "items.h"
#include "model_reader.h"

static FILE *
open_seed(const char *dir, const char *target, const char *name)
{
	char		path[512];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
	if (!(f = fopen(path, "wb")))
	{
		perror(path);
		exit(1);
	}
	return f;
}

static void
payload(float *x, int n, unsigned seed)
{
	for (int i = 0; i < n; i++)
	{
		seed = seed * 1103515245u + 12345u;
		x[i] = (float) ((int) (seed >> 16) % 2001 - 1000) / 1000.0f;
	}
}

static void
identity(uint8_t *uuid, uint8_t *hash)
{
	for (int i = 0; i < LM_UUID_LEN; i++)
		uuid[i] = (uint8_t) (0x31 * i + 5);
	for (int i = 0; i < LM_HASH_PREFIX; i++)
		hash[i] = (uint8_t) (0x57 * i + 3);
}

static void
embedding(const char *dir, const char *name, int dim, int n_support)
{
	LmEmbeddingHeader h = {0};
	float		x[256];
	FILE	   *f = open_seed(dir, "fuzz_embedding", name);

	h.magic = LM_EMBEDDING_MAGIC;
	h.format = LM_EMBEDDING_FORMAT;
	h.dim = (uint16_t) dim;
	identity(h.model_uuid, h.content_hash);
	h.model_version = 1;
	h.n_support = n_support;
	payload(x, dim, (unsigned) dim);
	h.checksum = lm_embedding_checksum(&h, x);
	fwrite(&h, sizeof(h), 1, f);
	fwrite(x, sizeof(float), dim, f);
	fclose(f);
}

/* as 0.1.0 and 0.2.0 wrote them */
static void
embedding1(const char *dir, const char *name, int dim, int n_support)
{
	LmEmbeddingHeader1 h = {LM_EMBEDDING_MAGIC, 1, (uint16_t) dim, 1, 1, n_support, 0};
	float		x[256];
	FILE	   *f = open_seed(dir, "fuzz_embedding", name);

	payload(x, dim, (unsigned) dim);
	h.checksum = lm_embedding1_checksum(&h, x);
	fwrite(&h, sizeof(h), 1, f);
	fwrite(x, sizeof(float), dim, f);
	fclose(f);
}

static void
item_code(const char *dir, const char *name, int len)
{
	LmItemCodeHeader h = {0};
	float		x[256];
	FILE	   *f = open_seed(dir, "fuzz_item_code", name);

	h.magic = LM_ITEM_CODE_MAGIC;
	h.format = LM_ITEM_CODE_FORMAT;
	h.len = (uint16_t) len;
	identity(h.model_uuid, h.content_hash);
	h.model_version = 3;
	payload(x, len, (unsigned) len + 7);
	h.checksum = lm_item_code_checksum(&h, x);
	fwrite(&h, sizeof(h), 1, f);
	fwrite(x, sizeof(float), len, f);
	fclose(f);
}

static void
item_code1(const char *dir, const char *name, int len)
{
	LmItemCodeHeader1 h = {LM_ITEM_CODE_MAGIC, 1, (uint16_t) len, 2, 3, 0, 0};
	float		x[256];
	FILE	   *f = open_seed(dir, "fuzz_item_code", name);

	payload(x, len, (unsigned) len + 7);
	h.checksum = lm_item_code1_checksum(&h, x);
	fwrite(&h, sizeof(h), 1, f);
	fwrite(x, sizeof(float), len, f);
	fclose(f);
}

/* ---- config_input.h's encoding */

static void
put(FILE *f, const void *p, size_t n)
{
	fwrite(p, 1, n, f);
}

static void
put_byte(FILE *f, int b)
{
	unsigned char c = (unsigned char) b;

	put(f, &c, 1);
}

/* a NUMBER in form 1 (int32), 2 (double) or 3 (int64) */
static void
put_number(FILE *f, int form, const void *v, size_t size)
{
	put_byte(f, LM_JSON_NUMBER);
	put_byte(f, form);
	put(f, v, size);
}

#define put_int(f, v) put_number(f, 1, &(int32_t) {(v)}, 4)
#define put_double(f, v) put_number(f, 2, &(double) {(v)}, 8)
#define put_int64(f, v) put_number(f, 3, &(int64_t) {(v)}, 8)

static void
put_bool(FILE *f, int b)
{
	put_byte(f, LM_JSON_BOOL);
	put_byte(f, b);
}

static void
put_ints(FILE *f, const int *v, int n, int step)
{
	uint16_t	count = (uint16_t) n;

	put_byte(f, LM_JSON_ARRAY);
	put(f, &count, sizeof(count));
	for (int i = 0; i < n; i++)
		v ? put_int(f, v[i]) : put_int64(f, (int64_t) i * step - 5);
}

typedef struct Seed
{
	const char *name;
	const char *loss;
	int			meta[2],
				n_meta,
				global[2],
				n_global;
	int			member_dim,
				item_dim,
				embedding_dim;
	int			buckets,
				item_emb_dim,
				vocab;
	int			history,
				wide,
				wide_rank,
				bilinear,
				meta_sgd,
				negatives,
				fold_in;		/* with the wide head */
} Seed;

static void
config(const char *dir, const Seed *s)
{
	FILE	   *f = open_seed(dir, "fuzz_model_config", s->name);
	unsigned char params[512];

	put_byte(f, LM_JSON_STRING);
	put_byte(f, 3);
	put(f, s->loss, 3);
	put_ints(f, s->meta, s->n_meta, 0);
	put_ints(f, s->global, s->n_global, 0);
	put_int(f, s->member_dim);
	put_int(f, s->item_dim);
	put_int(f, s->embedding_dim);
	s->buckets ? put_int(f, s->buckets) : put_byte(f, LM_JSON_ABSENT);
	s->buckets ? put_int(f, s->item_emb_dim) : put_byte(f, LM_JSON_ABSENT);
	s->vocab ? put_ints(f, NULL, s->buckets, 3) : put_byte(f, LM_JSON_ABSENT);
	put_bool(f, s->history);
	put_bool(f, s->wide);
	s->wide ? put_int(f, s->wide_rank) : put_byte(f, LM_JSON_ABSENT);
	s->wide ? put_double(f, 0.5) : put_byte(f, LM_JSON_ABSENT);
	put_bool(f, s->bilinear);
	put_bool(f, s->meta_sgd);
	put_int(f, 5);				/* inner_steps */
	put_double(f, 0.1);			/* inner_lr */
	put_int(f, 10);				/* support_size */
	put_int(f, 10);				/* query_size */
	put_int64(f, 42);			/* seed */
	put_int(f, 8);				/* adapt_steps */
	put_double(f, 0.05);		/* adapt_lr */
	s->negatives ? put_int(f, s->negatives) : put_byte(f, LM_JSON_ABSENT);
	put_byte(f, LM_JSON_ABSENT);	/* wide_features */
	put_byte(f, LM_JSON_ABSENT);	/* learn_lambda */
	s->fold_in ? put_bool(f, 1) : put_byte(f, LM_JSON_ABSENT);
	for (size_t i = 0; i < sizeof(params); i++)
		params[i] = (unsigned char) (i * 37 + 11);
	put(f, params, sizeof(params));
	fclose(f);
}

/* ---- model JSON */

/* [x, ...] of n values in [-0.25, 0.25] (zero: all zeros) */
static void
json_row(FILE *f, int n, unsigned *seed, int zero)
{
	fputc('[', f);
	for (int i = 0; i < n; i++)
	{
		*seed = *seed * 1103515245u + 12345u;
		fprintf(f, "%s%.9g", i ? ", " : "",
				zero ? 0.0f : (float) ((int) (*seed >> 16) % 2001 - 1000) / 4000.0f);
	}
	fputc(']', f);
}

/* rows of cols values; row zero_row (or -1) all zeros */
static void
json_matrix(FILE *f, int rows, int cols, unsigned *seed, int zero_row)
{
	fputc('[', f);
	for (int o = 0; o < rows; o++)
	{
		fputs(o ? ", " : "", f);
		json_row(f, cols, seed, o == zero_row);
	}
	fputc(']', f);
}

static void
json_block(FILE *f, const LmDense *layers, int n, unsigned *seed)
{
	fputc('[', f);
	for (int l = 0; l < n; l++)
	{
		fputs(l ? ", {\"weight\": " : "{\"weight\": ", f);
		json_matrix(f, layers[l].out_dim, layers[l].in_dim, seed, -1);
		fputs(", \"bias\": ", f);
		json_row(f, layers[l].out_dim, seed, 0);
		fputc('}', f);
	}
	fputc(']', f);
}

static void
model_json(const char *dir, const Seed *s)
{
	char		name[128];
	FILE	   *f;
	LmArch		a;
	unsigned	seed = 7;
	/* format 3 (with an identity) for wide models, 1 for the others */
	int			format_version = s->wide ? 3 : 1;

	if (lm_arch_init(&a, s->member_dim, s->item_dim, s->embedding_dim, s->meta, s->n_meta,
					 s->global, s->n_global, s->loss[0] == 'b' ? LM_LOSS_BCE : LM_LOSS_MSE) ||
		(s->buckets && lm_arch_enable_item_embedding(&a, s->buckets, s->item_emb_dim)) ||
		(s->history && lm_arch_enable_history(&a, s->meta, s->n_meta)) ||
		(s->wide && lm_arch_enable_wide(&a, s->wide_rank, 0.5)) ||
		(s->fold_in && lm_arch_enable_fold_in(&a)))
		abort();
	if (s->bilinear)
		lm_arch_enable_bilinear(&a);
	if (s->meta_sgd)
		lm_arch_enable_meta_sgd(&a);
	snprintf(name, sizeof(name), "%s.json", s->name);
	f = open_seed(dir, "fuzz_model_json", name);
	fprintf(f, "{\"format\": \"limaml-model\", \"format_version\": %d, \"name\": \"%s\", "
			"\"version\": 1, %s\"config\": {\"member_dim\": %d, \"item_dim\": %d, "
			"\"embedding_dim\": %d, \"meta_hidden\": [", format_version, s->name,
			format_version >= 3 ? "\"model_uuid\": \"5a1d7e0c-3b6f-4e2a-9c81-0d4f6b2e7a93\", "
			"\"content_hash\": \"3f0c1d2e4a5b6c7d8e9f00112233445566778899aabbccddeeff001122334455\", " : "",
			s->member_dim, s->item_dim, s->embedding_dim);
	for (int i = 0; i < s->n_meta; i++)
		fprintf(f, "%s%d", i ? ", " : "", s->meta[i]);
	fputs("], \"global_hidden\": [", f);
	for (int i = 0; i < s->n_global; i++)
		fprintf(f, "%s%d", i ? ", " : "", s->global[i]);
	fprintf(f, "], \"loss\": \"%s\", \"inner_steps\": 5, \"inner_lr\": 0.1, "
			"\"adapt_steps\": 8, \"adapt_lr\": 0.05, \"support_size\": 10, "
			"\"query_size\": 10, \"seed\": 42, \"bilinear\": %s, \"meta_sgd\": %s, "
			"\"item_buckets\": %d, \"item_embedding_dim\": %d", s->loss,
			s->bilinear ? "true" : "false", s->meta_sgd ? "true" : "false", s->buckets,
			s->item_emb_dim);
	if (s->vocab)
	{
		fputs(", \"item_vocab\": [", f);
		for (int i = 0; i < s->buckets; i++)
			fprintf(f, "%s%d", i ? ", " : "", 3 * i - 5);
		fputc(']', f);
	}
	if (s->negatives)
		fprintf(f, ", \"negatives\": %d", s->negatives);
	if (s->history)
		fputs(", \"history\": true", f);
	if (s->wide)
		fprintf(f, ", \"wide\": true, \"wide_rank\": %d, \"ridge_lambda\": 0.5", s->wide_rank);
	if (s->fold_in)
		fputs(", \"fold_in\": true", f);
	fputs("}, \"meta\": ", f);
	json_block(f, a.meta, a.n_meta, &seed);
	fputs(", \"global\": ", f);
	json_block(f, a.global, a.n_global, &seed);
	if (a.item_buckets)
	{
		/* the last bucket never trained: an all-zero row, listed in format 2 */
		fputs(", \"item_embeddings\": ", f);
		json_matrix(f, a.item_buckets + 1, a.item_embedding_dim, &seed, a.item_buckets - 1);
		if (format_version >= 2)
			fprintf(f, ", \"item_embeddings_untrained\": [%d]", a.item_buckets - 1);
	}
	if (a.wide)
	{
		fputs(", \"wide_table\": ", f);
		json_matrix(f, a.item_buckets + 1, 1 + a.wide_rank, &seed, -1);
	}
	if (a.fold_in)
		fputs(", \"fold_in_weight\": 0.02", f);
	if (a.bilinear)
	{
		fputs(", \"bilinear\": ", f);
		json_matrix(f, a.embedding_dim, a.item_dim, &seed, -1);
	}
	if (a.n_lr_params)
	{
		fputs(", \"inner_rates\": ", f);
		json_block(f, a.meta, a.n_meta, &seed);
	}
	fputs("}\n", f);
	fclose(f);
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "corpus";
	static const Seed seeds[] = {
		{"plain_bce", "bce", {16}, 1, {32, 16}, 2, 4, 3, 8},
		{"vocab_mse", "mse", {8, 8}, 2, {16}, 1, 2, 2, 4, 50, 4, 1},
		{"wide_history", "bce", {8}, 1, {8}, 1, 3, 2, 4, 20, 4, 0, 1, 1, 2},
		{"bilinear_sgd_negatives", "bce", {0}, 0, {8}, 1, 0, 5, 6, 0, 0, 0, 0, 0, 0, 1, 1, 4},
		{"wide_fold_in", "bce", {8}, 1, {8}, 1, 2, 3, 4, 12, 4, 1, 0, 1, 3, 0, 0, 4, 1},
	};

	embedding(dir, "dim1", 1, 0);
	embedding(dir, "dim8", 8, 12);
	embedding(dir, "dim35", 35, 1000);
	item_code(dir, "len1", 1);
	item_code(dir, "len16", 16);
	item_code(dir, "len64", 64);
	embedding1(dir, "format1_dim8", 8, 12);
	item_code1(dir, "format1_len16", 16);
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
	{
		config(dir, &seeds[i]);
		model_json(dir, &seeds[i]);
	}
	return 0;
}
