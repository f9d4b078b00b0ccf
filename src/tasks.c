/*
 * tasks.c - reading members from a source and splitting them (tasks.h).
 *
 * Every row is checked as it is read: NULLs, feature lengths, NaN and
 * infinity, and labels against the model's loss.
 *
 * A model with negatives reads each row's item_id and ts too, and appends
 * the sampled negatives of every positive row (label > 0) right after it
 * (lm_negative_rows), so every row count here (rows kept, n_total, the
 * split) counts them; lm_training_split scales support_size and query_size
 * by 1 + negatives, so a positive-only member's split falls between groups.
 */
#include "tasks.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "core/items.h"

#define FETCH_ROWS 10000

/* one member's rows while reading, oldest first, at most 2 · keep_rows */
typedef struct MemberRows
{
	int64		member_id;
	int64		n_total;
	int			n;
	int			cap;
	int			keep;
	float	   *items;
	float	   *labels;
	int32	   *buckets;		/* item-ID buckets; unused without item-ID embeddings */
	int64	   *item_ids;		/* raw item ids; NULL unless the stream reads them */
	float	   *member;
	const LmNegatives *neg;		/* negatives after each positive row; NULL: none */
	double		reserved;		/* bytes the caller holds besides these rows */
} MemberRows;

struct LmMemberStream
{
	const LmModel *model;
	Portal		portal;
	SPITupleTable *fetched;		/* the current fetch, kept apart from SPI_tuptable */
	Oid			reader;			/* role the rows are read as (InvalidOid: the caller) */
	uint64		n_fetched;
	uint64		next_row;
	bool		done;
	MemberRows	rows;			/* the member being read */
	MemberRows	ready;			/* the member handed out */
};

LmSplit
lm_training_split(const LmModel *model)
{
	LmSplit		split = {0};

	/* a positive-only member's sizes in source rows, each with its negatives */
	split.support_size = model->config.support_size * (1 + model->config.negatives);
	split.query_size = model->config.query_size * (1 + model->config.negatives);
	/* without an inner loop the support rows would be wasted: train on all */
	split.no_support = model->config.inner_steps == 0;
	return split;
}

bool
lm_is_validation_member(int64 member_id, int64 seed, double fraction)
{
	uint64		h = hash_bytes_extended((const unsigned char *) &member_id,
										sizeof(int64), (uint64) seed);

	return (double) h / 18446744073709551616.0 < fraction;
}

int
lm_query_start(const LmMember *member, const LmSplit *split)
{
	int			n_query;

	if (split->query_fraction > 0)
		/* less a hair: float4 fractions such as 0.2 are a bit above */
		n_query = (int) Min(member->n, ceil(split->query_fraction * member->n_total - 1e-6));
	else
		n_query = Min(split->query_size, Max(1, member->n - 1));
	return member->n - n_query;
}

LmTask
lm_member_episode(const LmArch *arch, const LmMember *member, int query_start,
				  const LmSplit *split)
{
	LmTask		task;
	int			n_query = Min(split->query_size, member->n - query_start);
	int			n_support = Min(split->support_size, query_start);
	int			first = query_start - n_support;

	if (split->query_fraction > 0)
		n_query = member->n - query_start;
	if (split->no_support)
	{
		n_query += n_support;
		n_support = 0;
	}
	task.member = member->member;
	task.support.n = n_support;
	task.support.item = member->items + (size_t) first * arch->item_feature_dim;
	task.support.label = member->labels + first;
	task.support.bucket = member->buckets ? member->buckets + first : NULL;
	task.query.n = n_query;
	task.query.item = member->items + (size_t) (first + n_support) * arch->item_feature_dim;
	task.query.label = member->labels + first + n_support;
	task.query.bucket = member->buckets ? member->buckets + first + n_support : NULL;
	return task;
}

/* ---------------------------------------------------------- reading rows */

static void
rows_init(MemberRows *rows, const LmArch *arch, int keep, bool item_ids, const LmNegatives *neg)
{
	rows->n = 0;
	rows->n_total = 0;
	rows->keep = Max(keep, 1);
	rows->cap = 64;
	rows->items = palloc(sizeof(float) * rows->cap * arch->item_feature_dim);
	rows->labels = palloc(sizeof(float) * rows->cap);
	rows->buckets = palloc(sizeof(int32) * rows->cap);
	rows->item_ids = item_ids ? palloc(sizeof(int64) * rows->cap) : NULL;
	rows->member = palloc0(sizeof(float) * (arch->member_dim + 1));
	rows->neg = neg;
	rows->reserved = 0;
}

/* bytes of one kept row */
static size_t
row_bytes(const MemberRows *rows, const LmArch *arch)
{
	return sizeof(float) * (arch->item_feature_dim + 1) + sizeof(int32) +
		(rows->item_ids ? sizeof(int64) : 0);
}

/* a member's rows grow while they stream in: checked before each doubling */
static void
check_rows_fit(const MemberRows *rows, const LmArch *arch, int64 cap)
{
	/* the member being read and the one handed out may both grow this far */
	double		bytes = rows->reserved + 2.0 * cap * row_bytes(rows, arch);

	if (bytes > (double) lm_work_mem_bytes())
		lm_check_work_mem(bytes, psprintf("reading the rows of member " INT64_FORMAT, rows->member_id),
						  "Members with fewer rows need less (training keeps only each member's newest "
						  "support_size + query_size rows with episodes => 1 and random_splits => false)");
}

static void
append_row(MemberRows *rows, const LmArch *arch, const float *item, float label, int32 bucket,
		   int64 item_id)
{
	size_t		p = arch->item_feature_dim;

	/* drop the oldest rows in bulk once twice the kept count has piled up */
	if (rows->n >= rows->keep * 2L)
	{
		int			drop = rows->n - rows->keep;

		memmove(rows->items, rows->items + (size_t) drop * p, sizeof(float) * rows->keep * p);
		memmove(rows->labels, rows->labels + drop, sizeof(float) * rows->keep);
		memmove(rows->buckets, rows->buckets + drop, sizeof(int32) * rows->keep);
		if (rows->item_ids)
			memmove(rows->item_ids, rows->item_ids + drop, sizeof(int64) * rows->keep);
		rows->n = rows->keep;
	}
	if (rows->n == rows->cap)
	{
		check_rows_fit(rows, arch, rows->cap * 2L);
		rows->cap *= 2;
		rows->items = repalloc_huge(rows->items, sizeof(float) * rows->cap * p);
		rows->labels = repalloc_huge(rows->labels, sizeof(float) * rows->cap);
		rows->buckets = repalloc_huge(rows->buckets, sizeof(int32) * rows->cap);
		if (rows->item_ids)
			rows->item_ids = repalloc_huge(rows->item_ids, sizeof(int64) * rows->cap);
	}
	if (rows->item_ids)
		rows->item_ids[rows->n] = item_id;
	memcpy(rows->items + (size_t) rows->n * p, item, sizeof(float) * p);
	rows->buckets[rows->n] = bucket;
	rows->labels[rows->n++] = label;
	rows->n_total++;
}

/* the negatives of a positive row, each appended as a row */
static void
append_negatives(MemberRows *rows, const LmArch *arch, int64 item_id, int64 ts)
{
	const LmNegatives *neg = rows->neg;
	float	   *items = palloc(sizeof(float) * neg->n * arch->item_feature_dim);
	float	   *labels = palloc(sizeof(float) * neg->n);
	int32	   *buckets = palloc(sizeof(int32) * neg->n);
	int64	   *ids = palloc(sizeof(int64) * neg->n);

	lm_negative_rows(neg, arch, item_id, ts, items, labels, buckets, ids);
	for (int j = 0; j < neg->n; j++)
		append_row(rows, arch, items + (size_t) j * arch->item_feature_dim, labels[j],
				   buckets[j], ids[j]);
	pfree(items);
	pfree(labels);
	pfree(buckets);
	pfree(ids);
}

static void
null_error(const char *column, int64 member_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("%s must not be NULL (member " INT64_FORMAT ")", column, member_id)));
}

/* checks one source row and appends it to the member being read */
static void
read_row(HeapTuple tuple, TupleDesc desc, const LmArch *arch, MemberRows *rows)
{
	bool		isnull;
	Datum		d;
	int			dim;
	const float *v;
	float		label;
	int32		bucket = 0;
	int64		item_id = LM_NULL_ITEM_ID;
	int64		ts = 0;

	d = SPI_getbinval(tuple, desc, 2, &isnull);
	if (arch->member_dim > 0 && isnull)
		null_error("member_features", rows->member_id);
	if (!isnull)
	{
		v = lm_array_floats(DatumGetArrayTypeP(d), "member_features", arch->member_dim, &dim);
		memcpy(rows->member, v, sizeof(float) * dim);
	}
	d = SPI_getbinval(tuple, desc, 3, &isnull);
	if (isnull)
		null_error("item_features", rows->member_id);
	v = lm_array_floats(DatumGetArrayTypeP(d), "item_features", arch->item_feature_dim, &dim);
	d = SPI_getbinval(tuple, desc, 4, &isnull);
	if (isnull)
		null_error("label", rows->member_id);
	label = DatumGetFloat4(d);
	lm_check_label(label, arch->loss);
	if (arch->item_buckets || rows->item_ids || rows->neg)
	{
		d = SPI_getbinval(tuple, desc, 5, &isnull);
		if (!isnull)
			item_id = DatumGetInt64(d);
	}
	if (arch->item_buckets)
		/* an unknown (NULL) item id reads the unknown item's row */
		bucket = isnull ? arch->item_buckets : lm_item_bucket(arch, item_id);
	append_row(rows, arch, v, label, bucket, item_id);
	if (rows->neg && label > 0)
	{
		d = SPI_getbinval(tuple, desc, 6, &isnull);
		if (isnull)
			null_error("ts", rows->member_id);
		ts = DatumGetTimestampTz(d);
		append_negatives(rows, arch, item_id, ts);
	}
}

/* ------------------------------------------------------------- streaming */

static LmMemberStream *
stream_open(const LmModel *model, Oid source, bool shuffled, int64 order_seed, int keep_rows,
			bool item_ids)
{
	LmMemberStream *stream = palloc0(sizeof(LmMemberStream));
	const char *rel;
	const char *item_col;
	const char *order;
	const char *select;
	LmSourceSql sql;
	SPIPlanPtr	plan;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(order_seed)};
	const LmNegatives *neg = lm_model_negatives(model);

	lm_model_check_source(model, source);
	if (model->arch.item_buckets || item_ids || neg)
		lm_check_item_id(source);
	rel = lm_model_relation_sql(model, source, LM_SOURCE);
	lm_source_sql(source, &sql);
	/* negatives key on the positive's item_id and ts */
	item_col = neg ? psprintf(", %s, %s", sql.item_id, sql.ts) :
		model->arch.item_buckets || item_ids ? psprintf(", %s", sql.item_id) : "";
	stream->model = model;
	rows_init(&stream->rows, &model->arch, keep_rows, item_ids, neg);
	rows_init(&stream->ready, &model->arch, keep_rows, item_ids, neg);
	/*
	 * With item ids read (the baselines) they break ties too, so the baselines'
	 * split is deterministic; rows tied on everything else are the same rows to
	 * a model without item ids, so its figures do not change.
	 */
	order = lm_row_order_sql(model->arch.item_buckets > 0 || item_ids || neg, false);
	select = psprintf("SELECT %s, %s, %s, %s%s FROM %s src", sql.member_id, sql.member_features,
					  sql.item_features, sql.label, item_col, rel);
	plan = SPI_prepare(shuffled ?
					   psprintf("%s ORDER BY hashint8extended(src.member_id, $1), src.member_id, %s",
								select, order) :
					   psprintf("%s ORDER BY src.member_id, %s", select, order),
					   shuffled ? 1 : 0, argtypes);
	if (!plan)
		elog(ERROR, "limaml: could not plan the source query");
	/* the model's own source with its owner's rights; a source the caller passes, the caller's */
	stream->reader = source == model->source ? lm_model_reader(model) : InvalidOid;
	stream->portal = lm_cursor_open_as(stream->reader, plan, shuffled ? args : NULL, true);
	lm_cursor_fetch_as(stream->reader, stream->portal, FETCH_ROWS);
	stream->fetched = SPI_tuptable;
	stream->n_fetched = SPI_processed;
	stream->done = stream->n_fetched == 0;
	return stream;
}

LmMemberStream *
lm_stream_open(const LmModel *model, Oid source, bool shuffled, int64 order_seed, int keep_rows)
{
	return stream_open(model, source, shuffled, order_seed, keep_rows, false);
}

LmMemberStream *
lm_stream_open_item_ids(const LmModel *model, Oid source, int keep_rows)
{
	return stream_open(model, source, false, 0, keep_rows, true);
}

/* swaps the member just completed into ready, and starts the next one */
static void
hand_out(LmMemberStream *stream)
{
	MemberRows	tmp = stream->ready;

	stream->ready = stream->rows;
	stream->rows = tmp;
	stream->rows.n = 0;
	stream->rows.n_total = 0;
}

bool
lm_stream_next(LmMemberStream *stream, LmMember *member)
{
	const LmArch *arch = &stream->model->arch;
	bool		have = false;

	while (!have && !stream->done)
	{
		HeapTuple	tuple;
		bool		isnull;
		int64		member_id;

		if (stream->next_row >= stream->n_fetched)
		{
			SPI_freetuptable(stream->fetched);
			CHECK_FOR_INTERRUPTS();
			lm_cursor_fetch_as(stream->reader, stream->portal, FETCH_ROWS);
			stream->fetched = SPI_tuptable;
			stream->n_fetched = SPI_processed;
			stream->next_row = 0;
			if (stream->n_fetched == 0)
			{
				stream->done = true;
				break;
			}
		}
		tuple = stream->fetched->vals[stream->next_row];
		member_id = DatumGetInt64(SPI_getbinval(tuple, stream->fetched->tupdesc, 1, &isnull));
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("member_id must not be NULL in the source")));
		if (stream->rows.n_total > 0 && member_id != stream->rows.member_id)
		{
			hand_out(stream);
			have = true;
			/* the row stays for the next member */
			continue;
		}
		stream->rows.member_id = member_id;
		read_row(tuple, stream->fetched->tupdesc, arch, &stream->rows);
		stream->next_row++;
	}
	if (!have && stream->done && stream->rows.n_total > 0)
	{
		hand_out(stream);
		have = true;
	}
	if (!have)
		return false;

	member->member_id = stream->ready.member_id;
	member->n_total = stream->ready.n_total;
	member->n = Min(stream->ready.n, stream->ready.keep);
	member->member = stream->ready.member;
	member->items = stream->ready.items + (size_t) (stream->ready.n - member->n) * arch->item_feature_dim;
	member->labels = stream->ready.labels + (stream->ready.n - member->n);
	member->buckets = arch->item_buckets ? stream->ready.buckets + (stream->ready.n - member->n) : NULL;
	member->item_ids = stream->ready.item_ids ? stream->ready.item_ids + (stream->ready.n - member->n) : NULL;
	return true;
}

void
lm_stream_reserve(LmMemberStream *stream, double reserved)
{
	stream->rows.reserved = stream->ready.reserved = reserved;
}

void
lm_stream_close(LmMemberStream *stream)
{
	SPI_cursor_close(stream->portal);
}

/* ------------------------------------------------------------- in memory */

static void
set_add(LmMemberSet *set, const LmArch *arch, const LmMember *m)
{
	size_t		p = arch->item_feature_dim;

	if (set->n_members == set->cap_members)
	{
		set->cap_members *= 2;
		set->member_id = repalloc_huge(set->member_id, sizeof(int64) * set->cap_members);
		set->n_total = repalloc_huge(set->n_total, sizeof(int64) * set->cap_members);
		set->row_off = repalloc_huge(set->row_off, sizeof(int64) * set->cap_members);
		set->n_rows = repalloc_huge(set->n_rows, sizeof(int) * set->cap_members);
		set->member = repalloc_huge(set->member, sizeof(float) * set->cap_members * (arch->member_dim + 1));
	}
	while (set->n_rows_total + m->n > set->cap_rows)
	{
		set->cap_rows *= 2;
		set->items = repalloc_huge(set->items, sizeof(float) * set->cap_rows * p);
		set->labels = repalloc_huge(set->labels, sizeof(float) * set->cap_rows);
		set->buckets = repalloc_huge(set->buckets, sizeof(int32) * set->cap_rows);
	}
	set->member_id[set->n_members] = m->member_id;
	set->n_total[set->n_members] = m->n_total;
	set->row_off[set->n_members] = set->n_rows_total;
	set->n_rows[set->n_members] = m->n;
	memcpy(set->member + (size_t) set->n_members * arch->member_dim, m->member,
		   sizeof(float) * arch->member_dim);
	memcpy(set->items + set->n_rows_total * p, m->items, sizeof(float) * m->n * p);
	memcpy(set->labels + set->n_rows_total, m->labels, sizeof(float) * m->n);
	if (m->buckets)
		memcpy(set->buckets + set->n_rows_total, m->buckets, sizeof(int32) * m->n);
	set->n_rows_total += m->n;
	set->max_rows = Max(set->max_rows, m->n);
	set->n_members++;
}

static size_t
set_bytes(const LmMemberSet *set, const LmArch *arch)
{
	return (size_t) set->cap_rows * ((arch->item_feature_dim + 1) * sizeof(float) + sizeof(int32)) +
		(size_t) set->cap_members * (3 * sizeof(int64) + sizeof(int) +
									 (arch->member_dim + 1) * sizeof(float));
}

LmMemberSet *
lm_member_set_load(const LmModel *model, Oid source, int keep_rows, size_t budget,
				   double reserved)
{
	const LmArch *arch = &model->arch;
	MemoryContext set_cxt = AllocSetContextCreate(CurrentMemoryContext, "limaml members",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(set_cxt);
	LmMemberSet *set = palloc0(sizeof(LmMemberSet));
	LmMemberStream *stream;
	LmMember	m;
	bool		fits = true;

	set->cap_members = 1024;
	set->member_id = palloc(sizeof(int64) * set->cap_members);
	set->n_total = palloc(sizeof(int64) * set->cap_members);
	set->row_off = palloc(sizeof(int64) * set->cap_members);
	set->n_rows = palloc(sizeof(int) * set->cap_members);
	set->member = palloc(sizeof(float) * set->cap_members * (arch->member_dim + 1));
	set->cap_rows = 16384;
	set->items = palloc(sizeof(float) * set->cap_rows * arch->item_feature_dim);
	set->labels = palloc(sizeof(float) * set->cap_rows);
	set->buckets = palloc(sizeof(int32) * set->cap_rows);

	stream = lm_stream_open(model, source, false, 0, keep_rows);
	lm_stream_reserve(stream, reserved + budget);
	while (lm_stream_next(stream, &m))
	{
		set_add(set, arch, &m);
		if (set_bytes(set, arch) > budget)
		{
			fits = false;
			break;
		}
	}
	lm_stream_close(stream);
	MemoryContextSwitchTo(old);
	if (!fits)
	{
		MemoryContextDelete(set_cxt);
		return NULL;
	}
	return set;
}

LmMember
lm_member_set_get(const LmMemberSet *set, const LmArch *arch, int i)
{
	LmMember	m;

	m.member_id = set->member_id[i];
	m.n_total = set->n_total[i];
	m.n = set->n_rows[i];
	m.member = set->member + (size_t) i * arch->member_dim;
	m.items = set->items + set->row_off[i] * arch->item_feature_dim;
	m.labels = set->labels + set->row_off[i];
	m.buckets = arch->item_buckets ? set->buckets + set->row_off[i] : NULL;
	m.item_ids = NULL;
	return m;
}
