/*
 * dense.c - fully connected layer and ReLU.
 */
#include "dense.h"

#include "kernels.h"

void
dense_forward(lm_real *out, const lm_real *in, const lm_real *W, int ldw,
			  const lm_real *b, int n, int in_dim, int out_dim)
{
	for (int r = 0; r < n; r++)
		for (int o = 0; o < out_dim; o++)
			out[(size_t) r * out_dim + o] = b ? b[o] : 0;
	if (in_dim > 0)
		lm_gemm_nt(n, out_dim, in_dim, in, in_dim, W, ldw, 1, out, out_dim);
}

void
dense_backward(lm_real *din, lm_real *dW, lm_real *db, const lm_real *dout,
			   const lm_real *in, const lm_real *W, int ldw,
			   int n, int in_dim, int out_dim)
{
	if (db)
		lm_colsum_acc(n, out_dim, dout, out_dim, db);
	if (in_dim == 0)
		return;
	if (dW)
		lm_gemm_tn_acc(out_dim, in_dim, n, dout, out_dim, in, in_dim, dW, ldw);
	if (din)
		lm_gemm_nn(n, in_dim, out_dim, dout, out_dim, W, ldw, 0, din, in_dim);
}

/*
 * Unconditional loads and a select, so the loops vectorize (a load inside
 * the condition compiles to a branch per element, mispredicted half the
 * time on ReLU masks).
 */
void
relu_forward(lm_real *out, const lm_real *in, size_t count)
{
	for (size_t k = 0; k < count; k++)
	{
		lm_real		x = in[k];

		out[k] = x > 0 ? x : 0;
	}
}

void
relu_backward(lm_real *dx, const lm_real *dout, const lm_real *out, size_t count)
{
	for (size_t k = 0; k < count; k++)
	{
		lm_real		g = dout[k];

		dx[k] = out[k] > 0 ? g : 0;
	}
}
