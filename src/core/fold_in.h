/*
 * fold_in.h - choosing the fold-in term's a (wide.h) on held-out members.
 *
 * Trained through the loss over sampled negatives, a stays near 0: most
 * sampled negatives are easy, and the term helps where the catalogue's
 * popular items compete (measured on MovieLens read as watched events).
 * So a is chosen after training, as patience chooses the epoch: for each
 * validation member the model adapts on its support rows with a = 0, scores
 * the catalogue, and for every a of a grid asks whether a query positive
 * reaches the top k of base + a · (f_i · h), the member's support positives
 * left out.  The a with the most hits wins (ties: the smaller a).
 */
#ifndef LM_FOLD_IN_H
#define LM_FOLD_IN_H

#include "maml.h"

/* the grid of a, ascending from 0 */
#define LM_FOLD_IN_GRID 10
extern const double lm_fold_in_grid[LM_FOLD_IN_GRID];

/* the items to rank: features[n][item_feature_dim] and their buckets */
typedef struct LmCatalogue
{
	int			n;
	const lm_real *features;
	const int32_t *bucket;
} LmCatalogue;

/* lm_real scratch lm_fold_in_hits needs */
size_t		lm_fold_in_scratch_len(const LmArch *arch, int n_items);

/*
 * hits[g] += 1 when a query positive (label > 0) of task is in the top k of
 * the catalogue at a = lm_fold_in_grid[g]; returns 1 when the member counts
 * (it adapts and has a query positive), else 0 and hits unchanged.  params
 * is read with its a taken as 0; work holds at least the support rows and
 * 1 row (scored in chunks of its size).
 */
int			lm_fold_in_hits(const LmArch *arch, const lm_real *params, const LmTask *task,
							int steps, double lr, const LmCatalogue *catalogue, int k,
							LmWork *work, int max_rows, lm_real *scratch, long *hits);

#endif
