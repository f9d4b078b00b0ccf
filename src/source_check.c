/*
 * source_check.c - limaml_check_source: what a source relation will do to
 * training and adaptation, one row per problem, before a model meets it.
 * It reads the whole relation (a few aggregate scans).
 */
#include "limaml.h"

#include <math.h>

#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(limaml_check_source);

/* a feature dimension is off unit scale when some |x| exceeds this */
#define SCALE_LIMIT 10.0
/* bce labels this far from balance (share of positives) warn */
#define BALANCE_LIMIT 0.02
/* dimensions named in one scale warning */
#define SCALE_LIST 5

typedef struct Check
{
	ReturnSetInfo *rsinfo;
	Oid			relid;
	const char *rel;			/* quoted, qualified */
	LmSourceSql sql;
	bool		declared;		/* no feature arrays: a model declares them (transforms) */
	int			n_rows;			/* problems so far */
} Check;

static void
emit(Check *c, const char *severity, const char *check, const char *detail, const char *hint)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, hint == NULL};

	values[0] = CStringGetTextDatum(severity);
	values[1] = CStringGetTextDatum(check);
	values[2] = CStringGetTextDatum(detail);
	values[3] = hint ? CStringGetTextDatum(hint) : (Datum) 0;
	tuplestore_putvalues(c->rsinfo->setResult, c->rsinfo->setDesc, values, nulls);
	c->n_rows++;
}

static double
num(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

static void
run(const char *sql)
{
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "limaml_check_source: query failed: %s", sql);
}

/* NULLs per column; returns the relation's row count */
static double
check_nulls(Check *c, bool has_item_id)
{
	static const char *const columns[] = {"member_id", "member_features", "item_features",
	"label", "ts", "item_id"};
	int			n_cols = has_item_id ? 6 : 5;
	StringInfoData q;
	double		total;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT count(*)::float8");
	for (int i = 0; i < n_cols; i++)
		appendStringInfo(&q, ", (count(*) - count(%s))::float8",
						 c->declared && strstr(columns[i], "_features") ? "0" : columns[i]);
	appendStringInfo(&q, " FROM %s", c->rel);
	run(q.data);
	total = num(0, 1);
	if (total == 0)
	{
		emit(c, "error", "rows", "the relation has no rows",
			 "Training needs at least one member with rows.");
		return 0;
	}
	for (int i = 0; i < n_cols; i++)
	{
		double		nulls = num(0, i + 2);
		const char *col = columns[i];
		const char *severity = "error";
		const char *hint = "Training and adaptation stop at the first such row: filter them out in a view.";

		if (nulls == 0)
			continue;
		if (strcmp(col, "member_features") == 0 && nulls == total)
		{
			severity = "info";
			hint = "Without member features the model has member_dim 0; pass a members relation to add them.";
		}
		else if (strcmp(col, "ts") == 0)
		{
			severity = "warning";
			hint = "Rows without ts sort first (oldest); negatives need the ts of every positive row.";
		}
		else if (strcmp(col, "item_id") == 0)
		{
			severity = "info";
			hint = "A NULL item_id is read as the unknown item.";
		}
		emit(c, severity, "nulls",
			 psprintf("%s is NULL in %.0f of %.0f rows (%.1f%%)", col, nulls, total,
					  100.0 * nulls / total),
			 hint);
	}
	return total;
}

/* one features column: equal lengths, finite values, unit scale */
static void
check_features(Check *c, const char *col)
{
	StringInfoData off;
	int			n_off = 0;
	int			n_dims;
	double		n_nonfinite = 0;

	run(psprintf("SELECT count(DISTINCT cardinality(%s))::float8, min(cardinality(%s))::float8, "
				 "max(cardinality(%s))::float8 FROM %s",
				 col, col, col, c->rel));
	if (num(0, 1) > 1)
		emit(c, "error", "dimensions",
			 psprintf("%s has %.0f different lengths, from %.0f to %.0f", col, num(0, 1), num(0, 2),
					  num(0, 3)),
			 "Every row's array must have the model's dimension.");

	/* per dimension, over finite values; non-finite and NULL elements counted */
	run(psprintf("SELECT d::float8, avg(x) FILTER (WHERE f), stddev_pop(x) FILTER (WHERE f), "
				 "max(abs(x)) FILTER (WHERE f), count(*) FILTER (WHERE NOT f)::float8, "
				 "count(*) FILTER (WHERE x IS NULL)::float8 "
				 "FROM (SELECT %s::pg_catalog.float8[] AS a FROM %s) s, "
				 "unnest(s.a) WITH ORDINALITY u(x, d), "
				 "LATERAL (SELECT x NOT IN ('NaN', 'Infinity', '-Infinity')) g(f) "
				 "GROUP BY d ORDER BY d",
				 col, c->rel));
	n_dims = (int) SPI_processed;
	initStringInfo(&off);
	for (int r = 0; r < n_dims; r++)
	{
		n_nonfinite += num(r, 5);
		if (num(r, 6) > 0)
		{
			emit(c, "error", "values", psprintf("%s has NULL elements", col),
				 "Replace them (e.g. with 0) in a view.");
			break;
		}
	}
	if (n_nonfinite > 0)
		emit(c, "error", "values",
			 psprintf("%s has %.0f NaN or infinite elements", col, n_nonfinite),
			 "Training and adaptation reject them: replace them in a view.");
	for (int r = 0; r < n_dims; r++)
	{
		if (!(num(r, 4) > SCALE_LIMIT))
			continue;
		if (n_off < SCALE_LIST)
			appendStringInfo(&off, "%sdimension %.0f (mean %.4g, std %.4g, max |x| %.4g)",
							 n_off ? "; " : "", num(r, 1), num(r, 2), num(r, 3), num(r, 4));
		n_off++;
	}
	if (n_off > 0)
		emit(c, "warning", "scale",
			 psprintf("%d of %d %s dimensions exceed |x| = %g: %s%s", n_off, n_dims, col,
					  SCALE_LIMIT, off.data, n_off > SCALE_LIST ? "; ..." : ""),
			 "Standardize them ((x - mean) / std), with log1p first for counts and prices: unscaled features can train to chance.");
}

static void
check_members(Check *c, int support_size, int query_size)
{
	int			need = support_size + query_size;

	run(psprintf("SELECT count(*)::float8, (count(*) FILTER (WHERE n < %d))::float8, "
				 "(percentile_disc(0.5) WITHIN GROUP (ORDER BY n))::float8 "
				 "FROM (SELECT count(*) AS n FROM %s WHERE member_id IS NOT NULL GROUP BY member_id) m",
				 need, c->rel));
	if (num(0, 2) > 0)
		emit(c, num(0, 2) * 2 > num(0, 1) ? "warning" : "info", "members",
			 psprintf("%.0f of %.0f members (%.1f%%) have fewer than support_size + query_size = %d rows; "
					  "the median member has %.0f",
					  num(0, 2), num(0, 1), 100.0 * num(0, 2) / num(0, 1), need, num(0, 3)),
			 "They train on shorter support sets; a smaller support_size and query_size fit such logs.");
}

/* negatives: the sampled catalogue negatives per positive row the model will add (0: none) */
static void
check_labels(Check *c, LmLoss loss, int negatives)
{
	run(psprintf("SELECT count(*)::float8, count(*) FILTER (WHERE l < 0 OR l > 1)::float8, "
				 "avg(l)::float8, stddev_pop(l)::float8, min(l)::float8, max(l)::float8, "
				 "count(*) FILTER (WHERE l IN ('NaN', 'Infinity', '-Infinity'))::float8 "
				 "FROM (SELECT %s::pg_catalog.float8 AS l FROM %s WHERE label IS NOT NULL) s",
				 c->sql.label, c->rel));
	if (num(0, 1) == 0)
		return;
	if (num(0, 7) > 0)
	{
		emit(c, "error", "labels", psprintf("%.0f labels are NaN or infinite", num(0, 7)),
			 "Training and adaptation reject them.");
		return;
	}
	if (loss == LM_LOSS_BCE)
	{
		/* the positives' share once n negatives follow every positive row */
		double		share = num(0, 3) / (1 + negatives * num(0, 3));

		if (num(0, 2) > 0)
			emit(c, "error", "labels",
				 psprintf("%.0f labels are outside [0, 1] (from %g to %g)", num(0, 2), num(0, 5), num(0, 6)),
				 "bce needs 0/1 labels (or a boolean); use loss => 'mse' for values.");
		else if (share < BALANCE_LIMIT || share > 1 - BALANCE_LIMIT)
			emit(c, "warning", "labels",
				 negatives > 0 ?
				 psprintf("%.1f%% of the labels are positive with %d negatives per positive", 100 * share,
						  negatives) :
				 psprintf("%.1f%% of the labels are positive", 100 * share),
				 share < BALANCE_LIMIT ?
				 "Few positives teach little: add negatives (negatives => n, with an items relation)." :
				 "Almost every label is positive: add the negatives users saw, or negatives => n.");
	}
	else if (num(0, 4) == 0)
		emit(c, "warning", "labels", psprintf("every label is %g", num(0, 3)),
			 "A constant target teaches nothing.");
	else if (num(0, 4) > SCALE_LIMIT || fabs(num(0, 3)) > 10 * SCALE_LIMIT)
		emit(c, "warning", "labels",
			 psprintf("labels have mean %.4g and std %.4g", num(0, 3), num(0, 4)),
			 "mse gradients grow with the targets: standardize them, or lower inner_lr.");
}

/* whether limaml_adapt's per-member read can use an index */
static void
check_index(Check *c)
{
	char		kind = get_rel_relkind(c->relid);

	if (kind == RELKIND_VIEW)
	{
		emit(c, "info", "index",
			 "cannot tell whether per-member reads use an index: the relation is a view",
			 "limaml_adapt compares member_id with the column's own type; an index on the underlying table's "
			 "(member_id, ts) serves it when the view passes the columns through uncast.");
		return;
	}
	run(psprintf("SELECT count(*) FROM pg_catalog.pg_index i "
				 "WHERE i.indrelid = %u AND i.indisvalid AND i.indpred IS NULL "
				 "AND i.indkey[0] = %d",
				 c->relid, get_attnum(c->relid, "member_id")));
	if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									&(bool) {false})) == 0)
		emit(c, "warning", "index",
			 "no index leads with member_id: limaml_adapt reads every member with a sequential scan",
			 psprintf("CREATE INDEX ON %s (member_id, ts);", c->rel));
}

/* limaml_check_source(relation, loss, support_size, query_size, negatives) */
Datum
limaml_check_source(PG_FUNCTION_ARGS)
{
	Check		c = {0};
	List	   *problems;
	ListCell   *lc;
	LmLoss		loss;
	int			negatives = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation must not be NULL"),
				 errhint("Pass the source relation, e.g. limaml_check_source('events_view').")));
	for (int i = 1; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", i == 1 ? "loss" : i == 2 ? "support_size" : "query_size")));
	loss = lm_loss_arg(PG_GETARG_TEXT_PP(1));
	lm_check_range("support_size", PG_GETARG_INT32(2), 1, 100000);
	lm_check_range("query_size", PG_GETARG_INT32(3), 1, 100000);
	/* 0.3.0 builds before the negatives argument had four */
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		negatives = PG_GETARG_INT32(4);
		lm_check_range("negatives", negatives, 1, LM_MAX_NEGATIVES);
		if (loss != LM_LOSS_BCE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("negatives needs loss bce")));
	}

	c.relid = PG_GETARG_OID(0);
	c.rel = lm_relation_sql(c.relid);
	InitMaterializedSRF(fcinfo, 0);
	c.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	/* types first: the other checks read the columns */
	problems = lm_relation_problems(c.relid, LM_SOURCE,
									get_attnum(c.relid, "item_id") != InvalidAttrNumber);
	/*
	 * Neither feature array but item ids: a source for a model that declares
	 * its features (member_columns, item_columns) from the members and items
	 * relations, which limaml_create_model checks.
	 */
	c.declared = get_attnum(c.relid, "member_features") == InvalidAttrNumber &&
		get_attnum(c.relid, "item_features") == InvalidAttrNumber &&
		get_attnum(c.relid, "item_id") != InvalidAttrNumber;
	if (c.declared)
		emit(&c, "info", "features",
			 "no member_features or item_features: fine for a model that declares its features",
			 "Pass member_columns and item_columns (with members and items) to limaml_create_model, which checks those columns; otherwise map feature arrays in a view.");
	foreach(lc, problems)
	{
		LmColumnProblem *p = lfirst(lc);

		if (c.declared && strstr(p->column, "_features") != NULL && p->missing)
		{
			problems = foreach_delete_current(problems, lc);
			continue;
		}

		emit(&c, "error", "types", p->detail,
			 p->missing ? "Map your schema with a view that names the column." :
			 "Cast it in a view to one of the accepted types.");
	}
	if (problems != NIL)
		PG_RETURN_VOID();

	lm_source_sql(c.relid, &c.sql);
	lm_spi_connect();
	if (check_nulls(&c, c.sql.item_id != NULL) > 0)
	{
		if (!c.declared)
		{
			check_features(&c, "member_features");
			check_features(&c, "item_features");
		}
		check_members(&c, PG_GETARG_INT32(2), PG_GETARG_INT32(3));
		check_labels(&c, loss, negatives);
	}
	check_index(&c);
	lm_spi_finish();
	PG_RETURN_VOID();
}
