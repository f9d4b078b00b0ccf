/*
 * serving.c - what every serving path (limaml_score in score.c, item codes
 * in item_code.c, limaml_top_k in rank.c) builds on: the serving plan of
 * each cached model version, item features read without copies, and a
 * candidate's item input, so all paths agree bit for bit.
 */
#include "serving.h"

#include "core/items.h"

#include "catalog/pg_type.h"
#include "utils/memutils.h"

/* ------------------------------------------------------------ plans */

typedef struct PlanEntry
{
	LmModel    *model;
	LmServePlan *plan;
	MemoryContextCallback on_free;
	struct PlanEntry *next;
} PlanEntry;

/* plans of this backend's cached versions; each lives in its version's context */
static PlanEntry *plans = NULL;

static void
forget_plan(void *arg)
{
	PlanEntry **link = &plans;

	while (*link && *link != arg)
		link = &(*link)->next;
	if (*link)
		*link = (*link)->next;
}

LmServePlan *
lm_serving_plan(LmModel *model)
{
	PlanEntry  *entry;
	MemoryContext old;

	for (entry = plans; entry; entry = entry->next)
		if (entry->model == model)
			return entry->plan;

	old = MemoryContextSwitchTo(model->mcxt);
	entry = palloc0(sizeof(PlanEntry));
	entry->model = model;
	entry->plan = lm_serve_plan_create(&model->arch, lm_global_params(&model->arch, model->params),
									   LM_ISA_COUNT);
	MemoryContextSwitchTo(old);
	entry->on_free.func = forget_plan;
	entry->on_free.arg = entry;
	MemoryContextRegisterResetCallback(model->mcxt, &entry->on_free);
	entry->next = plans;
	plans = entry;
	return entry->plan;
}

/* ------------------------------------------------------------ arrays */

const float *
lm_item_features(Datum datum, int item_dim, const LmServeKernels *k, void *buf,
				 bool check_finite)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(datum);
	ArrayType  *array;
	int			dim;

	if (VARATT_IS_SHORT(raw) && !VARATT_IS_EXTERNAL(raw) &&
		VARSIZE_SHORT(raw) - VARHDRSZ_SHORT + VARHDRSZ <= LM_SHORT_ARRAY_BUF)
	{
		/*
		 * Small arrays are stored with a 1-byte header: realign, no palloc.
		 * (Toast pointers and expanded arrays, as in PL/pgSQL variables, also
		 * have a 1-byte header; they go the general way.)
		 */
		size_t		len = VARSIZE_SHORT(raw) - VARHDRSZ_SHORT;

		SET_VARSIZE(buf, len + VARHDRSZ);
		memcpy(VARDATA(buf), VARDATA_SHORT(raw), len);
		array = (ArrayType *) buf;
	}
	else
		array = DatumGetArrayTypeP(datum);

	if (ARR_NDIM(array) == 1 && !ARR_HASNULL(array) && ARR_DIMS(array)[0] == item_dim &&
		ARR_ELEMTYPE(array) == FLOAT4OID &&
		(!check_finite || k->all_finite((const float *) ARR_DATA_PTR(array), item_dim)))
		return (const float *) ARR_DATA_PTR(array);
	/* not the common case: the shared checks raise the right error */
	return lm_array_floats(array, "item_features", item_dim, &dim);
}

/* ------------------------------------------------------------ items */

const float *
lm_item_serving_input(const LmServePlan *plan, const float *v, bool has_id, int64 item_id,
					  float *X)
{
	const LmArch *arch = plan->arch;

	if (arch->item_buckets == 0)
		return v;
	lm_serve_input(arch, plan->global, v,
				   has_id ? lm_item_bucket(arch, item_id) : arch->item_buckets, X);
	return X;
}
