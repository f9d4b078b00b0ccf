/*
 * json_value.h - a JSON value tree and the LmJsonOps over it, for the fuzz
 * targets and unit tests of core/model_reader.c (the server's operations
 * are on jsonb, model_json.c).  An object's last member of a name wins, as
 * in jsonb.  Memory: values from value_new, freed with value_free; what the
 * reader allocates (ops->alloc) lives in an Arena until arena_free.
 */
#ifndef FUZZ_JSON_VALUE_H
#define FUZZ_JSON_VALUE_H

#include <stdlib.h>
#include <string.h>

#include "model_reader.h"

typedef struct Value
{
	LmJsonField f;				/* f.node is unused here: the ops set it */
	int			is_int64;		/* NUMBER: its text is an exact 64-bit integer */
	int64_t		i64;
	int			n;				/* ARRAY, OBJECT: children */
	int			cap;
	struct Value *kids;			/* [n] */
	char	  **keys;			/* OBJECT: [n], NUL-terminated */
} Value;

static void
value_free(Value *v)
{
	for (int i = 0; i < v->n; i++)
	{
		value_free(&v->kids[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->kids);
	free(v->keys);
	memset(v, 0, sizeof(*v));
}

/* a new last child of an array or object (key: a member's name, copied) */
static Value *
value_add(Value *parent, const char *key, size_t key_len)
{
	Value	   *kid;

	if (parent->n == parent->cap)
	{
		parent->cap = parent->cap ? 2 * parent->cap : 4;
		parent->kids = realloc(parent->kids, sizeof(Value) * parent->cap);
		if (parent->f.kind == LM_JSON_OBJECT)
			parent->keys = realloc(parent->keys, sizeof(char *) * parent->cap);
	}
	if (parent->f.kind == LM_JSON_OBJECT)
	{
		parent->keys[parent->n] = malloc(key_len + 1);
		memcpy(parent->keys[parent->n], key, key_len);
		parent->keys[parent->n][key_len] = '\0';
	}
	kid = &parent->kids[parent->n++];
	memset(kid, 0, sizeof(*kid));
	if (parent->f.kind == LM_JSON_ARRAY)
		parent->f.n_elems = parent->n;
	return kid;
}

static void
value_number(Value *v, double x, int is_int64, int64_t i64)
{
	v->f.kind = LM_JSON_NUMBER;
	v->f.number = x;
	v->is_int64 = is_int64;
	v->i64 = i64;
}

/* ---- the operations */

typedef struct Arena
{
	void	  **ptrs;
	int			n;
	int			zero_rows;		/* ops->zero_rows calls (warnings) */
} Arena;

static void
arena_free(Arena *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->ptrs[i]);
	free(a->ptrs);
	memset(a, 0, sizeof(*a));
}

static void
out_of(const Value *v, LmJsonField *out)
{
	*out = v->f;
	out->node = v;
}

static void
value_member(void *ctx, const void *object, const char *key, LmJsonField *out)
{
	const Value *o = object;

	(void) ctx;
	memset(out, 0, sizeof(*out));
	if (o == NULL || o->f.kind != LM_JSON_OBJECT)
		return;
	for (int i = o->n - 1; i >= 0; i--)
		if (strcmp(o->keys[i], key) == 0)
		{
			out_of(&o->kids[i], out);
			return;
		}
}

static void
value_element(void *ctx, const void *array, int i, LmJsonField *out)
{
	const Value *a = array;

	(void) ctx;
	if (i < 0 || i >= a->n)
		abort();				/* the reader reads only within n_elems */
	out_of(&a->kids[i], out);
}

static int
value_int64(void *ctx, const LmJsonField *number, int64_t *out)
{
	const Value *v = number->node;

	(void) ctx;
	*out = v->i64;
	return v->is_int64;
}

static void *
value_alloc(void *ctx, size_t size)
{
	Arena	   *a = ctx;

	a->ptrs = realloc(a->ptrs, sizeof(void *) * (a->n + 1));
	return a->ptrs[a->n++] = malloc(size ? size : 1);
}

static void
value_zero_rows(void *ctx, int n, int buckets)
{
	Arena	   *a = ctx;

	if (n < 1 || n > buckets)
		abort();
	a->zero_rows++;
}

static LmJsonOps
value_ops(Arena *arena)
{
	LmJsonOps	ops = {arena, value_member, value_element, value_int64, value_alloc,
	value_zero_rows};

	return ops;
}

#endif
