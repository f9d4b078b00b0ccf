/*
 * transform.c - applying fitted feature transforms (transform.h).
 */
#include "transform.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {
	[LM_TF_ONEHOT] = "onehot",
	[LM_TF_HASH] = "hash",
	[LM_TF_STANDARDIZE] = "standardize",
	[LM_TF_LOG1P] = "log1p",
	[LM_TF_ARRAY] = "array",
};

LmTransformKind
lm_tf_kind(const char *name)
{
	for (int k = 0; k < LM_TF_INVALID; k++)
		if (strcmp(name, names[k]) == 0)
			return (LmTransformKind) k;
	return LM_TF_INVALID;
}

const char *
lm_tf_name(LmTransformKind kind)
{
	return kind < LM_TF_INVALID ? names[kind] : "invalid";
}

int
lm_tf_categorical(LmTransformKind kind)
{
	return kind == LM_TF_ONEHOT || kind == LM_TF_HASH;
}

int
lm_tf_width(const LmTransform *t)
{
	switch (t->kind)
	{
		case LM_TF_ONEHOT:
			return t->n_vocab + 1;
		case LM_TF_HASH:
			return t->buckets;
		case LM_TF_STANDARDIZE:
		case LM_TF_LOG1P:
			return 1;
		case LM_TF_ARRAY:
			return t->length;
		default:
			return 0;
	}
}

uint64_t
lm_tf_fnv1a64(const char *bytes, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) bytes[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* strcmp of a vocabulary entry against len bytes (no terminator needed) */
static int
compare_value(const char *entry, const char *value, size_t len)
{
	int			c = strncmp(entry, value, len);

	if (c != 0)
		return c;
	return entry[len] != '\0';
}

/* index in the sorted vocabulary, or n_vocab (the unknown slot) */
static int
vocab_index(const LmTransform *t, const char *value, size_t len)
{
	int			lo = 0,
				hi = t->n_vocab - 1;

	/* a value with a NUL byte matches nothing */
	if (memchr(value, '\0', len))
		return t->n_vocab;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = compare_value(t->vocab[mid], value, len);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return t->n_vocab;
}

void
lm_tf_category(const LmTransform *t, const char *value, size_t len, float *out)
{
	int			width = lm_tf_width(t);

	memset(out, 0, sizeof(float) * width);
	if (t->kind == LM_TF_ONEHOT)
		out[value ? vocab_index(t, value, len) : t->n_vocab] = 1;
	else if (value)
		out[lm_tf_fnv1a64(value, len) % (uint64_t) t->buckets] = 1;
}

int
lm_tf_number(const LmTransform *t, int is_null, double x, float *out)
{
	if (is_null)
	{
		out[0] = 0;
		return 0;
	}
	if (!isfinite(x) || (t->kind == LM_TF_LOG1P && x <= -1))
		return -1;
	if (t->kind == LM_TF_LOG1P)
		x = log1p(x);
	out[0] = (float) ((x - t->mean) / t->std);
	return 0;
}

int
lm_tf_array(const LmTransform *t, const float *values, int n, float *out)
{
	if (!values)
	{
		memset(out, 0, sizeof(float) * t->length);
		return 0;
	}
	if (n != t->length)
		return -1;
	for (int i = 0; i < n; i++)
		if (!isfinite(values[i]))
			return -1;
	memcpy(out, values, sizeof(float) * n);
	return 0;
}
