/*
 * metrics.c - ROC AUC by rank sums, NDCG@k with tie-averaged gains.
 */
#include "metrics.h"

#include <math.h>
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

typedef struct ScoredGrade
{
	double		score;
	double		label;
	int			grade;			/* the label's rank among the distinct labels */
} ScoredGrade;

static int
cmp_grade_label(const void *a, const void *b)
{
	double		x = ((const ScoredGrade *) a)->label;
	double		y = ((const ScoredGrade *) b)->label;

	return (x > y) - (x < y);
}

static int
cmp_grade_score(const void *a, const void *b)
{
	double		x = ((const ScoredGrade *) a)->score;
	double		y = ((const ScoredGrade *) b)->score;

	return (x > y) - (x < y);
}

double
lm_concordance(const double *score, const double *label, int n)
{
	ScoredGrade *rows;
	long	   *tree;			/* Fenwick tree: rows seen per grade */
	int			grades = 0;
	double		same_label = 0,
				concordant = 0,
				tied = 0,
				comparable;

	if (n <= 0)
		return -1;
	rows = lm_alloc(sizeof(ScoredGrade) * n);
	for (int i = 0; i < n; i++)
	{
		rows[i].score = score[i];
		rows[i].label = label[i];
	}
	/* grades, and the pairs with equal labels */
	qsort(rows, n, sizeof(ScoredGrade), cmp_grade_label);
	for (int i = 0; i < n;)
	{
		int			j = i;

		while (j < n && rows[j].label == rows[i].label)
			rows[j++].grade = grades;
		same_label += (double) (j - i) * (j - i - 1) / 2;
		grades++;
		i = j;
	}
	comparable = (double) n * (n - 1) / 2 - same_label;
	if (comparable <= 0)
	{
		lm_free(rows);
		return -1;
	}
	tree = lm_alloc(sizeof(long) * (grades + 1));
	for (int g = 0; g <= grades; g++)
		tree[g] = 0;
	/* by ascending score: a row outranks every earlier row of a lower grade */
	qsort(rows, n, sizeof(ScoredGrade), cmp_grade_score);
	for (int i = 0; i < n;)
	{
		int			j = i;
		double		tie_same = 0;

		while (j < n && rows[j].score == rows[i].score)
			j++;
		for (int k = i; k < j; k++)
		{
			long		below = 0;

			for (int g = rows[k].grade; g > 0; g -= g & -g)
				below += tree[g];
			concordant += below;
		}
		/* pairs inside the tie with different labels count one half */
		qsort(rows + i, j - i, sizeof(ScoredGrade), cmp_grade_label);
		for (int k = i; k < j;)
		{
			int			m = k;

			while (m < j && rows[m].label == rows[k].label)
				m++;
			tie_same += (double) (m - k) * (m - k - 1) / 2;
			k = m;
		}
		tied += (double) (j - i) * (j - i - 1) / 2 - tie_same;
		for (int k = i; k < j; k++)
			for (int g = rows[k].grade + 1; g <= grades; g += g & -g)
				tree[g]++;
		i = j;
	}
	lm_free(tree);
	lm_free(rows);
	return (concordant + tied / 2) / comparable;
}

typedef struct ScoredGain
{
	double		score;
	double		gain;
} ScoredGain;

static int
cmp_score_desc(const void *a, const void *b)
{
	double		x = ((const ScoredGain *) a)->score;
	double		y = ((const ScoredGain *) b)->score;

	return (x < y) - (x > y);
}

static int
cmp_double_desc(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x < y) - (x > y);
}

static double
discount(int rank)
{
	return 1.0 / log2(rank + 2.0);	/* rank 0 is the top */
}

double
lm_ndcg(const double *score, const double *label, int n, int k)
{
	ScoredGain *rows;
	double	   *ideal;
	double		dcg = 0,
				idcg = 0;
	int			top;

	if (n <= 0 || k <= 0)
		return -1;
	top = n < k ? n : k;
	rows = lm_alloc(sizeof(ScoredGain) * n);
	ideal = lm_alloc(sizeof(double) * n);
	for (int i = 0; i < n; i++)
	{
		rows[i].score = score[i];
		rows[i].gain = ideal[i] = label[i] > 0 ? label[i] : 0;
	}
	qsort(ideal, n, sizeof(double), cmp_double_desc);
	for (int r = 0; r < top; r++)
		idcg += ideal[r] * discount(r);
	if (idcg <= 0)
	{
		lm_free(rows);
		lm_free(ideal);
		return -1;
	}
	qsort(rows, n, sizeof(ScoredGain), cmp_score_desc);
	for (int i = 0; i < top;)
	{
		int			j = i;
		double		gain_sum = 0;

		while (j < n && rows[j].score == rows[i].score)
			gain_sum += rows[j++].gain;
		/* the tie occupies ranks i .. j-1, each with the mean gain */
		for (int r = i; r < j && r < top; r++)
			dcg += gain_sum / (j - i) * discount(r);
		i = j;
	}
	lm_free(rows);
	lm_free(ideal);
	return dcg / idcg;
}
