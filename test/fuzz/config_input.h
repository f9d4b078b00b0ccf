/*
 * config_input.h - the fuzz input of fuzz_model_config: a byte string
 * decoded into the LmJsonField members lm_config_read takes, as the glue
 * (model_json.c) builds them from jsonb.  gen_corpus.c writes seeds with
 * the encoder below.
 *
 * Per member, in lm_config_keys' order: a kind byte (mod 6, LmJsonKind),
 * then NUMBER: a form byte (mod 4) and an int8, int32, double or int64;
 * STRING: a length byte (mod 8) and its bytes; BOOL: a byte; ARRAY: a
 * 16-bit count (0xFFFF: more than lm_config_max_elems, elements unread;
 * else mod 4097, which keeps an execution fast) and that many elements, each a kind byte and its value (nested arrays
 * and objects carry nothing; an absent element reads as null).  A short
 * input reads as zeros.
 */
#ifndef FUZZ_CONFIG_INPUT_H
#define FUZZ_CONFIG_INPUT_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model_config.h"

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

/* a JSON number's text is an exact 64-bit integer only when it is integral and in range */
static void
set_double(LmJsonField *f, double d)
{
	f->number = d;
	f->is_int64 = isfinite(d) && d == trunc(d) && d >= -9223372036854775808.0 &&
		d < 9223372036854775808.0;
	f->int64 = f->is_int64 ? (int64_t) d : 0;
}

static void
decode_scalar(Reader *r, LmJsonField *f, int kind)
{
	memset(f, 0, sizeof(*f));
	f->kind = (LmJsonKind) kind;
	switch (f->kind)
	{
		case LM_JSON_NUMBER:
			switch (rd_byte(r) % 4)
			{
				case 0:
					set_double(f, (int8_t) rd_byte(r));
					break;
				case 1:
					{
						int32_t		v;

						rd_bytes(r, &v, sizeof(v));
						set_double(f, v);
						break;
					}
				case 2:
					{
						double		d;

						rd_bytes(r, &d, sizeof(d));
						set_double(f, d);
						break;
					}
				default:
					{
						int64_t		v;

						rd_bytes(r, &v, sizeof(v));
						f->number = (double) v;
						f->is_int64 = 1;
						f->int64 = v;
						break;
					}
			}
			break;
		case LM_JSON_STRING:
			{
				size_t		len = rd_byte(r) % 8;

				f->n_elems = (int) (len < r->n ? len : r->n);
				f->string = (const char *) r->p;
				r->p += f->n_elems;
				r->n -= f->n_elems;
				break;
			}
		case LM_JSON_BOOL:
			f->boolean = rd_byte(r) & 1;
			break;
		default:
			break;
	}
}

/* fields[LM_N_CONFIG_KEYS] (free with free_fields); the rest of the input is left in *rest */
static void
decode_fields(const uint8_t *data, size_t size, LmJsonField *fields, Reader *rest)
{
	Reader		r = {data, size};

	for (int k = 0; k < LM_N_CONFIG_KEYS; k++)
	{
		int			kind = rd_byte(&r) % 6;

		decode_scalar(&r, &fields[k], kind);
		if (kind == LM_JSON_ARRAY)
		{
			uint16_t	count;
			int			max = lm_config_max_elems((LmConfigKey) k);
			LmJsonField *elems;

			rd_bytes(&r, &count, sizeof(count));
			if (count != 0xFFFF)
				count %= 4097;
			if (count == 0xFFFF || count > max)
			{
				/* the glue reads no elements of an array this large */
				fields[k].n_elems = count == 0xFFFF ? max + 1 : count;
				continue;
			}
			elems = malloc(sizeof(LmJsonField) * (count + 1));
			for (int i = 0; i < count; i++)
			{
				int			ek = rd_byte(&r) % 6;

				decode_scalar(&r, &elems[i], ek == LM_JSON_ABSENT ? LM_JSON_OTHER : ek);
			}
			fields[k].n_elems = count;
			fields[k].elems = elems;
		}
	}
	*rest = r;
}

static void
free_fields(LmJsonField *fields)
{
	for (int k = 0; k < LM_N_CONFIG_KEYS; k++)
		free((void *) fields[k].elems);
}

#endif
