/*
 * metrics.h - ranking metrics on predictions.
 */
#ifndef LM_METRICS_H
#define LM_METRICS_H

/*
 * ROC AUC of score[n] against label[n] (label >= 0.5 is positive), with
 * ties counted as one half (Mann-Whitney U).  Returns -1 when only one
 * class is present.
 */
double		lm_auc(const double *score, const double *label, int n);

#endif
