/*
 * fold_in.c - choosing the fold-in term's a (see fold_in.h).
 */
#include "fold_in.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "wide.h"

const double lm_fold_in_grid[LM_FOLD_IN_GRID] = {
	0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5
};

size_t
lm_fold_in_scratch_len(const LmArch *arch, int n_items)
{
	/* base, term, the query flag and the served score per item, the embedding, h */
	return 4 * (size_t) n_items + lm_embedding_len(arch) + arch->wide_rank;
}

static int
compare_bucket(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a,
				y = *(const int32_t *) b;

	return (x > y) - (x < y);
}

/* the buckets of rows' positives, sorted, into out; returns their count */
static int
positive_buckets(const LmRows *rows, int32_t *out)
{
	int			n = 0;

	for (int r = 0; r < rows->n; r++)
		if (rows->label[r] > 0)
			out[n++] = rows->bucket[r];
	qsort(out, n, sizeof(int32_t), compare_bucket);
	return n;
}

static int
bucket_in(int32_t bucket, const int32_t *sorted, int n)
{
	return n > 0 && bsearch(&bucket, sorted, n, sizeof(int32_t), compare_bucket) != NULL;
}

/*
 * Whether a query positive is among the k best of the served scores of
 * base + a · term (ties: the lower index); score[n] is scratch.  Served,
 * not logits: an a that saturates σ into ties loses here as it would in
 * ORDER BY limaml_score(…) DESC.
 */
static int
hit_at(LmLoss loss, const lm_real *base, const lm_real *term, const lm_real *query, int n,
	   double a, int k, float *score)
{
	for (int j = 0; j < n; j++)
		score[j] = isinf(base[j]) ? -INFINITY : loss_served(loss, (lm_real) (base[j] + a * term[j]));
	for (int i = 0; i < n; i++)
	{
		int			better = 0;

		if (!query[i] || isinf(score[i]))
			continue;
		for (int j = 0; j < n && better < k; j++)
			better += score[j] > score[i] || (score[j] == score[i] && j < i);
		if (better < k)
			return 1;
	}
	return 0;
}

int
lm_fold_in_hits(const LmArch *arch, const lm_real *params, const LmTask *task,
				int steps, double lr, const LmCatalogue *catalogue, int k,
				LmWork *work, int max_rows, lm_real *scratch, long *hits)
{
	const lm_real *global = params + arch->n_meta_params;
	int			n = catalogue->n;
	int			m = lm_wide_len(arch);
	int			f0 = m - arch->wide_rank;
	lm_real    *base = scratch;
	lm_real    *term = base + n;
	lm_real    *emb = term + n;
	lm_real    *h = emb + lm_embedding_len(arch);
	lm_real    *query = h + arch->wide_rank;
	float	   *score = (float *) (query + n);	/* lm_real is at least a float */
	int32_t    *known,
			   *targets;
	int			n_known,
				n_targets;
	int			any = 0;

	if (steps <= 0 || task->support.n == 0 || task->query.bucket == NULL || task->support.bucket == NULL)
		return 0;
	for (int q = 0; q < task->query.n; q++)
		any |= task->query.label[q] > 0;
	if (!any)
		return 0;
	/* the embedding at a = 0, and h */
	lm_adapt_embedding(arch, params, task->member, &task->support, steps, lr, emb, work);
	memcpy(h, work->wide_h, sizeof(lm_real) * arch->wide_rank);
	lm_axpy(emb + arch->embedding_dim + f0, -global[arch->fold_in_off], h, arch->wide_rank);
	for (int start = 0; start < n; start += max_rows)
	{
		int			len = n - start < max_rows ? n - start : max_rows;
		LmRows		rows = {len, catalogue->features + (size_t) start * arch->item_feature_dim,
		NULL, catalogue->bucket + start};

		lm_predict_rows(arch, params, emb, &rows, work, base + start);
		lm_wide_gather(arch, global, &rows, 1, work->wide_fq, work->wide_bq);
		for (int i = 0; i < len; i++)
			term[start + i] = lm_dot(work->wide_fq + (size_t) i * m + f0, h, arch->wide_rank);
	}
	/* known items leave the ranking; the query positives are the targets */
	known = lm_alloc(sizeof(int32_t) * (task->support.n + task->query.n + 1));
	targets = known + task->support.n;
	n_known = positive_buckets(&task->support, known);
	n_targets = positive_buckets(&task->query, targets);
	for (int i = 0; i < n; i++)
	{
		if (bucket_in(catalogue->bucket[i], known, n_known))
			base[i] = (lm_real) -INFINITY;
		query[i] = bucket_in(catalogue->bucket[i], targets, n_targets);
	}
	lm_free(known);
	for (int g = 0; g < LM_FOLD_IN_GRID; g++)
		hits[g] += hit_at(arch->loss, base, term, query, n, lm_fold_in_grid[g], k, score);
	return 1;
}
