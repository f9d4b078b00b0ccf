/*
 * adapt_rows.c - adapting one member on its rows in time order: the scratch
 * space and the inner-loop call that limaml_adapt and limaml_adapt_agg
 * share, so both return the same bytea for the same rows.
 */
#include "adapt.h"

#include "core/items.h"
#include "utils/memutils.h"

LmAdaptScratch *
lm_adapt_scratch_create(LmModel *model, int max_rows, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	LmAdaptScratch *scratch = palloc(sizeof(LmAdaptScratch));

	scratch->model = model;
	scratch->work = lm_work_create(&model->arch, max_rows);
	scratch->emb = palloc(sizeof(float) * lm_embedding_len(&model->arch));
	scratch->zeros = palloc0(sizeof(float) * (model->arch.member_dim + 1));
	MemoryContextSwitchTo(old);
	return scratch;
}

bytea *
lm_adapt_rows(LmAdaptScratch *scratch, const float *member, int n,
			  const float *items, const float *labels, const int32 *buckets)
{
	LmModel    *model = scratch->model;
	LmRows		rows = {n, items, labels, model->arch.item_buckets > 0 ? buckets : NULL};

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
