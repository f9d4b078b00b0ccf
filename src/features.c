/*
 * features.c - limaml_member_features(model, row) and
 * limaml_item_features(model, row): a row of the members or items relation
 * encoded with the model's stored transforms (transform.c).  Every reader
 * of a model with transforms calls them, and users call them to score,
 * encode items or build cold-start embeddings from the same rows.
 */
#include "limaml.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(limaml_member_features);
PG_FUNCTION_INFO_V1(limaml_item_features);
PG_FUNCTION_INFO_V1(limaml_source_select);

/* per call site: the model's transforms and where the row type holds their columns */
typedef struct FeatureState
{
	text	   *name;
	const LmTransformSet *set;
	Oid			row_type;
	int32		row_typmod;
	int		   *attno;			/* [set->n], 0-based */
	Oid		   *types;			/* [set->n], base types */
} FeatureState;

/* finds the declared columns in the row's type: 42703 or 42804 otherwise */
static void
bind_row_type(FeatureState *st, TupleDesc desc, const char *side)
{
	for (int i = 0; i < st->set->n; i++)
	{
		const LmTransform *t = &st->set->t[i];
		int			a;

		for (a = 0; a < desc->natts; a++)
			if (!TupleDescAttr(desc, a)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, a)->attname), t->column) == 0)
				break;
		if (a == desc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("the %s row has no column \"%s\", which limaml model \"%s\" encodes",
							side, t->column, text_to_cstring(st->name)),
					 errhint("Pass a whole row of the model's %s relation (or of a view with the same columns).",
							 side)));
		st->attno[i] = a;
		st->types[i] = getBaseType(TupleDescAttr(desc, a)->atttypid);
		if (!lm_transform_type_ok(t->kind, st->types[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of the %s row is %s, which transform %s cannot read",
							t->column, side, format_type_be(TupleDescAttr(desc, a)->atttypid),
							lm_tf_name(t->kind)),
					 errhint("Pass a row whose columns have the types the model was created with.")));
	}
	st->row_type = desc->tdtypeid;
	st->row_typmod = desc->tdtypmod;
}

static FeatureState *
feature_state(FunctionCallInfo fcinfo, text *name, bool member)
{
	FeatureState *st = fcinfo->flinfo->fn_extra;
	MemoryContext old;
	LmModel    *model;
	const LmTransformSet *set;

	if (st && VARSIZE_ANY(st->name) == VARSIZE_ANY(name) &&
		memcmp(st->name, name, VARSIZE_ANY(name)) == 0)
		return st;
	/* pinned, with its transforms, for the call site's life */
	model = lm_model_acquire_by_name(name, fcinfo->flinfo->fn_mcxt);
	set = model->transforms ? (member ? &model->transforms->member : &model->transforms->item) : NULL;
	if (!set || set->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limaml model \"%s\" has no %s transforms", model->name,
						member ? "member" : "item"),
				 errhint("Its %s features are arrays: pass them as they are. Transforms are declared with limaml_create_model(..., %s => ...).",
						 member ? "member" : "item", member ? "member_columns" : "item_columns")));
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	st = palloc0(sizeof(FeatureState));
	st->name = (text *) palloc(VARSIZE_ANY(name));
	memcpy(st->name, name, VARSIZE_ANY(name));
	st->set = set;
	st->attno = palloc(sizeof(int) * set->n);
	st->types = palloc(sizeof(Oid) * set->n);
	st->row_type = InvalidOid;
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = st;
	return st;
}

static Datum
encode_row(FunctionCallInfo fcinfo, bool member)
{
	FeatureState *st;
	Datum	   *elems;
	float	   *out;
	int			off = 0;
	Datum	   *values = NULL;
	bool	   *nulls = NULL;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = feature_state(fcinfo, PG_GETARG_TEXT_PP(0), member);
	out = palloc(sizeof(float) * Max(st->set->dim, 1));
	/* a row the LEFT JOIN did not find: every column NULL */
	if (!PG_ARGISNULL(1))
	{
		HeapTupleHeader th = PG_GETARG_HEAPTUPLEHEADER(1);
		Oid			type = HeapTupleHeaderGetTypeId(th);
		int32		typmod = HeapTupleHeaderGetTypMod(th);
		TupleDesc	desc = lookup_rowtype_tupdesc(type, typmod);
		HeapTupleData tuple;

		if (type != st->row_type || typmod != st->row_typmod || type == RECORDOID)
			bind_row_type(st, desc, member ? "member" : "item");
		tuple.t_len = HeapTupleHeaderGetDatumLength(th);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = th;
		values = palloc(sizeof(Datum) * desc->natts);
		nulls = palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(&tuple, desc, values, nulls);
		ReleaseTupleDesc(desc);
	}
	for (int i = 0; i < st->set->n; i++)
	{
		const LmTransform *t = &st->set->t[i];

		if (values)
			lm_transform_datum(t, st->types[i], values[st->attno[i]], nulls[st->attno[i]], out + off);
		else
			lm_transform_datum(t, InvalidOid, (Datum) 0, true, out + off);
		off += lm_tf_width(t);
	}
	elems = palloc(sizeof(Datum) * Max(st->set->dim, 1));
	for (int j = 0; j < st->set->dim; j++)
		elems[j] = Float4GetDatum(out[j]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, st->set->dim, FLOAT4OID, sizeof(float4), true,
										  TYPALIGN_INT));
}

Datum
limaml_member_features(PG_FUNCTION_ARGS)
{
	return encode_row(fcinfo, true);
}

Datum
limaml_item_features(PG_FUNCTION_ARGS)
{
	return encode_row(fcinfo, false);
}

/*
 * limaml_source_select(model): for limaml_refresh, limaml_adapt_agg's row
 * arguments over the model's source, converted (and encoded) as
 * limaml_adapt reads them, and the relation to read them from (FROM ...
 * src)
 */
Datum
limaml_source_select(PG_FUNCTION_ARGS)
{
	LmModel    *model = lm_model_acquire_by_name(PG_GETARG_TEXT_PP(0), CurrentMemoryContext);
	bool		item_ids = model->arch.item_buckets > 0;
	LmSourceSql sql;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (!OidIsValid(model->source))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" has no source relation", model->name)));
	lm_model_check_source(model, model->source);
	if (item_ids)
		lm_check_item_id(model->source);
	lm_source_sql(model->source, &sql);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "limaml_source_select must return a record");
	values[0] = CStringGetTextDatum(psprintf("%s, %s, %s, %s%s%s", sql.member_features,
											 sql.item_features, sql.label, sql.ts,
											 item_ids ? ", " : "", item_ids ? sql.item_id : ""));
	values[1] = CStringGetTextDatum(lm_model_relation_sql(model, model->source, LM_SOURCE));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
