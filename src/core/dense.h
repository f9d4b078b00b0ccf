/*
 * dense.h - fully connected layer and ReLU, forward and backward on raw
 * row-major buffers (one function per pass, shapes in the comments).
 */
#ifndef LM_DENSE_H
#define LM_DENSE_H

#include "lm_real.h"

/*
 * out[n][o] = in[n][i] · W[o][i]ᵀ + b[o]
 * W has row stride ldw >= in_dim, so a layer can read a column block of a
 * wider matrix (the item columns of the global block's first layer).
 */
void		dense_forward(lm_real *out, const lm_real *in, const lm_real *W, int ldw,
						  const lm_real *b, int n, int in_dim, int out_dim);

/*
 * Given dout[n][o]:
 *   dW[o][i] += Σ_n dout[n][o] in[n][i]     (dW may be NULL)
 *   db[o]    += Σ_n dout[n][o]              (db may be NULL)
 *   din[n][i] = Σ_o dout[n][o] W[o][i]      (din may be NULL; overwritten)
 */
void		dense_backward(lm_real *din, lm_real *dW, lm_real *db, const lm_real *dout,
						   const lm_real *in, const lm_real *W, int ldw,
						   int n, int in_dim, int out_dim);

/* out[k] = max(in[k], 0); in place allowed */
void		relu_forward(lm_real *out, const lm_real *in, size_t count);

/* dx[k] = out[k] > 0 ? dout[k] : 0, where out is relu_forward's output; in place allowed */
void		relu_backward(lm_real *dx, const lm_real *dout, const lm_real *out, size_t count);

#endif
