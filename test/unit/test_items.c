/*
 * test_items.c - the item-ID hash as other languages must reproduce it.
 *
 * lm_item_bucket is splitmix64's finalizer of (item_id + 0x9e3779b97f4a7c15)
 * mod item_buckets, on the id's 64-bit two's complement.  The vectors below
 * are printed in the README ("Model JSON"), so an exporter written in another
 * language can check its bucketing against them; and an all-zero row of the
 * table is read as the unknown item's.
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
	return check_done();
}
