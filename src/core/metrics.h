/*
 * metrics.h - ranking metrics on predictions: AUC and NDCG.
 */
#ifndef LM_METRICS_H
#define LM_METRICS_H

/*
 * ROC AUC of score[n] against label[n] (label >= 0.5 is positive), with
 * ties counted as one half (Mann-Whitney U).  Returns -1 when only one
 * class is present.
 */
double		lm_auc(const double *score, const double *label, int n);

/*
 * Concordance (Harrell's C) of score[n] with graded label[n]: of the pairs
 * of rows whose labels differ, the share the scores order the same way,
 * ties in score counted as one half.  For 0/1 labels it is lm_auc.
 * Returns -1 when all labels are equal.  O(n log n).
 */
double		lm_concordance(const double *score, const double *label, int n);

/*
 * NDCG@k of score[n] against graded relevance label[n] (gain max(label, 0),
 * discount 1 / log2(rank + 1)): DCG@k of the rows ranked by descending
 * score over DCG@k of the ideal order.  Rows with equal scores share
 * their mean gain over the ranks they occupy (the expected DCG over the
 * ties' random orders), so a constant score ranks no better than chance.
 * Returns -1 when n <= 0, k <= 0 or no row has a positive label.
 */
double		lm_ndcg(const double *score, const double *label, int n, int k);

#endif
