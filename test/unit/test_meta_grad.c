/*
 * test_meta_grad.c - second-order MAML and Meta-SGD in the double build:
 *   - exact Hessian-vector products (lm_hvp) against central differences
 *     of the analytic gradient;
 *   - the whole function θ → K inner steps on support → query loss,
 *     differentiated by lm_task_meta_grad (order 2, with and without
 *     per-parameter inner rates), against central differences of that
 *     function, for several architectures and both losses;
 *   - order 1 against lm_task_grad_fo;
 *   - a hand-computed case.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "hvp.h"
#include "maml.h"
#include "items.h"
#include "meta_grad.h"
#include "fold_in.h"
#include "wide.h"
#include "check.h"

#ifndef LIMAML_DOUBLE
#error "test_meta_grad needs the double build of the core (-DLIMAML_DOUBLE)"
#endif

#define FD_H 1e-5
#define FD_RTOL 1e-6
#define FD_ATOL 1e-8
#define N_SUPPORT 5
#define N_QUERY 4

static TestRng rng = {0x2ea1ULL};

typedef struct Spec
{
	const char *name;
	int			member_dim,
				item_dim,
				embedding_dim;
	int			n_meta_hidden;
	int			meta_hidden[2];
	int			n_global_hidden;
	int			global_hidden[2];
	int			bilinear;
	int			item_buckets;	/* 0: no item-ID embedding */
	int			item_embedding_dim;
	int			wide;			/* the wide head (needs item buckets) */
	int			wide_rank;
	int			history;		/* the meta block reads the pooled support rows */
	int			wide_features;	/* the wide solve reads the item features too */
	int			learn_lambda;	/* the solve's λ per group is a trained parameter */
	int			fold_in;		/* w_f + a · Σ_s y_s f_s */
} Spec;

static const Spec specs[] = {
	{"vec/g0", 0, 3, 2, 0, {0}, 0, {0}, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"vec/g1", 0, 3, 3, 0, {0}, 1, {5}, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"vec/g2", 0, 2, 2, 0, {0}, 2, {4, 3}, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"mem/m0/g1", 3, 3, 2, 0, {0}, 1, {4}, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"mem/m1/g1", 4, 3, 3, 1, {5}, 1, {4}, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"mem/m2/g2", 3, 4, 3, 2, {4, 3}, 2, {5, 3}, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"mem/m1/g0", 3, 2, 2, 1, {4}, 0, {0}, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"bilinear/vec/g1", 0, 3, 3, 0, {0}, 1, {4}, 1, 0, 0, 0, 0, 0, 0, 0, 0},
	{"bilinear/mem/m1/g2", 3, 4, 3, 1, {4}, 2, {5, 3}, 1, 0, 0, 0, 0, 0, 0, 0, 0},
	{"bilinear/mem/m0/g0", 2, 3, 2, 0, {0}, 0, {0}, 1, 0, 0, 0, 0, 0, 0, 0, 0},
	{"items/vec/g1", 0, 3, 3, 0, {0}, 1, {4}, 0, 4, 2, 0, 0, 0, 0, 0, 0},
	{"items/mem/m1/g0", 3, 2, 2, 1, {4}, 0, {0}, 0, 3, 3, 0, 0, 0, 0, 0, 0},
	{"items+bilinear/mem/m1/g2", 3, 3, 3, 1, {4}, 2, {5, 3}, 1, 5, 2, 0, 0, 0, 0, 0, 0},
	{"wide/items/vec/g1", 0, 3, 3, 0, {0}, 1, {4}, 0, 4, 2, 1, 2, 0, 0, 0, 0},
	{"wide0/items/mem/m1/g0", 3, 2, 2, 1, {4}, 0, {0}, 0, 3, 3, 1, 0, 0, 0, 0, 0},
	{"wide+bilinear/mem/m1/g2", 3, 3, 3, 1, {4}, 2, {5, 3}, 1, 5, 2, 1, 3, 0, 0, 0, 0},
	{"history/vec/m1/g1", 0, 3, 3, 1, {4}, 1, {4}, 0, 0, 0, 0, 0, 1, 0, 0, 0},
	{"history/mem/m0/g0", 2, 2, 2, 0, {0}, 0, {0}, 0, 0, 0, 0, 0, 1, 0, 0, 0},
	{"history+wide/mem/m1/g2", 3, 3, 3, 1, {4}, 2, {5, 3}, 0, 4, 2, 1, 2, 1, 0, 0, 0},
	{"widex/items/vec/g1", 0, 3, 3, 0, {0}, 1, {4}, 0, 4, 2, 1, 2, 0, 1, 0, 0},
	{"widex0/items/mem/m1/g0", 3, 2, 2, 1, {4}, 0, {0}, 0, 3, 3, 1, 0, 0, 1, 0, 0},
	{"widex+bilinear+history/mem/m1/g2", 3, 3, 3, 1, {4}, 2, {5, 3}, 1, 5, 2, 1, 3, 1, 1, 0, 0},
	{"widel/items/vec/g1", 0, 3, 3, 0, {0}, 1, {4}, 0, 4, 2, 1, 2, 0, 0, 1, 0},
	{"widel0/items/mem/m1/g0", 3, 2, 2, 1, {4}, 0, {0}, 0, 3, 3, 1, 0, 0, 0, 1, 0},
	{"widexl+bilinear+history/mem/m1/g2", 3, 3, 3, 1, {4}, 2, {5, 3}, 1, 5, 2, 1, 3, 1, 1, 1, 0},
	{"fold/items/vec/g1", 0, 3, 3, 0, {0}, 1, {4}, 0, 4, 2, 1, 2, 0, 0, 0, 1},
	{"foldl/items/mem/m1/g0", 3, 2, 2, 1, {4}, 0, {0}, 0, 3, 3, 1, 1, 0, 0, 1, 1},
	{"foldxl+bilinear+history/mem/m1/g2", 3, 3, 3, 1, {4}, 2, {5, 3}, 1, 5, 2, 1, 3, 1, 1, 1, 1},
};

typedef struct Case
{
	LmArch		arch;
	double	   *params;
	double	   *member;
	double	   *items;			/* support then query */
	double	   *labels;
	int32_t    *buckets;		/* support then query; every bucket and the unknown row */
	LmTask		task;
} Case;

static double *
random_vec(size_t n, double lo, double hi)
{
	double	   *p = malloc((n > 0 ? n : 1) * sizeof(double));

	for (size_t i = 0; i < n; i++)
		p[i] = rng_range(&rng, lo, hi);
	return p;
}

static int
make_case(const Spec *s, LmLoss loss, Case *c)
{
	const char *err = lm_arch_init(&c->arch, s->member_dim, s->item_dim, s->embedding_dim,
								   s->meta_hidden, s->n_meta_hidden,
								   s->global_hidden, s->n_global_hidden, loss);
	int			rows = N_SUPPORT + N_QUERY;

	CHECK(err == NULL, "%s: arch accepted", s->name);
	if (err)
		return 0;
	if (s->item_buckets)
		CHECK(lm_arch_enable_item_embedding(&c->arch, s->item_buckets, s->item_embedding_dim) == NULL,
			  "%s: item embedding accepted", s->name);
	if (s->history)
		CHECK(lm_arch_enable_history(&c->arch, s->meta_hidden, s->n_meta_hidden) == NULL,
			  "%s: history accepted", s->name);
	if (s->wide)
		CHECK(lm_arch_enable_wide(&c->arch, s->wide_rank, 0.7) == NULL,
			  "%s: wide head accepted", s->name);
	if (s->wide_features)
		CHECK(lm_arch_enable_wide_features(&c->arch) == NULL,
			  "%s: wide features accepted", s->name);
	if (s->bilinear)
		lm_arch_enable_bilinear(&c->arch);
	if (s->learn_lambda)
		CHECK(lm_arch_enable_learned_lambda(&c->arch) == NULL,
			  "%s: learned lambda accepted", s->name);
	if (s->fold_in)
		CHECK(lm_arch_enable_fold_in(&c->arch) == NULL, "%s: fold-in accepted", s->name);
	c->params = lm_alloc_reals(c->arch.n_params);
	lm_arch_init_params(&c->arch, c->params, rng_uniform, &rng);
	for (size_t i = 0; i < c->arch.n_params; i++)
		c->params[i] += rng_range(&rng, -0.1, 0.1);	/* no zero biases */
	/* lm_hvp reads the meta block's whole input; the task functions its first member_dim */
	c->member = random_vec(c->arch.meta[0].in_dim, -1, 1);
	c->items = random_vec((size_t) rows * s->item_dim, -1, 1);
	c->labels = malloc(sizeof(double) * rows);
	for (int r = 0; r < rows; r++)
		c->labels[r] = loss == LM_LOSS_BCE ? (r % 3 == 0 ? 1 : (r % 3 == 1 ? 0 : 0.3))
			: rng_range(&rng, -2, 2);
	c->buckets = malloc(sizeof(int32_t) * rows);
	for (int r = 0; r < rows; r++)
		c->buckets[r] = s->item_buckets ? r % (s->item_buckets + 1) : 0;
	c->task.member = s->member_dim || s->history ? c->member : NULL;
	c->task.support = (LmRows) {N_SUPPORT, c->items, c->labels,
		s->item_buckets ? c->buckets : NULL};
	c->task.query = (LmRows) {N_QUERY, c->items + (size_t) N_SUPPORT * s->item_dim,
		c->labels + N_SUPPORT, s->item_buckets ? c->buckets + N_SUPPORT : NULL};
	return 1;
}

static void
free_case(Case *c)
{
	lm_free(c->params);
	free(c->member);
	free(c->items);
	free(c->labels);
	free(c->buckets);
}

/* ∇ of the support loss at params: meta part and global part */
static void
support_gradient(const Case *c, const double *params, double *g_meta, double *g_global)
{
	LmHvpWork  *hw = lm_hvp_work_create(&c->arch, N_SUPPORT);
	double	   *zero = lm_alloc_reals(c->arch.n_meta_params);
	double	   *hv = lm_alloc_reals(c->arch.n_meta_params);

	memset(g_global, 0, sizeof(double) * c->arch.n_global_params);
	lm_hvp(&c->arch, params, params + c->arch.n_meta_params, c->task.member, &c->task.support,
		   zero, 1.0, hw, g_meta, g_global, hv, NULL);
	lm_free(zero);
	lm_free(hv);
	lm_hvp_work_free(hw);
}

static void
test_hvp(const Spec *s, LmLoss loss)
{
	Case		c;
	const LmArch *arch;
	size_t		nm,
				ng;
	double	   *w,
			   *hv_meta,
			   *hv_global,
			   *g_meta,
			   *plus_meta,
			   *plus_global,
			   *minus_meta,
			   *minus_global,
			   *shifted;
	LmHvpWork  *hw;
	double		worst = 0;
	int			bad = 0;

	if (!make_case(s, loss, &c))
		return;
	arch = &c.arch;
	nm = arch->n_meta_params;
	ng = arch->n_global_params;
	w = random_vec(nm, -1, 1);
	hv_meta = lm_alloc_reals(nm);
	hv_global = lm_alloc_reals(ng);
	g_meta = lm_alloc_reals(nm);
	plus_meta = lm_alloc_reals(nm);
	minus_meta = lm_alloc_reals(nm);
	plus_global = lm_alloc_reals(ng);
	minus_global = lm_alloc_reals(ng);
	shifted = lm_alloc_reals(arch->n_params);
	hw = lm_hvp_work_create(arch, N_SUPPORT);

	lm_hvp(arch, c.params, c.params + nm, c.task.member, &c.task.support, w, 1.0, hw,
		   g_meta, NULL, hv_meta, hv_global);

	memcpy(shifted, c.params, sizeof(double) * arch->n_params);
	for (size_t i = 0; i < nm; i++)
		shifted[i] = c.params[i] + FD_H * w[i];
	support_gradient(&c, shifted, plus_meta, plus_global);
	for (size_t i = 0; i < nm; i++)
		shifted[i] = c.params[i] - FD_H * w[i];
	support_gradient(&c, shifted, minus_meta, minus_global);

	for (size_t i = 0; i < nm + ng; i++)
	{
		double		fd = i < nm ? (plus_meta[i] - minus_meta[i]) / (2 * FD_H)
			: (plus_global[i - nm] - minus_global[i - nm]) / (2 * FD_H);
		double		got = i < nm ? hv_meta[i] : hv_global[i - nm];

		if (!check_close(got, fd, FD_RTOL * 10, FD_ATOL))
			bad++;
		worst = fmax(worst, fabs(got - fd));
	}
	CHECK(bad == 0, "hvp %s %s: %zu entries match central differences of the gradient "
		  "(worst abs err %.2g, %d off)", s->name, loss == LM_LOSS_BCE ? "bce" : "mse",
		  nm + ng, worst, bad);

	lm_hvp_work_free(hw);
	free(w);
	lm_free(hv_meta);
	lm_free(hv_global);
	lm_free(g_meta);
	lm_free(plus_meta);
	lm_free(minus_meta);
	lm_free(plus_global);
	lm_free(minus_global);
	lm_free(shifted);
	free_case(&c);
}

/* F = query loss after `steps` inner steps, as a function of params (and lr_vec) */
static double
query_loss(const Case *c, const double *params, const double *lr_vec, int steps, double lr)
{
	LmMetaWork *mw = lm_meta_work_create(&c->arch, N_SUPPORT, steps);
	double	   *grad = lm_alloc_reals(c->arch.n_params);
	double		loss = lm_task_meta_grad(&c->arch, params, &c->task, steps, lr, lr_vec, 1,
									   1.0, grad, NULL, mw);

	lm_free(grad);
	lm_meta_work_free(mw);
	return loss;
}

static void
test_meta_gradient(const Spec *s, LmLoss loss, int steps, int meta_sgd)
{
	Case		c;
	const LmArch *arch;
	double		lr = 0.3;
	double	   *lr_vec = NULL;
	double	   *grad,
			   *grad_lr = NULL,
			   *shifted,
			   *shifted_lr = NULL;
	LmMetaWork *mw;
	int			bad = 0;
	double		worst = 0;
	size_t		n_checked = 0;

	if (!make_case(s, loss, &c))
		return;
	arch = &c.arch;
	if (meta_sgd)
	{
		lr_vec = random_vec(arch->n_meta_params, 0.1, 0.5);
		grad_lr = lm_alloc_reals(arch->n_meta_params);
		shifted_lr = lm_alloc_reals(arch->n_meta_params);
	}
	grad = lm_alloc_reals(arch->n_params);
	shifted = lm_alloc_reals(arch->n_params);
	mw = lm_meta_work_create(arch, N_SUPPORT, steps);
	lm_task_meta_grad(arch, c.params, &c.task, steps, lr, lr_vec, 2, 1.0, grad, grad_lr, mw);

	for (size_t i = 0; i < arch->n_params; i++)
	{
		double		fp,
					fm,
					fd;

		memcpy(shifted, c.params, sizeof(double) * arch->n_params);
		shifted[i] += FD_H;
		fp = query_loss(&c, shifted, lr_vec, steps, lr);
		shifted[i] -= 2 * FD_H;
		fm = query_loss(&c, shifted, lr_vec, steps, lr);
		fd = (fp - fm) / (2 * FD_H);
		if (!check_close(grad[i], fd, FD_RTOL * 10, FD_ATOL))
			bad++;
		worst = fmax(worst, fabs(grad[i] - fd));
		n_checked++;
	}
	for (size_t i = 0; meta_sgd && i < arch->n_meta_params; i++)
	{
		double		fp,
					fm,
					fd;

		memcpy(shifted_lr, lr_vec, sizeof(double) * arch->n_meta_params);
		shifted_lr[i] += FD_H;
		fp = query_loss(&c, c.params, shifted_lr, steps, lr);
		shifted_lr[i] -= 2 * FD_H;
		fm = query_loss(&c, c.params, shifted_lr, steps, lr);
		fd = (fp - fm) / (2 * FD_H);
		if (!check_close(grad_lr[i], fd, FD_RTOL * 10, FD_ATOL))
			bad++;
		worst = fmax(worst, fabs(grad_lr[i] - fd));
		n_checked++;
	}
	CHECK(bad == 0, "second-order meta-gradient %s %s K=%d%s: %zu partials match central "
		  "differences of the query loss after adaptation (worst abs err %.2g, %d off)",
		  s->name, loss == LM_LOSS_BCE ? "bce" : "mse", steps, meta_sgd ? " meta-sgd" : "",
		  n_checked, worst, bad);

	lm_meta_work_free(mw);
	lm_free(grad);
	lm_free(shifted);
	if (meta_sgd)
	{
		free(lr_vec);
		lm_free(grad_lr);
		lm_free(shifted_lr);
	}
	free_case(&c);
}

/* order 1 is FOMAML: the same as lm_task_grad_fo, to the last bit */
static void
test_first_order_matches(const Spec *s, LmLoss loss)
{
	Case		c;
	double	   *a,
			   *b;
	LmMetaWork *mw;
	LmWork	   *work;
	double		la,
				lb;
	int			same = 1;

	if (!make_case(s, loss, &c))
		return;
	a = lm_alloc_reals(c.arch.n_params);
	b = lm_alloc_reals(c.arch.n_params);
	mw = lm_meta_work_create(&c.arch, N_SUPPORT, 3);
	work = lm_work_create(&c.arch, N_SUPPORT);
	la = lm_task_meta_grad(&c.arch, c.params, &c.task, 3, 0.3, NULL, 1, 0.5, a, NULL, mw);
	lb = lm_task_grad_fo(&c.arch, c.params, &c.task, 3, 0.3, 0.5, b, work);
	for (size_t i = 0; i < c.arch.n_params; i++)
		same &= check_close(a[i], b[i], 1e-12, 1e-14);
	CHECK(same && check_close(la, lb, 1e-12, 1e-14),
		  "order 1 %s %s equals lm_task_grad_fo", s->name, loss == LM_LOSS_BCE ? "bce" : "mse");
	lm_meta_work_free(mw);
	lm_work_free(work);
	lm_free(a);
	lm_free(b);
	free_case(&c);
}

/*
 * What serving sees is what training optimised: the adapted embedding
 * (e, w₀, w_x, w_f + a · h) scores the query rows with lm_predict_rows to
 * the query loss lm_task_meta_grad reports after the same K steps.
 */
static void
test_embedding_serves_query(const Spec *s, LmLoss loss)
{
	Case		c;
	LmWork	   *work;
	double	   *emb,
			   *pred;
	double		trained,
				served;

	if (!s->wide || !make_case(s, loss, &c))
		return;
	work = lm_work_create(&c.arch, N_SUPPORT);
	emb = lm_alloc_reals(lm_embedding_len(&c.arch));
	pred = lm_alloc_reals(N_QUERY);
	trained = query_loss(&c, c.params, NULL, 2, 0.3);
	lm_adapt_embedding(&c.arch, c.params, c.task.member, &c.task.support, 2, 0.3, emb, work);
	lm_predict_rows(&c.arch, c.params, emb, &c.task.query, work, pred);
	served = loss_forward_backward(loss, pred, c.task.query.label, N_QUERY, NULL, 1.0);
	CHECK_CLOSE(served, trained, 1e-12, 1e-14, "%s %s: the adapted embedding serves the query loss training saw",
				s->name, loss == LM_LOSS_BCE ? "bce" : "mse");
	lm_free(emb);
	lm_free(pred);
	lm_work_free(work);
	free_case(&c);
}

/*
 * lm_fold_in_hits against brute force: for every a of the grid, the
 * embedding adapted with that a, the catalogue scored by lm_predict_rows,
 * the support positives left out, a query positive in the top 3 or not;
 * over random models, some of which must rank differently across the grid.
 */
static void
test_fold_in_hits(void)
{
	static const Spec spec = {"fold/select", 0, 3, 3, 0, {0}, 1, {4}, 0, 12, 2, 1, 3, 0, 0, 0, 1};
	int			agree = 1,
				varied = 0,
				counted = 0;

	for (int trial = 0; trial < 20; trial++)
	{
		Case		c;
		int			n = spec.item_buckets;
		double	   *features = random_vec((size_t) n * spec.item_dim, -1, 1);
		int32_t		bucket[12];
		LmCatalogue cat = {n, features, bucket};
		LmWork	   *work;
		double	   *scratch,
				   *shifted,
				   *emb,
				   *score;
		long		hits[LM_FOLD_IN_GRID] = {0};
		int			got;

		if (!make_case(&spec, LM_LOSS_BCE, &c))
			return;
		for (int i = 0; i < n; i++)
			bucket[i] = i;
		for (int r = 0; r < N_SUPPORT + N_QUERY; r++)
			c.buckets[r] = r;	/* support 0..4, query 5..8 */
		c.params[c.arch.n_meta_params + c.arch.fold_in_off] = 0.3;	/* read as 0 */
		/* factors of order 1 (not 0.1), so that the grid's a can reorder the catalogue */
		for (int b = 0; b <= n; b++)
			for (int j = 1; j <= spec.wide_rank; j++)
				c.params[c.arch.n_meta_params + c.arch.wide_off + (size_t) b * (1 + spec.wide_rank) + j] *= 10;
		work = lm_work_create(&c.arch, n);	/* brute force scores all at once; the choice in chunks of 5 */
		scratch = lm_alloc_reals(lm_fold_in_scratch_len(&c.arch, n));
		shifted = lm_alloc_reals(c.arch.n_params);
		emb = lm_alloc_reals(lm_embedding_len(&c.arch));
		score = lm_alloc_reals(n);
		got = lm_fold_in_hits(&c.arch, c.params, &c.task, 2, 0.3, &cat, 3, work, N_SUPPORT,
							  scratch, hits);
		counted += got;
		for (int g = 0; g < LM_FOLD_IN_GRID && got; g++)
		{
			LmRows		rows = {n, features, NULL, bucket};
			int			hit = 0;

			memcpy(shifted, c.params, sizeof(double) * c.arch.n_params);
			shifted[c.arch.n_meta_params + c.arch.fold_in_off] = lm_fold_in_grid[g];
			lm_adapt_embedding(&c.arch, shifted, c.task.member, &c.task.support, 2, 0.3, emb, work);
			lm_predict_rows(&c.arch, shifted, emb, &rows, work, score);
			/* ranked as served: σ in float */
			for (int i = 0; i < n; i++)
				score[i] = 1.0f / (1.0f + expf((float) -score[i]));
			for (int i = 0; i < n; i++)
			{
				int			better = 0;

				if (i >= N_SUPPORT + N_QUERY || i < N_SUPPORT || c.labels[i] <= 0)
					continue;
				for (int j = 0; j < n; j++)
					if (j >= N_SUPPORT || c.labels[j] <= 0)
						better += score[j] > score[i] || (score[j] == score[i] && j < i);
				hit |= better < 3;
			}
			agree &= hits[g] == hit;
			varied |= hits[g] != hits[0];
		}
		free(features);
		lm_free(scratch);
		lm_free(shifted);
		lm_free(emb);
		lm_free(score);
		lm_work_free(work);
		free_case(&c);
	}
	CHECK(counted == 20, "fold-in choice: every member with support rows and a query positive counts");
	CHECK(agree, "fold-in choice: hits per a equal brute-force scoring with that a");
	CHECK(varied, "fold-in choice: the grid changes some member's hit");
}

/*
 * By hand: no member features, d = p = 1, no hidden layer, mse.
 * params = [e, w_e, w_v, b] = [1, 0.5, 1, 0], α = 0.1, K = 1,
 * support (v=1, y=0), query (v=2, y=1).
 *   r_s = w_e e + w_v - 0 = 1.5,  g⁰ = 2 w_e r_s = 1.5,  e¹ = 1 - 0.15 = 0.85
 *   r_q = w_e e¹ + 2 w_v - 1 = 1.425
 *   ∂/∂e   = 2 r_q w_e (1 - 2 α w_e²) = 1.425 · 0.95 = 1.35375   (first order: 1.425)
 *   ∂/∂w_e = 2 r_q (e¹ + w_e ∂e¹/∂w_e), ∂e¹/∂w_e = -2α(2 w_e e + w_v) = -0.4
 *          = 2.85 · 0.65 = 1.8525                                 (first order: 2.4225)
 *   ∂/∂α   = -ḡ g⁰ = -(2 r_q w_e)(1.5) = -2.1375
 */
static void
test_hand_case(void)
{
	LmArch		arch;
	double		params[4] = {1, 0.5, 1, 0};
	double		items[2] = {1, 2};
	double		labels[2] = {0, 1};
	double		lr_vec[1] = {0.1};
	double		grad[4] = {0},
				grad_lr[1] = {0},
				grad_fo[4] = {0};
	LmTask		task = {NULL, {1, items, labels, NULL}, {1, items + 1, labels + 1, NULL}};
	LmMetaWork *mw;

	lm_arch_init(&arch, 0, 1, 1, NULL, 0, NULL, 0, LM_LOSS_MSE);
	mw = lm_meta_work_create(&arch, 1, 1);
	lm_task_meta_grad(&arch, params, &task, 1, 0.1, lr_vec, 2, 1.0, grad, grad_lr, mw);
	lm_task_meta_grad(&arch, params, &task, 1, 0.1, NULL, 1, 1.0, grad_fo, NULL, mw);
	CHECK_CLOSE(grad[0], 1.35375, 1e-12, 1e-14, "hand: second-order ∂/∂e");
	CHECK_CLOSE(grad[1], 1.8525, 1e-12, 1e-14, "hand: second-order ∂/∂w_e");
	CHECK_CLOSE(grad_lr[0], -2.1375, 1e-12, 1e-14, "hand: meta-sgd ∂/∂α");
	CHECK_CLOSE(grad_fo[0], 1.425, 1e-12, 1e-14, "hand: first-order ∂/∂e");
	CHECK_CLOSE(grad_fo[1], 2.4225, 1e-12, 1e-14, "hand: first-order ∂/∂w_e");
	lm_meta_work_free(mw);
}

/* with the MLP zeroed the prediction is the bilinear term alone: e · (P v) */
static void
test_bilinear_forward(void)
{
	LmArch		arch;
	int			hidden[1] = {3};
	double	   *params;
	double		e[2] = {0.5, -1};
	double		v[2][3] = {{1, 2, 3}, {-1, 0, 2}};
	double		P[2][3] = {{0.1, 0.2, 0.3}, {-0.4, 0.5, 0.6}};
	double		pred[2];
	LmWork	   *work;

	lm_arch_init(&arch, 0, 3, 2, NULL, 0, hidden, 1, LM_LOSS_MSE);
	lm_arch_enable_bilinear(&arch);
	CHECK(arch.n_global_params == (size_t) (5 * 3 + 3 + 3 * 1 + 1 + 2 * 3),
		  "bilinear adds d x item_dim parameters to the global block");
	params = lm_alloc_reals(arch.n_params);
	memcpy(params + arch.n_meta_params + arch.bilinear_off, P, sizeof(P));
	work = lm_work_create(&arch, 2);
	lm_predict(&arch, params, e, &v[0][0], 2, work, pred);
	/* P v0 = (1.4, 2.4), P v1 = (0.5, 1.6); e · = 0.7 - 2.4, 0.25 - 1.6 */
	CHECK_CLOSE(pred[0], -1.7, 1e-12, 1e-14, "bilinear forward row 0 by hand");
	CHECK_CLOSE(pred[1], -1.35, 1e-12, 1e-14, "bilinear forward row 1 by hand");
	lm_work_free(work);
	lm_free(params);
}

/* buckets, the item input with its fallback, and the unknown row */
static void
test_item_table(void)
{
	LmArch		arch;
	double	   *params;
	double	   *E;
	double		v[2][2] = {{1, 2}, {3, 4}};
	int32_t		b[2] = {0, 2};
	double		X[2][4];
	LmRows		rows = {2, &v[0][0], NULL, b};
	int			spread = 0;

	lm_arch_init(&arch, 0, 2, 2, NULL, 0, NULL, 0, LM_LOSS_BCE);
	CHECK(lm_arch_enable_item_embedding(&arch, 3, 2) == NULL, "item table: enabled");
	CHECK(arch.item_dim == 4 && arch.global[0].in_dim == 6 &&
		  arch.n_global_params == (size_t) (6 + 1 + 4 * 2), "item table: the first layer widens, E has 3 + 1 rows");
	CHECK(lm_arch_enable_item_embedding(&arch, 3, 2) != NULL, "item table: enabled only once");
	params = lm_alloc_reals(arch.n_params);
	lm_arch_init_params(&arch, params, rng_uniform, &rng);
	E = params + arch.n_meta_params + arch.item_table_off;
	CHECK(E[0] == 0 && E[7] == 0, "item table: rows start at zero");
	E[0] = 0.5, E[1] = -0.5;	/* bucket 0 trained */
	E[6] = 9, E[7] = 9;			/* unknown row */
	lm_item_gather(&arch, params + arch.n_meta_params, &rows, 0, &X[0][0]);
	CHECK(X[0][0] == 1 && X[0][1] == 2 && X[0][2] == 0.5 && X[0][3] == -0.5 && X[1][2] == 0 && X[1][3] == 0,
		  "item table: training reads every bucket's own row");
	lm_item_gather(&arch, params + arch.n_meta_params, &rows, 1, &X[0][0]);
	CHECK(X[0][2] == 0.5 && X[1][0] == 3 && X[1][2] == 9 && X[1][3] == 9,
		  "item table: serving reads the unknown row for a never-trained bucket");
	E[2] = 1.5, E[3] = 0.5;		/* bucket 1 trained too */
	lm_item_table_finish(&arch, params + arch.n_meta_params);
	CHECK(E[6] == 1 && E[7] == 0, "item table: the unknown row is the mean of the trained rows");
	CHECK(lm_item_bucket(&arch, 42) == lm_item_bucket(&arch, 42), "item table: buckets are deterministic");
	for (int64_t id = 0; id < 30; id++)
		spread |= 1 << lm_item_bucket(&arch, id);
	CHECK(spread == 7, "item table: ids spread over every bucket");
	lm_free(params);
}

/* the ridge solve by hand: biases only, then one factor */
static void
test_wide_hand(void)
{
	LmArch		arch;
	double		Ft[3][2] = {{1, 1}, {1, -1}, {1, 2}};
	double		z[3] = {0.5, 0, 1};
	double		y[3] = {1.5, -1, 2};
	double		chol[4],
				w[2],
				resid[3],
				slope[3],
				dslope[3];
	double		Ft0[3] = {1, 1, 1};

	lm_arch_init(&arch, 0, 2, 2, NULL, 0, NULL, 0, LM_LOSS_MSE);
	lm_arch_enable_item_embedding(&arch, 3, 2);
	CHECK(lm_arch_enable_wide(&arch, 0, 2.0) == NULL, "wide: rank 0 accepted");
	/* resid = (1, -1, 1): w0 = Σ resid / (n + λ) = 1 / 5 */
	lm_wide_solve(&arch, NULL, Ft0, z, y, 3, chol, w, resid, slope, dslope);
	CHECK_CLOSE(w[0], 0.2, 1e-12, 1e-14, "wide: the member bias is the shrunk mean residual (mse)");

	lm_arch_init(&arch, 0, 2, 2, NULL, 0, NULL, 0, LM_LOSS_MSE);
	lm_arch_enable_item_embedding(&arch, 3, 2);
	lm_arch_enable_wide(&arch, 1, 1.0);
	/* A = F̃ᵀF̃ + I = [[4, 2], [2, 7]], c = F̃ᵀ resid = (1, 4): w = (−1/24, 7/12) */
	lm_wide_solve(&arch, NULL, &Ft[0][0], z, y, 3, chol, w, resid, slope, dslope);
	CHECK_CLOSE(w[0], -1.0 / 24, 1e-12, 1e-14, "wide: ridge by hand, w0");
	CHECK_CLOSE(w[1], 7.0 / 12, 1e-12, 1e-14, "wide: ridge by hand, w1");

	lm_arch_init(&arch, 0, 2, 2, NULL, 0, NULL, 0, LM_LOSS_BCE);
	lm_arch_enable_item_embedding(&arch, 3, 2);
	lm_arch_enable_wide(&arch, 0, 0.25);
	/* z = 0 everywhere, labels (1, 0, 1): resid (½, −½, ½); (¼·3 + ¼) w0 = ½ */
	{
		double		z0[3] = {0, 0, 0},
					y01[3] = {1, 0, 1};

		lm_wide_solve(&arch, NULL, Ft0, z0, y01, 3, chol, w, resid, slope, dslope);
		CHECK_CLOSE(w[0], 0.5, 1e-12, 1e-14, "wide: one Newton step, σ'(0) = ¼ weights every row (bce)");
		CHECK_CLOSE(slope[0], 0.25, 1e-12, 1e-14, "wide: σ'(0) = ¼");
	}
	CHECK(lm_arch_enable_wide(&arch, 1, 1.0) != NULL, "wide: enabled only once");

	/*
	 * A learned λ per group: λ₀ = 1 on w₀, λ_f = 2 on the factor.  With the
	 * mse case above A = [[3 + 1, 2], [2, 6 + 2]], c = (1, 4): w = (0, ½).
	 * For ∂L/∂w = (0, 1): u = A⁻¹(0, 1) = (−1/14, 1/7), so ∂L/∂ρ₀ = −λ₀u₀w₀ = 0
	 * and ∂L/∂ρ_f = −λ_f u₁ w₁ = −1/7.
	 */
	lm_arch_init(&arch, 0, 2, 2, NULL, 0, NULL, 0, LM_LOSS_MSE);
	lm_arch_enable_item_embedding(&arch, 3, 2);
	lm_arch_enable_wide(&arch, 1, 1.0);
	CHECK(lm_arch_enable_learned_lambda(&arch) == NULL, "learned lambda: accepted");
	CHECK(lm_arch_enable_learned_lambda(&arch) != NULL, "learned lambda: enabled only once");
	{
		double	   *params = lm_alloc_reals(arch.n_params);
		double	   *dglobal = lm_alloc_reals(arch.n_global_params);
		double	   *global = params + arch.n_meta_params;
		double		gw[2] = {0, 1},
					u[2],
					dz[3],
					dF[6];

		lm_arch_init_params(&arch, params, rng_uniform, &rng);
		CHECK_CLOSE(global[arch.lambda_off + lm_lambda_groups(&arch) - 1], 0, 1e-12, 1e-14, "learned lambda: ρ starts at ln ridge_lambda");
		global[arch.lambda_off + lm_lambda_groups(&arch) - 1] = log(2.0);
		memset(dglobal, 0, sizeof(double) * arch.n_global_params);
		lm_wide_solve(&arch, global, &Ft[0][0], z, y, 3, chol, w, resid, slope, dslope);
		CHECK_CLOSE(w[0], 0, 1e-12, 1e-14, "learned lambda: ridge by hand, w0");
		CHECK_CLOSE(w[1], 0.5, 1e-12, 1e-14, "learned lambda: ridge by hand, w1");
		lm_wide_solve_backward(&arch, &Ft[0][0], chol, w, resid, slope, dslope, gw, 3, u, dz, dF);
		lm_wide_lambda_backward(&arch, global, w, u, dglobal);
		CHECK_CLOSE(dglobal[arch.lambda_off], 0, 1e-12, 1e-14, "learned lambda: ∂L/∂ρ₀ by hand");
		CHECK_CLOSE(dglobal[arch.lambda_off + lm_lambda_groups(&arch) - 1], -1.0 / 7, 1e-12, 1e-14, "learned lambda: ∂L/∂ρ_f by hand");
		lm_free(params);
		lm_free(dglobal);
	}
	/*
	 * The fold-in term by hand, on the mse rows above: h = Σ y_s f_s =
	 * 1.5 · 1 + (−1)(−1) + 2 · 2 = 6.5; with a = 0.1 the factor weight gains
	 * 0.65 and w₀ stays.  For ∂L/∂w_eff = (0, 1): ∂L/∂a = h = 6.5 and each
	 * support factor gains y_s a: (0.15, −0.1, 0.2).
	 */
	lm_arch_init(&arch, 0, 2, 2, NULL, 0, NULL, 0, LM_LOSS_MSE);
	lm_arch_enable_item_embedding(&arch, 3, 2);
	lm_arch_enable_wide(&arch, 1, 1.0);
	CHECK(lm_arch_enable_fold_in(&arch) == NULL, "fold-in: accepted");
	CHECK(lm_arch_enable_fold_in(&arch) != NULL, "fold-in: enabled only once");
	CHECK(lm_arch_enable_learned_lambda(&arch) != NULL, "fold-in: a learned λ comes before it");
	CHECK(lm_undecayed_len(&arch) == 1 && arch.fold_in_off == arch.n_global_params - 1,
		  "fold-in: a closes the global block, spared by weight decay");
	{
		double	   *params = lm_alloc_reals(arch.n_params);
		double	   *dglobal = lm_alloc_reals(arch.n_global_params);
		double	   *global = params + arch.n_meta_params;
		double		h[1],
					w_in[2] = {0.25, -0.5},
					w_eff[2],
					gw[2] = {0, 1},
					dF[6] = {0};

		lm_arch_init_params(&arch, params, rng_uniform, &rng);
		CHECK(global[arch.fold_in_off] == 0, "fold-in: a starts at 0 (the model starts as without it)");
		global[arch.fold_in_off] = 0.1;
		memset(dglobal, 0, sizeof(double) * arch.n_global_params);
		lm_wide_fold_in(&arch, &Ft[0][0], y, 3, h);
		CHECK_CLOSE(h[0], 6.5, 1e-12, 1e-14, "fold-in: h = Σ y_s f_s by hand");
		lm_wide_fold_in_add(&arch, global, h, w_in, w_eff);
		CHECK_CLOSE(w_eff[0], 0.25, 1e-12, 1e-14, "fold-in: the member bias stays");
		CHECK_CLOSE(w_eff[1], -0.5 + 0.65, 1e-12, 1e-14, "fold-in: the factor weight gains a · h");
		lm_wide_fold_in_backward(&arch, global, y, 3, h, gw, dF, dglobal);
		CHECK_CLOSE(dglobal[arch.fold_in_off], 6.5, 1e-12, 1e-14, "fold-in: ∂L/∂a by hand");
		CHECK(dF[0] == 0 && dF[2] == 0 && dF[4] == 0, "fold-in: the leading 1 gets nothing");
		CHECK(check_close(dF[1], 0.15, 1e-12, 1e-14) && check_close(dF[3], -0.1, 1e-12, 1e-14) &&
			  check_close(dF[5], 0.2, 1e-12, 1e-14), "fold-in: ∂L/∂f_s = y_s a gw_f by hand");
		lm_free(params);
		lm_free(dglobal);
	}
	lm_arch_init(&arch, 0, 2, 2, NULL, 0, NULL, 0, LM_LOSS_MSE);
	lm_arch_enable_item_embedding(&arch, 3, 2);
	lm_arch_enable_wide(&arch, 0, 1.0);
	CHECK(lm_arch_enable_fold_in(&arch) != NULL, "fold-in: needs factors");

	lm_arch_init(&arch, 0, 2, 2, NULL, 0, NULL, 0, LM_LOSS_MSE);
	CHECK(lm_arch_enable_learned_lambda(&arch) != NULL, "learned lambda: needs the wide head");
	lm_arch_init(&arch, 0, 2, 2, NULL, 0, NULL, 0, LM_LOSS_BCE);
	CHECK(lm_arch_enable_wide(&arch, 1, 1.0) != NULL, "wide: needs item ids");
	CHECK(lm_arch_enable_wide_features(&arch) != NULL, "wide features: need the wide head");

	/*
	 * With the item features in the solve: one feature, rank 0, so F̃ =
	 * (1, x) with x = (1, −1, 2) is the factor case above; the same w.
	 */
	lm_arch_init(&arch, 0, 1, 2, NULL, 0, NULL, 0, LM_LOSS_MSE);
	lm_arch_enable_item_embedding(&arch, 3, 2);
	lm_arch_enable_wide(&arch, 0, 1.0);
	CHECK(lm_arch_enable_wide_features(&arch) == NULL, "wide features: accepted");
	CHECK(lm_wide_len(&arch) == 2 && lm_embedding_len(&arch) == 2 + 2,
		  "wide features: the solve and the embedding gain a weight per item feature");
	{
		double		x[3] = {1, -1, 2};
		int32_t		bucket[3] = {0, 1, 2};
		LmRows		rows = {3, x, NULL, bucket};
		double	   *params = lm_alloc_reals(arch.n_params);
		double		Fx[3][2],
					bias[3];

		for (size_t k = 0; k < arch.n_params; k++)
			params[k] = 0.5;
		lm_wide_gather(&arch, params + arch.n_meta_params, &rows, 0, &Fx[0][0], bias);
		CHECK(Fx[0][0] == 1 && Fx[0][1] == 1 && Fx[1][1] == -1 && Fx[2][1] == 2 && bias[2] == 0.5,
			  "wide features: F̃ = (1, x) and the item's bias");
		lm_wide_solve(&arch, NULL, &Fx[0][0], z, y, 3, chol, w, resid, slope, dslope);
		CHECK_CLOSE(w[0], -1.0 / 24, 1e-12, 1e-14, "wide features: ridge by hand, w0");
		CHECK_CLOSE(w[1], 7.0 / 12, 1e-12, 1e-14, "wide features: ridge by hand, w_x");
		lm_free(params);
	}

	/* a learned λ per item-feature column: ρ = (w₀, x₁, x₂, w_f), each coordinate reads its own */
	lm_arch_init(&arch, 0, 2, 2, NULL, 0, NULL, 0, LM_LOSS_MSE);
	lm_arch_enable_item_embedding(&arch, 3, 2);
	lm_arch_enable_wide(&arch, 1, 3.0);
	CHECK(lm_arch_enable_wide_features(&arch) == NULL && lm_arch_enable_learned_lambda(&arch) == NULL,
		  "learned lambda per column: accepted");
	CHECK(lm_lambda_groups(&arch) == 4, "learned lambda per column: w₀, two columns, the factors");
	{
		double	   *params = lm_alloc_reals(arch.n_params);
		double	   *rho = params + arch.n_meta_params + arch.lambda_off;

		lm_arch_init_params(&arch, params, rng_uniform, &rng);
		for (int g = 0; g < 4; g++)
			rho[g] = log(g + 1.0);
		CHECK(fabs(lm_wide_lambda(&arch, params + arch.n_meta_params, 0) - 1) < 1e-12 &&
			  fabs(lm_wide_lambda(&arch, params + arch.n_meta_params, 1) - 2) < 1e-12 &&
			  fabs(lm_wide_lambda(&arch, params + arch.n_meta_params, 2) - 3) < 1e-12 &&
			  fabs(lm_wide_lambda(&arch, params + arch.n_meta_params, 3) - 4) < 1e-12,
			  "learned lambda per column: each coordinate reads its group's exp ρ");
		lm_free(params);
	}
}

/* the pooled history by hand, and zeros for a member without rows */
static void
test_history_hand(void)
{
	LmArch		arch;
	int			hidden[1] = {3};
	double		member[2] = {1, 2};
	double		v[2][2] = {{1, 0}, {0, 1}};
	double		y[2] = {1, 0};
	LmRows		support = {2, &v[0][0], y, NULL};
	LmRows		none = {0, NULL, NULL, NULL};
	double		x[6];
	const double *got;

	lm_arch_init(&arch, 2, 2, 2, hidden, 1, NULL, 0, LM_LOSS_BCE);
	CHECK(lm_arch_enable_history(&arch, hidden, 1) == NULL && arch.meta[0].in_dim == 6,
		  "history: the meta block reads member features + 2 × item features");
	got = lm_meta_input(&arch, member, &support, x);
	/* mean v = (½, ½); ȳ = ½: Σ (y − ȳ) v / n = (¼, −¼) */
	CHECK(got == x && x[0] == 1 && x[1] == 2 && x[2] == 0.5 && x[3] == 0.5 &&
		  x[4] == 0.25 && x[5] == -0.25, "history: features, mean item, label-centred mean item by hand");
	lm_meta_input(&arch, member, &none, x);
	CHECK(x[0] == 1 && x[2] == 0 && x[3] == 0 && x[4] == 0 && x[5] == 0,
		  "history: a member without rows pools zeros");
	CHECK(lm_arch_enable_history(&arch, hidden, 1) != NULL, "history: enabled only once");
	lm_arch_init(&arch, 2, 2, 2, hidden, 1, NULL, 0, LM_LOSS_BCE);
	CHECK(lm_meta_input(&arch, member, &support, x) == member, "history: without it the features pass as they are");
}

/* lm_alloc that counts the bytes it hands out */
static size_t counted_bytes;
static void *(*plain_alloc)(size_t size);

static void *
counting_alloc(size_t size)
{
	counted_bytes += size;
	return plain_alloc(size);
}

/* the byte estimates the extension checks before allocating are exact */
static void
test_work_bytes(const Spec *s)
{
	Case		c;
	LmWork	   *work;
	LmMetaWork *mw;

	if (!make_case(s, LM_LOSS_BCE, &c))
		return;
	plain_alloc = lm_alloc;
	lm_alloc = counting_alloc;
	counted_bytes = 0;
	work = lm_work_create(&c.arch, 37);
	CHECK(counted_bytes == lm_work_bytes(&c.arch, 37), "%s: lm_work_bytes %zu = allocated %zu",
		  s->name, lm_work_bytes(&c.arch, 37), counted_bytes);
	counted_bytes = 0;
	mw = lm_meta_work_create(&c.arch, 41, 3);
	CHECK(counted_bytes == lm_meta_work_bytes(&c.arch, 41, 3),
		  "%s: lm_meta_work_bytes %zu = allocated %zu", s->name,
		  lm_meta_work_bytes(&c.arch, 41, 3), counted_bytes);
	lm_alloc = plain_alloc;
	lm_work_free(work);
	lm_meta_work_free(mw);
	free_case(&c);
}

int
main(void)
{
	LmLoss		losses[2] = {LM_LOSS_BCE, LM_LOSS_MSE};

	test_hand_case();
	test_bilinear_forward();
	test_item_table();
	test_wide_hand();
	test_fold_in_hits();
	test_history_hand();
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++)
		test_work_bytes(&specs[s]);
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++)
		for (int l = 0; l < 2; l++)
		{
			test_hvp(&specs[s], losses[l]);
			test_first_order_matches(&specs[s], losses[l]);
			test_embedding_serves_query(&specs[s], losses[l]);
			test_meta_gradient(&specs[s], losses[l], 1, 0);
			test_meta_gradient(&specs[s], losses[l], 3, 0);
			test_meta_gradient(&specs[s], losses[l], 2, 1);
		}
	return check_done();
}
