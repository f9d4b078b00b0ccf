/*
 * items.h - the hashed item-ID embedding of the global block's item input.
 *
 * With item_buckets B > 0 the global block reads [e ; v ; E[b]], where b is
 * the item's bucket (a hash of its id) and E[B] the unknown item's row.
 * E is part of θ_global: trained in the outer loop, frozen in the inner
 * loop.  Rows start at zero and Adam leaves a row at zero until an item of
 * its bucket is trained, so an all-zero row means "never trained": at
 * adaptation and serving such items use the unknown row instead, which
 * lm_item_table_finish sets to the mean of the trained rows.
 */
#ifndef LM_ITEMS_H
#define LM_ITEMS_H

#include <stdint.h>

#include "maml.h"

/*
 * The item table row of an item id: with a vocabulary its index there (the
 * unknown row for ids outside it), else its hashed bucket.
 */
int32_t		lm_item_bucket(const LmArch *arch, int64_t item_id);

/* the hashed bucket (splitmix64, so any language can reproduce it) */
int32_t		lm_item_hash_bucket(int buckets, int64_t item_id);

/* the item table row bucket b reads: the unknown row for a never-trained b with fallback */
int32_t		lm_item_row(const LmArch *arch, const lm_real *global, int32_t b, int fallback);

/*
 * X[n][item_dim] = [v[r] ; E[bucket[r]]] for rows; a NULL bucket array means
 * the unknown item.  With fallback, never-trained rows read the unknown row.
 * Without an item-ID embedding X is rows->item and nothing is copied.
 */
const lm_real *lm_item_gather(const LmArch *arch, const lm_real *global, const LmRows *rows,
							  int fallback, lm_real *X);

/* lm_item_gather into work->item_x, remembering the rows' buckets for the backward pass */
const lm_real *lm_item_input(const LmArch *arch, const lm_real *global, const LmRows *rows,
							 LmWork *work);

/* dglobal's E rows += the item-ID part of dX[n][item_dim] */
void		lm_item_table_backward(const LmArch *arch, const lm_real *dX, const int32_t *bucket,
								   int n, lm_real *dglobal);

/* the unknown row := the mean of the trained (non-zero) rows */
void		lm_item_table_finish(const LmArch *arch, lm_real *global);

/*
 * Negative sampling for positive-only logs.  The j-th negative of a positive
 * row with item id i and time ts (microseconds since 2000-01-01, PostgreSQL's
 * timestamptz) is item r = h(seed, i, ts, j) mod n_items of the item
 * relation ordered by item_id, or r + 1 (mod n_items) when item r is i
 * itself.  h chains splitmix64's mixer m(z) (z += 0x9e3779b97f4a7c15, then
 * the two xor-shift-multiplies and a final xor-shift):
 *   h = m(m(m(m(seed) ^ i) ^ ts) ^ j), every value as a 64-bit two's complement.
 * Test vectors: h(0, 0, 0, 0) = 0x2130748aaac80268, h(42, 7, 815000000000, 1)
 * = 0xace92403c6905341 (more in test/unit/test_items.c).
 * A NULL item id counts as INT64_MIN (and excludes no item).
 */
uint64_t	lm_negative_hash(int64_t seed, int64_t item_id, int64_t ts, int64_t j);
int			lm_negative_draw(const int64_t *item_ids, int n_items, int64_t seed,
							 int64_t item_id, int64_t ts, int j);

#endif
