/*
 * fuzz_model_json.c - libFuzzer target: the model JSON reader that
 * limaml_model_import runs (lm_model_read_config, then
 * lm_model_read_params, core/model_reader.c), on JSON text parsed by
 * json_text.h.  A document it accepts must hold only finite float32
 * parameters, and is then served (fuzz_common.h).
 */
#include <float.h>

#include "fuzz_common.h"
#include "json_text.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Value		root;
	Arena		arena = {0};
	LmJsonOps	ops = value_ops(&arena);
	LmReadError err = {0};
	LmArch		arch;
	LmConfig	cfg;
	int			format_version;
	LmReadStatus st;

	if (json_parse(data, size, &root))
	{
		st = lm_model_read_config(&ops, &root, &format_version, &arch, &cfg, &err);
		if (st == LM_READ_OK)
		{
			LmModelIdentity id;

			st = lm_model_read_identity(&ops, &root, format_version, &id, &err);
			if (st == LM_READ_OK && id.present != (format_version >= 3))
				abort();
		}
		/* the server's limaml.max_model_size stands here: a cap that keeps runs fast */
		if (st == LM_READ_OK && arch.n_params <= MAX_SERVED_PARAMS)
		{
			lm_real    *params = malloc(sizeof(lm_real) * arch.n_params);
			Reader		r = {data, size};

			st = lm_model_read_params(&ops, &root, format_version, &arch, params, &err);
			if (st == LM_READ_OK)
			{
				for (size_t i = 0; i < arch.n_params; i++)
					if (!isfinite(params[i]) || fabs(params[i]) > FLT_MAX)
						abort();
				serve(&arch, params, &r);
			}
			free(params);
		}
		if (st != LM_READ_OK && err.what == NULL)
			abort();
	}
	arena_free(&arena);
	value_free(&root);
	return 0;
}
