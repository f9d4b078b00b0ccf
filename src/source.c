/*
 * source.c - the relations limaml reads (source, members, items): which
 * column types each column accepts, every mismatch in one error, and the
 * SQL that reads a column as limaml's own type.
 *
 * Conversion happens in the selected expressions only (member_id::bigint,
 * label::real, ...); WHERE and ORDER BY use the user's columns as they
 * are, so an index on (member_id, ts) serves per-member reads.  Every
 * accepted conversion is monotone, so ordering the raw columns orders the
 * converted values the same way.
 */
#include "limaml.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

typedef enum ColumnKind
{
	COL_ID,						/* read as bigint */
	COL_FEATURES,				/* read as real[] */
	COL_LABEL,					/* read as real */
	COL_TS						/* read as timestamptz */
} ColumnKind;

typedef struct ColumnSpec
{
	const char *name;
	ColumnKind	kind;
} ColumnSpec;

/* accepted types of each kind, limaml's own first; 0 ends a list */
static const Oid accepted[][8] = {
	[COL_ID] = {INT8OID, INT4OID, INT2OID},
	[COL_FEATURES] = {FLOAT4ARRAYOID, FLOAT8ARRAYOID, NUMERICARRAYOID, INT4ARRAYOID,
	INT2ARRAYOID, INT8ARRAYOID},
	[COL_LABEL] = {FLOAT4OID, FLOAT8OID, NUMERICOID, BOOLOID, INT2OID, INT4OID, INT8OID},
	[COL_TS] = {TIMESTAMPTZOID, TIMESTAMPOID, DATEOID},
};

static const char *const accepted_names[] = {
	[COL_ID] = "smallint, integer or bigint",
	[COL_FEATURES] = "real[], double precision[], numeric[], smallint[], integer[] or bigint[]",
	[COL_LABEL] = "real, double precision, numeric, boolean, smallint, integer or bigint",
	[COL_TS] = "timestamp with time zone, timestamp or date",
};

static const ColumnSpec source_columns[] = {
	{"member_id", COL_ID},
	{"member_features", COL_FEATURES},
	{"item_features", COL_FEATURES},
	{"label", COL_LABEL},
	{"ts", COL_TS},
};
static const ColumnSpec source_item_id = {"item_id", COL_ID};
static const ColumnSpec member_columns[] = {
	{"member_id", COL_ID},
	{"member_features", COL_FEATURES},
};
static const ColumnSpec exclude_columns[] = {
	{"member_id", COL_ID},
	{"item_id", COL_ID},
};
static const ColumnSpec item_columns[] = {
	{"item_id", COL_ID},
	{"features", COL_FEATURES},
};

#define SOURCE_HINT "Map your schema with a view of (member_id, member_features, item_features, label, ts); the Reference lists the accepted types."
#define ITEMS_HINT "Map your items with a view of (item_id, features); integer ids and numeric arrays are accepted."

/* the column's type, domains resolved to their base; InvalidOid when missing */
static Oid
column_type(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	return attnum == InvalidAttrNumber ? InvalidOid : getBaseType(get_atttype(relid, attnum));
}

static bool
type_accepted(ColumnKind kind, Oid type)
{
	for (int i = 0; i < lengthof(accepted[kind]) && accepted[kind][i]; i++)
		if (accepted[kind][i] == type)
			return true;
	return false;
}

/* appends one problem per missing or mistyped column */
static void
add_problems(List **problems, Oid relid, const ColumnSpec *columns, int n)
{
	for (int i = 0; i < n; i++)
	{
		Oid			type = column_type(relid, columns[i].name);
		LmColumnProblem *p;

		if (OidIsValid(type) && type_accepted(columns[i].kind, type))
			continue;
		p = palloc(sizeof(LmColumnProblem));
		p->column = columns[i].name;
		p->missing = !OidIsValid(type);
		p->detail = p->missing ?
			psprintf("column \"%s\" is missing; it may be %s.", columns[i].name,
					 accepted_names[columns[i].kind]) :
			psprintf("column \"%s\" is %s; it may be %s.", columns[i].name,
					 format_type_be(get_atttype(relid, get_attnum(relid, columns[i].name))),
					 accepted_names[columns[i].kind]);
		*problems = lappend(*problems, p);
	}
}

List *
lm_relation_problems(Oid relid, LmRelationRole role, bool item_id)
{
	List	   *problems = NIL;

	switch (role)
	{
		case LM_SOURCE:
			add_problems(&problems, relid, source_columns, lengthof(source_columns));
			if (item_id)
				add_problems(&problems, relid, &source_item_id, 1);
			break;
		case LM_MEMBERS:
			add_problems(&problems, relid, member_columns, lengthof(member_columns));
			break;
		case LM_ITEMS:
			add_problems(&problems, relid, item_columns, lengthof(item_columns));
			break;
	}
	return problems;
}

static const char *
role_name(LmRelationRole role)
{
	return role == LM_SOURCE ? "source" : role == LM_MEMBERS ? "members" : "item";
}

/* one error for every problem: the first one's class sets the SQLSTATE */
static void
report_problems(List *problems, Oid relid, const char *what, const char *hint)
{
	StringInfoData names;
	StringInfoData detail;
	ListCell   *lc;
	LmColumnProblem *first;

	if (problems == NIL)
		return;
	first = linitial(problems);
	initStringInfo(&names);
	initStringInfo(&detail);
	foreach(lc, problems)
	{
		LmColumnProblem *p = lfirst(lc);

		appendStringInfo(&names, "%s\"%s\"", names.len ? ", " : "", p->column);
		appendStringInfo(&detail, "%s%s", detail.len ? "\n" : "", p->detail);
	}
	ereport(ERROR,
			(errcode(first->missing ? ERRCODE_UNDEFINED_COLUMN : ERRCODE_DATATYPE_MISMATCH),
			 errmsg("%s relation \"%s\" has %d unusable column%s: %s", what,
					get_rel_name(relid), list_length(problems),
					list_length(problems) > 1 ? "s" : "", names.data),
			 errdetail("%s", detail.data),
			 errhint("%s", hint)));
}

static void
check_relation(Oid relid, LmRelationRole role, bool item_id, const char *hint)
{
	report_problems(lm_relation_problems(relid, role, item_id), relid, role_name(role), hint);
}

/* the relation still exists (errors with its OID when it was dropped) */
static void
check_exists(Oid relid, const char *what)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("%s relation with OID %u does not exist", what, relid),
				 errhint("The relation was dropped; point the model at another.")));
}

void
lm_check_source(Oid source, Oid members)
{
	lm_check_source_columns(source, members, true, true);
}

/*
 * The same for a model with transforms: a side without arrays (encoded from
 * the members or items relation) needs no features column; InvalidOid
 * skips a relation.
 */
void
lm_check_source_columns(Oid source, Oid members, bool member_arrays, bool item_arrays)
{
	List	   *problems = NIL;

	if (OidIsValid(source))
	{
		check_exists(source, "source");
		for (int i = 0; i < lengthof(source_columns); i++)
			if ((member_arrays || strcmp(source_columns[i].name, "member_features") != 0) &&
				(item_arrays || strcmp(source_columns[i].name, "item_features") != 0))
				add_problems(&problems, source, &source_columns[i], 1);
		report_problems(problems, source, "source", SOURCE_HINT);
	}
	if (OidIsValid(members))
	{
		check_exists(members, "members");
		check_relation(members, LM_MEMBERS, false, SOURCE_HINT);
	}
}

/* a members or items relation's id column, for one read through transforms */
void
lm_check_relation_ids(Oid relid, LmRelationRole role)
{
	List	   *problems = NIL;

	check_exists(relid, role == LM_MEMBERS ? "members" : "item");
	add_problems(&problems, relid, role == LM_MEMBERS ? &member_columns[0] : &item_columns[0], 1);
	report_problems(problems, relid, role_name(role),
					"A relation read through transforms has an id column (member_id or item_id) and the declared columns.");
}

/* a members relation on its own (limaml_alter_model) */
void
lm_check_members_relation(Oid members)
{
	check_exists(members, "members");
	check_relation(members, LM_MEMBERS, false, SOURCE_HINT);
}

/* models with item ids read an item_id column from the source */
void
lm_check_item_id(Oid source)
{
	if (get_attnum(source, "item_id") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("source relation \"%s\" has no column \"item_id\"", get_rel_name(source)),
				 errhint("Item ids (item_buckets, negatives) need an item_id column of %s in the source.",
						 accepted_names[COL_ID])));
	/* the other columns are the caller's to check (a model with transforms has fewer) */
	{
		List	   *problems = NIL;

		add_problems(&problems, source, &source_item_id, 1);
		report_problems(problems, source, "source", SOURCE_HINT);
	}
}

/* the source has an item_id column of an accepted type */
bool
lm_has_item_id(Oid source)
{
	return type_accepted(COL_ID, column_type(source, "item_id"));
}

void
lm_check_items_relation(Oid items)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(items)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("item relation with OID %u does not exist", items),
				 errhint("Set another with UPDATE limaml_model SET items = 'relation' WHERE name = 'model'.")));
	check_relation(items, LM_ITEMS, false, ITEMS_HINT);
}

/* ------------------------------------------------------------ reading */

/* the column read as its kind's first (limaml's own) type */
static const char *
column_expr(Oid relid, const char *name, ColumnKind kind)
{
	Oid			type = column_type(relid, name);
	const char *col = quote_identifier(name);

	if (!OidIsValid(type) || type == accepted[kind][0])
		return col;
	switch (kind)
	{
		case COL_ID:
			return psprintf("%s::pg_catalog.int8", col);
		case COL_FEATURES:
			return psprintf("%s::pg_catalog.float4[]", col);
		case COL_LABEL:
			/* false and true are 0 and 1 */
			return type == BOOLOID ? psprintf("%s::pg_catalog.int4::pg_catalog.float4", col) :
				psprintf("%s::pg_catalog.float4", col);
		case COL_TS:
			/* in the session's TimeZone, as PostgreSQL's own cast */
			return psprintf("%s::pg_catalog.timestamptz", col);
	}
	return col;
}

void
lm_source_sql(Oid relid, LmSourceSql *sql)
{
	sql->member_id = column_expr(relid, "member_id", COL_ID);
	sql->member_features = column_expr(relid, "member_features", COL_FEATURES);
	sql->item_features = column_expr(relid, "item_features", COL_FEATURES);
	sql->label = column_expr(relid, "label", COL_LABEL);
	sql->ts = column_expr(relid, "ts", COL_TS);
	sql->item_id = get_attnum(relid, "item_id") == InvalidAttrNumber ? NULL :
		column_expr(relid, "item_id", COL_ID);
	sql->features = column_expr(relid, "features", COL_FEATURES);
	sql->member_id_type = column_type(relid, "member_id");
}

/*
 * An item relation with its own column names (limaml_top_k's id_column and
 * features_column): every unusable column in one error.
 */
void
lm_check_items_columns(Oid items, const char *id_column, const char *features_column)
{
	ColumnSpec	columns[2] = {{id_column, COL_ID}, {features_column, COL_FEATURES}};
	List	   *problems = NIL;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(items)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("item relation with OID %u does not exist", items)));
	add_problems(&problems, items, columns, 2);
	report_problems(problems, items, "item",
					"Name the columns with id_column and features_column, or map your items with a view.");
}

/*
 * An exclusion relation: (member_id, item_id), or (item_id) alone when
 * item_only (the same items excluded for every member).
 */
void
lm_check_exclude_relation(Oid exclude, bool item_only)
{
	List	   *problems = NIL;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(exclude)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("exclude relation with OID %u does not exist", exclude)));
	if (item_only && get_attnum(exclude, "member_id") == InvalidAttrNumber)
		add_problems(&problems, exclude, &exclude_columns[1], 1);
	else
		add_problems(&problems, exclude, exclude_columns, lengthof(exclude_columns));
	report_problems(problems, exclude, "exclude",
					item_only ? "An exclude relation has (member_id, item_id) columns, or (item_id) alone to exclude items for every member." :
					"An exclude relation has (member_id, item_id) columns: the items to leave out of each member's list.");
}

/* an id column (of the accepted types) as bigint */
const char *
lm_id_column_sql(Oid relid, const char *name)
{
	return column_expr(relid, name, COL_ID);
}

/* a features column (of the accepted types) as real[] */
const char *
lm_features_column_sql(Oid relid, const char *name)
{
	return column_expr(relid, name, COL_FEATURES);
}

/*
 * A member id as a parameter of the member_id column's own type, so the
 * comparison can use an index; false when no row can have it (out of the
 * column type's range).
 */
bool
lm_member_id_param(Oid type, int64 member_id, Datum *param)
{
	switch (type)
	{
		case INT2OID:
			if (member_id < PG_INT16_MIN || member_id > PG_INT16_MAX)
				return false;
			*param = Int16GetDatum((int16) member_id);
			return true;
		case INT4OID:
			if (member_id < PG_INT32_MIN || member_id > PG_INT32_MAX)
				return false;
			*param = Int32GetDatum((int32) member_id);
			return true;
		default:
			*param = Int64GetDatum(member_id);
			return true;
	}
}
