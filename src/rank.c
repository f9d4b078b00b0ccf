/*
 * rank.c - limaml_top_k: every member's top k items in one call, for batch
 * jobs that write recommendation tables.
 *
 * The same ranking as a LATERAL query ordering by limaml_score(e, features)
 * DESC, item_id, with the same scores, but each item's first-layer item part
 * is computed once per pass over the items instead of once per (member,
 * item) pair, and no SQL row is produced for a pair: a pair costs the
 * layers above the first (an item code's work), a few nanoseconds.
 *
 * Members are read in passes sized by work_mem (member part and top-k heap
 * of each); every pass scans the items once, in batches.
 *
 * For a model with item-ID embeddings each item's input is [features ;
 * E[bucket of its item_id]] of the member's model version, built as
 * limaml_score(e, features, item_id) builds it (lm_item_serving_input).
 */
#include "serving.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(limaml_top_k);

#define ITEM_BATCH 1024
#define ITEM_TILE 32			/* items whose parts stay in L1 ... */
#define MEMBER_TILE 16			/* ... while these members go over them */

/* a model version of the members, with its item parts for the current batch */
typedef struct RankVersion
{
	LmModel    *model;
	LmServePlan *plan;
	float	   *item_parts;		/* [ITEM_BATCH][code_len], when used in this pass */
	float	   *item_x;			/* [ITEM_BATCH][input_len] item inputs (item-ID models), or NULL */
	bool		in_pass;
} RankVersion;

typedef struct RankMember
{
	int64		member_id;
	int			version;		/* index into the versions */
	float	   *member_part;
	float	   *score;			/* min-heap of the k best: worst at the root */
	int64	   *item;
	lm_real    *pred;			/* their predictions (σ⁻¹ of the scores for bce) */
	int			n;
} RankMember;

/* a ranks before b: higher score, then lower item id (ORDER BY score DESC, item_id) */
static inline bool
ranks_before(float sa, int64 ia, float sb, int64 ib)
{
	return sa > sb || (sa == sb && ia < ib);
}

static void
sift_down(RankMember *m, int i)
{
	for (;;)
	{
		int			worst = i,
					l = 2 * i + 1,
					r = l + 1;

		if (l < m->n && ranks_before(m->score[worst], m->item[worst], m->score[l], m->item[l]))
			worst = l;
		if (r < m->n && ranks_before(m->score[worst], m->item[worst], m->score[r], m->item[r]))
			worst = r;
		if (worst == i)
			return;
		{
			float		s = m->score[i];
			int64		it = m->item[i];
			lm_real		p = m->pred[i];

			m->score[i] = m->score[worst];
			m->item[i] = m->item[worst];
			m->pred[i] = m->pred[worst];
			m->score[worst] = s;
			m->item[worst] = it;
			m->pred[worst] = p;
		}
		i = worst;
	}
}

static inline void
offer(RankMember *m, int k, float score, lm_real pred, int64 item)
{
	if (m->n < k)
	{
		/* sift up */
		int			i = m->n++;

		while (i > 0)
		{
			int			parent = (i - 1) / 2;

			if (!ranks_before(m->score[parent], m->item[parent], score, item))
				break;
			m->score[i] = m->score[parent];
			m->item[i] = m->item[parent];
			m->pred[i] = m->pred[parent];
			i = parent;
		}
		m->score[i] = score;
		m->item[i] = item;
		m->pred[i] = pred;
	}
	else if (ranks_before(score, item, m->score[0], m->item[0]))
	{
		m->score[0] = score;
		m->item[0] = item;
		m->pred[0] = pred;
		sift_down(m, 0);
	}
}

/* the version of an embedding among those seen, loading it the first time */
static int
find_version(RankVersion **versions, int *n_versions, int *cap,
			 const LmEmbeddingHeader *header, MemoryContext query_cxt)
{
	RankVersion *v;

	for (int i = 0; i < *n_versions; i++)
		if ((*versions)[i].model->model_id == header->model_id &&
			(*versions)[i].model->version == header->model_version)
			return i;
	if (*n_versions == *cap)
	{
		*cap *= 2;
		*versions = repalloc(*versions, sizeof(RankVersion) * *cap);
	}
	v = &(*versions)[*n_versions];
	memset(v, 0, sizeof(*v));
	v->model = lm_embedding_model(header, query_cxt);
	v->plan = lm_serving_plan(v->model);
	v->item_parts = MemoryContextAlloc(query_cxt, sizeof(float) * ITEM_BATCH * v->plan->code_len);
	if (v->model->arch.item_buckets > 0)
		v->item_x = MemoryContextAlloc(query_cxt, sizeof(float) * ITEM_BATCH * v->plan->input_len);
	return (*n_versions)++;
}

/* the member's heap as rows, best first */
static void
emit(ReturnSetInfo *rsinfo, RankMember *m)
{
	int			n = m->n;
	float	   *score = palloc(sizeof(float) * n);
	int64	   *item = palloc(sizeof(int64) * n);

	/* popping the min-heap yields the worst first */
	for (int i = n - 1; i >= 0; i--)
	{
		score[i] = m->score[0];
		item[i] = m->item[0];
		m->score[0] = m->score[m->n - 1];
		m->item[0] = m->item[m->n - 1];
		m->pred[0] = m->pred[m->n - 1];
		m->n--;
		sift_down(m, 0);
	}
	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false};

		values[0] = Int64GetDatum(m->member_id);
		values[1] = Int64GetDatum(item[i]);
		values[2] = Float4GetDatum(score[i]);
		values[3] = Int32GetDatum(i + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* item r's input for version v: its features, or the batch's item inputs */
static inline const float *
item_input(const RankVersion *v, float *const *features, int r)
{
	return v->item_x ? v->item_x + (size_t) r * v->plan->input_len : features[r];
}

/* scores a batch of items for every member of the pass */
static void
score_batch(RankMember *members, int n_members, RankVersion *versions, int n_versions,
			const int64 *item_ids, float *const *features, int n_items, int k)
{
	for (int g = 0; g < n_versions; g++)
	{
		RankVersion *v = &versions[g];

		if (!v->in_pass)
			continue;
		for (int r = 0; r < n_items; r++)
		{
			if (v->item_x)
				lm_item_serving_input(v->plan, features[r], true, item_ids[r],
									  v->item_x + (size_t) r * v->plan->input_len);
			lm_serve_plan_encode(v->plan, item_input(v, features, r),
								 v->item_parts + (size_t) r * v->plan->code_len);
		}
	}
	/* tiles of members and items that stay in L1 together */
	for (int r0 = 0; r0 < n_items; r0 += ITEM_TILE)
	{
		int			r1 = Min(n_items, r0 + ITEM_TILE);

		for (int i0 = 0; i0 < n_members; i0 += MEMBER_TILE)
		{
			int			i1 = Min(n_members, i0 + MEMBER_TILE);

			for (int i = i0; i < i1; i++)
			{
				RankMember *m = &members[i];
				RankVersion *v = &versions[m->version];
				LmLoss		loss = v->model->arch.loss;
				int			len = v->plan->code_len;

				for (int r = r0; r < r1; r++)
				{
					lm_real		pred = lm_serve_plan_code_item(v->plan, m->member_part,
															   v->item_parts + (size_t) r * len,
															   item_input(v, features, r));

					/*
					 * The score is monotone in pred: a pred clearly below the
					 * worst kept one (by more than the score function's
					 * rounding could reverse) scores at most the worst score,
					 * so with a larger item id it cannot enter, and its score
					 * need not be computed.
					 */
					if (m->n == k && item_ids[r] > m->item[0] &&
						pred < m->pred[0] - 1e-6f * Max(1.0f, fabsf(m->pred[0])))
						continue;
					offer(m, k, lm_score_value(loss, pred), pred, item_ids[r]);
				}
			}
		}
	}
}

/* one pass: the items against these members */
static void
rank_pass(const char *items_sql, RankMember *members, int n_members,
		  RankVersion *versions, int n_versions, int k, MemoryContext pass_cxt)
{
	MemoryContext batch_cxt = AllocSetContextCreate(pass_cxt, "limaml_top_k batch",
													ALLOCSET_DEFAULT_SIZES);
	Portal		cursor = SPI_cursor_open_with_args(NULL, items_sql, 0, NULL, NULL, NULL, true, 0);
	int64	   *item_ids = MemoryContextAlloc(pass_cxt, sizeof(int64) * ITEM_BATCH);
	float	  **features = MemoryContextAlloc(pass_cxt, sizeof(float *) * ITEM_BATCH);

	for (;;)
	{
		SPITupleTable *tt;
		MemoryContext old;
		int			n;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(cursor, true, ITEM_BATCH);
		tt = SPI_tuptable;
		n = (int) SPI_processed;
		if (n == 0)
			break;
		/* arrays detoasted (or realigned from 1-byte headers) live for the batch */
		old = MemoryContextSwitchTo(batch_cxt);
		for (int r = 0; r < n; r++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull);
			int			dim;

			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("item_id must not be NULL")));
			item_ids[r] = DatumGetInt64(d);
			d = SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull);
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("item_features must not be NULL")));
			features[r] = lm_array_floats(DatumGetArrayTypeP(d), "item_features",
										  versions[0].model->arch.item_feature_dim, &dim);
		}
		MemoryContextSwitchTo(old);
		score_batch(members, n_members, versions, n_versions, item_ids, features, n, k);
		MemoryContextReset(batch_cxt);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(cursor);
	MemoryContextDelete(batch_cxt);
}

Datum
limaml_top_k(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext query_cxt;
	MemoryContext pass_cxt;
	text	   *model_name;
	int			k;
	int32		model_id;
	int32		active;
	const char *schema = lm_schema_quoted();
	char	   *items_sql;
	Oid			argtypes[2] = {TEXTOID, INT8ARRAYOID};
	Datum		args[2];
	Portal		members_cursor;
	RankVersion *versions;
	int			n_versions = 0;
	int			versions_cap = 4;
	int			pass_size;
	LmSourceSql items;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model, items and k must not be NULL")));
	model_name = PG_GETARG_TEXT_PP(0);
	k = PG_GETARG_INT32(2);
	if (k < 1 || k > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and 100000, not %d", k)));
	lm_model_resolve(model_name, &model_id, &active);	/* the model exists */
	/* every wrong column at once; the accepted types read as bigint and real[] */
	lm_check_items_relation(PG_GETARG_OID(1));
	lm_source_sql(PG_GETARG_OID(1), &items);
	items_sql = psprintf("SELECT %s, %s FROM %s", items.item_id, items.features,
						 lm_relation_sql(PG_GETARG_OID(1)));

	InitMaterializedSRF(fcinfo, 0);
	query_cxt = rsinfo->econtext->ecxt_per_query_memory;
	pass_cxt = AllocSetContextCreate(CurrentMemoryContext, "limaml_top_k pass",
									 ALLOCSET_DEFAULT_SIZES);
	versions = MemoryContextAlloc(query_cxt, sizeof(RankVersion) * versions_cap);

	args[0] = PointerGetDatum(model_name);
	args[1] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	lm_spi_connect();
	members_cursor = SPI_cursor_open_with_args(NULL,
											   psprintf("SELECT member_id, embedding FROM %s.limaml_meta_embedding "
														"WHERE model = $1 %s ORDER BY member_id", schema,
														PG_ARGISNULL(3) ? "" : "AND member_id = ANY ($2)"),
											   PG_ARGISNULL(3) ? 1 : 2, argtypes, args, NULL, true, 0);
	{
		/* members per pass: what work_mem holds of member parts and heaps */
		LmModel    *model = lm_model_acquire(model_id, active, query_cxt);
		size_t		per_member = sizeof(RankMember) + 64 +
			sizeof(float) * lm_serving_plan(model)->member_len +
			(sizeof(float) + sizeof(int64) + sizeof(lm_real)) * k;

		pass_size = (int) Max(1, Min((size_t) work_mem * 1024 / per_member, 1000000));
	}
	for (;;)
	{
		SPITupleTable *tt;
		int			n;
		RankMember *members;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(members_cursor, true, pass_size);
		tt = SPI_tuptable;
		n = (int) SPI_processed;
		if (n == 0)
			break;

		old = MemoryContextSwitchTo(pass_cxt);
		members = palloc0(sizeof(RankMember) * n);
		for (int g = 0; g < n_versions; g++)
			versions[g].in_pass = false;
		for (int i = 0; i < n; i++)
		{
			RankMember *m = &members[i];
			bool		isnull;
			LmEmbeddingHeader header;
			const char *payload;
			float	   *e;
			RankVersion *v;

			m->member_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			payload = lm_embedding_read(DatumGetByteaPP(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull)),
										&header);
			m->version = find_version(&versions, &n_versions, &versions_cap, &header, query_cxt);
			v = &versions[m->version];
			if (v->model->arch.item_feature_dim != versions[0].model->arch.item_feature_dim)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("the members' embeddings come from model versions with different item dimensions")));
			v->in_pass = true;
			e = palloc(sizeof(float) * header.dim);
			memcpy(e, payload, sizeof(float) * header.dim);
			m->member_part = palloc(sizeof(float) * v->plan->member_len);
			lm_serve_plan_member(v->plan, e, m->member_part);
			m->score = palloc(sizeof(float) * k);
			m->item = palloc(sizeof(int64) * k);
			m->pred = palloc(sizeof(lm_real) * k);
		}
		rank_pass(items_sql, members, n, versions, n_versions, k, pass_cxt);
		for (int i = 0; i < n; i++)
			emit(rsinfo, &members[i]);
		MemoryContextSwitchTo(old);
		MemoryContextReset(pass_cxt);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(members_cursor);
	lm_spi_finish();
	return (Datum) 0;
}
