/*
 * limaml.c - module initialization, GUCs and the input checks every SQL
 * entry point shares.
 */
#include "limaml.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "utils/fmgroids.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

PG_MODULE_MAGIC;

char	   *limaml_default_model = NULL;

void		_PG_init(void);

/* core allocations land in the caller's memory context, freed with it */
static void *
palloc_for_core(size_t size)
{
	return MemoryContextAllocHuge(CurrentMemoryContext, size);
}

static void
interrupts_for_core(void)
{
	CHECK_FOR_INTERRUPTS();
}

int			limaml_max_model_size = 1024;
int			limaml_max_work_mem = 2048;

#define MB (1024.0 * 1024.0)

/* a model's parameters fit limaml.max_model_size, so no role can exhaust a server's memory with one */
void
lm_check_model_size(const LmArch *arch, const char *name)
{
	double		mb = (double) arch->n_params * sizeof(float) / MB;

	if (mb > limaml_max_model_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("limaml model \"%s\" would hold %.0f MB of parameters; limaml.max_model_size allows %d MB",
						name, ceil(mb), limaml_max_model_size),
				 errhint("Use fewer item_buckets or narrower layers, or have a superuser raise limaml.max_model_size.")));
	/* a version's parameters are one bytea: at most 1 GB, whatever the setting */
	if ((double) arch->n_params * sizeof(float) > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("limaml model \"%s\" would hold %.0f MB of parameters; a model version holds at most 1 GB",
						name, ceil(mb)),
				 errhint("Use fewer item_buckets or narrower layers.")));
}

/* limaml.max_work_mem in bytes */
size_t
lm_work_mem_bytes(void)
{
	return (size_t) limaml_max_work_mem * 1024 * 1024;
}

/*
 * Refuses, before it allocates, a call whose working memory (what) would
 * exceed limaml.max_work_mem; hint says how to need less.
 */
void
lm_check_work_mem(double bytes, const char *what, const char *hint)
{
	if (bytes > (double) lm_work_mem_bytes())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s would need %.0f MB of working memory; limaml.max_work_mem allows %d MB",
						what, ceil(bytes / MB), limaml_max_work_mem),
				 errhint("%s, or have a superuser raise limaml.max_work_mem.", hint)));
}

void
_PG_init(void)
{
	lm_alloc = palloc_for_core;
	lm_free = pfree;
	lm_check_interrupts = interrupts_for_core;

	DefineCustomStringVariable("limaml.default_model",
							   "Model used when a limaml function is called without one.",
							   NULL, &limaml_default_model, NULL,
							   PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("limaml.max_model_size",
							"Largest parameter set of a limaml model, at creation and import.",
							"Training holds about six times this much, adaptation and scoring one copy per model version in use.",
							&limaml_max_model_size, 1024, 1, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("limaml.max_work_mem",
							"Largest working memory of one limaml training or adaptation call.",
							"Work areas, rows and optimizer state, checked before they are allocated.",
							&limaml_max_work_mem, 2048, 1, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_MB, NULL, NULL, NULL);
	MarkGUCPrefixReserved("limaml");
}

/*
 * Transaction-level advisory locks (pg_locks: locktype advisory, objsubid 2,
 * classid one of these), so drop, create, import and adapt of one model
 * serialize where they must without writing to the catalog.
 */
#define LM_LOCK_NAME 0x4c4d4c4e	/* objid: a hash of the model name */
#define LM_LOCK_MODEL 0x4c4d4c49	/* objid: the model id */

static void
advisory_xact_lock(uint32 classid, uint32 objid, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, classid, objid, 2);
	(void) LockAcquire(&tag, mode, false, false);
}

/* creating, importing and dropping models of one name run one at a time */
void
lm_lock_model_name(const char *name)
{
	advisory_xact_lock(LM_LOCK_NAME, hash_bytes((const unsigned char *) name, strlen(name)),
					   ExclusiveLock);
}

/*
 * Adapting holds a model id shared until commit, dropping it exclusively:
 * a drop waits for the adaptations in flight, whose embeddings it then
 * sees and deletes, and an adaptation that starts after a drop finds the
 * model gone (adapt.c's upsert checks for the model row).
 */
void
lm_lock_model_id(int32 model_id, bool exclusive)
{
	advisory_xact_lock(LM_LOCK_MODEL, (uint32) model_id, exclusive ? ExclusiveLock : ShareLock);
}

/*
 * Checks a real[] argument and returns its elements.  expected_dim < 0
 * accepts any length; *dim receives the length.  NULL arrays are the
 * caller's to reject, with a message that names the row.
 */
float *
lm_array_floats(ArrayType *array, const char *what, int expected_dim, int *dim)
{
	int			n;
	float	   *values;

	if (ARR_ELEMTYPE(array) != FLOAT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be real[]", what)));
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must be a one-dimensional array", what)));
	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", what)));

	n = ARR_NDIM(array) == 0 ? 0 : ARR_DIMS(array)[0];
	if (expected_dim >= 0 && n != expected_dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s has %d elements, but the model expects %d", what, n, expected_dim)));

	values = (float *) ARR_DATA_PTR(array);
	for (int i = 0; i < n; i++)
		if (!isfinite(values[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s must not contain NaN or infinity", what)));
	*dim = n;
	return values;
}

/*
 * A hyperparameter argument declared double precision since 0.3.0, real
 * before (an older catalog calls this library with real).  Rounded to
 * float32 either way, so 0.005::real and 0.005::double precision train
 * the same bits as 0.2.0 did with 0.005.
 */
double
lm_getarg_real(FunctionCallInfo fcinfo, int argno)
{
	Oid		   *argtypes;
	int			nargs;
	Oid			type;

	type = get_fn_expr_argtype(fcinfo->flinfo, argno);
	if (!OidIsValid(type))
	{
		get_func_signature(fcinfo->flinfo->fn_oid, &argtypes, &nargs);
		type = argno < nargs ? argtypes[argno] : FLOAT8OID;
	}
	if (type == FLOAT4OID)
		return (double) PG_GETARG_FLOAT4(argno);
	return (double) (float) PG_GETARG_FLOAT8(argno);
}

/* a hyperparameter within [lo, hi] (NaN is not) */
void
lm_check_range(const char *what, double value, double lo, double hi)
{
	if (!(value >= lo && value <= hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %g and %g, not %g", what, lo, hi, value)));
}

void
lm_check_label(float label, LmLoss loss)
{
	if (!isfinite(label))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("label must be finite")));
	if (loss == LM_LOSS_BCE && (label < 0 || label > 1))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("label %g is outside [0, 1] for a bce model", label),
				 errhint("Use loss => 'mse' for unbounded targets.")));
}

/* pg_extension.extnamespace of limaml (PostgreSQL 15 has no accessor) */
static Oid
extension_schema(void)
{
	Oid			ext_oid = get_extension_oid("limaml", false);
	Oid			schema = InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext_oid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		schema = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(schema))
		elog(ERROR, "limaml extension schema not found");
	return schema;
}

/* a catalog table of the extension, e.g. "limaml_model" */
Oid
lm_catalog_relid(const char *table)
{
	Oid			relid = get_relname_relid(table, extension_schema());

	if (!OidIsValid(relid))
		elog(ERROR, "limaml catalog table \"%s\" is missing", table);
	return relid;
}

void
lm_spi_connect(void)
{
	SPI_connect();
	(void) NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
lm_spi_finish(void)
{
	/*
	 * Our level is the innermost one still open (pairs nest, and functions'
	 * SET clauses close their own): it is one below the next level.
	 */
	AtEOXact_GUC(true, NewGUCNestLevel() - 1);
	SPI_finish();
}

LmLoss
lm_loss_arg(text *name)
{
	char	   *loss_name = text_to_cstring(name);

	if (strcmp(loss_name, "bce") == 0)
		return LM_LOSS_BCE;
	if (strcmp(loss_name, "mse") == 0)
		return LM_LOSS_MSE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown loss \"%s\"", loss_name),
			 errhint("Use 'bce' for 0/1 labels or 'mse' for values.")));
}

/* the extension's schema, quoted for SQL text */
const char *
lm_schema_quoted(void)
{
	return quote_identifier(get_namespace_name(extension_schema()));
}

/*
 * The one order of a member's rows, oldest first, that training,
 * evaluation and adaptation share, as an ORDER BY list (after member_id
 * where the caller orders by it).  ts; then, when the rows carry item ids
 * (models with item-ID embeddings), item_id with NULL (the unknown item)
 * least; then label and item_features (arrays compare element-wise), so
 * rows tied so far are identical support rows and no physical order shows
 * through; member_features last, NULL least, for the newest row's features.
 * limaml_adapt_agg's row_cmp (adapt_agg.c) is the same order in C.  The
 * descending form lists the newest first; both lead with ts, so an index
 * on (member_id, ts) serves them.  The columns are the relation's own,
 * aliased src, never the converted expressions a query selects
 * (source.c), so the index still serves them.
 */
const char *
lm_row_order_sql(bool item_ids, bool descending)
{
	if (descending)
		return item_ids ?
			"src.ts DESC, src.item_id DESC NULLS LAST, src.label DESC, src.item_features DESC, "
			"src.member_features DESC NULLS LAST" :
			"src.ts DESC, src.label DESC, src.item_features DESC, src.member_features DESC NULLS LAST";
	return item_ids ?
		"src.ts, src.item_id NULLS FIRST, src.label, src.item_features, src.member_features NULLS FIRST" :
		"src.ts, src.label, src.item_features, src.member_features NULLS FIRST";
}

/* a relation's qualified, quoted name for SQL text */
const char *
lm_relation_sql(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (!relname)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("The model's source or members relation was dropped.")));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname);
}

PG_FUNCTION_INFO_V1(limaml_prevent_transaction_block);

/*
 * limaml_prevent_transaction_block(procedure): called first by procedures
 * that commit as they go, so they fail at once, not at their first COMMIT.
 * Called from PL/pgSQL, the innermost SPI connection is the procedure's:
 * atomic inside BEGIN, in a function, or in an atomic procedure.
 */
Datum
limaml_prevent_transaction_block(PG_FUNCTION_ARGS)
{
	const char *procedure = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (IsTransactionBlock() || !SPI_inside_nonatomic_context())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a transaction block or a function", procedure),
				 errhint("It commits after every batch: CALL %s(...) as a statement of its own, outside BEGIN ... COMMIT.",
						 procedure)));
	PG_RETURN_VOID();
}

/* a UUID's 16 bytes as PostgreSQL prints a uuid */
char *
lm_uuid_string(const uint8 *uuid)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum((const pg_uuid_t *) uuid)));
}
