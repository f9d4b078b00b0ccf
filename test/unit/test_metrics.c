/*
 * test_metrics.c - NDCG@k and the concordance (src/core/metrics.c) against
 * hand-computed cases and a brute-force count.
 */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "metrics.h"

static void
test_ndcg(void)
{
	/*
	 * scores rank the rows b, c, a, d (gains 1, 0, 3, 2); the ideal order is
	 * 3, 2, 1, 0.  DCG@3 = 1/log2(2) + 0 + 3/log2(4) = 2.5;
	 * IDCG@3 = 3 + 2/log2(3) + 1/2; so NDCG@3 = 2.5 / (3.5 + 2/log2(3)).
	 */
	double		score[4] = {0.3, 0.9, 0.5, 0.1},
				label[4] = {3, 1, 0, 2};
	double		want3 = 2.5 / (3.5 + 2 / log2(3));

	/* all four: DCG adds 2/log2(5), IDCG adds 0 */
	double		want4 = (2.5 + 2 / log2(5)) / (3.5 + 2 / log2(3));

	/* a tie of the two top rows (gains 1, 0) shares 1/2 at ranks 0 and 1 */
	double		tie_score[3] = {0.7, 0.7, 0.2},
				tie_label[3] = {1, 0, 0};
	double		tie_want = (0.5 + 0.5 / log2(3)) / 1;
	double		flat[4] = {1, 1, 1, 1};
	double		none[4] = {0, 0, -1, 0};
	double		bin[4] = {0, 1, 0, 1};

	CHECK_CLOSE(lm_ndcg(score, label, 4, 3), want3, 0, 1e-15, "ndcg@3 hand case");
	CHECK_CLOSE(lm_ndcg(score, label, 4, 10), want4, 0, 1e-15, "ndcg@10 of 4 rows = ndcg@4");
	CHECK_CLOSE(lm_ndcg(score, label, 4, 4), want4, 0, 1e-15, "ndcg@4 hand case");
	CHECK_CLOSE(lm_ndcg(tie_score, tie_label, 3, 10), tie_want, 0, 1e-15,
				"ndcg: tied scores share their mean gain");
	CHECK_CLOSE(lm_ndcg(flat, bin, 4, 1), 0.5, 0, 1e-15, "ndcg@1 of a constant score = positive rate");
	CHECK(lm_ndcg(label, label, 4, 10) == 1, "ndcg of the ideal order = 1");
	CHECK(lm_ndcg(score, none, 4, 10) == -1, "ndcg without positive labels = -1");
	CHECK(lm_ndcg(score, label, 0, 10) == -1, "ndcg of nothing = -1");
	CHECK(lm_ndcg(score, label, 4, 0) == -1, "ndcg@0 = -1");
}

/* every pair by brute force: the definition lm_concordance computes in O(n log n) */
static double
concordance_by_pairs(const double *score, const double *label, int n)
{
	double		agree = 0,
				pairs = 0;

	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (label[i] != label[j])
			{
				double		ds = (score[i] - score[j]) * (label[i] - label[j]);

				pairs++;
				agree += ds > 0 ? 1 : ds == 0 ? 0.5 : 0;
			}
	return pairs ? agree / pairs : -1;
}

static void
test_concordance(void)
{
	/*
	 * ratings 5, 3, 3, 1 scored 0.9, 0.4, 0.6, 0.5: the 5 pairs with different
	 * labels are (5,3) twice, (5,1), (3,1) twice; all agree but (3 scored 0.4, 1
	 * scored 0.5): C = 4 / 5
	 */
	double		score[4] = {0.9, 0.4, 0.6, 0.5},
				rating[4] = {5, 3, 3, 1};
	double		flat[4] = {1, 1, 1, 1};
	double		bin[6] = {1, 0, 1, 0, 0, 1},
				bin_score[6] = {0.8, 0.2, 0.5, 0.5, 0.9, 0.1};
	unsigned int seed = 7;

	CHECK_CLOSE(lm_concordance(score, rating, 4), 0.8, 0, 1e-15, "concordance hand case");
	CHECK(lm_concordance(rating, rating, 4) == 1, "concordance of the labels themselves = 1");
	CHECK(lm_concordance(flat, rating, 4) == 0.5, "concordance of a constant score = 1/2");
	CHECK(lm_concordance(score, flat, 4) == -1, "concordance of equal labels = -1");
	CHECK(lm_concordance(score, rating, 0) == -1, "concordance of nothing = -1");
	CHECK_CLOSE(lm_concordance(bin_score, bin, 6), lm_auc(bin_score, bin, 6), 0, 1e-15,
				"concordance of 0/1 labels = AUC (with a tie)");
	/* random grades and scores with many ties against the pair count */
	for (int trial = 0; trial < 50; trial++)
	{
		double		s[60],
					y[60];
		int			n = 2 + rand_r(&seed) % 59;

		for (int i = 0; i < n; i++)
		{
			s[i] = rand_r(&seed) % 7;
			y[i] = rand_r(&seed) % 5;
		}
		CHECK_CLOSE(lm_concordance(s, y, n), concordance_by_pairs(s, y, n), 0, 1e-12,
					"concordance = the pair count (n %d)", n);
	}
}

int
main(void)
{
	test_ndcg();
	test_concordance();
	return check_done();
}
