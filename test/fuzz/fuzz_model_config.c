/*
 * fuzz_model_config.c - libFuzzer target: the model configuration reader
 * (lm_config_read, core/model_reader.c) that limaml_model_import and every
 * model load run on the "config" object, fed values rather than JSON text
 * (config_input.h), so that it explores the values' combinations.  A configuration
 * it accepts is then served: a plan is built on parameters from the rest
 * of the input, and a member and an item are scored both ways (features
 * and item code), as limaml_score does; then a code of arbitrary finite
 * floats (a forged item code passes the reader when finite) is scored.
 */
#include <stdlib.h>
#include <string.h>

#include "config_input.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Value		config;
	Arena		arena = {0};
	LmJsonOps	ops = value_ops(&arena);
	LmReadError err = {0};
	LmArch		arch;
	LmConfig	cfg;
	Reader		rest;

	decode_config(data, size, &config, &rest);
	if (lm_config_read(&ops, &config, &arch, &cfg, &err) != LM_READ_OK)
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
		{
			lm_real    *params = malloc(sizeof(lm_real) * arch.n_params);

			fill(&rest, params, arch.n_params);
			serve(&arch, params, &rest);
			free(params);
		}
	}
	arena_free(&arena);
	value_free(&config);
	return 0;
}
