/*
 * model_reader.h - the model JSON document (limaml_model_import) and the
 * configuration object (also limaml_model.config, read at every model
 * load) checked and read into an LmArch, an LmConfig and the parameters,
 * without a server.  The document is reached through LmJsonOps: the glue
 * (model_json.c) implements them on jsonb, the fuzz targets (test/fuzz) on
 * their own inputs, so both run these readers.
 */
#ifndef LM_MODEL_READER_H
#define LM_MODEL_READER_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"

/* hyperparameters a model version carries besides its shape */
typedef struct LmConfig
{
	int			inner_steps;	/* K while training */
	double		inner_lr;		/* α while training */
	int			adapt_steps;	/* K when adapting members (MAML often uses more) */
	double		adapt_lr;		/* α when adapting members */
	int			support_size;
	int			query_size;
	int64_t		seed;
	int			negatives;		/* sampled per positive row; 0: none */
} LmConfig;

#define LM_MAX_NEGATIVES 100

/* one JSON value, as the readers see it */
typedef enum LmJsonKind
{
	LM_JSON_ABSENT = 0,			/* a missing member */
	LM_JSON_NUMBER,
	LM_JSON_STRING,
	LM_JSON_BOOL,
	LM_JSON_ARRAY,
	LM_JSON_OBJECT,
	LM_JSON_NULL
} LmJsonKind;

typedef struct LmJsonField
{
	LmJsonKind	kind;
	int			boolean;		/* BOOL */
	int			n_elems;		/* ARRAY: its size; STRING: its length */
	double		number;			/* NUMBER: as a double, ±inf beyond its range */
	const char *string;			/* STRING: n_elems bytes, not terminated */
	const void *node;			/* NUMBER, ARRAY, OBJECT: the implementation's handle */
} LmJsonField;

typedef struct LmJsonOps
{
	void	   *ctx;
	/* member key of an object (ABSENT when missing or when object is no object) */
	void		(*member) (void *ctx, const void *object, const char *key, LmJsonField *out);
	/* element i (0 <= i < n_elems) of an array */
	void		(*element) (void *ctx, const void *array, int i, LmJsonField *out);
	/* 1 with *out when a number's text is an exact 64-bit integer, else 0 */
	int			(*int64_value) (void *ctx, const LmJsonField *number, int64_t *out);
	/* memory that lives as long as the caller's result (the item vocabulary) */
	void	   *(*alloc) (void *ctx, size_t size);
	/* a format-1 document with n all-zero item rows it cannot list: a warning */
	void		(*zero_rows) (void *ctx, int n, int buckets);
} LmJsonOps;

/* the first problem found */
typedef enum LmReadStatus
{
	LM_READ_OK = 0,
	LM_READ_INVALID,			/* "model json: <what> <problem>" */
	LM_READ_LISTED_NOT_ZERO,	/* item_embeddings_untrained lists bucket, a non-zero row */
	LM_READ_UNLISTED_ZERO		/* n all-zero rows not listed, the first: bucket */
} LmReadStatus;

typedef struct LmReadError
{
	const char *what;
	char		problem[160];
	int			bucket;
	int			n;
} LmReadError;

/*
 * The configuration object into *arch and *cfg, checking every value in
 * the order the members are used (arch->item_vocab comes from ops->alloc).
 */
LmReadStatus lm_config_read(const LmJsonOps *ops, const void *config, LmArch *arch,
							LmConfig *cfg, LmReadError *err);

/* a document's format, format_version and configuration */
LmReadStatus lm_model_read_config(const LmJsonOps *ops, const void *root, int *format_version,
								  LmArch *arch, LmConfig *cfg, LmReadError *err);

/* then, once the caller has accepted arch's size, its params[arch->n_params] */
LmReadStatus lm_model_read_params(const LmJsonOps *ops, const void *root, int format_version,
								  const LmArch *arch, lm_real *params, LmReadError *err);

/* format 3's identity of the version (the catalog's model_uuid, version, content_hash) */
typedef struct LmModelIdentity
{
	int			present;		/* 0 for formats 1 and 2 */
	uint8_t		uuid[16];
	int32_t		version;
	uint8_t		content_hash[32];
} LmModelIdentity;

LmReadStatus lm_model_read_identity(const LmJsonOps *ops, const void *root, int format_version,
									LmModelIdentity *id, LmReadError *err);

/* 0, or 1 with a message in buf: the hyperparameters' ranges (create and import share it) */
int			lm_config_check(const LmConfig *cfg, char *buf, size_t len);

#endif
