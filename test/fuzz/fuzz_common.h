/*
 * fuzz_common.h - for the fuzz targets of the model readers: a reader of
 * the fuzz input's bytes, and serving of a model a reader accepted.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "serve.h"

#define MAX_SERVED_PARAMS (1 << 14)	/* keeps an execution fast */

typedef struct Reader
{
	const uint8_t *p;
	size_t		n;
} Reader;

static void
rd_bytes(Reader *r, void *out, size_t k)
{
	size_t		m = k < r->n ? k : r->n;

	memset(out, 0, k);
	memcpy(out, r->p, m);
	r->p += m;
	r->n -= m;
}

static int
rd_byte(Reader *r)
{
	uint8_t		b;

	rd_bytes(r, &b, 1);
	return b;
}

/* arbitrary floats from the input, the non-finite ones as the reader refuses them: 0 */
static void
fill_raw(Reader *r, lm_real *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		float		v;

		rd_bytes(r, &v, sizeof(v));
		x[i] = isfinite(v) ? v : 0;
	}
}

/* finite values from the input, zeros once it is exhausted */
static void
fill(Reader *r, lm_real *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (lm_real) ((int8_t) rd_byte(r)) / 16;
}

/*
 * Serves a model as limaml_score does: a plan on its global parameters, a
 * member part from an embedding, an item scored from its features and from
 * its code, then a forged code of arbitrary finite floats (the reader
 * passes any finite payload); the embedding and the item come from r.
 */
static void
serve(const LmArch *arch, const lm_real *params, Reader *r)
{
	const lm_real *global = params + arch->n_meta_params;
	LmServePlan *plan;
	lm_real    *e,
			   *member,
			   *v,
			   *code;

	plan = lm_serve_plan_create(arch, global, LM_ISA_COUNT);
	if (plan == NULL)
		abort();
	e = malloc(sizeof(lm_real) * (lm_embedding_len(arch) + 1));
	member = malloc(sizeof(lm_real) * (plan->member_len + 1));
	v = malloc(sizeof(lm_real) * (plan->input_len + 1));
	code = malloc(sizeof(lm_real) * (plan->code_len + 1));
	fill(r, e, lm_embedding_len(arch));
	fill(r, v, plan->input_len);
	lm_serve_plan_member(plan, e, member);
	lm_serve_plan_encode(plan, v, code);
	(void) lm_serve_plan_item(plan, member, v);
	(void) lm_serve_plan_code(plan, member, code);
	fill_raw(r, code, plan->code_len);
	(void) lm_serve_plan_code(plan, member, code);
	lm_serve_plan_free(plan);
	free(code);
	free(v);
	free(member);
	free(e);
}

#endif
