/*
 * json_text.h - a strict JSON parser (RFC 8259 grammar) into a
 * json_value.h tree, for fuzz_model_json.  The server parses with
 * PostgreSQL's jsonb instead, so only what the reader sees must agree:
 * kinds, sizes, member names, numbers.  Differences, harness-only: string
 * escapes are kept as written (a key spelled with \u escapes is another
 * key here), and a number is an exact 64-bit integer only when written
 * without fraction or exponent (jsonb also reads 1e2 as 100).  Nesting
 * beyond MAX_DEPTH is refused (jsonb checks the stack depth).
 */
#ifndef FUZZ_JSON_TEXT_H
#define FUZZ_JSON_TEXT_H

#include <errno.h>
#include <stdio.h>

#include "json_value.h"

#define MAX_DEPTH 64

typedef struct Text
{
	const char *p;
	const char *end;
} Text;

static void
skip_ws(Text *t)
{
	while (t->p < t->end && (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r'))
		t->p++;
}

static int
is_digit(Text *t)
{
	return t->p < t->end && *t->p >= '0' && *t->p <= '9';
}

/* a string's raw bytes between its quotes into *s, *len */
static int
parse_string(Text *t, const char **s, size_t *len)
{
	const char *start = ++t->p;	/* past the opening quote */

	while (t->p < t->end && *t->p != '"')
	{
		if ((unsigned char) *t->p < 0x20)
			return 0;
		if (*t->p == '\\' && ++t->p == t->end)
			return 0;
		t->p++;
	}
	if (t->p == t->end)
		return 0;
	*s = start;
	*len = (size_t) (t->p - start);
	t->p++;
	return 1;
}

static int
parse_number(Text *t, Value *v)
{
	const char *start = t->p;
	int			integral = 1;
	char		buf[64];
	char	   *text = buf;
	size_t		len;
	double		x;
	int64_t		i64 = 0;
	int			exact;

	if (t->p < t->end && *t->p == '-')
		t->p++;
	if (!is_digit(t))
		return 0;
	if (*t->p == '0')
		t->p++;
	else
		while (is_digit(t))
			t->p++;
	if (t->p < t->end && *t->p == '.')
	{
		integral = 0;
		t->p++;
		if (!is_digit(t))
			return 0;
		while (is_digit(t))
			t->p++;
	}
	if (t->p < t->end && (*t->p == 'e' || *t->p == 'E'))
	{
		integral = 0;
		t->p++;
		if (t->p < t->end && (*t->p == '+' || *t->p == '-'))
			t->p++;
		if (!is_digit(t))
			return 0;
		while (is_digit(t))
			t->p++;
	}
	len = (size_t) (t->p - start);
	if (len >= sizeof(buf))
		text = malloc(len + 1);
	memcpy(text, start, len);
	text[len] = '\0';
	x = strtod(text, NULL);
	errno = 0;
	if (integral)
		i64 = strtoll(text, NULL, 10);
	exact = integral && errno == 0;
	if (text != buf)
		free(text);
	value_number(v, x, exact, i64);
	return 1;
}

static int
literal(Text *t, const char *word)
{
	size_t		n = strlen(word);

	if ((size_t) (t->end - t->p) < n || memcmp(t->p, word, n) != 0)
		return 0;
	t->p += n;
	return 1;
}

static int
parse_value(Text *t, Value *v, int depth)
{
	const char *s;
	size_t		len;

	skip_ws(t);
	if (t->p == t->end || depth > MAX_DEPTH)
		return 0;
	switch (*t->p)
	{
		case '{':
		case '[':
			{
				int			object = *t->p == '{';
				char		close = object ? '}' : ']';

				v->f.kind = object ? LM_JSON_OBJECT : LM_JSON_ARRAY;
				t->p++;
				skip_ws(t);
				if (t->p < t->end && *t->p == close)
				{
					t->p++;
					return 1;
				}
				for (;;)
				{
					s = NULL;
					len = 0;
					if (object)
					{
						skip_ws(t);
						if (t->p == t->end || *t->p != '"' || !parse_string(t, &s, &len))
							return 0;
						skip_ws(t);
						if (t->p == t->end || *t->p++ != ':')
							return 0;
					}
					if (!parse_value(t, value_add(v, s, len), depth + 1))
						return 0;
					skip_ws(t);
					if (t->p < t->end && *t->p == ',')
					{
						t->p++;
						continue;
					}
					if (t->p < t->end && *t->p == close)
					{
						t->p++;
						return 1;
					}
					return 0;
				}
			}
		case '"':
			if (!parse_string(t, &s, &len))
				return 0;
			v->f.kind = LM_JSON_STRING;
			v->f.string = s;
			v->f.n_elems = (int) len;
			return 1;
		case 't':
		case 'f':
			v->f.kind = LM_JSON_BOOL;
			v->f.boolean = *t->p == 't';
			return literal(t, v->f.boolean ? "true" : "false");
		case 'n':
			v->f.kind = LM_JSON_NULL;
			return literal(t, "null");
		default:
			return parse_number(t, v);
	}
}

/* 1 with the document in *root (value_free it in any case), or 0 when it is not JSON */
static int
json_parse(const uint8_t *data, size_t size, Value *root)
{
	Text		t = {(const char *) data, (const char *) data + size};

	memset(root, 0, sizeof(*root));
	if (!parse_value(&t, root, 0))
		return 0;
	skip_ws(&t);
	return t.p == t.end;
}

#endif
