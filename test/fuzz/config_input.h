/*
 * config_input.h - the fuzz input of fuzz_model_config: a byte string
 * decoded into the configuration object that lm_config_read takes (as a
 * json_value.h tree), so that mutations land on values rather than on JSON
 * syntax.  gen_corpus.c writes seeds with the same encoding.
 *
 * Per member, in config_keys' order: a kind byte (mod 7, LmJsonKind; 0 is
 * absent), then NUMBER: a form byte (mod 4) and an int8, int32, double or
 * int64; STRING: a length byte (mod 8) and its bytes; BOOL: a byte; ARRAY:
 * a 16-bit count (mod 4097, which keeps an execution fast) and that many
 * elements, each a kind byte and its value (nested arrays and objects are
 * empty; an absent element reads as null).  A short input reads as zeros.
 */
#ifndef FUZZ_CONFIG_INPUT_H
#define FUZZ_CONFIG_INPUT_H

#include <math.h>

#include "fuzz_common.h"
#include "json_value.h"

static const char *const config_keys[] = {
	"loss", "meta_hidden", "global_hidden", "member_dim", "item_dim", "embedding_dim",
	"item_buckets", "item_embedding_dim", "item_vocab", "history", "wide", "wide_rank",
	"ridge_lambda", "bilinear", "meta_sgd", "inner_steps", "inner_lr", "support_size",
	"query_size", "seed", "adapt_steps", "adapt_lr", "negatives",
	"wide_features", "learn_lambda", "fold_in"	/* appended: earlier seeds keep their meaning */
};

#define N_CONFIG_KEYS ((int) (sizeof(config_keys) / sizeof(config_keys[0])))

/* a JSON number's text is an exact 64-bit integer only when it is integral and in range */
static void
set_double(Value *v, double d)
{
	int			exact = isfinite(d) && d == trunc(d) && d >= -9223372036854775808.0 &&
		d < 9223372036854775808.0;

	value_number(v, d, exact, exact ? (int64_t) d : 0);
}

static void
decode_scalar(Reader *r, Value *v, int kind)
{
	v->f.kind = (LmJsonKind) kind;
	switch (v->f.kind)
	{
		case LM_JSON_NUMBER:
			switch (rd_byte(r) % 4)
			{
				case 0:
					set_double(v, (int8_t) rd_byte(r));
					break;
				case 1:
					{
						int32_t		x;

						rd_bytes(r, &x, sizeof(x));
						set_double(v, x);
						break;
					}
				case 2:
					{
						double		d;

						rd_bytes(r, &d, sizeof(d));
						set_double(v, d);
						break;
					}
				default:
					{
						int64_t		x;

						rd_bytes(r, &x, sizeof(x));
						value_number(v, (double) x, 1, x);
						break;
					}
			}
			break;
		case LM_JSON_STRING:
			{
				size_t		len = rd_byte(r) % 8;

				v->f.n_elems = (int) (len < r->n ? len : r->n);
				v->f.string = (const char *) r->p;
				r->p += v->f.n_elems;
				r->n -= v->f.n_elems;
				break;
			}
		case LM_JSON_BOOL:
			v->f.boolean = rd_byte(r) & 1;
			break;
		default:
			break;
	}
}

/* the configuration object into *config (value_free it); the rest of the input in *rest */
static void
decode_config(const uint8_t *data, size_t size, Value *config, Reader *rest)
{
	Reader		r = {data, size};

	memset(config, 0, sizeof(*config));
	config->f.kind = LM_JSON_OBJECT;
	for (int k = 0; k < N_CONFIG_KEYS; k++)
	{
		int			kind = rd_byte(&r) % 7;
		Value	   *v;

		if (kind == LM_JSON_ABSENT)
			continue;
		v = value_add(config, config_keys[k], strlen(config_keys[k]));
		decode_scalar(&r, v, kind);
		if (kind == LM_JSON_ARRAY)
		{
			uint16_t	count;

			rd_bytes(&r, &count, sizeof(count));
			count %= 4097;
			for (int i = 0; i < count; i++)
			{
				int			ek = rd_byte(&r) % 7;
				Value	   *e = value_add(v, NULL, 0);

				decode_scalar(&r, e, ek == LM_JSON_ABSENT ? LM_JSON_NULL : ek);
			}
			v->f.n_elems = count;
		}
	}
	*rest = r;
}

#endif
