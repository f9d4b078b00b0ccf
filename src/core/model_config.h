/*
 * model_config.h - a model's configuration document ("config" of the model
 * JSON, and limaml_model.config) checked and turned into an LmArch and an
 * LmConfig without a server.  The glue (model_json.c) converts each jsonb
 * member into an LmJsonField; the fuzz target (test/fuzz) builds the same
 * fields from its input, so both run lm_config_read.
 */
#ifndef LM_MODEL_CONFIG_H
#define LM_MODEL_CONFIG_H

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

/* one member of a JSON object, as the reader sees it */
typedef enum LmJsonKind
{
	LM_JSON_ABSENT = 0,
	LM_JSON_NUMBER,
	LM_JSON_STRING,
	LM_JSON_BOOL,
	LM_JSON_ARRAY,
	LM_JSON_OTHER				/* null or an object */
} LmJsonKind;

typedef struct LmJsonField
{
	LmJsonKind	kind;
	int			is_int64;		/* NUMBER: its text is an exact 64-bit integer */
	int			boolean;		/* BOOL */
	int			n_elems;		/* ARRAY: its size */
	double		number;			/* NUMBER: as a double, ±inf beyond its range */
	int64_t		int64;			/* NUMBER with is_int64 */
	const char *string;			/* STRING: n_elems bytes, not terminated */
	const struct LmJsonField *elems;	/* ARRAY: its elements, or NULL when
										 * n_elems exceeds lm_config_max_elems
										 * (their own elements are not read) */
} LmJsonField;

/* the members of the configuration object, in lm_config_keys' order */
typedef enum LmConfigKey
{
	LM_CK_LOSS, LM_CK_META_HIDDEN, LM_CK_GLOBAL_HIDDEN, LM_CK_MEMBER_DIM,
	LM_CK_ITEM_DIM, LM_CK_EMBEDDING_DIM, LM_CK_ITEM_BUCKETS,
	LM_CK_ITEM_EMBEDDING_DIM, LM_CK_ITEM_VOCAB, LM_CK_HISTORY, LM_CK_WIDE,
	LM_CK_WIDE_RANK, LM_CK_RIDGE_LAMBDA, LM_CK_BILINEAR, LM_CK_META_SGD,
	LM_CK_INNER_STEPS, LM_CK_INNER_LR, LM_CK_SUPPORT_SIZE, LM_CK_QUERY_SIZE,
	LM_CK_SEED, LM_CK_ADAPT_STEPS, LM_CK_ADAPT_LR, LM_CK_NEGATIVES,
	LM_N_CONFIG_KEYS
} LmConfigKey;

extern const char *const lm_config_keys[LM_N_CONFIG_KEYS];

/* elements of an array member the reader may look at (larger ones are refused unread) */
int			lm_config_max_elems(LmConfigKey key);

/* the first problem found: "model json: <what> <problem>" in the glue */
typedef struct LmConfigError
{
	const char *what;
	char		problem[160];
} LmConfigError;

/*
 * Reads fields[LM_N_CONFIG_KEYS] into *arch and *cfg, checking every value
 * in the order the members are used; returns 0, or 1 with *err set.  vocab
 * holds fields[LM_CK_ITEM_VOCAB].n_elems ids and becomes arch->item_vocab
 * when the configuration has one.
 */
int			lm_config_read(const LmJsonField *fields, int64_t *vocab, LmArch *arch,
						   LmConfig *cfg, LmConfigError *err);

/* 0, or 1 with a message in buf: the hyperparameters' ranges (create and import share it) */
int			lm_config_check(const LmConfig *cfg, char *buf, size_t len);

#endif
