/*
 * fuzz_model_config.c - libFuzzer target: the model configuration reader
 * (core/model_config.c) that limaml_model_import and every model load run
 * on the "config" object (input format: config_input.h).  A configuration
 * it accepts is then served: a plan is built on parameters from the rest
 * of the input, and a member and an item are scored both ways (features
 * and item code), as limaml_score does; then a code of arbitrary finite
 * floats (a forged item code passes the reader when finite) is scored.
 */
#include <stdlib.h>
#include <string.h>

#include "config_input.h"
#include "serve.h"

#define MAX_SERVED_PARAMS (1 << 14)	/* keeps an execution fast */

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

static void
serve(const LmArch *arch, Reader *r)
{
	lm_real    *params = malloc(sizeof(lm_real) * arch->n_params);
	lm_real    *global = params + arch->n_meta_params;
	LmServePlan *plan;
	lm_real    *e,
			   *member,
			   *v,
			   *code;

	fill(r, params, arch->n_params);
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
	free(params);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	LmJsonField fields[LM_N_CONFIG_KEYS];
	LmConfigError err = {0};
	LmArch		arch;
	LmConfig	cfg;
	Reader		rest;
	int64_t    *vocab;

	decode_fields(data, size, fields, &rest);
	vocab = fields[LM_CK_ITEM_VOCAB].elems ?
		malloc(sizeof(int64_t) * (fields[LM_CK_ITEM_VOCAB].n_elems + 1)) : NULL;
	if (lm_config_read(fields, vocab, &arch, &cfg, &err))
	{
		if (err.what == NULL || err.problem[0] == '\0')
			abort();
	}
	else
	{
		/* what the glue then relies on */
		if (arch.n_params != arch.n_meta_params + arch.n_global_params + arch.n_lr_params ||
			lm_embedding_len(&arch) < 1 || lm_config_check(&cfg, err.problem, sizeof(err.problem)))
			abort();
		for (int i = 1; arch.item_vocab && i < arch.item_buckets; i++)
			if (arch.item_vocab[i] <= arch.item_vocab[i - 1])
				abort();
		if (arch.n_params <= MAX_SERVED_PARAMS)
			serve(&arch, &rest);
	}
	free(vocab);
	free_fields(fields);
	return 0;
}
