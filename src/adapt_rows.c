/*
 * adapt_rows.c - adapting one member on its rows in time order: the scratch
 * space and the inner-loop call that limaml_adapt and limaml_adapt_agg
 * share, so both return the same bytea for the same rows.
 */
#include "adapt.h"

#include "core/items.h"
#include "utils/memutils.h"

/* what lm_adapt_scratch_create(model, max_rows) allocates */
static double
scratch_bytes(const LmModel *model, int max_rows)
{
	const LmArch *arch = &model->arch;
	double		rows = (double) max_rows * (1 + model->config.negatives);
	double		bytes = sizeof(LmAdaptScratch) + lm_work_bytes(arch, (int) rows) +
		sizeof(float) * (lm_embedding_len(arch) + arch->member_dim + 1);

	if (model->config.negatives > 0)
		bytes += sizeof(float) * (rows * arch->item_feature_dim + 1) +
			(sizeof(float) + sizeof(int32)) * (rows + 1);
	return bytes;
}

void
lm_check_adapt_memory(const LmModel *model, double rows_bytes)
{
	double		bytes = rows_bytes + scratch_bytes(model, model->config.support_size);

	if (bytes > (double) lm_work_mem_bytes())
		lm_check_work_mem(bytes, psprintf("adapting with limaml model \"%s\"", model->name),
						  "Create the model with a smaller support_size, or narrower layers");
}

LmAdaptScratch *
lm_adapt_scratch_create(LmModel *model, int max_rows, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	LmAdaptScratch *scratch = palloc0(sizeof(LmAdaptScratch));
	const LmNegatives *neg = lm_model_negatives(model);
	int			rows = max_rows * (neg ? 1 + neg->n : 1);

	scratch->model = model;
	scratch->work = lm_work_create(&model->arch, rows);
	if (neg)
	{
		scratch->neg = neg;
		scratch->x_items = palloc_extended(sizeof(float) * ((size_t) rows * model->arch.item_feature_dim + 1),
										   MCXT_ALLOC_HUGE);
		scratch->x_labels = palloc_extended(sizeof(float) * (rows + 1), MCXT_ALLOC_HUGE);
		scratch->x_buckets = palloc_extended(sizeof(int32) * (rows + 1), MCXT_ALLOC_HUGE);
	}
	scratch->emb = palloc(sizeof(float) * lm_embedding_len(&model->arch));
	scratch->zeros = palloc0(sizeof(float) * (model->arch.member_dim + 1));
	MemoryContextSwitchTo(old);
	return scratch;
}

/* rows with the negatives of each positive row right after it */
static LmRows
with_negatives(LmAdaptScratch *scratch, int n, const float *items, const float *labels,
			   const int32 *buckets, const int64 *item_ids, const int64 *ts)
{
	const LmArch *arch = &scratch->model->arch;
	size_t		p = arch->item_feature_dim;
	LmRows		rows;
	int			m = 0;

	for (int r = 0; r < n; r++)
	{
		memcpy(scratch->x_items + (size_t) m * p, items + (size_t) r * p, sizeof(float) * p);
		scratch->x_labels[m] = labels[r];
		scratch->x_buckets[m] = buckets ? buckets[r] : arch->item_buckets;
		m++;
		if (labels[r] > 0)
			m += lm_negative_rows(scratch->neg, arch, item_ids[r], ts[r],
								  scratch->x_items + (size_t) m * p, scratch->x_labels + m,
								  scratch->x_buckets + m, NULL);
	}
	rows.n = m;
	rows.item = scratch->x_items;
	rows.label = scratch->x_labels;
	rows.bucket = arch->item_buckets > 0 ? scratch->x_buckets : NULL;
	return rows;
}

bytea *
lm_adapt_rows(LmAdaptScratch *scratch, const float *member, int n,
			  const float *items, const float *labels, const int32 *buckets,
			  const int64 *item_ids, const int64 *ts)
{
	LmModel    *model = scratch->model;
	LmRows		rows = {n, items, labels, model->arch.item_buckets > 0 ? buckets : NULL};

	if (scratch->neg)
		rows = with_negatives(scratch, n, items, labels, buckets, item_ids, ts);

	lm_adapt_embedding(&model->arch, model->params, member ? member : scratch->zeros, &rows,
					   model->config.adapt_steps, model->config.adapt_lr, scratch->emb,
					   scratch->work);
	return lm_embedding_encode(model, scratch->emb, n);
}

const float *
lm_row_member_features(const LmModel *model, ArrayType *array)
{
	int			dim;
	const float *values;

	if (array == NULL)
	{
		if (model->arch.member_dim > 0)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("member_features must not be NULL for limaml model \"%s\"", model->name),
					 errhint("The model has %d member features.", model->arch.member_dim)));
		return NULL;
	}
	values = lm_array_floats(array, "member_features", model->arch.member_dim, &dim);
	return dim > 0 ? values : NULL;
}
