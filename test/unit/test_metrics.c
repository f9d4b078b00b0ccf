/*
 * test_metrics.c - NDCG@k (src/core/metrics.c) against hand-computed cases.
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

int
main(void)
{
	test_ndcg();
	return check_done();
}
