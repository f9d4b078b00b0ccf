/*
 * test_grad.c - central finite-difference checks of every backward pass of
 * the double build of the core.
 *
 * The objectives are evaluated by a plain-loop reference network written
 * here from arch.h's documented parameter layout (W[out][in] then b[out]
 * per layer, meta block first), independent of the core's forward code; the
 * core's forward passes (and lm_serve_item) are checked against it first.
 *
 * Gradient tolerance, per element: |analytic - fd| <= max(1e-9,
 * 1e-6 · max(|analytic|, |fd|)), fd from a central difference with h = 1e-6.
 * Inputs are random from a fixed seed; ReLU pre-activations are nowhere
 * near 0 at that seed (a difference across a kink would fail loudly).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "block.h"
#include "dense.h"
#include "kernels.h"
#include "loss.h"
#include "maml.h"
#include "serve.h"
#include "check.h"

#ifndef LIMAML_DOUBLE
#error "test_grad needs the double build of the core (-DLIMAML_DOUBLE)"
#endif

#define FD_H 1e-6
#define FD_RTOL 1e-6
#define FD_ATOL 1e-9
#define FWD_TOL 1e-12			/* core forward vs reference forward */
#define MAX_ROWS 9				/* LmWork rows: more than any call uses */

static TestRng rng = {0x5eed1234ULL};

static double *
random_vec(size_t n, double lo, double hi)
{
	double	   *p = malloc((n > 0 ? n : 1) * sizeof(double));

	for (size_t i = 0; i < n; i++)
		p[i] = rng_range(&rng, lo, hi);
	return p;
}

static double *
copy_vec(const double *x, size_t n)
{
	double	   *p = malloc((n > 0 ? n : 1) * sizeof(double));

	memcpy(p, x, n * sizeof(double));
	return p;
}

/* ------------------------------------------------- finite differences */

typedef long double (*Objective) (void *ctx);

/*
 * g[i] = central difference of f wrt x[i] (x is read by f through ctx) for
 * i % stride == 0; other g[i] are NaN (not compared).
 */
static void
fd_grad(Objective f, void *ctx, double *x, size_t n, size_t stride, double *g)
{
	for (size_t i = 0; i < n; i++)
	{
		double		x0 = x[i],
					xp = x0 + FD_H,
					xm = x0 - FD_H;
		long double fp,
					fm;

		if (i % stride != 0)
		{
			g[i] = NAN;
			continue;
		}
		x[i] = xp;
		fp = f(ctx);
		x[i] = xm;
		fm = f(ctx);
		x[i] = x0;
		g[i] = (double) ((fp - fm) / (xp - xm));
	}
}

/* one check over a gradient block, reporting its worst element */
__attribute__((format(printf, 4, 5)))
static void
check_grad(const double *analytic, const double *fd, size_t n, const char *fmt, ...)
{
	char		name[400],
				full[512],
				detail[256] = "";
	va_list		ap;
	double		worst_ratio = 0;
	size_t		worst = 0,
				compared = 0;
	int			ok = 1;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < n; i++)
	{
		double		a = analytic[i],
					f = fd[i],
					tol,
					ratio;

		if (isnan(f))
			continue;			/* not sampled */
		compared++;
		tol = fmax(FD_ATOL, FD_RTOL * fmax(fabs(a), fabs(f)));
		ratio = isnan(a) ? INFINITY : fabs(a - f) / tol;
		if (ratio > 1)
			ok = 0;
		if (ratio > worst_ratio || (ok == 0 && worst_ratio == 0))
		{
			worst_ratio = ratio;
			worst = i;
		}
	}
	if (!ok)
		snprintf(detail, sizeof(detail),
				 "worst at [%zu]: analytic %.12g, finite difference %.12g (err/tol %.3g)",
				 worst, analytic[worst], fd[worst], worst_ratio);
	snprintf(full, sizeof(full), "%s (%zu values, worst err/tol %.2g)",
			 name, compared, worst_ratio);
	check_report(ok && compared > 0, __FILE__, __LINE__,
				 compared ? detail : "nothing compared", "%s", full);
}

/* max |a - b| <= tol · (1 + max |b|) */
__attribute__((format(printf, 5, 6)))
static void
check_vec(const double *got, const double *want, size_t n, double tol, const char *fmt, ...)
{
	char		name[400],
				detail[256] = "";
	va_list		ap;
	double		worst = 0,
				scale = 1;
	size_t		at = 0;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < n; i++)
		scale = fmax(scale, 1 + fabs(want[i]));
	for (size_t i = 0; i < n; i++)
	{
		double		err = fabs(got[i] - want[i]);

		if (isnan(err))
			err = INFINITY;
		if (err > worst)
		{
			worst = err;
			at = i;
		}
	}
	if (n > 0)
		snprintf(detail, sizeof(detail), "worst at [%zu]: got %.17g, want %.17g",
				 at, got[at], want[at]);
	check_report(worst <= tol * scale, __FILE__, __LINE__, detail, "%s", name);
}

/* ------------------------------------------------- reference network */

/*
 * The reference accumulates in long double: central differences divide the
 * objective's rounding error by 2h, so a double-rounded objective would
 * put ~1e-10 of noise into each difference.
 */
typedef long double ldbl;

/* one MLP on one input row; ReLU after every layer but the last */
static void
ref_mlp(const LmDense *layers, int n_layers, const double *block,
		const ldbl *in, ldbl *out)
{
	static ldbl buf[2][LM_MAX_WIDTH];
	const ldbl *x = in;

	for (int l = 0; l < n_layers; l++)
	{
		const LmDense *layer = &layers[l];
		ldbl	   *z = l == n_layers - 1 ? out : buf[l % 2];

		for (int o = 0; o < layer->out_dim; o++)
		{
			ldbl		s = block[layer->b_off + o];

			for (int i = 0; i < layer->in_dim; i++)
				s += block[layer->w_off + (size_t) o * layer->in_dim + i] * x[i];
			z[o] = (l < n_layers - 1 && s < 0) ? 0 : s;
		}
		x = z;
	}
}

static void
ref_embedding(const LmArch *arch, const double *meta, const double *member, ldbl *e)
{
	ldbl		x[LM_MAX_WIDTH];

	for (int i = 0; i < arch->member_dim; i++)
		x[i] = member[i];
	ref_mlp(arch->meta, arch->n_meta, meta, x, e);
}

static void
ref_predict(const LmArch *arch, const double *global, const ldbl *e,
			const double *item, int n, ldbl *pred)
{
	ldbl		in[2 * LM_MAX_WIDTH];
	int			d = arch->embedding_dim;

	for (int r = 0; r < n; r++)
	{
		for (int j = 0; j < d; j++)
			in[j] = e[j];
		for (int i = 0; i < arch->item_dim; i++)
			in[d + i] = item[(size_t) r * arch->item_dim + i];
		ref_mlp(arch->global, arch->n_global, global, in, &pred[r]);
	}
}

/* the same, rounded to double for comparisons with the core */
static void
ref_embedding_d(const LmArch *arch, const double *meta, const double *member, double *e)
{
	ldbl		le[LM_MAX_WIDTH];

	ref_embedding(arch, meta, member, le);
	for (int j = 0; j < arch->embedding_dim; j++)
		e[j] = (double) le[j];
}

static void
ref_predict_d(const LmArch *arch, const double *global, const double *e,
			  const double *item, int n, double *pred)
{
	ldbl		le[LM_MAX_WIDTH],
				lp[MAX_ROWS];

	for (int j = 0; j < arch->embedding_dim; j++)
		le[j] = e[j];
	ref_predict(arch, global, le, item, n, lp);
	for (int r = 0; r < n; r++)
		pred[r] = (double) lp[r];
}

static ldbl
log1pexp(ldbl x)
{
	return x > 0 ? x + log1pl(expl(-x)) : log1pl(expl(x));
}

/* -y log σ(z) - (1-y) log(1-σ(z)) = y·softplus(-z) + (1-y)·softplus(z) */
static ldbl
ref_loss(LmLoss loss, const ldbl *pred, const double *label, int n)
{
	ldbl		total = 0;

	if (n == 0)
		return 0;
	for (int r = 0; r < n; r++)
	{
		if (loss == LM_LOSS_BCE)
			total += label[r] * log1pexp(-pred[r]) + (1 - label[r]) * log1pexp(pred[r]);
		else
			total += (pred[r] - label[r]) * (pred[r] - label[r]);
	}
	return total / n;
}

static double
ref_loss_d(LmLoss loss, const double *pred, const double *label, int n)
{
	ldbl		lp[64];

	for (int r = 0; r < n; r++)
		lp[r] = pred[r];
	return (double) ref_loss(loss, lp, label, n);
}

/* L(θ_meta, θ_global) on one member's rows */
static ldbl
ref_rows_loss(const LmArch *arch, const double *meta, const double *global,
			  const double *member, const LmRows *rows)
{
	ldbl		e[LM_MAX_WIDTH],
				pred[MAX_ROWS];

	ref_embedding(arch, meta, member, e);
	ref_predict(arch, global, e, rows->item, rows->n, pred);
	return ref_loss(arch->loss, pred, rows->label, rows->n);
}

/* ------------------------------------------------------------ dense */

typedef struct DenseCtx
{
	int			n,
				in_dim,
				out_dim,
				ldw;
	double	   *W,
			   *b,
			   *in,
			   *c;
} DenseCtx;

static ldbl
ref_dense_out(const DenseCtx *x, int r, int o)
{
	ldbl		s = x->b[o];

	for (int i = 0; i < x->in_dim; i++)
		s += (ldbl) x->W[(size_t) o * x->ldw + i] * x->in[(size_t) r * x->in_dim + i];
	return s;
}

static void
ref_dense(const DenseCtx *x, double *out)
{
	for (int r = 0; r < x->n; r++)
		for (int o = 0; o < x->out_dim; o++)
			out[(size_t) r * x->out_dim + o] = (double) ref_dense_out(x, r, o);
}

/* Σ c ⊙ dense(in) */
static ldbl
dense_objective(void *p)
{
	DenseCtx   *x = p;
	ldbl		s = 0;

	for (int r = 0; r < x->n; r++)
		for (int o = 0; o < x->out_dim; o++)
			s += x->c[(size_t) r * x->out_dim + o] * ref_dense_out(x, r, o);
	return s;
}

static void
test_dense(int n, int in_dim, int out_dim, int ldw)
{
	size_t		nw = (size_t) out_dim * ldw,
				nin = (size_t) n * in_dim,
				nout = (size_t) n * out_dim;
	DenseCtx	x = {n, in_dim, out_dim, ldw,
		random_vec(nw, -1, 1), random_vec(out_dim, -1, 1),
	random_vec(nin, -1, 1), random_vec(nout, -1, 1)};
	double	   *out = malloc(nout * sizeof(double));
	double	   *want = calloc(nout, sizeof(double));
	double	   *dW0 = random_vec(nw, -1, 1),
			   *db0 = random_vec(out_dim, -1, 1);
	double	   *dW = copy_vec(dW0, nw),
			   *db = copy_vec(db0, out_dim),
			   *din = malloc(nin * sizeof(double)),
			   *din2 = malloc(nin * sizeof(double)),
			   *db2 = copy_vec(db0, out_dim);
	double	   *fd_W = malloc(nw * sizeof(double)),
			   *fd_b = malloc(out_dim * sizeof(double)),
			   *fd_in = malloc(nin * sizeof(double));
	int			pad_ok = 1;
	char		tag[96];

	snprintf(tag, sizeof(tag), "dense n=%d in=%d out=%d ldw=%d", n, in_dim, out_dim, ldw);

	for (size_t k = 0; k < nout; k++)
		out[k] = NAN;			/* forward overwrites */
	dense_forward(out, x.in, x.W, ldw, x.b, n, in_dim, out_dim);
	ref_dense(&x, want);
	check_vec(out, want, nout, FWD_TOL, "%s forward", tag);

	for (size_t k = 0; k < nin; k++)
		din[k] = NAN;			/* din is overwritten, never read */
	dense_backward(din, dW, db, x.c, x.in, x.W, ldw, n, in_dim, out_dim);
	for (size_t k = 0; k < nw; k++)
	{
		if ((int) (k % ldw) >= in_dim && dW[k] != dW0[k])
			pad_ok = 0;			/* columns past in_dim belong to someone else */
		dW[k] -= dW0[k];		/* the accumulated part */
	}
	for (int o = 0; o < out_dim; o++)
		db[o] -= db0[o];

	fd_grad(dense_objective, &x, x.W, nw, 1, fd_W);
	fd_grad(dense_objective, &x, x.b, out_dim, 1, fd_b);
	fd_grad(dense_objective, &x, x.in, nin, 1, fd_in);
	check_grad(dW, fd_W, nw, "%s dW (accumulated)", tag);
	check_grad(db, fd_b, out_dim, "%s db (accumulated)", tag);
	check_grad(din, fd_in, nin, "%s din", tag);
	if (ldw > in_dim)
		CHECK(pad_ok, "%s dW columns past in_dim untouched", tag);

	/* NULL outputs are skipped; the others come out the same */
	for (size_t k = 0; k < nin; k++)
		din2[k] = NAN;
	dense_backward(din2, NULL, NULL, x.c, x.in, x.W, ldw, n, in_dim, out_dim);
	CHECK(memcmp(din, din2, nin * sizeof(double)) == 0, "%s din alone (dW, db NULL)", tag);
	dense_backward(NULL, NULL, db2, x.c, x.in, x.W, ldw, n, in_dim, out_dim);
	for (int o = 0; o < out_dim; o++)
		db2[o] -= db0[o];
	CHECK(memcmp(db, db2, out_dim * sizeof(double)) == 0, "%s db alone (dW, din NULL)", tag);

	free(x.W), free(x.b), free(x.in), free(x.c);
	free(out), free(want), free(dW0), free(db0), free(dW), free(db), free(din), free(din2);
	free(db2), free(fd_W), free(fd_b), free(fd_in);
}

/* ------------------------------------------------------------- relu */

typedef struct ReluCtx
{
	size_t		n;
	double	   *x,
			   *c;
} ReluCtx;

static ldbl
relu_objective(void *p)
{
	ReluCtx    *r = p;
	ldbl		s = 0;

	for (size_t k = 0; k < r->n; k++)
		s += r->c[k] * (r->x[k] > 0 ? r->x[k] : 0);
	return s;
}

static void
test_relu(void)
{
	size_t		n = 64;
	ReluCtx		r = {n, malloc(n * sizeof(double)), random_vec(n, -1, 1)};
	double	   *out = malloc(n * sizeof(double)),
			   *dx = malloc(n * sizeof(double)),
			   *fd = malloc(n * sizeof(double)),
			   *buf = malloc(n * sizeof(double));
	int			fwd_ok = 1;

	/* keep clear of the kink at 0 */
	for (size_t k = 0; k < n; k++)
		r.x[k] = (rng_uniform(&rng) < 0.5 ? -1 : 1) * rng_range(&rng, 0.01, 2);
	relu_forward(out, r.x, n);
	for (size_t k = 0; k < n; k++)
		if (out[k] != (r.x[k] > 0 ? r.x[k] : 0))
			fwd_ok = 0;
	CHECK(fwd_ok, "relu_forward");
	relu_backward(dx, r.c, out, n);
	fd_grad(relu_objective, &r, r.x, n, 1, fd);
	check_grad(dx, fd, n, "relu_backward");

	/* in place */
	memcpy(buf, r.x, n * sizeof(double));
	relu_forward(buf, buf, n);
	CHECK(memcmp(buf, out, n * sizeof(double)) == 0, "relu_forward in place");
	memcpy(buf, r.c, n * sizeof(double));
	relu_backward(buf, buf, out, n);
	CHECK(memcmp(buf, dx, n * sizeof(double)) == 0, "relu_backward in place");

	free(r.x), free(r.c), free(out), free(dx), free(fd), free(buf);
}

/* ------------------------------------------------------------- loss */

typedef struct LossCtx
{
	LmLoss		loss;
	int			n;
	double	   *pred,
			   *label;
} LossCtx;

static ldbl
loss_objective(void *p)
{
	LossCtx    *x = p;
	ldbl		lp[64];

	for (int r = 0; r < x->n; r++)
		lp[r] = x->pred[r];
	return ref_loss(x->loss, lp, x->label, x->n);
}

static void
test_loss_case(LmLoss loss, const char *what, const double *label, int n, double scale)
{
	LossCtx		x = {loss, n, random_vec(n, -3, 3), copy_vec(label, n)};
	double	   *dpred = malloc(n * sizeof(double)),
			   *fd = malloc(n * sizeof(double));
	const char *name = loss == LM_LOSS_BCE ? "bce" : "mse";
	double		value;

	value = loss_forward_backward(loss, x.pred, x.label, n, dpred, scale);
	CHECK_CLOSE(value, ref_loss_d(loss, x.pred, x.label, n), 1e-14, 1e-15,
				"loss %s %s n=%d value", name, what, n);
	CHECK(value == loss_forward_backward(loss, x.pred, x.label, n, NULL, scale),
		  "loss %s %s n=%d value without dpred", name, what, n);
	fd_grad(loss_objective, &x, x.pred, n, 1, fd);
	for (int r = 0; r < n; r++)
		fd[r] *= scale;
	check_grad(dpred, fd, n, "loss %s %s n=%d scale=%g dpred", name, what, n, scale);
	free(x.pred), free(x.label), free(dpred), free(fd);
}

static void
test_loss(void)
{
	double		zeros[6] = {0, 0, 0, 0, 0, 0},
				ones[6] = {1, 1, 1, 1, 1, 1},
				soft[6] = {0.3, 0.3, 0.3, 0.3, 0.3, 0.3},
				mixed[6] = {0, 1, 0.3, 1, 0, 0.7},
				values[6] = {-1.5, 0.25, 2, 0, 3.5, -0.75};
	double		big[2] = {50, -50},
				y01[2] = {0, 1};
	double		d[2];

	test_loss_case(LM_LOSS_BCE, "labels 0", zeros, 6, 1.0);
	test_loss_case(LM_LOSS_BCE, "labels 1", ones, 6, 1.0);
	test_loss_case(LM_LOSS_BCE, "labels 0.3", soft, 6, 1.0);
	test_loss_case(LM_LOSS_BCE, "labels mixed", mixed, 6, 0.5);
	test_loss_case(LM_LOSS_BCE, "one row", ones, 1, 1.0);
	test_loss_case(LM_LOSS_MSE, "values", values, 6, 1.0);
	test_loss_case(LM_LOSS_MSE, "values", values, 6, 0.5);
	test_loss_case(LM_LOSS_MSE, "one row", values, 1, 1.0);

	/* confident wrong answers: no overflow, loss ≈ |z| */
	CHECK_CLOSE(loss_forward_backward(LM_LOSS_BCE, big, y01, 2, d, 1.0), 50, 1e-12, 0,
				"loss bce logits ±50 wrong way: no overflow");
	CHECK_CLOSE(d[0], 0.5, 1e-12, 0, "loss bce logit 50 label 0: dpred = (σ-y)/n");
	CHECK_CLOSE(d[1], -0.5, 1e-12, 0, "loss bce logit -50 label 1: dpred = (σ-y)/n");
	CHECK(loss_forward_backward(LM_LOSS_MSE, big, y01, 0, d, 1.0) == 0, "loss of 0 rows is 0");
	CHECK_CLOSE(loss_output(LM_LOSS_BCE, 0.7), 1 / (1 + exp(-0.7)), 1e-15, 0, "loss_output bce is σ");
	CHECK_CLOSE(loss_output(LM_LOSS_BCE, -40), exp(-40) / (1 + exp(-40)), 1e-14, 0,
				"loss_output bce at -40");
	CHECK(loss_output(LM_LOSS_MSE, -2.5) == -2.5, "loss_output mse is the value");
}

/* ---------------------------------------------------- architectures */

typedef struct ArchSpec
{
	const char *name;
	int			member_dim,
				item_dim,
				embedding_dim;
	int			n_meta_hidden;
	int			meta_hidden[2];
	int			n_global_hidden;
	int			global_hidden[2];
} ArchSpec;

static const ArchSpec specs[] = {
	{"vec/g0", 0, 3, 2, 0, {0}, 0, {0}},
	{"vec/g1", 0, 4, 3, 0, {0}, 1, {5}},
	{"vec(hidden ignored)/g2", 0, 2, 3, 2, {8, 8}, 2, {4, 3}},
	{"mem/m0/g0", 4, 3, 2, 0, {0}, 0, {0}},
	{"mem/m1/g1", 5, 3, 3, 1, {6}, 1, {4}},
	{"mem/m2/g2", 3, 6, 4, 2, {5, 4}, 2, {7, 3}},
	{"mem/m2/g0", 6, 2, 3, 2, {4, 3}, 0, {0}},
	{"mem/m0/g2", 2, 5, 2, 0, {0}, 2, {6, 5}},
	{"wide/m1/g2", 40, 70, 16, 1, {64}, 2, {64, 32}},	/* BLAS-sized GEMMs */
};
#define N_SPECS ((int) (sizeof(specs) / sizeof(specs[0])))

static const char *
loss_name(LmLoss loss)
{
	return loss == LM_LOSS_BCE ? "bce" : "mse";
}

static int
make_arch(const ArchSpec *s, LmLoss loss, LmArch *arch)
{
	const char *err = lm_arch_init(arch, s->member_dim, s->item_dim, s->embedding_dim,
								   s->meta_hidden, s->n_meta_hidden,
								   s->global_hidden, s->n_global_hidden, loss);

	CHECK(err == NULL, "arch %s %s: lm_arch_init accepts it (%s)", s->name,
		  loss_name(loss), err ? err : "ok");
	return err == NULL;
}

/* initialized params, then random biases so that no bias hides as 0 */
static double *
make_params(const LmArch *arch)
{
	double	   *p = lm_alloc_reals(arch->n_params);
	double	   *global = p + arch->n_meta_params;

	lm_arch_init_params(arch, p, rng_uniform, &rng);
	for (int l = 0; l < arch->n_meta; l++)
		if (arch->meta[l].in_dim > 0)
			for (int o = 0; o < arch->meta[l].out_dim; o++)
				p[arch->meta[l].b_off + o] = rng_range(&rng, -0.2, 0.2);
	for (int l = 0; l < arch->n_global; l++)
		for (int o = 0; o < arch->global[l].out_dim; o++)
			global[arch->global[l].b_off + o] = rng_range(&rng, -0.2, 0.2);
	return p;
}

static size_t
fd_stride(size_t n)
{
	return n > 3000 ? 7 : 1;	/* sample the wide arch's params */
}

static void
test_layout(const ArchSpec *s, const LmArch *arch)
{
	size_t		off = 0;
	int			ok = 1;

	for (int l = 0; l < arch->n_meta; l++)
	{
		const LmDense *L = &arch->meta[l];

		ok &= L->w_off == off && L->b_off == off + (size_t) L->in_dim * L->out_dim;
		ok &= L->in_dim == (l == 0 ? s->member_dim : arch->meta[l - 1].out_dim);
		off = L->b_off + L->out_dim;
	}
	ok &= arch->meta[arch->n_meta - 1].out_dim == s->embedding_dim;
	ok &= off == arch->n_meta_params;
	off = 0;
	for (int l = 0; l < arch->n_global; l++)
	{
		const LmDense *L = &arch->global[l];

		ok &= L->w_off == off && L->b_off == off + (size_t) L->in_dim * L->out_dim;
		ok &= L->in_dim == (l == 0 ? s->embedding_dim + s->item_dim : arch->global[l - 1].out_dim);
		off = L->b_off + L->out_dim;
	}
	ok &= arch->global[arch->n_global - 1].out_dim == 1;
	ok &= off == arch->n_global_params;
	ok &= arch->n_params == arch->n_meta_params + arch->n_global_params;
	ok &= arch->n_meta == (s->member_dim > 0 ? s->n_meta_hidden : 0) + 1;
	ok &= arch->n_global == s->n_global_hidden + 1;
	CHECK(ok, "arch %s: layers are contiguous W[out][in], b[out] in order", s->name);
}

/* ------------------------------------------------------------- meta */

typedef struct MetaCtx
{
	const LmArch *arch;
	double	   *meta,
			   *x,
			   *c;
} MetaCtx;

static ldbl
meta_objective(void *p)
{
	MetaCtx    *m = p;
	ldbl		e[LM_MAX_WIDTH],
				s = 0;

	ref_embedding(m->arch, m->meta, m->x, e);
	for (int j = 0; j < m->arch->embedding_dim; j++)
		s += m->c[j] * e[j];
	return s;
}

static void
test_meta(const ArchSpec *s, const LmArch *arch)
{
	size_t		np = arch->n_meta_params;
	int			d = arch->embedding_dim;
	double	   *params = make_params(arch);
	MetaCtx		m = {arch, params, s->member_dim ? random_vec(s->member_dim, -1, 1) : NULL,
	random_vec(d, -1, 1)};
	LmWork	   *work = lm_work_create(arch, MAX_ROWS);
	double	   *e = malloc(d * sizeof(double)),
			   *want = malloc(d * sizeof(double)),
			   *dmeta0 = random_vec(np, -1, 1),
			   *dmeta = copy_vec(dmeta0, np),
			   *fd = malloc(np * sizeof(double));

	lm_meta_forward(arch, m.meta, m.x, work, e);
	ref_embedding_d(arch, m.meta, m.x, want);
	check_vec(e, want, d, FWD_TOL, "meta %s forward", s->name);
	lm_meta_backward(arch, m.meta, m.x, m.c, work, dmeta);
	for (size_t k = 0; k < np; k++)
		dmeta[k] -= dmeta0[k];
	fd_grad(meta_objective, &m, m.meta, np, fd_stride(np), fd);
	check_grad(dmeta, fd, np, "meta %s (member_dim %d, %d layers) dmeta (accumulated)",
			   s->name, s->member_dim, arch->n_meta);

	lm_work_free(work);
	lm_free(params);
	free(m.x), free(m.c), free(e), free(want), free(dmeta0), free(dmeta), free(fd);
}

/* ----------------------------------------------------------- global */

typedef struct GlobalCtx
{
	const LmArch *arch;
	double	   *global,
			   *e,
			   *item,
			   *label;
	int			n;
} GlobalCtx;

static ldbl
global_objective(void *p)
{
	GlobalCtx  *g = p;
	ldbl		e[LM_MAX_WIDTH],
				pred[MAX_ROWS];

	for (int j = 0; j < g->arch->embedding_dim; j++)
		e[j] = g->e[j];
	ref_predict(g->arch, g->global, e, g->item, g->n, pred);
	return ref_loss(g->arch->loss, pred, g->label, g->n);
}

static double *
make_labels(LmLoss loss, int n)
{
	static const double bce[3] = {0, 1, 0.3};
	double	   *y = malloc((n > 0 ? n : 1) * sizeof(double));

	for (int r = 0; r < n; r++)
		y[r] = loss == LM_LOSS_BCE ? bce[(r + rng_next(&rng) % 2) % 3] : rng_range(&rng, -1, 1);
	return y;
}

static void
test_global(const ArchSpec *s, const LmArch *arch, int n)
{
	size_t		np = arch->n_global_params;
	int			d = arch->embedding_dim;
	double	   *params = make_params(arch);
	GlobalCtx	g = {arch, params + arch->n_meta_params, random_vec(d, -1, 1),
		random_vec((size_t) n * arch->item_dim, -1, 1),
	make_labels(arch->loss, n), n};
	LmWork	   *work = lm_work_create(arch, MAX_ROWS);
	double	   *pred = malloc(n * sizeof(double)),
			   *want = malloc(n * sizeof(double)),
			   *dpred = malloc(n * sizeof(double)),
			   *de = malloc(d * sizeof(double)),
			   *de2 = malloc(d * sizeof(double)),
			   *dglobal0 = random_vec(np, -1, 1),
			   *dglobal = copy_vec(dglobal0, np),
			   *fd_g = malloc(np * sizeof(double)),
			   *fd_e = malloc(d * sizeof(double));
	char		tag[128];

	snprintf(tag, sizeof(tag), "global %s %s n=%d", s->name, loss_name(arch->loss), n);

	lm_global_item_part(arch, g.global, g.item, n, work);
	lm_global_forward(arch, g.global, g.e, n, work, pred);
	ref_predict_d(arch, g.global, g.e, g.item, n, want);
	check_vec(pred, want, n, FWD_TOL, "%s forward", tag);
	loss_forward_backward(arch->loss, pred, g.label, n, dpred, 1.0);
	for (int j = 0; j < d; j++)
		de[j] = NAN;			/* overwritten */
	lm_global_backward(arch, g.global, g.e, g.item, n, dpred, work, de, dglobal);
	for (size_t k = 0; k < np; k++)
		dglobal[k] -= dglobal0[k];

	fd_grad(global_objective, &g, g.e, d, 1, fd_e);
	fd_grad(global_objective, &g, g.global, np, fd_stride(np), fd_g);
	check_grad(de, fd_e, d, "%s de", tag);
	check_grad(dglobal, fd_g, np, "%s dglobal (accumulated)", tag);

	/* the inner loop's call: no dglobal; same de */
	lm_global_forward(arch, g.global, g.e, n, work, pred);
	lm_global_backward(arch, g.global, g.e, g.item, n, dpred, work, de2, NULL);
	CHECK(memcmp(de, de2, d * sizeof(double)) == 0, "%s de without dglobal is the same", tag);

	lm_work_free(work);
	lm_free(params);
	free(g.e), free(g.item), free(g.label), free(pred), free(want), free(dpred);
	free(de), free(de2), free(dglobal0), free(dglobal), free(fd_g), free(fd_e);
}

/* ------------------------------------------------------------- task */

typedef struct TaskCtx
{
	const LmArch *arch;
	double	   *params;			/* [θ_meta ; θ_global] */
	const double *member;
	const LmRows *rows;
} TaskCtx;

static ldbl
task_objective(void *p)
{
	TaskCtx    *t = p;

	return ref_rows_loss(t->arch, t->params, t->params + t->arch->n_meta_params,
						 t->member, t->rows);
}

static void
test_task(const ArchSpec *s, const LmArch *arch)
{
	const int	n_support = 5,
				n_query = 4;
	const double lr = 0.1,
				scale = 0.7;
	size_t		np = arch->n_params,
				nm = arch->n_meta_params;
	double	   *params = make_params(arch);
	double	   *member = s->member_dim ? random_vec(s->member_dim, -1, 1) : NULL;
	double	   *s_item = random_vec((size_t) n_support * arch->item_dim, -1, 1),
			   *s_label = make_labels(arch->loss, n_support),
			   *q_item = random_vec((size_t) n_query * arch->item_dim, -1, 1),
			   *q_label = make_labels(arch->loss, n_query);
	LmTask		task = {member, {n_support, s_item, s_label, NULL}, {n_query, q_item, q_label, NULL}};
	LmTask		no_support = {member, {0, NULL, NULL, NULL}, {n_query, q_item, q_label, NULL}};
	LmWork	   *work = lm_work_create(arch, MAX_ROWS);
	double	   *adapted = malloc(np * sizeof(double)),
			   *prev = malloc(nm * sizeof(double)),
			   *step = malloc(nm * sizeof(double)),
			   *grad0 = random_vec(np, -1, 1),
			   *grad = malloc(np * sizeof(double)),
			   *grad_empty = malloc(np * sizeof(double)),
			   *fd = malloc(np * sizeof(double)),
			   *e = malloc(arch->embedding_dim * sizeof(double)),
			   *e_want = malloc(arch->embedding_dim * sizeof(double)),
			   *pred = malloc(n_query * sizeof(double)),
			   *pred_want = malloc(n_query * sizeof(double));
	char		tag[128];
	static const int steps_list[] = {0, 1, 3};

	snprintf(tag, sizeof(tag), "task %s %s", s->name, loss_name(arch->loss));

	/* inner loop, one step at a time: θ^{k+1} - θ^k = -lr ∇_meta L_support(θ^k) */
	memcpy(prev, params, nm * sizeof(double));
	for (int k = 1; k <= 2; k++)
	{
		TaskCtx		t = {arch, adapted, member, &task.support};
		double		first;

		memcpy(adapted, prev, nm * sizeof(double));
		memcpy(adapted + nm, params + nm, (np - nm) * sizeof(double));
		fd_grad(task_objective, &t, adapted, nm, fd_stride(nm), fd);

		first = lm_inner_loop(arch, params, params + nm, member, &task.support,
							  k, lr, adapted, work);
		if (k == 1)
			CHECK_CLOSE(first, (double) task_objective(&(TaskCtx) {arch, params, member, &task.support}),
						1e-12, 1e-15, "%s inner loop returns the support loss before step 1", tag);
		for (size_t j = 0; j < nm; j++)
			step[j] = (prev[j] - adapted[j]) / lr;
		check_grad(step, fd, nm, "%s inner loop step %d = -lr grad of the support loss", tag, k);
		memcpy(prev, adapted, nm * sizeof(double));
	}

	for (size_t si = 0; si < sizeof(steps_list) / sizeof(steps_list[0]); si++)
	{
		int			steps = steps_list[si];
		TaskCtx		t = {arch, adapted, member, &task.query};
		double		loss;

		/* θ_meta^K, then [θ_meta^K ; θ_global] */
		lm_inner_loop(arch, params, params + nm, member, &task.support, steps, lr,
					  adapted, work);
		memcpy(adapted + nm, params + nm, (np - nm) * sizeof(double));
		if (steps == 0)
			CHECK(memcmp(adapted, params, np * sizeof(double)) == 0,
				  "%s K=0 inner loop copies θ_meta", tag);

		memcpy(grad, grad0, np * sizeof(double));
		loss = lm_task_grad_fo(arch, params, &task, steps, lr, scale, grad, work);
		for (size_t j = 0; j < np; j++)
			grad[j] = (grad[j] - grad0[j]) / scale;
		CHECK_CLOSE(loss, (double) task_objective(&t), 1e-12, 1e-15,
					"%s K=%d returns the query loss at the adapted params", tag, steps);
		fd_grad(task_objective, &t, adapted, np, fd_stride(np), fd);
		if (steps == 0)
			check_grad(grad, fd, np, "%s K=0 full gradient of the query loss (scale %g, accumulated)",
					   tag, scale);
		else
		{
			check_grad(grad, fd, nm, "%s K=%d meta part = grad of L_query at θ_meta^K", tag, steps);
			check_grad(grad + nm, fd + nm, np - nm,
					   "%s K=%d global part = grad of L_query at θ_meta^K", tag, steps);
		}

		/* adaptation and prediction agree with the reference */
		lm_adapt_embedding(arch, params, member, &task.support, steps, lr, e, work);
		ref_embedding_d(arch, adapted, member, e_want);
		check_vec(e, e_want, arch->embedding_dim, FWD_TOL, "%s K=%d lm_adapt_embedding", tag, steps);
		lm_predict(arch, params, e, q_item, n_query, work, pred);
		ref_predict_d(arch, params + nm, e_want, q_item, n_query, pred_want);
		check_vec(pred, pred_want, n_query, FWD_TOL, "%s K=%d lm_predict", tag, steps);

		/* serving: one candidate at a time from the embedding's member part */
		{
			double	   *member_part = malloc(lm_serve_member_len(arch) * sizeof(double)),
					   *sa = malloc(arch->max_width * sizeof(double)),
					   *sb = malloc(arch->max_width * sizeof(double));

			lm_serve_member_part(arch, params + nm, e, member_part);
			for (int r = 0; r < n_query; r++)
				pred[r] = lm_serve_item(arch, params + nm, member_part,
										q_item + (size_t) r * arch->item_dim, sa, sb);
			check_vec(pred, pred_want, n_query, FWD_TOL, "%s K=%d lm_serve_item", tag, steps);
			free(member_part), free(sa), free(sb);
		}

		if (steps == 0)
		{
			/* an empty support set adapts nothing, whatever K */
			memcpy(grad, grad0, np * sizeof(double));
			lm_task_grad_fo(arch, params, &task, 0, lr, scale, grad, work);
			memcpy(grad_empty, grad0, np * sizeof(double));
			lm_task_grad_fo(arch, params, &no_support, 3, lr, scale, grad_empty, work);
			CHECK(memcmp(grad, grad_empty, np * sizeof(double)) == 0,
				  "%s empty support with K=3 is K=0", tag);
		}
	}

	lm_work_free(work);
	lm_free(params);
	free(member), free(s_item), free(s_label), free(q_item), free(q_label);
	free(adapted), free(prev), free(step), free(grad0), free(grad), free(grad_empty);
	free(fd), free(e), free(e_want), free(pred), free(pred_want);
}

/* ------------------------------------------------------------- main */

int
main(void)
{
	/* dense: single row, several rows, column blocks of a wider W, BLAS sizes */
	test_dense(1, 3, 2, 3);
	test_dense(1, 4, 3, 9);
	test_dense(5, 7, 4, 7);
	test_dense(5, 7, 4, 10);
	test_dense(3, 1, 1, 1);
	test_dense(20, 17, 16, 17);	/* 5440 ≥ 4096: BLAS path */
	test_dense(20, 17, 16, 25);	/* BLAS path, column block */
	test_relu();
	test_loss();

	for (int i = 0; i < N_SPECS; i++)
		for (int li = 0; li < 2; li++)
		{
			LmLoss		loss = li == 0 ? LM_LOSS_BCE : LM_LOSS_MSE;
			LmArch		arch;

			if (!make_arch(&specs[i], loss, &arch))
				continue;
			if (li == 0)
			{
				test_layout(&specs[i], &arch);
				test_meta(&specs[i], &arch);
			}
			test_global(&specs[i], &arch, 1);
			test_global(&specs[i], &arch, 7);
			test_task(&specs[i], &arch);
		}
	return check_done();
}
