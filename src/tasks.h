/*
 * tasks.h - members' interactions as MAML tasks, read from a source
 * relation in (member_id, ts) order and split by time.
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
	bool		no_support;		/* conventional training: every kept row is a query row */
} LmSplit;

/* every member's kept rows; rows of task t start at row_off[t], support first */
typedef struct TaskSet
{
	int			n_tasks;
	int			cap_tasks;
	int64	   *member_id;
	int64	   *row_off;
	int		   *n_support;
	int		   *n_query;
	int64	   *n_total;		/* the member's rows in the source */
	float	   *member;			/* [cap_tasks][member_dim] */
	int64		n_rows;
	int64		cap_rows;
	float	   *items;			/* [cap_rows][item_dim] */
	float	   *labels;			/* [cap_rows] */
	int			max_task_rows;
} TaskSet;

/* the split limaml_train uses for a model */
LmSplit		lm_training_split(const LmModel *model);

/* reads source (a model's, or any relation of the same columns) into tasks */
void		lm_load_tasks(TaskSet *set, const LmModel *model, Oid source, const LmSplit *split);

LmTask		lm_task(const TaskSet *set, const LmArch *arch, int t);

/* true when the member goes to validation: a seeded hash of member_id */
bool		lm_is_validation_member(int64 member_id, int64 seed, double fraction);

#endif
