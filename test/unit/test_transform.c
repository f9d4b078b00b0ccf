/*
 * test_transform.c - the feature transforms' numeric application: one-hot
 * with its unknown slot, hashing (FNV-1a 64 with the published vectors, as
 * docs/formats.md prints them), standardize, log1p and arrays.
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "transform.h"

static void
check_onehot(void)
{
	static const char *const vocab[] = {"DE", "FR", "IT"};
	LmTransform t = {.column = "country", .kind = LM_TF_ONEHOT, .n_vocab = 3, .vocab = vocab};
	float		out[4];

	CHECK(lm_tf_width(&t) == 4, "onehot: vocabulary + the unknown slot");
	lm_tf_category(&t, "FR", 2, out);
	CHECK(out[0] == 0 && out[1] == 1 && out[2] == 0 && out[3] == 0, "onehot: a known value");
	lm_tf_category(&t, "IT", 2, out);
	CHECK(out[2] == 1 && out[0] + out[1] + out[3] == 0, "onehot: the last known value");
	lm_tf_category(&t, "ES", 2, out);
	CHECK(out[3] == 1 && out[0] + out[1] + out[2] == 0, "onehot: an unknown value takes the unknown slot");
	lm_tf_category(&t, "D", 1, out);
	CHECK(out[3] == 1, "onehot: a prefix of a known value is unknown");
	lm_tf_category(&t, "DEU", 3, out);
	CHECK(out[3] == 1, "onehot: a known value's extension is unknown");
	lm_tf_category(&t, "FR\0", 3, out);
	CHECK(out[3] == 1, "onehot: a value with a NUL byte is unknown");
	lm_tf_category(&t, NULL, 0, out);
	CHECK(out[3] == 1 && out[0] + out[1] + out[2] == 0, "onehot: NULL takes the unknown slot");
}

static void
check_hash(void)
{
	LmTransform t = {.column = "brand", .kind = LM_TF_HASH, .buckets = 32};
	float		out[32];
	float		sum = 0;

	/* the published FNV-1a 64 vectors */
	CHECK(lm_tf_fnv1a64("", 0) == 0xcbf29ce484222325ULL, "fnv1a64 of the empty string");
	CHECK(lm_tf_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL, "fnv1a64 of \"a\"");
	CHECK(lm_tf_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL, "fnv1a64 of \"foobar\"");
	/* 0x85944171f73967e8 mod 32 = 8 */
	lm_tf_category(&t, "foobar", 6, out);
	for (int i = 0; i < 32; i++)
		sum += out[i];
	CHECK(out[8] == 1 && sum == 1, "hash: \"foobar\" into 32 buckets is bucket 8");
	lm_tf_category(&t, NULL, 0, out);
	sum = 0;
	for (int i = 0; i < 32; i++)
		sum += out[i];
	CHECK(sum == 0, "hash: NULL is all zeros");
	CHECK(lm_tf_width(&t) == 32, "hash: the buckets' width");
}

static void
check_numbers(void)
{
	LmTransform s = {.column = "age", .kind = LM_TF_STANDARDIZE, .mean = 40, .std = 10};
	LmTransform l = {.column = "price", .kind = LM_TF_LOG1P, .mean = 1, .std = 2};
	float		out[1];

	CHECK(lm_tf_number(&s, 0, 55, out) == 0 && out[0] == 1.5f, "standardize: (55 - 40) / 10");
	CHECK(lm_tf_number(&s, 1, 0, out) == 0 && out[0] == 0, "standardize: NULL is the mean");
	CHECK(lm_tf_number(&s, 0, NAN, out) == -1, "standardize: NaN is an error");
	CHECK(lm_tf_number(&s, 0, INFINITY, out) == -1, "standardize: infinity is an error");
	CHECK(lm_tf_number(&l, 0, exp(3) - 1, out) == 0, "log1p: a value");
	CHECK_CLOSE(out[0], 1.0, 1e-6, 0, "log1p: (ln(1 + x) - 1) / 2");
	CHECK(lm_tf_number(&l, 0, 0, out) == 0 && out[0] == -0.5f, "log1p: zero");
	CHECK(lm_tf_number(&l, 0, -1, out) == -1, "log1p: -1 is an error");
	CHECK(lm_tf_number(&l, 0, -2, out) == -1, "log1p: below -1 is an error");
	CHECK(lm_tf_width(&s) == 1 && lm_tf_width(&l) == 1, "standardize and log1p: width 1");
}

static void
check_arrays(void)
{
	LmTransform t = {.column = "v", .kind = LM_TF_ARRAY, .length = 3};
	float		in[3] = {1, -2, 0.5f};
	float		bad[3] = {1, NAN, 0};
	float		out[3];

	CHECK(lm_tf_array(&t, in, 3, out) == 0 && memcmp(in, out, sizeof(in)) == 0, "array: passes through");
	CHECK(lm_tf_array(&t, in, 2, out) == -1, "array: another length is an error");
	CHECK(lm_tf_array(&t, bad, 3, out) == -1, "array: NaN is an error");
	CHECK(lm_tf_array(&t, NULL, 0, out) == 0 && out[0] == 0 && out[1] == 0 && out[2] == 0,
		  "array: NULL is zeros");
}

int
main(void)
{
	CHECK(lm_tf_kind("onehot") == LM_TF_ONEHOT && lm_tf_kind("log1p") == LM_TF_LOG1P &&
		  lm_tf_kind("array") == LM_TF_ARRAY, "names");
	CHECK(lm_tf_kind("one-hot") == LM_TF_INVALID && lm_tf_kind("") == LM_TF_INVALID, "unknown names");
	CHECK(lm_tf_categorical(LM_TF_HASH) && !lm_tf_categorical(LM_TF_LOG1P), "categorical kinds");
	check_onehot();
	check_hash();
	check_numbers();
	check_arrays();
	return check_done();
}
