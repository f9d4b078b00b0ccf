/*
 * metrics.c - ROC AUC by rank sums.
 */
#include "metrics.h"

#include <stdlib.h>

#include "lm_real.h"

typedef struct ScoredLabel
{
	double		score;
	int			positive;
} ScoredLabel;

static int
cmp_score(const void *a, const void *b)
{
	double		x = ((const ScoredLabel *) a)->score;
	double		y = ((const ScoredLabel *) b)->score;

	return (x > y) - (x < y);
}

double
lm_auc(const double *score, const double *label, int n)
{
	ScoredLabel *rows;
	double		rank_sum = 0;
	long		n_pos = 0;

	if (n <= 0)
		return -1;
	rows = lm_alloc(sizeof(ScoredLabel) * n);
	for (int i = 0; i < n; i++)
	{
		rows[i].score = score[i];
		rows[i].positive = label[i] >= 0.5;
		n_pos += rows[i].positive;
	}
	if (n_pos == 0 || n_pos == n)
	{
		lm_free(rows);
		return -1;
	}
	qsort(rows, n, sizeof(ScoredLabel), cmp_score);
	for (int i = 0; i < n;)
	{
		int			j = i;
		long		pos_in_tie = 0;

		while (j < n && rows[j].score == rows[i].score)
			pos_in_tie += rows[j++].positive;
		/* ranks i+1 .. j share their mean */
		rank_sum += pos_in_tie * (i + 1 + j) / 2.0;
		i = j;
	}
	lm_free(rows);
	return (rank_sum - n_pos * (n_pos + 1) / 2.0) / ((double) n_pos * (n - n_pos));
}
