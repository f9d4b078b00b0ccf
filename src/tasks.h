/*
 * tasks.h - members' interactions as MAML tasks.
 *
 * A source relation is read by member_id, or in a seeded pseudo-random
 * member order for training, one member at a time, each member's rows in
 * the shared row order (lm_row_order_sql: ts, then tiebreaks).  Members
 * live either all in memory (LmMemberSet, when they fit the budget) or are
 * streamed anew on every pass (LmMemberStream).  A member's rows are then
 * split by time into a support set and a query set.
 */
#ifndef LIMAML_TASKS_H
#define LIMAML_TASKS_H

#include "limaml.h"
#include "core/maml.h"

/* how a member's rows (oldest first) become support and query sets */
typedef struct LmSplit
{
	int			support_size;	/* at most this many rows before the query set */
	int			query_size;		/* the newest rows form the query set ... */
	double		query_fraction; /* ... or, when > 0, the newest ceil(fraction · n) */
	bool		no_support;		/* conventional training: every row is a query row */
} LmSplit;

/* one member's newest rows, oldest first; pointers valid until the next read */
typedef struct LmMember
{
	int64		member_id;
	int64		n_total;		/* rows the member has in the source */
	int			n;				/* rows kept (the newest) */
	const float *member;		/* [member_dim] from the newest row */
	const float *items;			/* [n][item_dim] */
	const float *labels;		/* [n] */
	const int32 *buckets;		/* [n] item-ID buckets; NULL without item-ID embeddings */
	const int64 *item_ids;		/* [n] the source's item_id (LM_NULL_ITEM_ID for NULL);
								 * NULL unless opened by lm_stream_open_item_ids */
} LmMember;

/* a NULL item_id in LmMember.item_ids (an item_id of that value reads as NULL) */
#define LM_NULL_ITEM_ID PG_INT64_MIN

/* the split limaml_train uses for a model */
LmSplit		lm_training_split(const LmModel *model);

/* the newest split: rows before query_start support the query that starts there */
int			lm_query_start(const LmMember *member, const LmSplit *split);
LmTask		lm_member_episode(const LmArch *arch, const LmMember *member, int query_start,
							  const LmSplit *split);

/* true when the member goes to validation: a seeded hash of member_id */
bool		lm_is_validation_member(int64 member_id, int64 seed, double fraction);

/* ---- streaming: one pass over the source */
typedef struct LmMemberStream LmMemberStream;

/* shuffled: members in hash(member_id, order_seed) order; keep_rows: newest rows kept */
LmMemberStream *lm_stream_open(const LmModel *model, Oid source, bool shuffled,
							   int64 order_seed, int keep_rows);
/* the same in (member_id, ts) order, also reading item_id (the source must have it) */
LmMemberStream *lm_stream_open_item_ids(const LmModel *model, Oid source, int keep_rows);
bool		lm_stream_next(LmMemberStream *stream, LmMember *member);
/*
 * reserved: bytes the call holds besides the stream; a member's rows grow
 * only while the two fit limaml.max_work_mem (54000 beyond)
 */
void		lm_stream_reserve(LmMemberStream *stream, double reserved);
void		lm_stream_close(LmMemberStream *stream);

/* ---- in memory: every member, ordered by member_id */
typedef struct LmMemberSet
{
	int			n_members;
	int			cap_members;
	int64	   *member_id;
	int64	   *n_total;
	int64	   *row_off;
	int		   *n_rows;
	float	   *member;			/* [n_members][member_dim] */
	int64		n_rows_total;
	int64		cap_rows;
	float	   *items;			/* [cap_rows][item_dim] */
	float	   *labels;
	int32	   *buckets;		/* [cap_rows] */
	int			max_rows;		/* most rows of one member */
} LmMemberSet;

/*
 * NULL when the members need more than budget bytes (nothing is kept then);
 * reserved as in lm_stream_reserve, besides the budget
 */
LmMemberSet *lm_member_set_load(const LmModel *model, Oid source, int keep_rows, size_t budget,
								double reserved);
LmMember	lm_member_set_get(const LmMemberSet *set, const LmArch *arch, int i);

#endif
