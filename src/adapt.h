/*
 * adapt.h - what limaml_adapt (adapt.c) and limaml_adapt_agg (adapt_agg.c)
 * share (adapt_rows.c): the inner loop over one member's rows in time
 * order, and the member features of a row.
 */
#ifndef LIMAML_ADAPT_H
#define LIMAML_ADAPT_H

#include "limaml.h"

#include "core/maml.h"

/*
 * Scratch space for adapting members of one model, kept across the members
 * of a query: allocating it per member costs more than the arithmetic.
 */
typedef struct LmAdaptScratch
{
	LmModel    *model;
	LmWork	   *work;			/* for up to max_rows rows */
	float	   *emb;			/* [lm_embedding_len] */
	float	   *zeros;			/* [member_dim + 1] */
	/* with negatives: the rows with them, up to max_rows · (1 + negatives) */
	const LmNegatives *neg;
	float	   *x_items;
	float	   *x_labels;
	int32	   *x_buckets;
} LmAdaptScratch;

LmAdaptScratch *lm_adapt_scratch_create(LmModel *model, int max_rows, MemoryContext cxt);

/*
 * Refuses (54000), before anything is allocated, adapting a member when
 * rows_bytes of kept rows plus a scratch for support_size rows would exceed
 * limaml.max_work_mem.
 */
void		lm_check_adapt_memory(const LmModel *model, double rows_bytes);

/*
 * The meta embedding from a member's features (NULL: none) and n rows in
 * time order (n <= the scratch's max_rows) with their item-ID buckets (NULL:
 * all the unknown item, or a model without item-ID embeddings), allocated
 * in the current memory context.  A model with negatives needs each row's
 * item id (PG_INT64_MIN: NULL) and ts: every positive row (label > 0) is
 * followed by its sampled negatives, so support_size counts source rows.
 */
bytea	   *lm_adapt_rows(LmAdaptScratch *scratch, const float *member, int n,
						  const float *items, const float *labels, const int32 *buckets,
						  const int64 *item_ids, const int64 *ts);

/* member features of one row; NULL or empty mean none */
const float *lm_row_member_features(const LmModel *model, ArrayType *array);

#endif
