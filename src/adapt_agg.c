/*
 * adapt_agg.c - limaml_adapt_agg: meta embeddings from any rows, one scan
 * for all members, as an aggregate (transition, combine, serialize,
 * deserialize and final functions).  It adapts on the rows limaml_adapt
 * (adapt.c) would read, in the same order, so both return the same bytea.
 */
#include "adapt.h"

#include "catalog/pg_type.h"
#include "core/items.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(limaml_adapt_agg_transfn);
PG_FUNCTION_INFO_V1(limaml_adapt_agg_finalfn);
PG_FUNCTION_INFO_V1(limaml_adapt_agg_combinefn);
PG_FUNCTION_INFO_V1(limaml_adapt_agg_serializefn);
PG_FUNCTION_INFO_V1(limaml_adapt_agg_deserializefn);

/*
 * The state keeps the newest support_size rows by an order key in a
 * min-heap (the oldest kept row on top): a row arriving in any order either
 * replaces the oldest kept row or is dropped, so memory stays bounded by
 * support_size rows per group.
 *
 * The ORDER BY forms' (4 and 5 arguments, without ts) key is the arrival
 * number, so ORDER BY ts inside the call gives time order.  The parallel
 * forms' (with ts) key is the shared row order (lm_row_order_sql): (ts[,
 * item_id], label, item_features), a NULL item id least and the floats
 * compared by value (then, between equal values, by bits): a total order,
 * so the rows kept are the same whatever order they arrive in.
 * Combining two states inserts one's rows into the other, which gives
 * exactly the newest support_size rows of the union however the rows were
 * split between workers.  Member features come from the row with the
 * greatest key, ties broken by the features.
 *
 * Item ids: the forms with a trailing item_id bigint argument keep each
 * row's item id (NULL: the unknown item) and adapt with its bucket, for
 * models with item-ID embeddings; they refuse a model without them.  The
 * forms without item_id also work for a model with item-ID embeddings:
 * every row then counts as the unknown item (bucket item_buckets), the same
 * as passing NULL item ids.
 *
 * Negatives: a model that samples them needs the form with ts and item_id,
 * which keys each positive's negatives (see lm_adapt_rows); the state keeps
 * the newest support_size source rows and the final function adds them.
 */
typedef struct AdaptAggState
{
	LmModel    *model;
	bool		keyed;			/* parallel form: keys are ts */
	bool		item_ids;		/* an item_id form: rows carry item ids */
	int			capacity;		/* slots allocated, grows to support_size */
	int			n;				/* rows kept, in slots [0, n) */
	int64		count;			/* rows seen */
	int64	   *ts;				/* [capacity] order key of each slot */
	float	   *labels;			/* [capacity] */
	float	   *items;			/* [capacity][item_feature_dim] */
	int64	   *item_id;		/* [capacity] with item_ids, else NULL */
	bool	   *item_known;		/* [capacity] false: NULL item id */
	int		   *heap;			/* [n] slots, a min-heap by key once heap_valid */
	bool		heap_valid;		/* made a heap when the state first overflows */
	/* the newest row's member features, and that row's key */
	bool		has_newest;		/* a row was seen */
	bool		has_member;		/* the newest row had member features */
	int64		newest_ts;
	float		newest_label;
	float	   *newest_item;	/* [item_feature_dim] */
	int64		newest_item_id;
	bool		newest_item_known;
	float	   *member;			/* [member_dim] */
	char	   *model_arg;		/* the first row's model argument; NULL: the default */
	pg_uuid_t	model_uuid_arg; /* the same as a uuid, for the uuid forms */
} AdaptAggState;

/* one row's order key */
typedef struct RowKey
{
	int64		ts;
	float		label;
	const float *item;			/* [item_feature_dim] */
	int64		item_id;		/* 0 when unknown */
	bool		item_known;
} RowKey;

/* the model of this aggregate call site, resolved once per query */
typedef struct AggModelCache
{
	char	   *name;			/* NULL: the default model */
	LmModel    *model;
} AggModelCache;

/*
 * The model argument as a key: the name, or the uuid's text for the forms
 * that name the model by its uuid (a type without collation, so that
 * postgres_fdw can ship the aggregate to a foreign partition); NULL: the
 * default model.
 */
static char *
model_arg_key(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(1))
		return NULL;
	if (get_fn_expr_argtype(fcinfo->flinfo, 1) == UUIDOID)
		return DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(1)));
	return text_to_cstring(PG_GETARG_TEXT_PP(1));
}

static LmModel *
agg_model(FunctionCallInfo fcinfo)
{
	AggModelCache *cache = fcinfo->flinfo->fn_extra;
	char	   *name = model_arg_key(fcinfo);
	text	   *model_name;

	if (cache && ((name == NULL && cache->name == NULL) ||
				  (name && cache->name && strcmp(name, cache->name) == 0)))
		return cache->model;
	if (!cache)
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(AggModelCache));
	if (name && get_fn_expr_argtype(fcinfo->flinfo, 1) == UUIDOID)
		model_name = lm_model_name_by_uuid(PG_GETARG_DATUM(1));
	else
		model_name = name ? cstring_to_text(name) : NULL;
	cache->model = lm_model_acquire_by_name(model_name, fcinfo->flinfo->fn_mcxt);
	/* a concurrent drop waits for this transaction (lm_lock_model_id) */
	lm_lock_model_id(cache->model->model_id, false);
	cache->name = name ? MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, name) : NULL;
	fcinfo->flinfo->fn_extra = cache;
	return cache->model;
}

/* the row's model argument is the one the group's first row named */
static bool
same_model_arg(FunctionCallInfo fcinfo, const AdaptAggState *state)
{
	text	   *arg;

	if (PG_ARGISNULL(1) || state->model_arg == NULL)
		return PG_ARGISNULL(1) && state->model_arg == NULL;
	if (get_fn_expr_argtype(fcinfo->flinfo, 1) == UUIDOID)
		return memcmp(DatumGetUUIDP(PG_GETARG_DATUM(1))->data, state->model_uuid_arg.data,
					  UUID_LEN) == 0;
	arg = PG_GETARG_TEXT_PP(1);
	return VARSIZE_ANY_EXHDR(arg) == strlen(state->model_arg) &&
		memcmp(VARDATA_ANY(arg), state->model_arg, VARSIZE_ANY_EXHDR(arg)) == 0;
}

/* finite floats element by element by value, as SQL compares real[] (-0 = 0) */
static int
values_cmp(const float *a, const float *b, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (a[i] < b[i])
			return -1;
		if (a[i] > b[i])
			return 1;
	}
	return 0;
}

/* the last resort between floats equal by value: their bits (-0 against 0) */
static int
bits_cmp(const float *a, const float *b, int n)
{
	for (int i = 0; i < n; i++)
	{
		uint32		ua,
					ub;

		memcpy(&ua, &a[i], sizeof(ua));
		memcpy(&ub, &b[i], sizeof(ub));
		if (ua != ub)
			return ua < ub ? -1 : 1;
	}
	return 0;
}

/* a total order of finite float arrays: SQL's, then by bits */
static int
floats_cmp(const float *a, const float *b, int n)
{
	int			c = values_cmp(a, b, n);

	return c != 0 ? c : bits_cmp(a, b, n);
}

/*
 * order of two rows by key, lm_row_order_sql's order; the floats by value
 * first, as SQL orders them, and by bits only between rows SQL finds equal,
 * so equal keys mean identical support rows
 */
static inline int
row_cmp(const AdaptAggState *state, const RowKey *a, const RowKey *b)
{
	int			c;

	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	if (!state->keyed)
		return 0;
	if (state->item_ids)
	{
		/* a NULL item id is the least (NULLS FIRST) */
		if (a->item_known != b->item_known)
			return a->item_known ? 1 : -1;
		if (a->item_id != b->item_id)
			return a->item_id < b->item_id ? -1 : 1;
	}
	c = values_cmp(&a->label, &b->label, 1);
	if (c == 0)
		c = values_cmp(a->item, b->item, state->model->arch.item_feature_dim);
	if (c == 0)
		c = bits_cmp(&a->label, &b->label, 1);
	if (c == 0)
		c = bits_cmp(a->item, b->item, state->model->arch.item_feature_dim);
	return c;
}

static inline RowKey
slot_key(const AdaptAggState *state, int slot)
{
	RowKey		key;

	key.ts = state->ts[slot];
	key.label = state->labels[slot];
	key.item = state->items + (size_t) slot * state->model->arch.item_feature_dim;
	key.item_id = state->item_ids ? state->item_id[slot] : 0;
	key.item_known = state->item_ids ? state->item_known[slot] : false;
	return key;
}

/* the key of the row the member features came from */
static inline RowKey
newest_key(const AdaptAggState *state)
{
	RowKey		key;

	key.ts = state->newest_ts;
	key.label = state->newest_label;
	key.item = state->newest_item;
	key.item_id = state->newest_item_id;
	key.item_known = state->newest_item_known;
	return key;
}

static inline int
slot_cmp(const AdaptAggState *state, int a, int b)
{
	RowKey		ka = slot_key(state, a);
	RowKey		kb = slot_key(state, b);

	return row_cmp(state, &ka, &kb);
}

static void
heap_sift_down(AdaptAggState *state, int i)
{
	int		   *heap = state->heap;
	int			n = state->n;

	for (;;)
	{
		int			least = i;
		int			l = 2 * i + 1,
					r = l + 1;
		int			tmp;

		if (l < n && slot_cmp(state, heap[l], heap[least]) < 0)
			least = l;
		if (r < n && slot_cmp(state, heap[r], heap[least]) < 0)
			least = r;
		if (least == i)
			return;
		tmp = heap[least];
		heap[least] = heap[i];
		heap[i] = tmp;
		i = least;
	}
}

static AdaptAggState *
state_create(LmModel *model, bool keyed, bool item_ids, MemoryContext agg_cxt)
{
	MemoryContext old;
	AdaptAggState *state;

	if (model->config.negatives > 0 && !(keyed && item_ids))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limaml model \"%s\" samples negatives: limaml_adapt_agg needs ts and item_id",
						model->name),
				 errhint("Call limaml_adapt_agg(model, member_features, item_features, label, ts, item_id).")));
	if (item_ids && model->arch.item_buckets == 0 && model->config.negatives == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limaml model \"%s\" has no item-ID embeddings", model->name),
				 errhint("Call limaml_adapt_agg without item_id, or create the model with item_buckets.")));
	/* a group's kept rows (state_add_row) and the final function's copies of them */
	lm_check_adapt_memory(model, (double) model->config.support_size *
						  (sizeof(float) * (2 * model->arch.item_feature_dim + 3) +
						   sizeof(int64) * 3 + sizeof(int32) * 2 + sizeof(bool)));
	old = MemoryContextSwitchTo(agg_cxt);
	state = palloc0(sizeof(AdaptAggState));
	state->model = model;
	state->keyed = keyed;
	state->item_ids = item_ids;
	state->newest_item = palloc0(sizeof(float) * (model->arch.item_feature_dim + 1));
	state->member = palloc0(sizeof(float) * (model->arch.member_dim + 1));
	MemoryContextSwitchTo(old);
	return state;
}

/*
 * Room for one more row.  The first allocation holds min(support_size, 64)
 * rows, so a state has (nearly) its final size when its group is created:
 * hash aggregation checks work_mem when it creates a group, and a state
 * that grew later would be invisible to that check.  Beyond 64 rows it
 * doubles up to support_size.
 */
#define AGG_FIRST_CAPACITY 64

static void
grow_state(AdaptAggState *state, MemoryContext agg_cxt)
{
	int			item_dim = state->model->arch.item_feature_dim;
	int			target = Min(state->model->config.support_size,
							 state->capacity == 0 ? AGG_FIRST_CAPACITY : state->capacity * 2);
	MemoryContext old = MemoryContextSwitchTo(agg_cxt);

	if (state->capacity == 0)
	{
		state->ts = palloc(sizeof(int64) * target);
		state->labels = palloc(sizeof(float) * target);
		state->items = palloc_extended(sizeof(float) * Max((size_t) target * item_dim, 1),
									   MCXT_ALLOC_HUGE);
		state->heap = palloc(sizeof(int) * target);
		if (state->item_ids)
		{
			state->item_id = palloc(sizeof(int64) * target);
			state->item_known = palloc(sizeof(bool) * target);
		}
	}
	else
	{
		state->ts = repalloc(state->ts, sizeof(int64) * target);
		state->labels = repalloc(state->labels, sizeof(float) * target);
		state->items = repalloc_huge(state->items, sizeof(float) * Max((size_t) target * item_dim, 1));
		state->heap = repalloc(state->heap, sizeof(int) * target);
		if (state->item_ids)
		{
			state->item_id = repalloc(state->item_id, sizeof(int64) * target);
			state->item_known = repalloc(state->item_known, sizeof(bool) * target);
		}
	}
	state->capacity = target;
	MemoryContextSwitchTo(old);
}

/* keeps the row if it is among the newest support_size */
static void
state_add_row(AdaptAggState *state, const RowKey *row, MemoryContext agg_cxt)
{
	int			item_dim = state->model->arch.item_feature_dim;
	bool		full = state->n >= state->model->config.support_size;
	int			slot;

	if (full)
	{
		RowKey		oldest;

		/*
		 * Rows are only appended until the state is full (most members never
		 * get there): the heap is built on the first overflow.
		 */
		if (!state->heap_valid)
		{
			for (int i = state->n / 2 - 1; i >= 0; i--)
				heap_sift_down(state, i);
			state->heap_valid = true;
		}
		slot = state->heap[0];
		oldest = slot_key(state, slot);
		/* not newer than the oldest kept row: dropped */
		if (row_cmp(state, row, &oldest) <= 0)
			return;
	}
	else
	{
		if (state->n >= state->capacity)
			grow_state(state, agg_cxt);
		slot = state->n;
	}
	state->ts[slot] = row->ts;
	state->labels[slot] = row->label;
	memcpy(state->items + (size_t) slot * item_dim, row->item, sizeof(float) * item_dim);
	if (state->item_ids)
	{
		state->item_id[slot] = row->item_known ? row->item_id : 0;
		state->item_known[slot] = row->item_known;
	}
	if (full)
		heap_sift_down(state, 0);	/* the new row replaced the oldest */
	else
		state->heap[state->n++] = slot;
}

/* the newest row's member features (NULL: none) win */
static void
state_offer_member(AdaptAggState *state, const RowKey *row, const float *member)
{
	const LmArch *arch = &state->model->arch;

	if (state->has_newest)
	{
		RowKey		newest = newest_key(state);
		int			c;

		c = row_cmp(state, row, &newest);
		if (c < 0)
			return;
		if (c == 0)
		{
			/* the same key: the greater features, "none" least */
			if (member == NULL)
				return;
			if (state->has_member && floats_cmp(member, state->member, arch->member_dim) <= 0)
				return;
		}
	}
	state->has_newest = true;
	state->newest_ts = row->ts;
	state->newest_label = row->label;
	memcpy(state->newest_item, row->item, sizeof(float) * arch->item_feature_dim);
	state->newest_item_id = row->item_known ? row->item_id : 0;
	state->newest_item_known = row->item_known;
	state->has_member = member != NULL;
	if (member)
		memcpy(state->member, member, sizeof(float) * arch->member_dim);
}

/*
 * One transition function for the four forms, told apart by the arguments
 * after label (PG_NARGS counts the state too):
 *   5: ORDER BY form                     6 timestamptz: parallel form
 *   6 bigint: ORDER BY form with item_id 7: parallel form with item_id
 */
static void
agg_form(FunctionCallInfo fcinfo, bool *keyed, bool *item_ids)
{
	*keyed = false;
	*item_ids = false;
	if (PG_NARGS() >= 7)
		*keyed = *item_ids = true;
	else if (PG_NARGS() == 6)
	{
		Oid			type = get_fn_expr_argtype(fcinfo->flinfo, 5);

		if (type == TIMESTAMPTZOID)
			*keyed = true;
		else if (type == INT8OID)
			*item_ids = true;
		else
			elog(ERROR, "limaml_adapt_agg_transfn: could not determine the argument types");
	}
}

Datum
limaml_adapt_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext agg_cxt;
	AdaptAggState *state;
	const LmArch *arch;
	const float *member;
	int			dim;
	RowKey		row;
	bool		keyed,
				item_ids;
	int			ts_arg = 5;
	int			item_arg;

	if (!AggCheckCallContext(fcinfo, &agg_cxt))
		elog(ERROR, "limaml_adapt_agg_transfn called in non-aggregate context");

	state = PG_ARGISNULL(0) ? NULL : (AdaptAggState *) PG_GETARG_POINTER(0);
	if (state == NULL)
	{
		agg_form(fcinfo, &keyed, &item_ids);
		state = state_create(agg_model(fcinfo), keyed, item_ids, agg_cxt);
		state->model_arg = PG_ARGISNULL(1) ? NULL : MemoryContextStrdup(agg_cxt, model_arg_key(fcinfo));
		if (!PG_ARGISNULL(1) && get_fn_expr_argtype(fcinfo->flinfo, 1) == UUIDOID)
			state->model_uuid_arg = *DatumGetUUIDP(PG_GETARG_DATUM(1));
	}
	else if (!same_model_arg(fcinfo, state))
		/* one group adapts one member with one model: never silently the first row's */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limaml_adapt_agg's model argument changes within a group"),
				 errhint("Pass the same model for every row of a group, or GROUP BY the model too.")));
	keyed = state->keyed;
	item_ids = state->item_ids;
	item_arg = keyed ? 6 : 5;
	arch = &state->model->arch;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("item_features must not be NULL")));
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("label must not be NULL")));
	if (keyed && PG_ARGISNULL(ts_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ts must not be NULL")));
	member = lm_row_member_features(state->model, PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2));
	row.item = lm_array_floats(PG_GETARG_ARRAYTYPE_P(3), "item_features", arch->item_feature_dim, &dim);
	row.label = PG_GETARG_FLOAT4(4);
	lm_check_label(row.label, arch->loss);
	row.ts = keyed ? PG_GETARG_TIMESTAMPTZ(ts_arg) : state->count;
	/* a NULL item id is the unknown item */
	row.item_known = item_ids && !PG_ARGISNULL(item_arg);
	row.item_id = row.item_known ? PG_GETARG_INT64(item_arg) : 0;

	state_add_row(state, &row, agg_cxt);
	state_offer_member(state, &row, member);
	state->count++;
	PG_RETURN_POINTER(state);
}

Datum
limaml_adapt_agg_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext agg_cxt;
	AdaptAggState *s1,
			   *s2;

	if (!AggCheckCallContext(fcinfo, &agg_cxt))
		elog(ERROR, "limaml_adapt_agg_combinefn called in non-aggregate context");
	s1 = PG_ARGISNULL(0) ? NULL : (AdaptAggState *) PG_GETARG_POINTER(0);
	s2 = PG_ARGISNULL(1) ? NULL : (AdaptAggState *) PG_GETARG_POINTER(1);
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		s1 = state_create(s2->model, s2->keyed, s2->item_ids, agg_cxt);
	if (s1->model->model_id != s2->model->model_id || s1->model->version != s2->model->version ||
		!s1->keyed || !s2->keyed || s1->item_ids != s2->item_ids)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("limaml_adapt_agg cannot combine rows of different models in one group")));
	for (int slot = 0; slot < s2->n; slot++)
	{
		RowKey		row = slot_key(s2, slot);

		state_add_row(s1, &row, agg_cxt);
	}
	if (s2->has_newest)
	{
		RowKey		newest = newest_key(s2);

		state_offer_member(s1, &newest, s2->has_member ? s2->member : NULL);
	}
	s1->count += s2->count;
	PG_RETURN_POINTER(s1);
}

/*
 * serialized state: this header, then the newest row, then the kept rows,
 * then with item ids each kept row's item id and whether it is known
 */
typedef struct AdaptAggWire
{
	uint8		model_uuid[LM_UUID_LEN];	/* the identity: another node's state */
	uint8		content_hash[LM_HASH_PREFIX];	/* may be combined here (Citus) */
	int32		version;
	int32		n;
	uint8		keyed;
	uint8		has_newest;
	uint8		has_member;
	uint8		item_ids;
	int64		count;
	int64		newest_ts;
	float		newest_label;
	uint8		newest_item_known;
	int64		newest_item_id;
	/*
	 * then newest_item[item_feature_dim], member[member_dim], ts[n] (int64),
	 * labels[n], items[n][item_feature_dim], and with item_ids item_id[n]
	 * (int64), item_known[n] (uint8)
	 */
} AdaptAggWire;

static size_t
wire_size(const LmArch *arch, int n, bool item_ids)
{
	return sizeof(AdaptAggWire)
		+ sizeof(float) * (arch->item_feature_dim + arch->member_dim)
		+ (size_t) n * (sizeof(int64) + sizeof(float) * (1 + arch->item_feature_dim))
		+ (item_ids ? (size_t) n * (sizeof(int64) + sizeof(uint8)) : 0);
}

Datum
limaml_adapt_agg_serializefn(PG_FUNCTION_ARGS)
{
	AdaptAggState *state = (AdaptAggState *) PG_GETARG_POINTER(0);
	const LmArch *arch = &state->model->arch;
	size_t		size = wire_size(arch, state->n, state->item_ids);
	bytea	   *raw;
	char	   *p;
	AdaptAggWire wire;

	/* a bytea holds at most 1 GB (support_size rows of 4096 features are more) */
	if (size > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a limaml_adapt_agg state of %zu MB is too large to pass between parallel workers",
						size / (1024 * 1024)),
				 errhint("SET max_parallel_workers_per_gather = 0 for this query, or use a smaller support_size.")));
	raw = palloc(VARHDRSZ + size);
	p = VARDATA(raw);

	memset(&wire, 0, sizeof(wire));
	memcpy(wire.model_uuid, state->model->uuid, LM_UUID_LEN);
	memcpy(wire.content_hash, state->model->content_hash, LM_HASH_PREFIX);
	wire.version = state->model->version;
	wire.n = state->n;
	wire.keyed = state->keyed;
	wire.has_newest = state->has_newest;
	wire.has_member = state->has_member;
	wire.item_ids = state->item_ids;
	wire.count = state->count;
	wire.newest_ts = state->newest_ts;
	wire.newest_label = state->newest_label;
	wire.newest_item_known = state->newest_item_known;
	wire.newest_item_id = state->newest_item_id;
	SET_VARSIZE(raw, VARHDRSZ + size);
	memcpy(p, &wire, sizeof(wire));
	p += sizeof(wire);
	memcpy(p, state->newest_item, sizeof(float) * arch->item_feature_dim);
	p += sizeof(float) * arch->item_feature_dim;
	memcpy(p, state->member, sizeof(float) * arch->member_dim);
	p += sizeof(float) * arch->member_dim;
	if (state->n > 0)
	{
		memcpy(p, state->ts, sizeof(int64) * state->n);
		p += sizeof(int64) * state->n;
		memcpy(p, state->labels, sizeof(float) * state->n);
		p += sizeof(float) * state->n;
		memcpy(p, state->items, sizeof(float) * state->n * (size_t) arch->item_feature_dim);
		p += sizeof(float) * state->n * (size_t) arch->item_feature_dim;
		if (state->item_ids)
		{
			memcpy(p, state->item_id, sizeof(int64) * state->n);
			p += sizeof(int64) * state->n;
			for (int r = 0; r < state->n; r++)
				*p++ = state->item_known[r] ? 1 : 0;
		}
	}
	PG_RETURN_BYTEA_P(raw);
}

/* the model version of serialized states, acquired once per query */
typedef struct AggVersionCache
{
	LmModel    *model;
} AggVersionCache;

Datum
limaml_adapt_agg_deserializefn(PG_FUNCTION_ARGS)
{
	MemoryContext agg_cxt;
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(raw);
	size_t		size = VARSIZE_ANY_EXHDR(raw);
	AggVersionCache *cache = fcinfo->flinfo->fn_extra;
	AdaptAggWire wire;
	AdaptAggState *state;
	const LmArch *arch;

	if (!AggCheckCallContext(fcinfo, &agg_cxt))
		elog(ERROR, "limaml_adapt_agg_deserializefn called in non-aggregate context");
	if (size < sizeof(wire))
		elog(ERROR, "invalid limaml_adapt_agg state");
	memcpy(&wire, p, sizeof(wire));
	if (!cache || !lm_model_is(cache->model, wire.model_uuid, wire.version) ||
		memcmp(cache->model->content_hash, wire.content_hash, LM_HASH_PREFIX) != 0)
	{
		if (!cache)
			cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(AggVersionCache));
		cache->model = lm_model_acquire_identity(wire.model_uuid, wire.version, wire.content_hash,
												 "limaml_adapt_agg state", fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = cache;
	}
	state = state_create(cache->model, wire.keyed, wire.item_ids, agg_cxt);
	arch = &state->model->arch;
	if (wire.n < 0 || wire.n > state->model->config.support_size ||
		size != wire_size(arch, wire.n, wire.item_ids))
		elog(ERROR, "invalid limaml_adapt_agg state");
	p += sizeof(wire);
	state->count = wire.count;
	state->has_newest = wire.has_newest;
	state->has_member = wire.has_member;
	state->newest_ts = wire.newest_ts;
	state->newest_label = wire.newest_label;
	state->newest_item_known = wire.newest_item_known;
	state->newest_item_id = wire.newest_item_id;
	memcpy(state->newest_item, p, sizeof(float) * arch->item_feature_dim);
	p += sizeof(float) * arch->item_feature_dim;
	memcpy(state->member, p, sizeof(float) * arch->member_dim);
	p += sizeof(float) * arch->member_dim;
	if (wire.n > 0)
	{
		const char *ts = p;
		const char *labels = ts + sizeof(int64) * wire.n;
		const char *items = labels + sizeof(float) * wire.n;
		const char *item_ids = items + sizeof(float) * (size_t) wire.n * arch->item_feature_dim;
		const char *item_known = item_ids + sizeof(int64) * wire.n;
		float	   *item = palloc(sizeof(float) * (arch->item_feature_dim + 1));

		for (int r = 0; r < wire.n; r++)
		{
			RowKey		row;

			memcpy(&row.ts, ts + sizeof(int64) * r, sizeof(int64));
			memcpy(&row.label, labels + sizeof(float) * r, sizeof(float));
			memcpy(item, items + sizeof(float) * (size_t) r * arch->item_feature_dim,
				   sizeof(float) * arch->item_feature_dim);
			row.item = item;
			row.item_id = 0;
			row.item_known = false;
			if (wire.item_ids)
			{
				memcpy(&row.item_id, item_ids + sizeof(int64) * r, sizeof(int64));
				row.item_known = item_known[r] != 0;
			}
			state_add_row(state, &row, agg_cxt);
		}
		pfree(item);
	}
	PG_RETURN_POINTER(state);
}

static const AdaptAggState *sort_state;

static int
slot_qsort_cmp(const void *a, const void *b)
{
	return slot_cmp(sort_state, *(const int *) a, *(const int *) b);
}

Datum
limaml_adapt_agg_finalfn(PG_FUNCTION_ARGS)
{
	AdaptAggState *state;
	LmAdaptScratch *scratch;
	const LmArch *arch;
	int			n;
	int		   *order;
	float	   *items,
			   *labels;
	int32	   *buckets = NULL;
	int64	   *item_ids = NULL;
	int64	   *ts = NULL;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (AdaptAggState *) PG_GETARG_POINTER(0);
	arch = &state->model->arch;
	n = state->n;

	/* the kept rows oldest first, leaving the state as it was */
	order = palloc(sizeof(int) * (n + 1));
	for (int r = 0; r < n; r++)
		order[r] = r;
	sort_state = state;
	qsort(order, n, sizeof(int), slot_qsort_cmp);
	items = palloc_extended(sizeof(float) * ((size_t) n * arch->item_feature_dim + 1), MCXT_ALLOC_HUGE);
	labels = palloc(sizeof(float) * (n + 1));
	/* without item ids (the forms without item_id) every row is the unknown item */
	if (state->item_ids && arch->item_buckets > 0)
		buckets = palloc(sizeof(int32) * (n + 1));
	if (state->model->config.negatives > 0)
	{
		/* state_create made sure of the form with ts and item_id */
		item_ids = palloc(sizeof(int64) * (n + 1));
		ts = palloc(sizeof(int64) * (n + 1));
	}
	for (int r = 0; r < n; r++)
	{
		memcpy(items + (size_t) r * arch->item_feature_dim,
			   state->items + (size_t) order[r] * arch->item_feature_dim, sizeof(float) * arch->item_feature_dim);
		labels[r] = state->labels[order[r]];
		if (buckets)
			buckets[r] = state->item_known[order[r]] ?
				lm_item_bucket(arch, state->item_id[order[r]]) : arch->item_buckets;
		if (item_ids)
		{
			item_ids[r] = state->item_known[order[r]] ? state->item_id[order[r]] : PG_INT64_MIN;
			ts[r] = state->ts[order[r]];
		}
	}
	scratch = fcinfo->flinfo->fn_extra;
	if (scratch == NULL || scratch->model != state->model)
	{
		scratch = lm_adapt_scratch_create(state->model, state->model->config.support_size,
										  fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = scratch;
	}
	PG_RETURN_BYTEA_P(lm_adapt_rows(scratch, state->has_member ? state->member : NULL,
									n, items, labels, buckets, item_ids, ts));
}
