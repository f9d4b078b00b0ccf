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
 * limaml_recommend ranks one member's items the same way, without the
 * items the member already interacted with or any the caller excludes.
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
#include "utils/lsyscache.h"
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
	const int64 *excluded;		/* item ids left out, ascending */
	int			n_excluded;
} RankMember;

/* what one ranking call asks for */
typedef struct RankRequest
{
	int32		model_id;
	int32		active;
	int			k;
	const char *items_sql;		/* (item_id bigint, features real[]) */
	Oid			items_reader;	/* role reading them (lm_model_reader), or InvalidOid: the caller */
	const char *exclude_sql;	/* (member_id, item_id) of the members $1 bigint[], or NULL */
	const int64 *excluded;		/* or item ids left out for every member, ascending */
	int			n_excluded;
	bool		member_column;	/* rows (member_id, item_id, score, rank), else without member_id */
} RankRequest;

static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

static inline bool
is_excluded(const RankMember *m, int64 item)
{
	return bsearch(&item, m->excluded, m->n_excluded, sizeof(int64), int64_cmp) != NULL;
}

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
		if (lm_model_is((*versions)[i].model, header->model_uuid, header->model_version))
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
emit(ReturnSetInfo *rsinfo, RankMember *m, bool member_column)
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
		int			c = 0;

		if (member_column)
			values[c++] = Int64GetDatum(m->member_id);
		values[c++] = Int64GetDatum(item[i]);
		values[c++] = Float4GetDatum(score[i]);
		values[c++] = Int32GetDatum(i + 1);
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
					lm_real		pred;

					if (m->n_excluded > 0 && is_excluded(m, item_ids[r]))
						continue;
					pred = lm_serve_plan_code_item(v->plan, m->member_part,
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
					offer(m, k, loss_served(loss, pred), pred, item_ids[r]);
				}
			}
		}
	}
}

/* one pass: the items against these members */
static void
rank_pass(const RankRequest *req, RankMember *members, int n_members,
		  RankVersion *versions, int n_versions, int k, MemoryContext pass_cxt)
{
	MemoryContext batch_cxt = AllocSetContextCreate(pass_cxt, "limaml_top_k batch",
													ALLOCSET_DEFAULT_SIZES);
	Portal		cursor = lm_cursor_open_as(req->items_reader, SPI_prepare(req->items_sql, 0, NULL),
										   NULL, true);
	int64	   *item_ids = MemoryContextAlloc(pass_cxt, sizeof(int64) * ITEM_BATCH);
	float	  **features = MemoryContextAlloc(pass_cxt, sizeof(float *) * ITEM_BATCH);

	for (;;)
	{
		SPITupleTable *tt;
		MemoryContext old;
		int			n;

		CHECK_FOR_INTERRUPTS();
		lm_cursor_fetch_as(req->items_reader, cursor, ITEM_BATCH);
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


typedef struct ExcludedPair
{
	int64		member_id;
	int64		item_id;
} ExcludedPair;

static int
pair_cmp(const void *a, const void *b)
{
	const ExcludedPair *x = a,
			   *y = b;

	if (x->member_id != y->member_id)
		return x->member_id < y->member_id ? -1 : 1;
	return x->item_id < y->item_id ? -1 : x->item_id > y->item_id;
}

/* the pass's members' excluded items, in pass_cxt; members ascend by id */
static void
load_exclusions(const RankRequest *req, RankMember *members, int n)
{
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum		args[1];
	ExcludedPair *pairs;
	int64	   *items;
	int			n_pairs = 0,
				p = 0;

	if (req->exclude_sql == NULL)
	{
		for (int i = 0; i < n; i++)
		{
			members[i].excluded = req->excluded;
			members[i].n_excluded = req->n_excluded;
		}
		return;
	}
	for (int i = 0; i < n; i++)
		ids[i] = Int64GetDatum(members[i].member_id);
	args[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
	SPI_execute_with_args(req->exclude_sql, 1, argtypes, args, NULL, true, 0);
	pairs = palloc(sizeof(ExcludedPair) * (SPI_processed + 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		null_member,
					null_item;
		Datum		m = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &null_member);
		Datum		it = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &null_item);

		if (null_member || null_item)
			continue;
		pairs[n_pairs].member_id = DatumGetInt64(m);
		pairs[n_pairs++].item_id = DatumGetInt64(it);
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(pairs, n_pairs, sizeof(ExcludedPair), pair_cmp);
	items = palloc(sizeof(int64) * (n_pairs + 1));
	for (int r = 0; r < n_pairs; r++)
		items[r] = pairs[r].item_id;
	for (int i = 0; i < n; i++)
	{
		while (p < n_pairs && pairs[p].member_id < members[i].member_id)
			p++;
		members[i].excluded = items + p;
		while (p < n_pairs && pairs[p].member_id == members[i].member_id)
			p++;
		members[i].n_excluded = (int) (items + p - members[i].excluded);
	}
}

/*
 * Ranks the members the cursor yields (member_id, embedding), ascending by
 * member_id, in passes; inside SPI, the result set materialized.
 */
static void
rank_members(FunctionCallInfo fcinfo, const RankRequest *req, Portal members_cursor)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext query_cxt = rsinfo->econtext->ecxt_per_query_memory;
	MemoryContext pass_cxt = AllocSetContextCreate(CurrentMemoryContext, "limaml_top_k pass",
												   ALLOCSET_DEFAULT_SIZES);
	int			k = req->k;
	int			versions_cap = 4;
	int			n_versions = 0;
	RankVersion *versions = MemoryContextAlloc(query_cxt, sizeof(RankVersion) * versions_cap);
	int			pass_size;

	{
		/* members per pass: what work_mem holds of member parts and heaps */
		LmModel    *model = lm_model_acquire(req->model_id, req->active, query_cxt);
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
		load_exclusions(req, members, n);
		rank_pass(req, members, n, versions, n_versions, k, pass_cxt);
		for (int i = 0; i < n; i++)
			emit(rsinfo, &members[i], req->member_column);
		MemoryContextSwitchTo(old);
		MemoryContextReset(pass_cxt);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(members_cursor);
}

static int
k_arg(FunctionCallInfo fcinfo, int argno)
{
	int			k = PG_GETARG_INT32(argno);

	if (k < 1 || k > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and 100000, not %d", k)));
	return k;
}

/*
 * A relation's item rows as (item_id bigint, features real[]); for a model
 * with item transforms and a relation without the features column, its rows
 * encoded (a relation with it holds precomputed vectors)
 */
static const char *
items_select(const LmModel *model, Oid items, const char *id_column, const char *features_column,
			 bool named)
{
	if (model->transforms && model->transforms->item.n > 0 &&
		get_attnum(items, features_column) == InvalidAttrNumber)
	{
		lm_check_relation_ids(items, LM_ITEMS);
		lm_transforms_check_relation(&model->transforms->item, items, "items");
		return psprintf("SELECT %s, %s.limaml_item_features(%s, src) FROM %s src",
						lm_id_column_sql(items, id_column), lm_schema_quoted(),
						quote_literal_cstr(model->name), lm_relation_sql(items));
	}
	/* limaml_top_k names its columns; limaml_recommend reads (item_id, features) */
	if (named)
		lm_check_items_columns(items, id_column, features_column);
	else
		lm_check_items_relation(items);
	return psprintf("SELECT %s, %s FROM %s", lm_id_column_sql(items, id_column),
					lm_features_column_sql(items, features_column), lm_relation_sql(items));
}

Datum
limaml_top_k(PG_FUNCTION_ARGS)
{
	text	   *model_name;
	const char *schema = lm_schema_quoted();
	Oid			argtypes[2] = {TEXTOID, INT8ARRAYOID};
	Datum		args[2];
	Portal		members_cursor;
	RankRequest req = {0};
	Oid			items;
	const char *id_column = "item_id";
	const char *features_column = "features";

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model, items and k must not be NULL")));
	/* 0.2.0's limaml_top_k has four arguments */
	if (PG_NARGS() > 6)
	{
		if (PG_ARGISNULL(4) || PG_ARGISNULL(5))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("id_column and features_column must not be NULL")));
		id_column = text_to_cstring(PG_GETARG_TEXT_PP(4));
		features_column = text_to_cstring(PG_GETARG_TEXT_PP(5));
	}
	model_name = PG_GETARG_TEXT_PP(0);
	req.k = k_arg(fcinfo, 2);
	lm_model_resolve(model_name, &req.model_id, &req.active);	/* the model exists */
	/* every wrong column at once; the accepted types read as bigint and real[] */
	items = PG_GETARG_OID(1);
	req.items_sql = items_select(lm_model_acquire(req.model_id, req.active, CurrentMemoryContext),
								 items, id_column, features_column, true);
	if (PG_NARGS() > 6 && !PG_ARGISNULL(6))
	{
		Oid			exclude = PG_GETARG_OID(6);

		lm_check_exclude_relation(exclude, false);
		/* member_id compared as is: an index on (member_id, ...) serves it */
		req.exclude_sql = psprintf("SELECT %s, %s FROM %s x WHERE x.member_id = ANY ($1)",
								   lm_id_column_sql(exclude, "member_id"),
								   lm_id_column_sql(exclude, "item_id"), lm_relation_sql(exclude));
	}
	req.member_column = true;

	InitMaterializedSRF(fcinfo, 0);
	args[0] = PointerGetDatum(model_name);
	args[1] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	lm_spi_connect();
	members_cursor = SPI_cursor_open_with_args(NULL,
											   psprintf("SELECT member_id, embedding FROM %s.limaml_meta_embedding "
														"WHERE model = $1 %s ORDER BY member_id", schema,
														PG_ARGISNULL(3) ? "" : "AND member_id = ANY ($2)"),
											   PG_ARGISNULL(3) ? 1 : 2, argtypes, args, NULL, true, 0);
	rank_members(fcinfo, &req, members_cursor);
	lm_spi_finish();
	return (Datum) 0;
}

/* appends the item ids a statement of one bigint column returns */
static void
collect_ids(int64 **ids, int *n, int *cap)
{
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);

		if (isnull)
			continue;
		if (*n == *cap)
		{
			*cap *= 2;
			*ids = repalloc(*ids, sizeof(int64) * *cap);
		}
		(*ids)[(*n)++] = DatumGetInt64(d);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* the items the member interacted with in the model's source (read as its owner) */
static void
seen_items(const LmModel *model, int64 member_id, int64 **ids, int *n, int *cap)
{
	LmSourceSql sql;
	Oid			argtypes[1];
	Datum		args[1];

	if (!OidIsValid(model->source))
		return;					/* no interactions to exclude */
	lm_model_check_source(model, model->source);
	if (!lm_has_item_id(model->source))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("source relation \"%s\" of limaml model \"%s\" has no usable item_id column",
						get_rel_name(model->source), model->name),
				 errhint("exclude_seen needs the source's item ids; pass exclude_seen => false, or exclude => a relation of (member_id, item_id).")));
	lm_source_sql(model->source, &sql);
	argtypes[0] = sql.member_id_type;
	if (!lm_member_id_param(argtypes[0], member_id, &args[0]))
		return;
	/* member_id compared with its own type: an index on (member_id, ...) serves it */
	lm_execute_plan_as(lm_model_reader(model),
					   SPI_prepare(psprintf("SELECT %s FROM %s src WHERE src.member_id = $1",
											sql.item_id, lm_relation_sql(model->source)),
								   1, argtypes),
					   args, NULL, true, 0);
	collect_ids(ids, n, cap);
}

/* the item ids an exclude relation leaves out for the member */
static void
excluded_items(Oid exclude, int64 member_id, int64 **ids, int *n, int *cap)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(member_id)};
	bool		per_member;

	lm_check_exclude_relation(exclude, true);
	per_member = get_attnum(exclude, "member_id") != InvalidAttrNumber;
	SPI_execute_with_args(psprintf("SELECT %s FROM %s x%s", lm_id_column_sql(exclude, "item_id"),
								   lm_relation_sql(exclude),
								   per_member ? " WHERE x.member_id = $1" : ""),
						  per_member ? 1 : 0, argtypes, args, NULL, true, 0);
	collect_ids(ids, n, cap);
}

/* the member's stored embedding, adapted (and stored) first when it has none */
static bytea *
member_embedding(const LmModel *model, int64 member_id)
{
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		args[2] = {CStringGetTextDatum(model->name), Int64GetDatum(member_id)};
	bool		isnull;
	Datum		d;

	SPI_execute_with_args(psprintf("SELECT embedding FROM %s.limaml_meta_embedding "
								   "WHERE model = $1 AND member_id = $2", lm_schema_quoted()),
						  2, argtypes, args, NULL, true, 1);
	if (SPI_processed == 0)
		SPI_execute_with_args(psprintf("SELECT %s.limaml_adapt($2, $1)", lm_schema_quoted()),
							  2, argtypes, args, NULL, false, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : DatumGetByteaPCopy(d);
}

PG_FUNCTION_INFO_V1(limaml_recommend);

/*
 * limaml_recommend(model, member_id, k, items, exclude, exclude_seen): one
 * member's top k, ranked as limaml_top_k ranks, without the excluded items
 */
Datum
limaml_recommend(PG_FUNCTION_ARGS)
{
	LmModel    *model;
	int64		member_id;
	Oid			items;
	RankRequest req = {0};
	int64	   *excluded;
	int			n_excluded = 0,
				cap = 64;
	bytea	   *embedding;
	Oid			argtypes[2] = {INT8OID, BYTEAOID};
	Datum		args[2];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model, member_id, k and exclude_seen must not be NULL")));
	member_id = PG_GETARG_INT64(1);
	req.k = k_arg(fcinfo, 2);
	model = lm_model_acquire_by_name(PG_GETARG_TEXT_PP(0), CurrentMemoryContext);
	req.model_id = model->model_id;
	req.active = model->version;
	items = PG_ARGISNULL(3) ? model->items : PG_GETARG_OID(3);
	if (!OidIsValid(items))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" has no items relation", model->name),
				 errhint("Pass items => a relation of (item_id, features), or set the model's with limaml_alter_model(name, items => ...).")));
	req.items_sql = items_select(model, items, "item_id", "features", false);
	/* the model's own items relation is read as its owner, one the caller passes as the caller */
	if (PG_ARGISNULL(3))
		req.items_reader = lm_model_reader(model);

	InitMaterializedSRF(fcinfo, 0);
	lm_spi_connect();
	excluded = palloc(sizeof(int64) * cap);
	if (PG_GETARG_BOOL(5))
		seen_items(model, member_id, &excluded, &n_excluded, &cap);
	if (!PG_ARGISNULL(4))
		excluded_items(PG_GETARG_OID(4), member_id, &excluded, &n_excluded, &cap);
	qsort(excluded, n_excluded, sizeof(int64), int64_cmp);
	req.excluded = excluded;
	req.n_excluded = n_excluded;
	embedding = member_embedding(model, member_id);
	if (embedding)
	{
		args[0] = Int64GetDatum(member_id);
		args[1] = PointerGetDatum(embedding);
		rank_members(fcinfo, &req,
					 SPI_cursor_open_with_args(NULL, "SELECT $1, $2", 2, argtypes, args, NULL, true, 0));
	}
	lm_spi_finish();
	return (Datum) 0;
}
