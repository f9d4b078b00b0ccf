/*
 * test_items.c - the item-ID hash as other languages must reproduce it.
 *
 * lm_item_bucket is splitmix64's finalizer of (item_id + 0x9e3779b97f4a7c15)
 * mod item_buckets, on the id's 64-bit two's complement.  The vectors below
 * are printed in docs/formats.md ("Model JSON"), so an exporter written in another
 * language can check its bucketing against them; and an all-zero row of the
 * table is read as the unknown item's.  The same for the negative-sampling
 * hash of positive-only logs (README, "Positive-only logs: negatives").
 */
#include <string.h>

#include "check.h"
#include "items.h"

static const struct
{
	int			buckets;
	int64_t		item_id;
	int32_t		bucket;
}			vectors[] =
{
	{4096, 0, 3503},
	{4096, 1, 3265},
	{4096, 2, 1742},
	{4096, 3, 4077},
	{4096, 42, 3733},
	{4096, 1000000, 1511},
	{4096, -1, 3104},
	{4096, INT64_MAX, 3751},
	{64, 0, 47},
	{64, 1, 1},
	{64, 42, 21},
	{64, -1, 32},
};

static const struct
{
	int64_t		seed;
	int64_t		item_id;
	int64_t		ts;
	int64_t		j;
	uint64_t	hash;
}			negative_vectors[] =
{
	{0, 0, 0, 0, 0x2130748aaac80268ULL},
	{42, 7, 815000000000LL, 0, 0x291a4b3dadfd279aULL},
	{42, 7, 815000000000LL, 1, 0xace92403c6905341ULL},
	{-1, INT64_MIN, 1, 99, 0x32f35dd828408127ULL},
};

static void
check_negatives(void)
{
	int64_t		ids[10];

	for (size_t i = 0; i < sizeof(negative_vectors) / sizeof(negative_vectors[0]); i++)
		CHECK(lm_negative_hash(negative_vectors[i].seed, negative_vectors[i].item_id,
							   negative_vectors[i].ts, negative_vectors[i].j) ==
			  negative_vectors[i].hash, "negative hash vector %zu", i);
	for (int i = 0; i < 10; i++)
		ids[i] = 10 + i;
	/* h mod 10 is 2 and 9: items 12 and 19 */
	CHECK(lm_negative_draw(ids, 10, 42, 7, 815000000000LL, 0) == 2, "draw 0 is item 12");
	CHECK(lm_negative_draw(ids, 10, 42, 7, 815000000000LL, 1) == 9, "draw 1 is item 19");
	for (int i = 0; i < 10; i++)
		ids[i] = i;
	/* item 6, j 0 draws itself: the next item instead; item 9 wraps to item 0 */
	CHECK(lm_negative_draw(ids, 10, 42, 6, 815000000000LL, 0) == 7, "a drawn positive moves on");
	CHECK(lm_negative_draw(ids, 10, 42, 9, 815000000000LL, 0) == 0, "the next item wraps");
	CHECK(lm_negative_draw(ids, 10, 42, 2, 815000000000LL, 0) != 2, "never the positive");
}

int
main(void)
{
	LmArch		arch;
	lm_real		global[4 * 2];

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
	{
		memset(&arch, 0, sizeof(arch));
		arch.item_buckets = vectors[i].buckets;
		CHECK(lm_item_bucket(&arch, vectors[i].item_id) == vectors[i].bucket,
			  "bucket of item %lld among %d is %d", (long long) vectors[i].item_id,
			  vectors[i].buckets, vectors[i].bucket);
	}

	/* three buckets of width 2 and the unknown row; bucket 1 is all zeros */
	memset(&arch, 0, sizeof(arch));
	arch.item_buckets = 3;
	arch.item_embedding_dim = 2;
	arch.item_table_off = 0;
	for (int j = 0; j < 8; j++)
		global[j] = (lm_real) (j + 1);
	global[2] = global[3] = 0;
	global[4] = 0;				/* bucket 2: one zero is not all zeros */
	CHECK(lm_item_row(&arch, global, 0, 1) == 0, "a trained row reads itself");
	CHECK(lm_item_row(&arch, global, 1, 1) == 3, "an all-zero row reads the unknown row");
	CHECK(lm_item_row(&arch, global, 2, 1) == 2, "a row with a zero in it reads itself");
	CHECK(lm_item_row(&arch, global, 1, 0) == 1, "without fallback a zero row reads itself");
	CHECK_CLOSE(global[lm_item_row(&arch, global, 1, 1) * 2 + 1], 8, 0, 0,
				"the zero row's item gets the unknown row's values");
	check_negatives();
	return check_done();
}
