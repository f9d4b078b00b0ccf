/*
 * serve.h - scoring one candidate against a fixed meta embedding.
 *
 * A query ranks many candidates for one embedding e, so the member side of
 * the global block's first layer is computed once per embedding:
 *   member_part[h0] = W0[:, :d] · e + b0
 * and each candidate costs W0[:, d:] · v plus the layers above.
 */
#ifndef LM_SERVE_H
#define LM_SERVE_H

#include "arch.h"

/* member_part[h0] from e[d] */
void		lm_serve_member_part(const LmArch *arch, const lm_real *global,
								 const lm_real *e, lm_real *member_part);

/*
 * The prediction (logit or value) for item v[item_dim]; scratch_a and
 * scratch_b hold max_width values each.
 */
lm_real		lm_serve_item(const LmArch *arch, const lm_real *global,
						  const lm_real *member_part, const lm_real *v,
						  lm_real *scratch_a, lm_real *scratch_b);

#endif
