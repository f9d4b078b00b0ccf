/*
 * transform.c - features from plain columns, owned by the model.
 *
 * limaml_create_model(..., member_columns => '{"country": "onehot"}',
 * item_columns => ...) declares how columns of the members and items
 * relations become the feature vectors.  Vocabularies and statistics are
 * fitted here, once, on those relations' rows, and stored in the model's
 * config as {"member": [...], "item": [...]} (docs/formats.md); every
 * reader of the source then goes through lm_transformed_relation_sql, a
 * subquery joining the source to the relations and encoding their rows
 * with limaml_member_features / limaml_item_features (features.c), so
 * training, adaptation, refresh, evaluation and ranking apply the same
 * transforms.  The arithmetic is core/transform.c's.
 */
#include "limaml.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* {"onehot": n}: the most distinct values a vocabulary may hold, unless given */
#define DEFAULT_MAX_VOCAB 1000
/* "hash" alone: this many buckets */
#define DEFAULT_HASH_BUCKETS 32

#define TRANSFORMS_HINT "Declare each column as \"onehot\", {\"onehot\": max_values}, \"hash\", {\"hash\": buckets}, \"standardize\", \"log1p\" or \"array\"."

/* ----------------------------------------------------------------- types */

static bool
oid_in(Oid type, const Oid *list, int n)
{
	for (int i = 0; i < n; i++)
		if (list[i] == type)
			return true;
	return false;
}

static const Oid category_types[] = {TEXTOID, VARCHAROID, BPCHAROID, INT2OID, INT4OID, INT8OID, BOOLOID};
static const Oid log_types[] = {INT2OID, INT4OID, INT8OID, FLOAT4OID, FLOAT8OID, NUMERICOID};
static const Oid time_types[] = {DATEOID, TIMESTAMPOID, TIMESTAMPTZOID};
static const Oid array_types[] = {FLOAT4ARRAYOID, FLOAT8ARRAYOID, NUMERICARRAYOID, INT2ARRAYOID,
INT4ARRAYOID, INT8ARRAYOID};

bool
lm_transform_type_ok(LmTransformKind kind, Oid type)
{
	switch (kind)
	{
		case LM_TF_ONEHOT:
		case LM_TF_HASH:
			return oid_in(type, category_types, lengthof(category_types));
		case LM_TF_STANDARDIZE:
			return oid_in(type, log_types, lengthof(log_types)) ||
				oid_in(type, time_types, lengthof(time_types));
		case LM_TF_LOG1P:
			return oid_in(type, log_types, lengthof(log_types));
		case LM_TF_ARRAY:
			return oid_in(type, array_types, lengthof(array_types));
		default:
			return false;
	}
}

static const char *
accepted_types(LmTransformKind kind)
{
	switch (kind)
	{
		case LM_TF_ONEHOT:
		case LM_TF_HASH:
			return "text, varchar, char, smallint, integer, bigint or boolean";
		case LM_TF_STANDARDIZE:
			return "smallint, integer, bigint, real, double precision, numeric, date, timestamp or timestamp with time zone";
		case LM_TF_LOG1P:
			return "smallint, integer, bigint, real, double precision or numeric";
		default:
			return "real[], double precision[], numeric[], smallint[], integer[] or bigint[]";
	}
}

/* the column's base type; InvalidOid when missing */
static Oid
column_base_type(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	return attnum == InvalidAttrNumber ? InvalidOid : getBaseType(get_atttype(relid, attnum));
}

/*
 * SQL of a value as the transform reads it, equal to lm_transform_datum's
 * conversion: a category's text form (::text), a number as float8, dates
 * and times in days since 2000-01-01
 */
static const char *
value_sql(const char *col, LmTransformKind kind, Oid type)
{
	if (lm_tf_categorical(kind))
		return psprintf("%s::pg_catalog.text", col);
	switch (type)
	{
		case DATEOID:
			return psprintf("(%s - DATE '2000-01-01')::pg_catalog.float8", col);
		case TIMESTAMPOID:
			return psprintf("pg_catalog.date_part('epoch', %s - TIMESTAMP '2000-01-01') / 86400", col);
		case TIMESTAMPTZOID:
			return psprintf("pg_catalog.date_part('epoch', %s - TIMESTAMPTZ '2000-01-01 00:00:00+00') / 86400", col);
		default:
			return psprintf("%s::pg_catalog.float8", col);
	}
}

/* -------------------------------------------------------------- declaring */

typedef struct Declared
{
	LmTransform t;
	int			param;			/* onehot: the vocabulary's limit; hash: buckets */
	Oid			type;
} Declared;

static int
declared_param(const char *column, const char *kind, const JsonbValue *v)
{
	double		x;

	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform \"%s\" of column \"%s\" takes a number", kind, column),
				 errhint("%s", TRANSFORMS_HINT)));
	x = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (x != floor(x) || x < 1 || x > LM_TF_MAX_WIDTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform \"%s\" of column \"%s\" takes a whole number between 1 and %d, not %g",
						kind, column, LM_TF_MAX_WIDTH, x)));
	return (int) x;
}

/* one column's declaration: "name" or {"name": n} */
static void
declare_one(const char *column, const JsonbValue *v, Declared *d)
{
	char	   *kind = NULL;
	JsonbValue	param = {.type = jbvNull};

	memset(d, 0, sizeof(*d));
	d->t.column = column;
	if (v->type == jbvString)
		kind = pnstrdup(v->val.string.val, v->val.string.len);
	else if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data) &&
			 JsonContainerSize(v->val.binary.data) == 1)
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	k;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
			if (tok == WJB_KEY)
			{
				kind = pnstrdup(k.val.string.val, k.val.string.len);
				JsonbIteratorNext(&it, &param, true);
			}
	}
	if (!kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the transform of column \"%s\" must be a name or an object of one name", column),
				 errhint("%s", TRANSFORMS_HINT)));
	d->t.kind = lm_tf_kind(kind);
	if (d->t.kind == LM_TF_INVALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown transform \"%s\" for column \"%s\"", kind, column),
				 errhint("%s", TRANSFORMS_HINT)));
	if (param.type != jbvNull && d->t.kind != LM_TF_ONEHOT && d->t.kind != LM_TF_HASH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transform \"%s\" of column \"%s\" takes no parameter", kind, column),
				 errhint("Write \"%s\" alone.", kind)));
	if (d->t.kind == LM_TF_ONEHOT)
		d->param = param.type == jbvNull ? DEFAULT_MAX_VOCAB : declared_param(column, kind, &param);
	else if (d->t.kind == LM_TF_HASH)
		d->t.buckets = param.type == jbvNull ? DEFAULT_HASH_BUCKETS : declared_param(column, kind, &param);
}

/* every declared column of the relation, or one error naming each problem */
static void
check_declared(Declared *d, int n, Oid relid, const char *what)
{
	StringInfoData names;
	StringInfoData detail;
	int			problems = 0;
	bool		first_missing = false;

	initStringInfo(&names);
	initStringInfo(&detail);
	for (int i = 0; i < n; i++)
	{
		Oid			type = column_base_type(relid, d[i].t.column);

		d[i].type = type;
		if (OidIsValid(type) && lm_transform_type_ok(d[i].t.kind, type))
			continue;
		if (problems++ == 0)
			first_missing = !OidIsValid(type);
		appendStringInfo(&names, "%s\"%s\"", names.len ? ", " : "", d[i].t.column);
		if (!OidIsValid(type))
			appendStringInfo(&detail, "%scolumn \"%s\" is missing.", detail.len ? "\n" : "",
							 d[i].t.column);
		else
			appendStringInfo(&detail, "%scolumn \"%s\" is %s; %s needs %s.", detail.len ? "\n" : "",
							 d[i].t.column,
							 format_type_be(get_atttype(relid, get_attnum(relid, d[i].t.column))),
							 lm_tf_name(d[i].t.kind), accepted_types(d[i].t.kind));
	}
	if (problems)
		ereport(ERROR,
				(errcode(first_missing ? ERRCODE_UNDEFINED_COLUMN : ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s relation \"%s\" has %d column%s its transforms cannot read: %s", what,
						get_rel_name(relid), problems, problems > 1 ? "s" : "", names.data),
				 errdetail("%s", detail.data),
				 errhint("Declare the columns the relation has, with a transform of their type (onehot and hash: categories; standardize and log1p: numbers; array: numeric arrays).")));
}

static double
get_float8(HeapTuple tuple, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tuple, desc, col, isnull);

	return *isnull ? 0 : DatumGetFloat8(d);
}

/* the sorted vocabulary of a onehot column; errors beyond its limit */
static void
fit_vocabulary(Declared *d, const char *rel, const char *relname, MemoryContext cxt)
{
	const char *col = quote_identifier(d->t.column);
	const char *v = value_sql(col, d->t.kind, d->type);
	char	  **vocab;
	int64		n;
	bool		isnull;

	SPI_execute(psprintf("SELECT pg_catalog.count(DISTINCT %s) FROM %s src", v, rel), true, 1);
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (n > d->param)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column \"%s\" of \"%s\" has " INT64_FORMAT " distinct values, more than its one-hot limit of %d",
						d->t.column, relname, n, d->param),
				 errhint("Hash it into buckets ({\"hash\": 64}), or raise the limit ({\"onehot\": " INT64_FORMAT "}, at most %d).",
						 n, LM_TF_MAX_WIDTH)));
	SPI_execute(psprintf("SELECT v FROM (SELECT DISTINCT %s AS v FROM %s src) d "
						 "WHERE v IS NOT NULL ORDER BY v COLLATE \"C\"", v, rel), true, 0);
	/* in the caller's context: SPI's goes at lm_spi_finish */
	vocab = MemoryContextAlloc(cxt, sizeof(char *) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		vocab[i] = MemoryContextStrdup(cxt, TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[i],
																			   SPI_tuptable->tupdesc, 1,
																			   &isnull)));
		/* "C" order is strcmp's (byte order), the one lookups search */
		if (i > 0 && strcmp(vocab[i - 1], vocab[i]) >= 0)
			elog(ERROR, "limaml: vocabulary of column \"%s\" is not in byte order", d->t.column);
	}
	d->t.n_vocab = (int) SPI_processed;
	d->t.vocab = (const char *const *) vocab;
}

/* a set's statistics in one scan, vocabularies in one each */
static void
fit_set(Declared *d, int n, Oid relid, const char *what)
{
	const char *rel = lm_relation_sql(relid);
	const char *relname = get_rel_name(relid);
	StringInfoData sql;
	HeapTuple	tuple;
	TupleDesc	desc;
	int			col = 1;
	MemoryContext cxt = CurrentMemoryContext;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT pg_catalog.count(*)");
	for (int i = 0; i < n; i++)
	{
		const char *c = quote_identifier(d[i].t.column);
		const char *x = value_sql(c, d[i].t.kind, d[i].type);

		if (d[i].t.kind == LM_TF_STANDARDIZE)
			appendStringInfo(&sql, ", pg_catalog.avg(%s), pg_catalog.stddev_pop(%s), 0::float8", x, x);
		else if (d[i].t.kind == LM_TF_LOG1P)
			appendStringInfo(&sql, ", pg_catalog.avg(pg_catalog.ln(1 + %s)) FILTER (WHERE %s > -1), "
							 "pg_catalog.stddev_pop(pg_catalog.ln(1 + %s)) FILTER (WHERE %s > -1), "
							 "pg_catalog.min(%s)", x, x, x, x, x);
		else if (d[i].t.kind == LM_TF_ARRAY)
			appendStringInfo(&sql, ", pg_catalog.min(pg_catalog.cardinality(%s))::float8, "
							 "pg_catalog.max(pg_catalog.cardinality(%s))::float8, 0::float8", c, c);
	}
	lm_spi_connect();
	SPI_execute(psprintf("%s FROM %s src", sql.data, rel), true, 1);
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	{
		bool		isnull;

		if (DatumGetInt64(SPI_getbinval(tuple, desc, col++, &isnull)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot fit the transforms: %s relation \"%s\" has no rows", what, relname),
					 errhint("Vocabularies and statistics are fitted on its rows when the model is created.")));
	}
	for (int i = 0; i < n; i++)
	{
		bool		null1,
					null2,
					null3;
		double		a,
					b,
					c;

		if (lm_tf_categorical(d[i].t.kind))
			continue;
		a = get_float8(tuple, desc, col++, &null1);
		b = get_float8(tuple, desc, col++, &null2);
		c = get_float8(tuple, desc, col++, &null3);
		if (d[i].t.kind == LM_TF_ARRAY)
		{
			if (null1 || a != b || a < 1 || a > LM_TF_MAX_WIDTH)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" of \"%s\" needs arrays of one length between 1 and %d for transform array",
								d[i].t.column, relname, LM_TF_MAX_WIDTH),
						 errdetail(null1 ? "It holds no array." : "Its arrays have %g to %g elements.", a, b)));
			d[i].t.length = (int) a;
			continue;
		}
		if (d[i].t.kind == LM_TF_LOG1P && !null3 && c <= -1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_ARGUMENT_FOR_LOG),
					 errmsg("column \"%s\" of \"%s\" has values of -1 or less (%g), which log1p cannot read",
							d[i].t.column, relname, c),
					 errhint("Use standardize for it, or shift the column in a view.")));
		/* all NULL: mean 0; a constant column: std 1, so it encodes as 0 */
		d[i].t.mean = null1 ? 0 : a;
		d[i].t.std = null2 || !(b > 0) ? 1 : b;
	}
	for (int i = 0; i < n; i++)
		if (d[i].t.kind == LM_TF_ONEHOT)
			fit_vocabulary(&d[i], rel, relname, cxt);
	lm_spi_finish();
}

static void
declare_set(Jsonb *decl, Oid relid, const char *what, const char *arg, LmTransformSet *set)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Declared   *d;
	int			n = 0;
	char	   *column = NULL;

	memset(set, 0, sizeof(*set));
	if (!decl)
		return;
	if (!JB_ROOT_IS_OBJECT(decl) || JB_ROOT_COUNT(decl) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a non-empty object of column names and transforms", arg),
				 errhint("For example {\"country\": \"onehot\", \"age\": \"standardize\"}.")));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs a %s relation", arg, what),
				 errhint("Pass %s => a relation with a %s_id column and the declared columns.", what,
						 strcmp(what, "members") == 0 ? "member" : "item")));
	d = palloc0(sizeof(Declared) * JB_ROOT_COUNT(decl));
	it = JsonbIteratorInit(&decl->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			column = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
			declare_one(column, &v, &d[n++]);
	}
	check_declared(d, n, relid, what);
	fit_set(d, n, relid, what);
	set->n = n;
	set->t = palloc(sizeof(LmTransform) * n);
	for (int i = 0; i < n; i++)
	{
		set->t[i] = d[i].t;
		set->dim += lm_tf_width(&d[i].t);
	}
	if (set->dim > LM_MAX_WIDTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the transforms of %s make %d features, more than %d", arg, set->dim, LM_MAX_WIDTH),
				 errhint("Hash wide categorical columns into fewer buckets.")));
}

/* the transforms of limaml_create_model's member_columns and item_columns, fitted */
LmTransforms *
lm_transforms_declare(Jsonb *member_columns, Oid members, Jsonb *item_columns, Oid items)
{
	LmTransforms *tf;
	StringInfoData buf;

	if (!member_columns && !item_columns)
		return NULL;
	tf = palloc0(sizeof(LmTransforms));
	declare_set(member_columns, members, "members", "member_columns", &tf->member);
	declare_set(item_columns, items, "items", "item_columns", &tf->item);

	/* canonical JSON: what the config stores and export writes */
	initStringInfo(&buf);
	for (int side = 0; side < 2; side++)
	{
		const LmTransformSet *set = side ? &tf->item : &tf->member;

		appendStringInfo(&buf, "%s\"%s\": [", side ? ", " : "{", side ? "item" : "member");
		for (int i = 0; i < set->n; i++)
		{
			const LmTransform *t = &set->t[i];

			appendStringInfo(&buf, "%s{\"column\": ", i ? ", " : "");
			escape_json(&buf, t->column);
			appendStringInfo(&buf, ", \"transform\": \"%s\"", lm_tf_name(t->kind));
			if (t->kind == LM_TF_ONEHOT)
			{
				appendStringInfoString(&buf, ", \"vocabulary\": [");
				for (int j = 0; j < t->n_vocab; j++)
				{
					if (j)
						appendStringInfoString(&buf, ", ");
					escape_json(&buf, t->vocab[j]);
				}
				appendStringInfoChar(&buf, ']');
			}
			else if (t->kind == LM_TF_HASH)
				appendStringInfo(&buf, ", \"buckets\": %d", t->buckets);
			else if (t->kind == LM_TF_ARRAY)
				appendStringInfo(&buf, ", \"length\": %d", t->length);
			else
				appendStringInfo(&buf, ", \"mean\": %.17g, \"std\": %.17g", t->mean, t->std);
			appendStringInfoChar(&buf, '}');
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoChar(&buf, '}');
	tf->json = buf.data;
	return tf;
}

/* --------------------------------------------------------------- reading */

static void
bad_stored(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid transforms in model config: %s", what),
			 errhint("The \"transforms\" object is described in docs/formats.md.")));
}

static JsonbValue *
get_key(JsonbContainer *c, const char *key)
{
	return getKeyJsonValueFromContainer(c, key, strlen(key), NULL);
}

static double
stored_number(JsonbContainer *c, const char *key, const char *what)
{
	JsonbValue *v = get_key(c, key);
	double		x;

	if (!v || v->type != jbvNumeric)
		bad_stored(psprintf("%s needs a number \"%s\"", what, key));
	x = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (!isfinite(x))
		bad_stored(psprintf("\"%s\" of %s is not finite", key, what));
	return x;
}

static int
stored_int(JsonbContainer *c, const char *key, const char *what)
{
	double		x = stored_number(c, key, what);

	if (x != floor(x) || x < 1 || x > LM_TF_MAX_WIDTH)
		bad_stored(psprintf("\"%s\" of %s must be between 1 and %d", key, what, LM_TF_MAX_WIDTH));
	return (int) x;
}

static void
read_one(JsonbContainer *c, LmTransform *t)
{
	JsonbValue *v = get_key(c, "column");
	const char *what;

	memset(t, 0, sizeof(*t));
	if (!v || v->type != jbvString || v->val.string.len == 0)
		bad_stored("a transform needs a non-empty \"column\"");
	t->column = pnstrdup(v->val.string.val, v->val.string.len);
	what = psprintf("column \"%s\"", t->column);
	v = get_key(c, "transform");
	if (!v || v->type != jbvString ||
		(t->kind = lm_tf_kind(pnstrdup(v->val.string.val, v->val.string.len))) == LM_TF_INVALID)
		bad_stored(psprintf("%s needs a known \"transform\"", what));
	switch (t->kind)
	{
		case LM_TF_ONEHOT:
			{
				JsonbValue *vocab = get_key(c, "vocabulary");
				char	  **words;

				if (!vocab || vocab->type != jbvBinary || !JsonContainerIsArray(vocab->val.binary.data) ||
					JsonContainerSize(vocab->val.binary.data) > LM_TF_MAX_WIDTH)
					bad_stored(psprintf("%s needs a \"vocabulary\" array", what));
				t->n_vocab = JsonContainerSize(vocab->val.binary.data);
				words = palloc(sizeof(char *) * Max(t->n_vocab, 1));
				for (int j = 0; j < t->n_vocab; j++)
				{
					JsonbValue *w = getIthJsonbValueFromContainer(vocab->val.binary.data, j);

					if (w->type != jbvString || memchr(w->val.string.val, '\0', w->val.string.len))
						bad_stored(psprintf("the vocabulary of %s holds strings only", what));
					words[j] = pnstrdup(w->val.string.val, w->val.string.len);
					/* lookups search it: ascending in byte order, no duplicates */
					if (j > 0 && strcmp(words[j - 1], words[j]) >= 0)
						bad_stored(psprintf("the vocabulary of %s is not ascending in byte order", what));
				}
				t->vocab = (const char *const *) words;
				break;
			}
		case LM_TF_HASH:
			t->buckets = stored_int(c, "buckets", what);
			break;
		case LM_TF_ARRAY:
			t->length = stored_int(c, "length", what);
			break;
		default:
			t->mean = stored_number(c, "mean", what);
			t->std = stored_number(c, "std", what);
			if (!(t->std > 0))
				bad_stored(psprintf("\"std\" of %s must be positive", what));
			break;
	}
}

static void
read_set(JsonbContainer *c, const char *side, LmTransformSet *set)
{
	JsonbValue *v = get_key(c, side);

	memset(set, 0, sizeof(*set));
	if (!v)
		return;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		bad_stored(psprintf("\"%s\" must be an array", side));
	set->n = JsonContainerSize(v->val.binary.data);
	set->t = palloc(sizeof(LmTransform) * Max(set->n, 1));
	for (int i = 0; i < set->n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(v->val.binary.data, i);

		if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
			bad_stored(psprintf("the elements of \"%s\" are objects", side));
		read_one(e->val.binary.data, &set->t[i]);
		set->dim += lm_tf_width(&set->t[i]);
		if (set->dim > LM_MAX_WIDTH)
			bad_stored(psprintf("\"%s\" makes more than %d features", side, LM_MAX_WIDTH));
	}
}

/* the config's "transforms", checked; NULL without them */
LmTransforms *
lm_transforms_from_config(Jsonb *config)
{
	return JB_ROOT_IS_OBJECT(config) ? lm_transforms_from_container(&config->root) : NULL;
}

/* the same from a config object inside a document (an import's "config") */
LmTransforms *
lm_transforms_from_container(JsonbContainer *config)
{
	JsonbValue *v = get_key(config, "transforms");
	LmTransforms *tf;

	if (!v || v->type == jbvNull)
		return NULL;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		bad_stored("\"transforms\" must be an object");
	tf = palloc0(sizeof(LmTransforms));
	read_set(v->val.binary.data, "member", &tf->member);
	read_set(v->val.binary.data, "item", &tf->item);
	if (tf->member.n == 0 && tf->item.n == 0)
		return NULL;
	tf->json = JsonbToCString(NULL, v->val.binary.data, 1024);
	return tf;
}

/* a config's JSON text with "transforms" added (config_json ends in '}') */
char *
lm_config_with_transforms(const char *config_json, const LmTransforms *tf)
{
	size_t		len = strlen(config_json);

	if (!tf)
		return pstrdup(config_json);
	Assert(len > 0 && config_json[len - 1] == '}');
	return psprintf("%.*s, \"transforms\": %s}", (int) len - 1, config_json, tf->json);
}

/* the same transforms (by their canonical JSON) */
bool
lm_transforms_equal(const LmTransforms *a, const LmTransforms *b)
{
	Jsonb	   *ja,
			   *jb;

	if (!a || !b)
		return a == b;
	ja = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(a->json)));
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(b->json)));
	return compareJsonbContainers(&ja->root, &jb->root) == 0;
}

/* ---------------------------------------------------------------- checks */

/* the declared columns of a relation a side's rows are read from */
void
lm_transforms_check_relation(const LmTransformSet *set, Oid relid, const char *what)
{
	Declared   *d = palloc0(sizeof(Declared) * Max(set->n, 1));

	for (int i = 0; i < set->n; i++)
		d[i].t = set->t[i];
	check_declared(d, set->n, relid, what);
}

/*
 * The relations of a model with transforms: the source without the
 * encoded sides' feature columns (and with item_id for the item side),
 * members and items with their id and declared columns.
 */
void
lm_transforms_check(const LmTransforms *tf, Oid source, Oid members, Oid items)
{
	if (OidIsValid(source))
		lm_check_source_columns(source, InvalidOid, tf->member.n == 0, tf->item.n == 0);
	if (tf->item.n > 0 && OidIsValid(source) && get_attnum(source, "item_id") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("source relation \"%s\" has no column \"item_id\"", get_rel_name(source)),
				 errhint("item_columns joins the source to the items relation by item_id.")));
	if (tf->member.n > 0)
	{
		if (!OidIsValid(members))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the model's member transforms need a members relation"),
					 errhint("Set it with limaml_alter_model(name, members => ...).")));
		lm_check_relation_ids(members, LM_MEMBERS);
		lm_transforms_check_relation(&tf->member, members, "members");
	}
	else if (OidIsValid(members))
		lm_check_source_columns(InvalidOid, members, true, true);
	if (tf->item.n > 0)
	{
		if (!OidIsValid(items))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the model's item transforms need an items relation"),
					 errhint("Set it with limaml_alter_model(name, items => ...).")));
		lm_check_relation_ids(items, LM_ITEMS);
		lm_transforms_check_relation(&tf->item, items, "items");
	}
}

/* an items relation: (item_id, features), or id and declared columns with item transforms */
void
lm_check_items_for(const LmTransforms *tf, Oid items)
{
	if (tf && tf->item.n > 0)
	{
		lm_check_relation_ids(items, LM_ITEMS);
		lm_transforms_check_relation(&tf->item, items, "items");
	}
	else
		lm_check_items_relation(items);
}

/* a members relation: (member_id, member_features), or id and declared columns */
void
lm_check_members_for(const LmTransforms *tf, Oid members)
{
	if (tf && tf->member.n > 0)
	{
		lm_check_relation_ids(members, LM_MEMBERS);
		lm_transforms_check_relation(&tf->member, members, "members");
	}
	else
		lm_check_members_relation(members);
}

/* ------------------------------------------------------------------- SQL */

/*
 * The relation as a model with transforms reads it, for FROM (the caller
 * adds the alias): the source joined to members and items by id, with the
 * encoded feature columns in place of arrays; members as (member_id,
 * member_features); items as (item_id, features).  Ids, labels and times
 * pass through uncast, so a filter on member_id still reaches the
 * source's index.
 */
const char *
lm_transformed_relation_sql(const char *model_name, const LmTransforms *tf, Oid relid,
							LmRelationRole role, Oid members, Oid items)
{
	const char *schema = lm_schema_quoted();
	const char *name = quote_literal_cstr(model_name);

	if (!tf)
		return lm_relation_sql(relid);
	switch (role)
	{
		case LM_MEMBERS:
			if (tf->member.n == 0)
				return lm_relation_sql(relid);
			return psprintf("(SELECT r.member_id, %s.limaml_member_features(%s, r) AS member_features "
							"FROM %s r)", schema, name, lm_relation_sql(relid));
		case LM_ITEMS:
			if (tf->item.n == 0)
				return lm_relation_sql(relid);
			return psprintf("(SELECT r.item_id, %s.limaml_item_features(%s, r) AS features "
							"FROM %s r)", schema, name, lm_relation_sql(relid));
		case LM_SOURCE:
			break;
	}
	return psprintf("(SELECT s.member_id, s.label, s.ts%s, %s AS member_features, %s AS item_features "
					"FROM %s s%s%s)",
					get_attnum(relid, "item_id") != InvalidAttrNumber ? ", s.item_id" : "",
					tf->member.n ? psprintf("%s.limaml_member_features(%s, m)", schema, name) :
					"s.member_features",
					tf->item.n ? psprintf("%s.limaml_item_features(%s, i)", schema, name) :
					"s.item_features",
					lm_relation_sql(relid),
					tf->member.n ? psprintf(" LEFT JOIN %s m ON m.member_id = s.member_id",
											lm_relation_sql(members)) : "",
					tf->item.n ? psprintf(" LEFT JOIN %s i ON i.item_id = s.item_id",
										  lm_relation_sql(items)) : "");
}

/* a relation as the model reads it (lm_transformed_relation_sql) */
const char *
lm_model_relation_sql(const LmModel *model, Oid relid, LmRelationRole role)
{
	return lm_transformed_relation_sql(model->name, model->transforms, relid, role,
									   model->members, model->items);
}

/* a source the model reads, with the relations its transforms join */
void
lm_model_check_source(const LmModel *model, Oid source)
{
	if (model->transforms)
		lm_transforms_check(model->transforms, source, model->members, model->items);
	else
		lm_check_source(source, InvalidOid);
}

/* -------------------------------------------------------------- applying */

static void
bad_value(const LmTransform *t, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("column \"%s\" has %s, which transform %s cannot read", t->column, why,
					lm_tf_name(t->kind)),
			 errhint("Filter such rows out, or map the column in a view.")));
}

static double
number_value(const LmTransform *t, Oid type, Datum d)
{
	switch (type)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT8OID:
			return (double) DatumGetInt64(d);
		case FLOAT4OID:
			return DatumGetFloat4(d);
		case FLOAT8OID:
			return DatumGetFloat8(d);
		case NUMERICOID:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
		case DATEOID:
			if (DATE_NOT_FINITE(DatumGetDateADT(d)))
				bad_value(t, "an infinite date");
			return DatumGetDateADT(d);
		default:				/* timestamp, timestamptz */
			if (TIMESTAMP_NOT_FINITE(DatumGetTimestamp(d)))
				bad_value(t, "an infinite timestamp");
			return (double) DatumGetTimestamp(d) / USECS_PER_DAY;
	}
}

static void
encode_array(const LmTransform *t, Datum d, float *out)
{
	ArrayType  *a = DatumGetArrayTypeP(d);
	Oid			elem = ARR_ELEMTYPE(a);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	float	   *v;

	if (ARR_NDIM(a) > 1)
		bad_value(t, "a multidimensional array");
	get_typlenbyvalalign(elem, &typlen, &typbyval, &typalign);
	deconstruct_array(a, elem, typlen, typbyval, typalign, &elems, &nulls, &n);
	v = palloc(sizeof(float) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			bad_value(t, "a NULL element");
		v[i] = elem == FLOAT4OID ? DatumGetFloat4(elems[i]) : (float) number_value(t, elem, elems[i]);
	}
	if (lm_tf_array(t, v, n, out) < 0)
		bad_value(t, n != t->length ? psprintf("an array of %d elements (not %d)", n, t->length) :
				  "a non-finite element");
}

/*
 * Writes a value's slice (lm_tf_width(t) floats): the value of a column of
 * base type `type` (lm_transform_type_ok), converted as value_sql converts
 * it when fitting.
 */
void
lm_transform_datum(const LmTransform *t, Oid type, Datum value, bool isnull, float *out)
{
	if (lm_tf_categorical(t->kind))
	{
		char		buf[32];
		const char *s = NULL;
		size_t		len = 0;

		if (!isnull)
		{
			switch (type)
			{
				case INT2OID:
				case INT4OID:
				case INT8OID:
					len = snprintf(buf, sizeof(buf), INT64_FORMAT,
								   type == INT8OID ? DatumGetInt64(value) :
								   type == INT4OID ? (int64) DatumGetInt32(value) :
								   (int64) DatumGetInt16(value));
					s = buf;
					break;
				case BOOLOID:
					s = DatumGetBool(value) ? "true" : "false";
					len = strlen(s);
					break;
				default:
					{
						text	   *txt = DatumGetTextPP(value);

						s = VARDATA_ANY(txt);
						len = VARSIZE_ANY_EXHDR(txt);
						/* char(n)::text drops the padding */
						if (type == BPCHAROID)
							while (len > 0 && s[len - 1] == ' ')
								len--;
					}
			}
		}
		lm_tf_category(t, s, len, out);
	}
	else if (t->kind == LM_TF_ARRAY)
	{
		if (isnull)
			lm_tf_array(t, NULL, 0, out);
		else
			encode_array(t, value, out);
	}
	else
	{
		double		x = isnull ? 0 : number_value(t, type, value);

		if (lm_tf_number(t, isnull, x, out) < 0)
			bad_value(t, t->kind == LM_TF_LOG1P && x <= -1 ? psprintf("%g", x) : "a non-finite value");
	}
}
