/*
 * test_maml.c - hand-computed cases of the inner loop, the first-order task
 * gradient, Adam and AUC; determinism; lm_arch_init's validation and
 * parameter counts.  Double build.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adam.h"
#include "arch.h"
#include "block.h"
#include "loss.h"
#include "maml.h"
#include "metrics.h"
#include "check.h"

#ifndef LIMAML_DOUBLE
#error "test_maml needs the double build of the core (-DLIMAML_DOUBLE)"
#endif

static TestRng rng = {0xabcdef01ULL};

static double
sigmoid(double z)
{
	return 1 / (1 + exp(-z));
}

/*
 * The tiny arch: member_dim 0, embedding 1, item 1, no hidden layers.
 *   params = [ e | w_e w_v b ]      (meta: the learned scalar e; global: W[1][2], b[1])
 *   pred   = w_e·e + w_v·v + b
 */
static void
tiny_arch(LmArch *arch, LmLoss loss)
{
	const char *err = lm_arch_init(arch, 0, 1, 1, NULL, 0, NULL, 0, loss);

	CHECK(err == NULL && arch->n_meta_params == 1 && arch->n_params == 4 &&
		  arch->global[0].w_off == 0 && arch->global[0].b_off == 2,
		  "tiny %s arch: params = [e | w_e w_v b]", loss == LM_LOSS_BCE ? "bce" : "mse");
}

/* -------------------------------------------------------- mse by hand */

static void
test_inner_mse(void)
{
	LmArch		arch;
	LmWork	   *work;
	double		params[4] = {0.5, 2, -1, 0.25};	/* e0, w_e, w_v, b */
	double		s_item[2] = {1, 3},
				s_label[2] = {0, 1};
	double		q_item[1] = {2},
				q_label[1] = {0.5};
	LmRows		support = {2, s_item, s_label, NULL},
				empty = {0, NULL, NULL, NULL};
	const double lr = 0.1;
	double		meta[1],
				e_k,
				loss,
				emb[1];

	tiny_arch(&arch, LM_LOSS_MSE);
	work = lm_work_create(&arch, 4);

	/*
	 * L = (1/n) Σ_r (w_e e + c_r)²  with c_r = w_v v_r + b - y_r, so
	 *   ∂L/∂e = 2 w_e (w_e e + c̄)   and one step is
	 *   e' = e - 2 lr w_e (w_e e + c̄) = (1 - 2 lr w_e²) e - 2 lr w_e c̄.
	 * Here c = (-0.75, -3.75), c̄ = -2.25, 1 - 2·0.1·4 = 0.2, -2·0.1·2·c̄ = 0.9:
	 *   e¹ = 0.2·0.5 + 0.9 = 1.0,   e² = 0.2·1.0 + 0.9 = 1.1.
	 * The support loss at e⁰: preds 0.25, -1.75 -> ((0.25)² + (-2.75)²)/2 = 3.8125.
	 */
	{
		double		we = params[1],
					cbar = 0;

		for (int r = 0; r < 2; r++)
			cbar += (params[2] * s_item[r] + params[3] - s_label[r]) / 2;
		e_k = params[0];
		for (int k = 1; k <= 2; k++)
		{
			e_k = (1 - 2 * lr * we * we) * e_k - 2 * lr * we * cbar;
			loss = lm_inner_loop(&arch, params, params + 1, NULL, &support, k, lr, meta, work);
			CHECK_CLOSE(meta[0], e_k, 0, 1e-12, "mse inner loop K=%d: closed form", k);
			CHECK_CLOSE(meta[0], k == 1 ? 1.0 : 1.1, 0, 1e-12, "mse inner loop K=%d: by hand", k);
			CHECK_CLOSE(loss, 3.8125, 0, 1e-12, "mse inner loop K=%d returns the loss before step 1", k);
		}
	}

	/* K = 0 and an empty support set leave θ_meta alone (and return 0) */
	meta[0] = 42;
	loss = lm_inner_loop(&arch, params, params + 1, NULL, &support, 0, lr, meta, work);
	CHECK(meta[0] == params[0] && loss == 0, "inner loop K=0 copies the initial params");
	meta[0] = 42;
	loss = lm_inner_loop(&arch, params, params + 1, NULL, &empty, 2, lr, meta, work);
	CHECK(meta[0] == params[0] && loss == 0, "inner loop on an empty support copies the initial params");
	CHECK(params[0] == 0.5, "inner loop leaves meta0 alone");

	/* in place, and into work->meta_adapted */
	meta[0] = params[0];
	lm_inner_loop(&arch, meta, params + 1, NULL, &support, 2, lr, meta, work);
	CHECK_CLOSE(meta[0], 1.1, 0, 1e-12, "inner loop in place (meta_out == meta0)");
	lm_inner_loop(&arch, params, params + 1, NULL, &support, 2, lr, work->meta_adapted, work);
	CHECK_CLOSE(work->meta_adapted[0], 1.1, 0, 1e-12, "inner loop into work->meta_adapted");

	/* the adapted embedding is the adapted meta block's output: e² itself */
	lm_adapt_embedding(&arch, params, NULL, &support, 2, lr, emb, work);
	CHECK_CLOSE(emb[0], 1.1, 0, 1e-12, "lm_adapt_embedding K=2 = e²");
	lm_adapt_embedding(&arch, params, NULL, &empty, 2, lr, emb, work);
	CHECK(emb[0] == 0.5, "lm_adapt_embedding on an empty support = e⁰");

	/*
	 * Task gradient, K = 2, query v = 2, y = 0.5:
	 *   pred = 2·1.1 - 2 + 0.25 = 0.45, diff = -0.05, L = 0.0025,
	 *   ∂L/∂pred = 2·diff = -0.1, so
	 *   g = (∂/∂e, ∂/∂w_e, ∂/∂w_v, ∂/∂b) = -0.1·(w_e, e², v, 1) = (-0.2, -0.11, -0.2, -0.1).
	 */
	{
		LmTask		task = {NULL, support, {1, q_item, q_label, NULL}};
		double		grad[4] = {1, 2, 3, 4};
		double		want[4] = {-0.2, -0.11, -0.2, -0.1};
		double		pred[1];

		loss = lm_task_grad_fo(&arch, params, &task, 2, lr, 0.5, grad, work);
		CHECK_CLOSE(loss, 0.0025, 0, 1e-12, "mse task K=2: query loss by hand");
		for (int j = 0; j < 4; j++)
			CHECK_CLOSE(grad[j], (j + 1) + 0.5 * want[j], 0, 1e-12,
						"mse task K=2: grad[%d] += 0.5·(hand value %g)", j, want[j]);
		lm_predict(&arch, params, emb, q_item, 1, work, pred);	/* emb is e⁰ = 0.5 here */
		CHECK_CLOSE(pred[0], 2 * 0.5 - 2 + 0.25, 0, 1e-12, "mse lm_predict by hand");
	}
	lm_work_free(work);
}

/* -------------------------------------------------------- bce by hand */

static void
test_inner_bce(void)
{
	LmArch		arch;
	LmWork	   *work;
	double		params[4] = {0.5, 2, -1, 0};	/* z = 2·0.5 - 1·1 + 0 = 0 at v = 1 */
	double		item[1] = {1},
				label[1] = {1};
	LmRows		support = {1, item, label, NULL};
	const double lr = 0.1;
	double		meta[1],
				loss;

	tiny_arch(&arch, LM_LOSS_BCE);
	work = lm_work_create(&arch, 1);

	/*
	 * One row, z = 0, y = 1: L = log 2, ∂L/∂z = σ(0) - 1 = -0.5,
	 * ∂L/∂e = -0.5·w_e = -1, so e¹ = 0.5 - 0.1·(-1) = 0.6.
	 */
	loss = lm_inner_loop(&arch, params, params + 1, NULL, &support, 1, lr, meta, work);
	CHECK_CLOSE(loss, log(2.0), 0, 1e-12, "bce inner loop: loss at z=0 is log 2");
	CHECK_CLOSE(meta[0], 0.6, 0, 1e-12, "bce inner loop K=1: e¹ = 0.6");

	/*
	 * Task, K = 1, query = the same row: z¹ = 2·0.6 - 1 = 0.2,
	 * L = softplus(-0.2), ∂L/∂z = σ(0.2) - 1,
	 * g = (∂L/∂z)·(w_e, e¹, v, 1).
	 */
	{
		LmTask		task = {NULL, support, support};
		double		grad[4] = {0, 0, 0, 0};
		double		dz = sigmoid(0.2) - 1;
		double		want[4] = {dz * 2, dz * 0.6, dz * 1, dz};

		loss = lm_task_grad_fo(&arch, params, &task, 1, lr, 1.0, grad, work);
		CHECK_CLOSE(loss, log1p(exp(-0.2)), 0, 1e-12, "bce task K=1: query loss softplus(-0.2)");
		for (int j = 0; j < 4; j++)
			CHECK_CLOSE(grad[j], want[j], 0, 1e-12, "bce task K=1: grad[%d]", j);
		CHECK_CLOSE(loss_output(LM_LOSS_BCE, 0.2), sigmoid(0.2), 0, 1e-15, "bce output is σ(logit)");
	}
	lm_work_free(work);
}

/* lm_adapt_embedding is the meta block's output on lm_inner_loop's params */
static void
test_adapt_embedding(void)
{
	static const int mh[2] = {5, 4},
				gh[1] = {6};
	LmArch		arch;
	const char *err = lm_arch_init(&arch, 3, 4, 3, mh, 2, gh, 1, LM_LOSS_BCE);
	double	   *params,
				member[3],
				item[6 * 4],
				label[6],
				emb[3],
				want[3],
			   *meta;
	LmRows		support = {6, item, label, NULL};
	LmWork	   *work;

	CHECK(err == NULL, "adapt arch accepted");
	params = lm_alloc_reals(arch.n_params);
	meta = lm_alloc_reals(arch.n_meta_params);
	lm_arch_init_params(&arch, params, rng_uniform, &rng);
	for (int i = 0; i < 3; i++)
		member[i] = rng_range(&rng, -1, 1);
	for (int i = 0; i < 24; i++)
		item[i] = rng_range(&rng, -1, 1);
	for (int r = 0; r < 6; r++)
		label[r] = r % 2;
	work = lm_work_create(&arch, 6);
	lm_inner_loop(&arch, params, params + arch.n_meta_params, member, &support, 3, 0.2, meta, work);
	lm_meta_forward(&arch, meta, member, work, want);
	lm_adapt_embedding(&arch, params, member, &support, 3, 0.2, emb, work);
	CHECK(memcmp(emb, want, sizeof(emb)) == 0, "lm_adapt_embedding = meta block on the adapted params");
	CHECK(memcmp(work->meta_adapted, meta, arch.n_meta_params * sizeof(double)) == 0,
		  "lm_adapt_embedding leaves the adapted params in work->meta_adapted");
	lm_work_free(work);
	lm_free(params);
	lm_free(meta);
}

/* --------------------------------------------------------------- adam */

static void
test_adam(void)
{
	enum
	{
	N = 5, STEPS = 4};
	static const double g_seq[STEPS][N] = {
		{0.5, -2, 1e-3, 0, 3},
		{0.1, -1, 2e-3, 0, -3},
		{-0.4, 0.5, 1e-3, 0, 1},
		{0.2, 0.25, -1e-3, 0, 2},
	};
	const double lr = 0.01;
	LmAdam		adam;
	double		p[N] = {1, -1, 0.5, 2, 0};
	double		ref[N],
				m[N] = {0},
				v[N] = {0};
	int			ok;

	memcpy(ref, p, sizeof(p));
	lm_adam_init(&adam, N, lr);
	CHECK(adam.beta1 == 0.9 && adam.beta2 == 0.999 && adam.eps == 1e-8 && adam.t == 0 &&
		  adam.lr == lr, "adam defaults are PyTorch's");

	/* step 1: m̂ = g, v̂ = g², so each param moves by lr·g/(|g| + eps) */
	lm_adam_step(&adam, p, g_seq[0]);
	ok = 1;
	for (int i = 0; i < N; i++)
		ok &= check_close(p[i], ref[i] - lr * g_seq[0][i] / (fabs(g_seq[0][i]) + 1e-8), 0, 1e-15);
	CHECK(ok, "adam step 1 moves each param by lr·g/(|g|+eps)");
	CHECK(p[3] == 2, "adam: a zero gradient moves nothing");
	CHECK(adam.t == 1, "adam counts steps");

	/* PyTorch's formula, step by step */
	for (int t = 1; t <= STEPS; t++)
	{
		double		bc1 = 1 - pow(0.9, t),
					bc2 = 1 - pow(0.999, t);

		for (int i = 0; i < N; i++)
		{
			double		g = g_seq[t - 1][i];

			m[i] = 0.9 * m[i] + 0.1 * g;
			v[i] = 0.999 * v[i] + 0.001 * g * g;
			ref[i] -= (lr / bc1) * m[i] / (sqrt(v[i]) / sqrt(bc2) + 1e-8);
		}
		if (t >= 2)
			lm_adam_step(&adam, p, g_seq[t - 1]);
		ok = 1;
		for (int i = 0; i < N; i++)
			ok &= check_close(p[i], ref[i], 1e-12, 1e-15);
		CHECK(ok, "adam step %d = torch.optim.Adam's update", t);
	}
	lm_adam_free(&adam);

	/* a constant gradient: m̂ = g, v̂ = g² at every step, each step ≈ lr·sign(g) */
	{
		double		q[2] = {0, 0},
					g[2] = {0.3, -7};

		lm_adam_init(&adam, 2, 0.5);
		for (int t = 0; t < 3; t++)
			lm_adam_step(&adam, q, g);
		CHECK_CLOSE(q[0], -3 * 0.5 * 0.3 / (0.3 + 1e-8), 1e-12, 0, "adam constant g: 3 steps of lr·sign(g)");
		CHECK_CLOSE(q[1], 3 * 0.5 * 7 / (7 + 1e-8), 1e-12, 0, "adam constant negative g: 3 steps of lr");
		lm_adam_free(&adam);
	}

	/* AdamW: p −= lr·wd·p before the Adam step, only below n_decay (torch.optim.AdamW) */
	{
		double		q[2] = {2, 2},
					g[2] = {0.5, 0.5};

		lm_adam_init(&adam, 2, 0.1);
		adam.weight_decay = 0.3;
		adam.n_decay = 1;
		lm_adam_step(&adam, q, g);
		CHECK_CLOSE(q[0], 2 * (1 - 0.1 * 0.3) - 0.1 * 0.5 / (0.5 + 1e-8), 1e-12, 0,
					"adamw: decoupled decay, then the Adam step");
		CHECK_CLOSE(q[1], 2 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-12, 0, "adamw: params past n_decay do not decay");
		lm_adam_free(&adam);
	}
}

/* ---------------------------------------------------------------- auc */

/* Σ over (pos, neg) pairs of [s⁺ > s⁻] + ½[s⁺ = s⁻], over n⁺ n⁻ */
static double
brute_auc(const double *s, const double *y, int n)
{
	double		wins = 0;
	long		pairs = 0;

	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			if (y[i] >= 0.5 && y[j] < 0.5)
			{
				wins += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
				pairs++;
			}
	return pairs ? wins / pairs : -1;
}

static void
test_auc(void)
{
	double		s[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6},
				y_up[6] = {0, 0, 0, 1, 1, 1},
				y_down[6] = {1, 1, 1, 0, 0, 0},
				flat[6] = {0.7, 0.7, 0.7, 0.7, 0.7, 0.7},
				y_one[6] = {1, 1, 1, 1, 1, 1},
				y_zero[6] = {0, 0, 0, 0.3, 0.49, 0};
	/* positives 0.4, 0.8, 0.4; negatives 0.1, 0.4: pairs 1,½,1,1,1,½ -> 5/6 */
	double		ts[5] = {0.1, 0.4, 0.4, 0.8, 0.4},
				ty[5] = {0, 1, 0, 1, 1};
	/* labels 0.3 and 0.5: 0.5 is positive, 0.3 negative */
	double		ss[3] = {0.2, 0.9, 0.5},
				sy[3] = {0.3, 0.5, 0.5};

	CHECK(lm_auc(s, y_up, 6) == 1, "auc perfect ranking = 1");
	CHECK(lm_auc(s, y_down, 6) == 0, "auc reversed ranking = 0");
	CHECK(lm_auc(flat, y_up, 6) == 0.5, "auc all ties = 0.5");
	CHECK_CLOSE(lm_auc(ts, ty, 5), 5.0 / 6, 0, 1e-15, "auc hand case with ties = 5/6");
	CHECK(lm_auc(ss, sy, 3) == 1, "auc: label 0.5 counts as positive, 0.3 as negative");
	CHECK(lm_auc(s, y_one, 6) == -1, "auc all positive = -1");
	CHECK(lm_auc(s, y_zero, 6) == -1, "auc all negative = -1");
	CHECK(lm_auc(s, y_up, 0) == -1, "auc of nothing = -1");

	/* random scores with many ties vs pair counting */
	for (int trial = 0; trial < 5; trial++)
	{
		int			n = 10 + 37 * trial;
		double	   *rs = malloc(n * sizeof(double)),
				   *ry = malloc(n * sizeof(double));

		for (int i = 0; i < n; i++)
		{
			rs[i] = floor(rng_uniform(&rng) * 6) / 6;	/* six distinct scores */
			ry[i] = rng_uniform(&rng) < 0.4 + 0.3 * rs[i];
		}
		CHECK_CLOSE(lm_auc(rs, ry, n), brute_auc(rs, ry, n), 0, 1e-12,
					"auc n=%d with ties = pair count", n);
		free(rs);
		free(ry);
	}
}

/* -------------------------------------------------------- determinism */

static void
test_determinism(void)
{
	static const int mh[1] = {64},
				gh[2] = {64, 32};
	LmArch		arch;
	const char *err = lm_arch_init(&arch, 40, 70, 16, mh, 1, gh, 2, LM_LOSS_BCE);
	double	   *params,
			   *g1,
			   *g2,
			   *g3,
				member[40],
				s_item[8 * 70],
				s_label[8],
				q_item[6 * 70],
				q_label[6],
				l1,
				l2,
				l3;
	LmTask		task = {member, {8, s_item, s_label, NULL}, {6, q_item, q_label, NULL}};
	LmWork	   *work,
			   *fresh;

	CHECK(err == NULL, "determinism arch accepted");
	params = lm_alloc_reals(arch.n_params);
	g1 = lm_alloc_reals(arch.n_params);
	g2 = lm_alloc_reals(arch.n_params);
	g3 = lm_alloc_reals(arch.n_params);
	lm_arch_init_params(&arch, params, rng_uniform, &rng);
	for (int i = 0; i < 40; i++)
		member[i] = rng_range(&rng, -1, 1);
	for (int i = 0; i < 8 * 70; i++)
		s_item[i] = rng_range(&rng, -1, 1);
	for (int i = 0; i < 6 * 70; i++)
		q_item[i] = rng_range(&rng, -1, 1);
	for (int r = 0; r < 8; r++)
		s_label[r] = r % 3 == 0;
	for (int r = 0; r < 6; r++)
		q_label[r] = r % 2;

	work = lm_work_create(&arch, 8);
	fresh = lm_work_create(&arch, 8);
	l1 = lm_task_grad_fo(&arch, params, &task, 3, 0.05, 1.0, g1, work);
	l2 = lm_task_grad_fo(&arch, params, &task, 3, 0.05, 1.0, g2, work);
	l3 = lm_task_grad_fo(&arch, params, &task, 3, 0.05, 1.0, g3, fresh);
	CHECK(l1 == l2 && memcmp(g1, g2, arch.n_params * sizeof(double)) == 0,
		  "lm_task_grad_fo twice on the same work is bit-identical");
	CHECK(l1 == l3 && memcmp(g1, g3, arch.n_params * sizeof(double)) == 0,
		  "lm_task_grad_fo on a fresh work is bit-identical");
	lm_work_free(work);
	lm_work_free(fresh);
	lm_free(params);
	lm_free(g1);
	lm_free(g2);
	lm_free(g3);
}

/* ---------------------------------------------------------------- arch */

static void
test_arch(void)
{
	static const int h1[1] = {4},
				h0w[2] = {4, 0},
				zero[1] = {0},
				wide[1] = {LM_MAX_WIDTH + 1},
				nine[9] = {2, 2, 2, 2, 2, 2, 2, 2, 2};
	static const int mh[1] = {5},
				gh[2] = {6, 3};
	LmArch		a;
	const char *err;
	double	   *p;
	int			ok;

#define REJECTS(what, ...) \
	do { \
		err = lm_arch_init(&a, __VA_ARGS__); \
		CHECK(err != NULL && err[0] != '\0', "lm_arch_init rejects %s (%s)", what, \
			  err ? err : "accepted"); \
	} while (0)
	REJECTS("item_dim 0", 2, 0, 3, NULL, 0, NULL, 0, LM_LOSS_BCE);
	REJECTS("embedding_dim 0", 2, 3, 0, NULL, 0, NULL, 0, LM_LOSS_BCE);
	REJECTS("member_dim -1", -1, 3, 3, NULL, 0, NULL, 0, LM_LOSS_BCE);
	REJECTS("item_dim past LM_MAX_WIDTH", 2, LM_MAX_WIDTH + 1, 3, NULL, 0, NULL, 0, LM_LOSS_BCE);
	REJECTS("9 global hidden layers", 2, 3, 3, NULL, 0, nine, 9, LM_LOSS_BCE);
	REJECTS("9 meta hidden layers", 2, 3, 3, nine, 9, NULL, 0, LM_LOSS_BCE);
	REJECTS("a global hidden width 0", 2, 3, 3, NULL, 0, h0w, 2, LM_LOSS_BCE);
	REJECTS("a meta hidden width 0", 2, 3, 3, zero, 1, h1, 1, LM_LOSS_MSE);
	REJECTS("a hidden width past LM_MAX_WIDTH", 2, 3, 3, NULL, 0, wide, 1, LM_LOSS_MSE);
	REJECTS("negative hidden layer count", 2, 3, 3, NULL, 0, h1, -1, LM_LOSS_MSE);
	REJECTS("an unknown loss", 2, 3, 3, NULL, 0, NULL, 0, (LmLoss) 7);
#undef REJECTS

	/* featureless meta block: hidden widths ignored, even bad ones */
	err = lm_arch_init(&a, 0, 2, 3, zero, 1, NULL, 0, LM_LOSS_BCE);
	CHECK(err == NULL && a.n_meta == 1 && a.meta[0].in_dim == 0,
		  "member_dim 0 ignores the meta hidden widths");
	err = lm_arch_init(&a, 0, 2, 3, nine, 9, NULL, 0, LM_LOSS_BCE);
	CHECK(err == NULL, "member_dim 0 ignores the meta hidden layer count");

	/* member 0, item 2, embedding 3, no hidden: meta 3, global (3+2)·1 + 1 = 6 */
	err = lm_arch_init(&a, 0, 2, 3, NULL, 0, NULL, 0, LM_LOSS_BCE);
	CHECK(err == NULL && a.n_meta_params == 3 && a.n_global_params == 6 && a.n_params == 9,
		  "param count of the learned-vector arch = 3 + 6");

	/*
	 * member 3, item 4, embedding 2, meta {5}, global {6, 3}:
	 *   meta   3·5+5 = 20, 5·2+2 = 12                 -> 32
	 *   global (2+4)·6+6 = 42, 6·3+3 = 21, 3·1+1 = 4  -> 67
	 */
	err = lm_arch_init(&a, 3, 4, 2, mh, 1, gh, 2, LM_LOSS_MSE);
	CHECK(err == NULL, "known arch accepted");
	CHECK(a.n_meta_params == 32 && a.n_global_params == 67 && a.n_params == 99,
		  "param count of the known arch = 32 + 67 = 99 (got %zu + %zu = %zu)",
		  a.n_meta_params, a.n_global_params, a.n_params);
	CHECK(a.n_meta == 2 && a.n_global == 3, "layer counts of the known arch");
	CHECK(a.meta[0].w_off == 0 && a.meta[0].b_off == 15 && a.meta[1].w_off == 20 &&
		  a.meta[1].b_off == 30 && a.global[0].w_off == 0 && a.global[0].b_off == 36 &&
		  a.global[1].w_off == 42 && a.global[1].b_off == 60 && a.global[2].w_off == 63 &&
		  a.global[2].b_off == 66, "layer offsets of the known arch");
	CHECK(a.meta_act_size == 7 && a.global_act_width == 10 && a.max_width == 6,
		  "activation sizes of the known arch (7, 10, max width 6)");
	CHECK(a.member_dim == 3 && a.item_dim == 4 && a.embedding_dim == 2 && a.loss == LM_LOSS_MSE,
		  "known arch keeps its dims and loss");

	/* init: He/LeCun bounds for weights, zero biases */
	p = lm_alloc_reals(a.n_params);
	for (size_t i = 0; i < a.n_params; i++)
		p[i] = NAN;
	lm_arch_init_params(&a, p, rng_uniform, &rng);
	ok = 1;
	for (int blk = 0; blk < 2; blk++)
	{
		const LmDense *layers = blk ? a.global : a.meta;
		int			n = blk ? a.n_global : a.n_meta;
		double	   *base = blk ? p + a.n_meta_params : p;

		for (int l = 0; l < n; l++)
		{
			double		bound = sqrt((l == n - 1 ? 3.0 : 6.0) / layers[l].in_dim);

			for (int k = 0; k < layers[l].in_dim * layers[l].out_dim; k++)
				ok &= fabs(base[layers[l].w_off + k]) <= bound;
			for (int o = 0; o < layers[l].out_dim; o++)
				ok &= base[layers[l].b_off + o] == 0;
		}
	}
	CHECK(ok, "lm_arch_init_params: weights within He/LeCun bounds, zero biases");
	lm_free(p);

	lm_arch_init(&a, 0, 2, 4, NULL, 0, NULL, 0, LM_LOSS_BCE);
	p = lm_alloc_reals(a.n_params);
	lm_arch_init_params(&a, p, rng_uniform, &rng);
	ok = 1;
	for (int j = 0; j < 4; j++)
		ok &= fabs(p[j]) <= 0.1 && p[j] != 0;
	CHECK(ok, "lm_arch_init_params: the learned vector is U(-0.1, 0.1)");
	lm_free(p);
}

/* ------------------------------------------------- allocation balance */

static long live_allocs;
static void *(*real_alloc)(size_t);
static void (*real_free)(void *);

static void *
count_alloc(size_t size)
{
	live_allocs++;
	return real_alloc(size);
}

static void
count_free(void *ptr)
{
	if (ptr)
		live_allocs--;
	real_free(ptr);
}

static void
test_alloc_hooks(void)
{
	LmArch		arch;
	LmWork	   *work;
	LmAdam		adam;
	double		s[4] = {0.1, 0.2, 0.3, 0.4},
				y[4] = {0, 1, 0, 1};

	real_alloc = lm_alloc;
	real_free = lm_free;
	lm_alloc = count_alloc;
	lm_free = count_free;
	lm_arch_init(&arch, 3, 2, 2, NULL, 0, NULL, 0, LM_LOSS_BCE);
	work = lm_work_create(&arch, 5);
	CHECK(live_allocs > 0, "lm_work_create allocates through lm_alloc");
	lm_work_free(work);
	lm_adam_init(&adam, 10, 0.1);
	lm_adam_free(&adam);
	lm_auc(s, y, 4);
	CHECK(live_allocs == 0, "work, adam and auc free all they allocate through the hooks (%ld left)",
		  live_allocs);
	lm_alloc = real_alloc;
	lm_free = real_free;
}

int
main(void)
{
	test_inner_mse();
	test_inner_bce();
	test_adapt_embedding();
	test_adam();
	test_auc();
	test_determinism();
	test_arch();
	test_alloc_hooks();
	return check_done();
}
