/*
 * serve.c - per-candidate forward pass of the global block (see serve.h).
 */
#include "serve.h"

#include "kernels.h"

void
lm_serve_member_part(const LmArch *arch, const lm_real *global,
					 const lm_real *e, lm_real *member_part)
{
	const LmDense *l0 = &arch->global[0];

	for (int o = 0; o < l0->out_dim; o++)
		member_part[o] = global[l0->b_off + o] +
			lm_dot(global + l0->w_off + (size_t) o * l0->in_dim, e, arch->embedding_dim);
}

lm_real
lm_serve_item(const LmArch *arch, const lm_real *global,
			  const lm_real *member_part, const lm_real *v,
			  lm_real *scratch_a, lm_real *scratch_b)
{
	const LmDense *l0 = &arch->global[0];
	int			d = arch->embedding_dim;
	lm_real    *in = scratch_a;
	lm_real    *out = scratch_b;

	for (int o = 0; o < l0->out_dim; o++)
		in[o] = member_part[o] +
			lm_dot(global + l0->w_off + (size_t) o * l0->in_dim + d, v, arch->item_dim);
	for (int l = 1; l < arch->n_global; l++)
	{
		const LmDense *layer = &arch->global[l];
		lm_real    *tmp;

		for (int i = 0; i < layer->in_dim; i++)
			in[i] = in[i] > 0 ? in[i] : 0;
		for (int o = 0; o < layer->out_dim; o++)
			out[o] = global[layer->b_off + o] +
				lm_dot(global + layer->w_off + (size_t) o * layer->in_dim, in, layer->in_dim);
		tmp = in;
		in = out;
		out = tmp;
	}
	return in[0];
}
