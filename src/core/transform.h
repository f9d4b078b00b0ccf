/*
 * transform.h - model-owned feature transforms: a declared column of a
 * members or items relation becomes a fixed slice of the feature vector.
 *
 *   onehot       [vocabulary + 1]: 1 at the value's index in the sorted
 *                vocabulary, or at the last (unknown) slot for a value
 *                outside it and for NULL
 *   hash         [buckets]: 1 at fnv1a64(value) mod buckets; NULL all zeros
 *   standardize  [1]: (x - mean) / std; NULL 0 (the mean)
 *   log1p        [1]: (ln(1 + x) - mean) / std; NULL 0
 *   array        [length]: the numeric array as it is; NULL all zeros
 *
 * Values reach the core already converted: categories as bytes (the
 * value's text form), numbers as double, arrays as float.  The statistics
 * are fitted by the glue and stored with the model; nothing here fits.
 */
#ifndef LM_TRANSFORM_H
#define LM_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

typedef enum LmTransformKind
{
	LM_TF_ONEHOT,
	LM_TF_HASH,
	LM_TF_STANDARDIZE,
	LM_TF_LOG1P,
	LM_TF_ARRAY,
	LM_TF_INVALID
} LmTransformKind;

typedef struct LmTransform
{
	const char *column;
	LmTransformKind kind;
	int			n_vocab;		/* onehot: vocabulary size */
	const char *const *vocab;	/* onehot: [n_vocab], ascending by strcmp, distinct */
	int			buckets;		/* hash */
	double		mean;			/* standardize, log1p */
	double		std;			/* standardize, log1p: > 0 */
	int			length;			/* array */
} LmTransform;

/* the largest buckets, vocabulary or array length a transform may have */
#define LM_TF_MAX_WIDTH 100000

/* a name of the SQL interface ("onehot", ...); LM_TF_INVALID when unknown */
LmTransformKind lm_tf_kind(const char *name);
const char *lm_tf_name(LmTransformKind kind);

/* the transform takes a category (onehot, hash), a number or an array */
int			lm_tf_categorical(LmTransformKind kind);

/* the slice's width */
int			lm_tf_width(const LmTransform *t);

/* FNV-1a, 64 bits, over the bytes (offset 0xcbf29ce484222325, prime 0x100000001b3) */
uint64_t	lm_tf_fnv1a64(const char *bytes, size_t len);

/*
 * Writes the slice of a category (value NULL: a NULL value) into out[width]:
 * onehot and hash only.
 */
void		lm_tf_category(const LmTransform *t, const char *value, size_t len, float *out);

/*
 * Writes the slice of a number (is_null: a NULL value) into out[1]:
 * standardize and log1p.  Returns 0, or -1 when x is not finite or, for
 * log1p, not above -1.
 */
int			lm_tf_number(const LmTransform *t, int is_null, double x, float *out);

/*
 * Copies an array (values NULL: a NULL value) into out[length]; -1 when n
 * is not the transform's length or an element is not finite.
 */
int			lm_tf_array(const LmTransform *t, const float *values, int n, float *out);

#endif
