/*
 * items.c - hashed item-ID embeddings (see items.h).
 */
#include "items.h"

#include <string.h>

#include "kernels.h"

int32_t
lm_item_bucket(const LmArch *arch, int64_t item_id)
{
	if (arch->item_vocab)
	{
		/* the item's own row; an item outside the vocabulary is the unknown item */
		int			lo = 0,
					hi = arch->item_buckets - 1;

		while (lo <= hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (arch->item_vocab[mid] == item_id)
				return mid;
			if (arch->item_vocab[mid] < item_id)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		return arch->item_buckets;
	}
	return lm_item_hash_bucket(arch->item_buckets, item_id);
}

int32_t
lm_item_hash_bucket(int buckets, int64_t item_id)
{
	uint64_t	z = (uint64_t) item_id + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (int32_t) (z % (uint64_t) buckets);
}

static int
row_trained(const lm_real *row, int dim)
{
	for (int j = 0; j < dim; j++)
		if (row[j] != 0)
			return 1;
	return 0;
}

int32_t
lm_item_row(const LmArch *arch, const lm_real *global, int32_t b, int fallback)
{
	int			k = arch->item_embedding_dim;

	if (fallback && !row_trained(global + arch->item_table_off + (size_t) b * k, k))
		return arch->item_buckets;
	return b;
}

const lm_real *
lm_item_gather(const LmArch *arch, const lm_real *global, const LmRows *rows,
			   int fallback, lm_real *X)
{
	int			p = arch->item_feature_dim;
	int			k = arch->item_embedding_dim;
	const lm_real *E = global + arch->item_table_off;

	if (arch->item_buckets == 0)
		return rows->item;
	for (int r = 0; r < rows->n; r++)
	{
		lm_real    *x = X + (size_t) r * arch->item_dim;
		int32_t		b = lm_item_row(arch, global, rows->bucket ? rows->bucket[r] : arch->item_buckets,
									fallback);
		const lm_real *row = E + (size_t) b * k;

		memcpy(x, rows->item + (size_t) r * p, sizeof(lm_real) * p);
		memcpy(x + p, row, sizeof(lm_real) * k);
	}
	return X;
}

const lm_real *
lm_item_input(const LmArch *arch, const lm_real *global, const LmRows *rows, LmWork *work)
{
	work->item_bucket = rows->bucket;
	return lm_item_gather(arch, global, rows, work->item_fallback, work->item_x);
}

void
lm_item_table_backward(const LmArch *arch, const lm_real *dX, const int32_t *bucket,
					   int n, lm_real *dglobal)
{
	int			k = arch->item_embedding_dim;
	lm_real    *dE = dglobal + arch->item_table_off;

	for (int r = 0; r < n; r++)
	{
		int32_t		b = bucket ? bucket[r] : arch->item_buckets;

		lm_axpy(dE + (size_t) b * k, 1, dX + (size_t) r * arch->item_dim + arch->item_feature_dim, k);
	}
}

void
lm_item_table_finish(const LmArch *arch, lm_real *global)
{
	int			k = arch->item_embedding_dim;
	lm_real    *E = global + arch->item_table_off;
	lm_real    *unknown = E + (size_t) arch->item_buckets * k;
	long		trained = 0;

	if (arch->item_buckets == 0)
		return;
	for (int j = 0; j < k; j++)
		unknown[j] = 0;
	for (int b = 0; b < arch->item_buckets; b++)
		if (row_trained(E + (size_t) b * k, k))
		{
			lm_axpy(unknown, 1, E + (size_t) b * k, k);
			trained++;
		}
	for (int j = 0; j < k && trained > 0; j++)
		unknown[j] /= trained;
}

/* splitmix64's finalizer, after adding its increment */
static uint64_t
mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t
lm_negative_hash(int64_t seed, int64_t item_id, int64_t ts, int64_t j)
{
	uint64_t	h = mix64((uint64_t) seed);

	h = mix64(h ^ (uint64_t) item_id);
	h = mix64(h ^ (uint64_t) ts);
	return mix64(h ^ (uint64_t) j);
}

int
lm_negative_draw(const int64_t *item_ids, int n_items, int64_t seed, int64_t item_id,
				 int64_t ts, int j)
{
	int			r = (int) (lm_negative_hash(seed, item_id, ts, j) % (uint64_t) n_items);

	if (item_ids[r] == item_id)
		r = (r + 1) % n_items;
	return r;
}
