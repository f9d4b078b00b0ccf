/*
 * tasks.c - reading interactions into per-member tasks (see tasks.h).
 *
 * Rows arrive ordered by (member_id, ts); a member's rows are buffered
 * until the next member starts, then the newest become the query set and
 * up to support_size before them the support set.  Every row is checked.
 */
#include "tasks.h"

#include <math.h>

#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#define FETCH_ROWS 10000

/* one member's rows while reading, oldest first */
typedef struct MemberRows
{
	int64		member_id;
	int			n;
	int			cap;
	float	   *items;
	float	   *labels;
	float	   *member;
} MemberRows;

LmSplit
lm_training_split(const LmModel *model)
{
	LmSplit		split = {0};

	split.support_size = model->config.support_size;
	split.query_size = model->config.query_size;
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

static void
append_row(MemberRows *rows, const LmArch *arch, const float *item, float label)
{
	if (rows->n == rows->cap)
	{
		rows->cap *= 2;
		rows->items = repalloc_huge(rows->items, sizeof(float) * rows->cap * arch->item_dim);
		rows->labels = repalloc_huge(rows->labels, sizeof(float) * rows->cap);
	}
	memcpy(rows->items + (size_t) rows->n * arch->item_dim, item, sizeof(float) * arch->item_dim);
	rows->labels[rows->n++] = label;
}

/* closes a member: newest rows become its query set, those before its support set */
static void
finish_member(TaskSet *set, MemberRows *rows, const LmArch *arch, const LmSplit *split)
{
	int			n_query,
				n_support,
				first;

	if (rows->n == 0)
		return;
	if (split->query_fraction > 0)
		n_query = Min(rows->n, (int) ceil(split->query_fraction * rows->n - 1e-6));	/* float4 fractions */
	else
		n_query = Min(split->query_size, Max(1, rows->n - 1));
	n_support = Min(split->support_size, rows->n - n_query);
	if (split->no_support)
	{
		n_query += n_support;
		n_support = 0;
	}
	first = rows->n - n_query - n_support;

	if (set->n_tasks == set->cap_tasks)
	{
		set->cap_tasks *= 2;
		set->member_id = repalloc_huge(set->member_id, sizeof(int64) * set->cap_tasks);
		set->row_off = repalloc_huge(set->row_off, sizeof(int64) * set->cap_tasks);
		set->n_support = repalloc_huge(set->n_support, sizeof(int) * set->cap_tasks);
		set->n_query = repalloc_huge(set->n_query, sizeof(int) * set->cap_tasks);
		set->n_total = repalloc_huge(set->n_total, sizeof(int64) * set->cap_tasks);
		set->member = repalloc_huge(set->member, sizeof(float) * set->cap_tasks * (arch->member_dim + 1));
	}
	while (set->n_rows + n_support + n_query > set->cap_rows)
	{
		set->cap_rows *= 2;
		set->items = repalloc_huge(set->items, sizeof(float) * set->cap_rows * arch->item_dim);
		set->labels = repalloc_huge(set->labels, sizeof(float) * set->cap_rows);
	}
	set->member_id[set->n_tasks] = rows->member_id;
	set->row_off[set->n_tasks] = set->n_rows;
	set->n_support[set->n_tasks] = n_support;
	set->n_query[set->n_tasks] = n_query;
	set->n_total[set->n_tasks] = rows->n;
	memcpy(set->member + (size_t) set->n_tasks * arch->member_dim, rows->member,
		   sizeof(float) * arch->member_dim);
	memcpy(set->items + set->n_rows * arch->item_dim, rows->items + (size_t) first * arch->item_dim,
		   sizeof(float) * (size_t) (n_support + n_query) * arch->item_dim);
	memcpy(set->labels + set->n_rows, rows->labels + first, sizeof(float) * (n_support + n_query));
	set->n_rows += n_support + n_query;
	set->max_task_rows = Max(set->max_task_rows, Max(n_support, n_query));
	set->n_tasks++;
	rows->n = 0;
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
	v = lm_array_floats(DatumGetArrayTypeP(d), "item_features", arch->item_dim, &dim);
	d = SPI_getbinval(tuple, desc, 4, &isnull);
	if (isnull)
		null_error("label", rows->member_id);
	label = DatumGetFloat4(d);
	lm_check_label(label, arch->loss);
	append_row(rows, arch, v, label);
}

void
lm_load_tasks(TaskSet *set, const LmModel *model, Oid source, const LmSplit *split)
{
	const LmArch *arch = &model->arch;
	MemberRows	rows = {0};
	Portal		portal;
	SPIPlanPtr	plan;

	memset(set, 0, sizeof(*set));
	set->cap_tasks = 1024;
	set->member_id = palloc(sizeof(int64) * set->cap_tasks);
	set->row_off = palloc(sizeof(int64) * set->cap_tasks);
	set->n_support = palloc(sizeof(int) * set->cap_tasks);
	set->n_query = palloc(sizeof(int) * set->cap_tasks);
	set->n_total = palloc(sizeof(int64) * set->cap_tasks);
	set->member = palloc(sizeof(float) * set->cap_tasks * (arch->member_dim + 1));
	set->cap_rows = 16384;
	set->items = palloc(sizeof(float) * set->cap_rows * arch->item_dim);
	set->labels = palloc(sizeof(float) * set->cap_rows);
	rows.cap = 64;
	rows.items = palloc(sizeof(float) * rows.cap * arch->item_dim);
	rows.labels = palloc(sizeof(float) * rows.cap);
	rows.member = palloc0(sizeof(float) * (arch->member_dim + 1));

	lm_check_source(source, InvalidOid);
	plan = SPI_prepare(psprintf("SELECT member_id, member_features, item_features, label "
								"FROM %s ORDER BY member_id, ts",
								lm_relation_sql(source)), 0, NULL);
	if (!plan)
		elog(ERROR, "limaml: could not plan the source query");
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];
			bool		isnull;
			Datum		d = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull);
			int64		member_id;

			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("member_id must not be NULL in source \"%s\"",
								lm_relation_sql(source))));
			member_id = DatumGetInt64(d);
			if (rows.n > 0 && member_id != rows.member_id)
				finish_member(set, &rows, arch, split);
			rows.member_id = member_id;
			read_row(tuple, SPI_tuptable->tupdesc, arch, &rows);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	finish_member(set, &rows, arch, split);
	SPI_cursor_close(portal);
}

LmTask
lm_task(const TaskSet *set, const LmArch *arch, int t)
{
	LmTask		task;
	int64		off = set->row_off[t];

	task.member = set->member + (size_t) t * arch->member_dim;
	task.support.n = set->n_support[t];
	task.support.item = set->items + off * arch->item_dim;
	task.support.label = set->labels + off;
	task.query.n = set->n_query[t];
	task.query.item = set->items + (off + set->n_support[t]) * arch->item_dim;
	task.query.label = set->labels + off + set->n_support[t];
	return task;
}
