/*
 * catalog.c - models and versions in the extension's tables, and the
 * per-backend cache of parsed versions.
 *
 * Versions are immutable, so a cached version is never stale; it only
 * disappears.  A statement trigger on the catalog sends a relcache
 * invalidation for limaml_model_version, and every backend then forgets
 * its cached versions and reloads (or fails clearly) on next use.  Queries
 * pin the versions they use, so a flush in mid-query never frees them.
 *
 * Whether a role may use a model is cached apart, per (model, role): the
 * same invalidation, and any change of role memberships or attributes,
 * forget it, so a revoked grant holds from the next statement on.
 */
#include "limaml.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/uuid.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "common/hashfn.h"
#include "core/items.h"

PG_FUNCTION_INFO_V1(limaml_catalog_changed);
PG_FUNCTION_INFO_V1(limaml_create_model);
PG_FUNCTION_INFO_V1(limaml_drop_model);

typedef struct CacheKey
{
	int32		model_id;
	int32		version;
} CacheKey;

typedef struct CacheEntry
{
	CacheKey	key;
	LmModel    *model;
} CacheEntry;

typedef struct AccessKey
{
	int32		model_id;
	Oid			userid;
} AccessKey;

static HTAB *model_cache = NULL;
static HTAB *access_cache = NULL;	/* AccessKey of the uses allowed */
static Oid	cached_catalog_relid = InvalidOid;

/* ------------------------------------------------------------- the cache */

static void
release_model(LmModel *model)
{
	if (model->dead && model->pins == 0)
		MemoryContextDelete(model->mcxt);
}

static void
flush_cache(void)
{
	HASH_SEQ_STATUS status;
	CacheEntry *entry;

	if (!model_cache)
		return;
	hash_seq_init(&status, model_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		LmModel    *model = entry->model;

		hash_search(model_cache, &entry->key, HASH_REMOVE, NULL);
		model->dead = true;
		release_model(model);
	}
}

static void
flush_access(void)
{
	HASH_SEQ_STATUS status;
	AccessKey  *key;

	if (!access_cache)
		return;
	hash_seq_init(&status, access_cache);
	while ((key = hash_seq_search(&status)) != NULL)
		hash_search(access_cache, key, HASH_REMOVE, NULL);
}

static void
role_inval_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	flush_access();
}

static void
catalog_inval_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cached_catalog_relid)
	{
		flush_cache();
		flush_access();
		/* the extension may have been dropped and created again */
		cached_catalog_relid = InvalidOid;
	}
}

static void
unpin_callback(void *arg)
{
	LmModel    *model = arg;

	model->pins--;
	release_model(model);
}

static void
pin(LmModel *model, MemoryContext holder)
{
	MemoryContextCallback *cb = MemoryContextAlloc(holder, sizeof(MemoryContextCallback));

	cb->func = unpin_callback;
	cb->arg = model;
	model->pins++;
	MemoryContextRegisterResetCallback(holder, cb);
}

static void
init_cache(void)
{
	HASHCTL		ctl;

	if (model_cache)
		return;
	ctl.keysize = sizeof(CacheKey);
	ctl.entrysize = sizeof(CacheEntry);
	ctl.hcxt = TopMemoryContext;
	model_cache = hash_create("limaml model cache", 16, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(AccessKey);
	ctl.entrysize = sizeof(AccessKey);
	access_cache = hash_create("limaml model access", 16, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(catalog_inval_callback, (Datum) 0);
	/* memberships decide ownership and grants; rolsuper and rolbypassrls too */
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, role_inval_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, role_inval_callback, (Datum) 0);
}

/*
 * Versions are immutable and the cache outlives this snapshot: read the
 * latest committed state, so an old snapshot can neither cache a dropped
 * version (or a revoked grant) nor miss one committed while we waited for
 * a lock.  A parallel worker may not take a new snapshot; it reads with
 * the leader's, and its cache dies with it at the end of the query.
 */
Snapshot
lm_catalog_snapshot(void)
{
	return IsInParallelMode() ? GetActiveSnapshot() : GetLatestSnapshot();
}

/*
 * The current user may use the model: row-level security on limaml_model
 * shows it (owner, grantee, superuser).  A model hidden from the user is
 * one that does not exist, by name or by the id in an embedding.
 */
static void
check_usable(int32 model_id, int32 version)
{
	AccessKey	key = {model_id, GetUserId()};
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(model_id)};
	SPIPlanPtr	plan;

	if (hash_search(access_cache, &key, HASH_FIND, NULL))
		return;
	lm_spi_connect();
	plan = SPI_prepare(psprintf("SELECT 1 FROM %s.limaml_model WHERE model_id = $1",
								lm_schema_quoted()), 1, argtypes);
	SPI_execute_snapshot(plan, args, NULL, lm_catalog_snapshot(), InvalidSnapshot, true, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model version %d of model id %d does not exist", version, model_id),
				 errhint("The model was dropped, or its owner has not granted it to you (limaml_grant).")));
	lm_spi_finish();
	hash_search(access_cache, &key, HASH_ENTER, NULL);
}

/* 0.1.0's catalog, still in use until ALTER EXTENSION UPDATE, has no items column */
static bool
catalog_has_items(void)
{
	return get_attnum(lm_catalog_relid("limaml_model"), "items") != InvalidAttrNumber;
}

/* 0.3.0's catalog names models by UUID and versions by content hash */
bool
lm_catalog_has_identity(void)
{
	return get_attnum(lm_catalog_relid("limaml_model"), "model_uuid") != InvalidAttrNumber;
}

typedef struct VersionRead
{
	int32		model_id;
	int32		version;
} VersionRead;

/* the version's row, as the catalog's owner: a grantee may not read params itself */
static void
read_version(void *arg)
{
	VersionRead *r = arg;
	const char *schema = lm_schema_quoted();
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2] = {Int32GetDatum(r->model_id), Int32GetDatum(r->version)};
	SPIPlanPtr	plan;

	plan = SPI_prepare(psprintf("SELECT m.name, m.source, m.members, m.config, v.params, %s, %s, %s "
								"FROM %s.limaml_model m JOIN %s.limaml_model_version v "
								"ON v.model_id = m.model_id "
								"WHERE m.model_id = $1 "
								"AND v.version = $2",
								catalog_has_items() ? "m.items" : "NULL::pg_catalog.regclass",
								lm_catalog_has_owner() ? "m.owner::pg_catalog.oid" : "0::pg_catalog.oid",
								lm_catalog_has_identity() ?
								"pg_catalog.uuid_send(m.model_uuid), v.content_hash" : "NULL::bytea, NULL::bytea",
								schema, schema), 2, argtypes);
	SPI_execute_snapshot(plan, args, NULL, lm_catalog_snapshot(), InvalidSnapshot, true, false, 1);
}

/* columns 8 and 9 of read_version: the UUID and the content hash, or format 1's model id */
static void
read_identity(LmModel *model, HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		uuid = SPI_getbinval(tuple, desc, 8, &isnull);
	bytea	   *hash;

	model->has_identity = !isnull;
	if (isnull)
	{
		memset(model->uuid, 0, LM_UUID_LEN);
		memcpy(model->uuid, &model->model_id, sizeof(int32));
		memset(model->content_hash, 0, LM_CONTENT_HASH_LEN);
		return;
	}
	memcpy(model->uuid, VARDATA_ANY(DatumGetByteaPP(uuid)), LM_UUID_LEN);
	hash = DatumGetByteaPP(SPI_getbinval(tuple, desc, 9, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(hash) != LM_CONTENT_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("limaml model \"%s\" version %d has no valid content hash",
						model->name, model->version)));
	memcpy(model->content_hash, VARDATA_ANY(hash), LM_CONTENT_HASH_LEN);
}

/* reads one version from the catalog into its own memory context; the caller checked the use */
static LmModel *
load_model(int32 model_id, int32 version)
{
	VersionRead r = {model_id, version};
	MemoryContext mcxt;
	MemoryContext old;
	LmModel    *model;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	bytea	   *params;
	Jsonb	   *config;

	lm_spi_connect();
	lm_run_as(lm_catalog_owner(), read_version, &r);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model version %d of model id %d does not exist", version, model_id),
				 errhint("The model or this version was dropped; adapt the member again with a current model.")));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	/*
	 * Under SPI's context until the version is valid, so an error frees it;
	 * moved under TopMemoryContext, for the cache, at the end.
	 */
	mcxt = AllocSetContextCreate(CurrentMemoryContext, "limaml model", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(mcxt);
	model = palloc0(sizeof(LmModel));
	model->mcxt = mcxt;
	model->model_id = model_id;
	model->version = version;
	model->name = TextDatumGetCString(SPI_getbinval(tuple, desc, 1, &isnull));
	model->source = DatumGetObjectId(SPI_getbinval(tuple, desc, 2, &isnull));
	if (isnull)
		model->source = InvalidOid;
	model->members = DatumGetObjectId(SPI_getbinval(tuple, desc, 3, &isnull));
	if (isnull)
		model->members = InvalidOid;
	config = DatumGetJsonbP(SPI_getbinval(tuple, desc, 4, &isnull));
	lm_config_from_jsonb(config, &model->arch, &model->config);
	model->transforms = lm_transforms_from_config(config);
	params = DatumGetByteaPP(SPI_getbinval(tuple, desc, 5, &isnull));
	if (VARSIZE_ANY_EXHDR(params) != model->arch.n_params * sizeof(float))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("limaml model \"%s\" version %d has %zu parameter bytes, expected %zu",
						model->name, version, VARSIZE_ANY_EXHDR(params),
						model->arch.n_params * sizeof(float))));
	if (lm_first_non_finite(VARDATA_ANY(params), model->arch.n_params) >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("limaml model \"%s\" version %d has non-finite parameters",
						model->name, version),
				 errhint("Import a good export of the model with limaml_model_import, or drop the model and train it again.")));
	model->params = palloc(model->arch.n_params * sizeof(float));
	memcpy(model->params, VARDATA_ANY(params), model->arch.n_params * sizeof(float));
	model->items = DatumGetObjectId(SPI_getbinval(tuple, desc, 6, &isnull));
	if (isnull)
		model->items = InvalidOid;
	model->owner = DatumGetObjectId(SPI_getbinval(tuple, desc, 7, &isnull));
	read_identity(model, tuple, desc);
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(mcxt, TopMemoryContext);
	lm_spi_finish();
	return model;
}

/*
 * The given version, loaded once per backend; pinned until holder is reset
 * or deleted, so callers may keep the pointer that long.
 */
LmModel *
lm_model_acquire(int32 model_id, int32 version, MemoryContext holder)
{
	CacheKey	key = {model_id, version};
	CacheEntry *entry;
	bool		found;
	LmModel    *model;

	init_cache();
	if (!OidIsValid(cached_catalog_relid))
		cached_catalog_relid = lm_catalog_relid("limaml_model_version");
	check_usable(model_id, version);
	entry = hash_search(model_cache, &key, HASH_FIND, NULL);
	if (entry)
		model = entry->model;
	else
	{
		model = load_model(model_id, version);
		entry = hash_search(model_cache, &key, HASH_ENTER, &found);
		entry->model = model;
	}
	pin(model, holder);
	return model;
}

/* ------------------------------------------------------- name resolution */

void
lm_model_resolve(text *name, int32 *model_id, int32 *version)
{
	const char *schema = lm_schema_quoted();
	char	   *model_name;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;

	lm_spi_connect();
	if (name)
		model_name = text_to_cstring(name);
	else if (limaml_default_model && limaml_default_model[0] != '\0')
		model_name = limaml_default_model;
	else
	{
		SPI_execute(psprintf("SELECT name FROM %s.limaml_model LIMIT 2", schema), true, 2);
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg(SPI_processed == 0 ? "no limaml model exists"
							: "which limaml model? several exist"),
					 errhint("Pass the model name, or set limaml.default_model.")));
		model_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	}

	args[0] = CStringGetTextDatum(model_name);
	SPI_execute_with_args(psprintf("SELECT model_id, active_version FROM %s.limaml_model "
								   "WHERE name = $1", schema),
						  1, argtypes, args, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model \"%s\" does not exist", model_name)));
	*model_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" has no active version", model_name)));
	lm_spi_finish();
}

/*
 * The model and the version a call names: the active version, or an explicit
 * one (has_version), which must exist.
 */
void
lm_model_resolve_version(text *name, bool has_version, int32 requested,
						 int32 *model_id, int32 *version)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2];

	if (has_version && requested < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version must not be negative, not %d", requested),
				 errhint("Pass an existing version of the model, or NULL for the active one.")));
	lm_model_resolve(name, model_id, version);
	if (!has_version || requested == *version)
		return;

	args[0] = Int32GetDatum(*model_id);
	args[1] = Int32GetDatum(requested);
	lm_spi_connect();
	SPI_execute_with_args(psprintf("SELECT m.name, v.version FROM %s.limaml_model m "
								   "LEFT JOIN %s.limaml_model_version v "
								   "ON v.model_id = m.model_id AND v.version = $2 "
								   "WHERE m.model_id = $1",
								   lm_schema_quoted(), lm_schema_quoted()),
						  2, argtypes, args, NULL, true, 1);
	if (SPI_processed == 0 ||
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model version %d of model \"%s\" does not exist", requested,
						SPI_processed == 0 ? "?"
						: SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("The table limaml_model_version lists the versions of each model.")));
	lm_spi_finish();
	*version = requested;
}

/*
 * Identifies the active snapshot.  A pinned version flushed from the cache
 * (dropped by some transaction) stays usable while the snapshot that
 * validated it is in use, so a query finishes with what it saw; a later
 * statement (a new snapshot, or a new command after our own delete) looks
 * it up again and fails clearly.
 */
uint64
lm_snapshot_stamp(void)
{
	Snapshot	snap;

	if (!ActiveSnapshotSet())
		return 0;
	snap = GetActiveSnapshot();
	return hash_bytes_uint32_extended(snap->curcid,
									  ((uint64) snap->xmin << 32) ^ snap->xmax);
}

/* a pinned version still good for this statement? */
bool
lm_model_usable(const LmModel *model, uint64 stamp)
{
	return !model->dead || stamp == lm_snapshot_stamp();
}

LmModel *
lm_model_acquire_by_name(text *name, MemoryContext holder)
{
	int32		model_id;
	int32		version;

	lm_model_resolve(name, &model_id, &version);
	return lm_model_acquire(model_id, version, holder);
}

/* the name of the model with this uuid, as the caller sees the catalog */
text *
lm_model_name_by_uuid(Datum uuid)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		args[1] = {uuid};
	bool		isnull;
	Datum		name;

	lm_spi_connect();
	SPI_execute_with_args(psprintf("SELECT name FROM %s.limaml_model WHERE model_uuid = $1",
								   lm_schema_quoted()),
						  1, argtypes, args, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model %s does not exist on this node",
						DatumGetCString(DirectFunctionCall1(uuid_out, uuid))),
				 errhint("Publish the model to this node (limaml_publish) or import it (limaml_model_import).")));
	name = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
							 false, -1);
	lm_spi_finish();
	return DatumGetTextPP(name);
}

/* ------------------------------------------------------------- negatives */

/*
 * Reads the item relation, ordered by item_id, into the current memory
 * context; with item_dim 0 its ids only (a model being created, whose
 * transforms cannot encode rows before it is stored)
 */
static LmNegatives *
load_items(Oid items, const LmTransforms *tf, int item_dim, int negatives, int64 seed,
		   const char *model_name, Oid reader)
{
	LmNegatives *neg = palloc0(sizeof(LmNegatives));
	MemoryContext cxt = CurrentMemoryContext;
	int64	   *ids;
	float	   *features;
	uint64		n;
	LmSourceSql sql;

	neg->n = negatives;
	neg->seed = seed;
	lm_check_items_for(tf, items);
	lm_spi_connect();
	lm_source_sql(items, &sql);
	lm_execute_plan_as(reader, SPI_prepare(item_dim == 0 ?
										   psprintf("SELECT %s FROM %s src ORDER BY src.item_id",
													sql.item_id, lm_relation_sql(items)) :
										   psprintf("SELECT %s, %s FROM %s src ORDER BY src.item_id",
													sql.item_id, sql.features,
													lm_transformed_relation_sql(model_name, tf, items, LM_ITEMS,
																				InvalidOid, items)),
										   0, NULL),
					   NULL, NULL, true, 0);
	n = SPI_processed;
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item relation \"%s\" of limaml model \"%s\" is empty",
						get_rel_name(items), model_name),
				 errhint("Negatives are drawn from its rows.")));
	if (n > (uint64) LM_MAX_NEGATIVE_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("item relation \"%s\" has more than %d rows", get_rel_name(items),
						LM_MAX_NEGATIVE_ITEMS)));
	if ((uint64) negatives >= n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("negatives (%d) must be fewer than the items (" UINT64_FORMAT ") of \"%s\"",
						negatives, n, get_rel_name(items)),
				 errhint("A positive's own item is never its negative.")));
	ids = MemoryContextAlloc(cxt, sizeof(int64) * n);
	features = MemoryContextAllocHuge(cxt, sizeof(float) * n * item_dim);
	for (uint64 r = 0; r < n; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		bool		isnull;
		Datum		d;
		int			dim;
		const float *v;

		CHECK_FOR_INTERRUPTS();
		d = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("item_id must not be NULL in item relation \"%s\"", get_rel_name(items))));
		ids[r] = DatumGetInt64(d);
		if (r > 0 && ids[r] == ids[r - 1])
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("item relation \"%s\" has item_id " INT64_FORMAT " more than once",
							get_rel_name(items), ids[r]),
					 errhint("Negatives are drawn from one row per item.")));
		if (item_dim == 0)
			continue;
		d = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("features must not be NULL in item relation \"%s\" (item " INT64_FORMAT ")",
							get_rel_name(items), ids[r])));
		v = lm_array_floats(DatumGetArrayTypeP(d), "features", item_dim, &dim);
		memcpy(features + r * item_dim, v, sizeof(float) * item_dim);
	}
	lm_spi_finish();
	neg->n_items = (int) n;
	neg->item_ids = ids;
	neg->features = features;
	return neg;
}

/*
 * The model's negative sampling, or NULL without negatives.  The item
 * relation is read once per cached version; that it still exists (and has
 * its shape) is checked on every call, so a dropped relation fails clearly.
 */
const LmNegatives *
lm_model_negatives(const LmModel *model)
{
	LmModel    *m = (LmModel *) model;

	if (model->config.negatives == 0)
		return NULL;
	if (!OidIsValid(model->items))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" samples negatives but has no items relation", model->name),
				 errhint("Set it with UPDATE limaml_model SET items = 'relation' WHERE name = '%s'.",
						 model->name)));
	if (m->negatives)
	{
		lm_check_items_for(model->transforms, model->items);
		return m->negatives;
	}
	else
	{
		MemoryContext cxt = AllocSetContextCreate(model->mcxt, "limaml items", ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		/* a failed load leaves nothing behind: the context goes with the error */
		PG_TRY();
		{
			m->negatives = load_items(model->items, model->transforms, model->arch.item_feature_dim,
									  model->config.negatives, model->config.seed, model->name,
									  lm_model_reader(model));
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(old);
			MemoryContextDelete(cxt);
			PG_RE_THROW();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);
	}
	return m->negatives;
}

/*
 * Writes the negatives of one positive row (item id, NULL as LM_NULL_ITEM_ID,
 * and ts) after it: neg->n rows of label 0 with the drawn items' features,
 * buckets (when buckets is not NULL) and ids (when item_ids is not NULL).
 */
int
lm_negative_rows(const LmNegatives *neg, const LmArch *arch, int64 item_id, int64 ts,
				 float *items, float *labels, int32 *buckets, int64 *item_ids)
{
	int			p = arch->item_feature_dim;

	for (int j = 0; j < neg->n; j++)
	{
		int			r = lm_negative_draw(neg->item_ids, neg->n_items, neg->seed, item_id, ts, j);

		memcpy(items + (size_t) j * p, neg->features + (size_t) r * p, sizeof(float) * p);
		labels[j] = 0;
		if (buckets)
			buckets[j] = arch->item_buckets ? lm_item_bucket(arch, neg->item_ids[r]) : 0;
		if (item_ids)
			item_ids[j] = neg->item_ids[r];
	}
	return neg->n;
}

/* --------------------------------------------------------------- storage */

/* the configuration of a model, for the content hash of its versions */
static void
model_config(int32 model_id, LmArch *arch, LmConfig *cfg, LmTransforms **tf)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(model_id)};
	bool		isnull;

	SPI_execute_with_args(psprintf("SELECT config FROM %s.limaml_model WHERE model_id = $1",
								   lm_schema_quoted()), 1, argtypes, args, NULL, false, 1);
	if (SPI_processed == 0)
		elog(ERROR, "limaml model id %d vanished while storing a version", model_id);
	lm_config_from_jsonb(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1, &isnull)),
						 arch, cfg);
	*tf = lm_transforms_from_config(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc, 1, &isnull)));
}

/*
 * Stores params as the model's version number version (-1: the next one),
 * with its content hash, and makes it the active version if activate and
 * it is newer than the active one (an import of an old version does not
 * replace a newer one).  The caller holds the model row lock so numbering
 * cannot race.
 */
int32
lm_store_version_as(int32 model_id, int32 version, const float *params, size_t n_params,
					const char *train_json, bool activate)
{
	const char *schema = lm_schema_quoted();
	bool		identity = lm_catalog_has_identity();
	Oid			argtypes[5] = {INT4OID, BYTEAOID, JSONBOID, INT4OID, BYTEAOID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', train_json ? ' ' : 'n', version >= 0 ? ' ' : 'n', ' '};
	bytea	   *raw = palloc(VARHDRSZ + n_params * sizeof(float));
	bytea	   *hash = palloc(VARHDRSZ + LM_CONTENT_HASH_LEN);
	bool		isnull;

	SET_VARSIZE(raw, VARHDRSZ + n_params * sizeof(float));
	memcpy(VARDATA(raw), params, n_params * sizeof(float));
	args[0] = Int32GetDatum(model_id);
	args[1] = PointerGetDatum(raw);
	args[2] = train_json ? DirectFunctionCall1(jsonb_in, CStringGetDatum(train_json)) : (Datum) 0;
	args[3] = Int32GetDatum(version);
	args[4] = PointerGetDatum(hash);

	lm_spi_connect();
	if (identity)
	{
		LmArch		arch;
		LmConfig	cfg;
		LmTransforms *tf;

		model_config(model_id, &arch, &cfg, &tf);
		if (arch.n_params != n_params)
			elog(ERROR, "limaml model id %d: %zu parameters to store, its configuration has %zu",
				 model_id, n_params, arch.n_params);
		SET_VARSIZE(hash, VARHDRSZ + LM_CONTENT_HASH_LEN);
		lm_content_hash(&arch, &cfg, tf, params, (uint8 *) VARDATA(hash));
	}
	SPI_execute_with_args(psprintf("INSERT INTO %s.limaml_model_version (model_id, version, params, training%s) "
								   "SELECT $1, coalesce($4, max(version) + 1, 0), $2, $3%s "
								   "FROM %s.limaml_model_version WHERE model_id = $1 "
								   "RETURNING version", schema,
								   identity ? ", content_hash" : "", identity ? ", $5" : "", schema),
						  identity ? 5 : 4, argtypes, args, nulls, false, 1);
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (activate)
	{
		argtypes[1] = INT4OID;
		args[1] = Int32GetDatum(version);
		SPI_execute_with_args(psprintf("UPDATE %s.limaml_model SET active_version = $2 "
									   "WHERE model_id = $1 AND (active_version IS NULL OR active_version < $2)",
									   schema),
							  2, argtypes, args, NULL, false, 0);
	}
	lm_spi_finish();
	return version;
}

/* stores params as the model's next version (optionally the active one) */
int32
lm_store_version(int32 model_id, const float *params, size_t n_params,
				 const char *train_json, bool activate)
{
	return lm_store_version_as(model_id, -1, params, n_params, train_json, activate);
}

Datum
limaml_catalog_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("limaml_catalog_changed must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(lm_catalog_relid("limaml_model_version"));
	return PointerGetDatum(NULL);
}

/* ------------------------------------------------------------- create */

/*
 * item_buckets NULL: item ids whenever the source has an item_id column; 0
 * without it.  Up to LM_MAX_ITEM_VOCAB distinct items each get a row of
 * their own (*vocab, ascending ids); beyond, ids are hashed into about 8
 * buckets per item (a power of two, at least 1024), so few share a bucket.
 */
static int
auto_item_buckets(Oid source, const char *name, const int64 **vocab)
{
	int64		n_items;
	int			buckets = 1024;
	bool		isnull;
	MemoryContext caller = CurrentMemoryContext;

	*vocab = NULL;
	if (get_attnum(source, "item_id") == InvalidAttrNumber)
		return 0;
	lm_check_item_id(source);
	lm_spi_connect();
	SPI_execute(psprintf("SELECT count(DISTINCT item_id) FROM %s", lm_relation_sql(source)), true, 1);
	n_items = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (n_items > 0 && n_items <= LM_MAX_ITEM_VOCAB)
	{
		int64	   *ids = MemoryContextAlloc(caller, sizeof(int64) * n_items);
		uint64		i = 0;
		LmSourceSql sql;

		lm_source_sql(source, &sql);
		SPI_execute(psprintf("SELECT DISTINCT %s FROM %s WHERE item_id IS NOT NULL ORDER BY 1",
							 sql.item_id, lm_relation_sql(source)), true, 0);
		for (; i < SPI_processed && i < (uint64) n_items; i++)
			ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		lm_spi_finish();
		*vocab = ids;
		ereport(NOTICE,
				(errmsg("limaml model \"%s\": " INT64_FORMAT " distinct item ids, each with a row of its own",
						name, n_items),
				 errhint("Items not in the source now score as the unknown item; pass item_buckets => 0 "
						 "to leave item ids out, or a number of hashed buckets.")));
		return (int) i;
	}
	lm_spi_finish();
	while (buckets < LM_MAX_ITEM_BUCKETS / 2 && buckets < 8 * n_items)
		buckets *= 2;
	ereport(NOTICE,
			(errmsg("limaml model \"%s\": " INT64_FORMAT " distinct item ids in %d hashed buckets "
					"(about %.0f%% of the items share a bucket with another)", name, n_items, buckets,
					100 * (1 - exp(-(double) (n_items > 0 ? n_items - 1 : 0) / buckets))),
			 errhint("Pass item_buckets => 0 to leave item ids out, or a number of buckets.")));
	return buckets;
}

static int *
int_array_arg(ArrayType *array, const char *what, int *n)
{
	int		   *values;

	if (ARR_NDIM(array) > 1 || (ARR_HASNULL(array) && array_contains_nulls(array)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array without NULLs", what)));
	*n = ARR_NDIM(array) == 0 ? 0 : ARR_DIMS(array)[0];
	if (*n > LM_MAX_HIDDEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has %d layers; at most %d are allowed", what, *n, LM_MAX_HIDDEN)));
	values = (int *) ARR_DATA_PTR(array);
	for (int i = 0; i < *n; i++)
		lm_check_range(what, values[i], 1, LM_MAX_WIDTH);
	return values;
}

/*
 * The length of the first non-NULL array of each column (-1: no such row)
 * of a relation, read as the caller.
 */
void
lm_first_lengths(Oid relid, const char *col1, const char *col2, int *len1, int *len2)
{
	bool		isnull;
	Datum		d;

	*len1 = *len2 = -1;
	lm_spi_connect();
	SPI_execute(psprintf("SELECT coalesce(pg_catalog.cardinality(%s), 0), pg_catalog.cardinality(%s) FROM %s "
						 "WHERE %s IS NOT NULL LIMIT 1",
						 quote_identifier(col1), col2 ? quote_identifier(col2) : "NULL::int[]",
						 lm_relation_sql(relid), quote_identifier(col2 ? col2 : col1)),
				true, 1);
	if (SPI_processed > 0)
	{
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		*len1 = DatumGetInt32(d);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		*len2 = isnull ? -1 : DatumGetInt32(d);
	}
	lm_spi_finish();
}

/* feature dimensions of the first source row, for models created without them */
static void
infer_dims(Oid source, int *member_dim, int *item_dim)
{
	int			member_len,
				item_len;

	lm_first_lengths(source, "member_features", "item_features", &member_len, &item_len);
	if (item_len < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot infer feature dimensions: source \"%s\" has no rows",
						get_rel_name(source)),
				 errhint("Pass member_dim and item_dim.")));
	if (*member_dim < 0)
		*member_dim = member_len;
	if (*item_dim < 0)
		*item_dim = item_len;
}

/*
 * Dimensions of a model with transforms: an encoded side's is its
 * transforms' width (a differing member_dim or item_dim is an error), an
 * array side's comes from the source's first row unless given.
 */
static void
transform_dims(const LmTransforms *tf, Oid source, int *member_dim, int *item_dim)
{
	int			len,
				unused;

	for (int side = 0; side < 2; side++)
	{
		const LmTransformSet *set = side ? &tf->item : &tf->member;
		int		   *dim = side ? item_dim : member_dim;

		if (set->n > 0)
		{
			if (*dim >= 0 && *dim != set->dim)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s is %d, but the declared transforms make %d features",
								side ? "item_dim" : "member_dim", *dim, set->dim),
						 errhint("Leave %s out: it follows from the transforms.",
								 side ? "item_dim" : "member_dim")));
			*dim = set->dim;
		}
		else if (*dim < 0)
		{
			lm_first_lengths(source, side ? "item_features" : "member_features", NULL, &len, &unused);
			if (len < 0 && side)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("cannot infer feature dimensions: source \"%s\" has no rows",
								get_rel_name(source)),
						 errhint("Pass item_dim.")));
			*dim = Max(len, 0);
		}
	}
}

static double
prng_uniform(void *state)
{
	return pg_prng_double((pg_prng_state *) state);
}

/* inserts the model row; errors on a duplicate name */
int32
lm_insert_model(const char *name, Oid source, Oid members, Oid items, const char *config_json,
				const uint8 *uuid)
{
	const char *schema = lm_schema_quoted();
	Oid			argtypes[6] = {TEXTOID, OIDOID, OIDOID, JSONBOID, OIDOID, BYTEAOID};
	Datum		args[6];
	char		nulls[6] = {' ', OidIsValid(source) ? ' ' : 'n', OidIsValid(members) ? ' ' : 'n', ' ',
	OidIsValid(items) ? ' ' : 'n', ' '};
	bytea	   *uuid_raw = palloc(VARHDRSZ + LM_UUID_LEN);
	bool		isnull;
	int32		model_id;

	args[0] = CStringGetTextDatum(name);
	args[1] = ObjectIdGetDatum(source);
	args[2] = ObjectIdGetDatum(members);
	args[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(config_json));
	args[4] = ObjectIdGetDatum(items);
	SET_VARSIZE(uuid_raw, VARHDRSZ + LM_UUID_LEN);
	if (uuid)
		memcpy(VARDATA(uuid_raw), uuid, LM_UUID_LEN);
	args[5] = PointerGetDatum(uuid_raw);

	lm_lock_model_name(name);
	lm_spi_connect();
	SPI_execute_with_args(psprintf("SELECT 1 FROM %s.limaml_model WHERE name = $1", schema),
						  1, argtypes, args, NULL, false, 1);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("limaml model \"%s\" already exists", name),
				 errhint("Drop it with limaml_drop_model, or choose another name.")));
	/*
	 * no items column before the update from 0.1.0, no model_uuid before
	 * 0.3.0; nothing to store then.  A NULL uuid takes the column's default.
	 */
	if (uuid && !lm_catalog_has_identity())
		uuid = NULL;
	SPI_execute_with_args(psprintf("INSERT INTO %s.limaml_model (name, source, members, config%s%s) "
								   "VALUES ($1, $2::regclass, $3::regclass, $4%s%s) RETURNING model_id",
								   schema, OidIsValid(items) ? ", items" : "",
								   uuid ? ", model_uuid" : "",
								   OidIsValid(items) ? ", $5::regclass" : "",
								   uuid ? ", pg_catalog.encode($6, 'hex')::pg_catalog.uuid" : ""),
						  6, argtypes, args, nulls, false, 1);
	model_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	lm_spi_finish();
	return model_id;
}

/* wide => NULL: the wide head whenever the model has item ids (measured, README) */
#define WIDE_BY_DEFAULT true
/*
 * wide_rank => NULL and fold_in => NULL (0.3.0's signature): 64 factors and
 * the fold-in term for positive-only logs, 16 and none otherwise (measured,
 * README "Positive-only logs")
 */
#define WIDE_RANK_DEFAULT 16
#define WIDE_RANK_EVENT_LOG 64

#define ARG_OR_NULL_ERROR(n, what) \
	do { if (PG_ARGISNULL(n)) ereport(ERROR, \
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be NULL", what))); } while (0)

Datum
limaml_create_model(PG_FUNCTION_ARGS)
{
	static const char *const arg_names[] = {
		"name", "source", "embedding_dim", "meta_hidden", "global_hidden", "loss",
		"inner_steps", NULL, "support_size", "query_size", "seed"
	};
	char	   *name;
	Oid			source;
	Oid			members;
	Oid			items;
	int		   *meta_hidden,
			   *global_hidden;
	int			n_meta_hidden,
				n_global_hidden;
	int			item_buckets;
	const int64 *item_vocab = NULL;
	int			member_dim,
				item_dim;
	LmArch		arch;
	LmConfig	cfg;
	LmLoss		loss;
	const char *err;
	int32		model_id;
	float	   *params;
	pg_prng_state rng;
	LmTransforms *tf;
	bool		event_log;
	int			wide_rank;

	for (int i = 0; i < lengthof(arg_names); i++)
		if (arg_names[i])
			ARG_OR_NULL_ERROR(i, arg_names[i]);
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	source = PG_GETARG_OID(1);
	members = PG_ARGISNULL(11) ? InvalidOid : PG_GETARG_OID(11);
	items = PG_NARGS() > 25 && !PG_ARGISNULL(25) ? PG_GETARG_OID(25) : InvalidOid;
	/* declared transforms: checked and fitted on members and items first */
	tf = PG_NARGS() > 28 ?
		lm_transforms_declare(PG_ARGISNULL(27) ? NULL : PG_GETARG_JSONB_P(27), members,
							  PG_ARGISNULL(28) ? NULL : PG_GETARG_JSONB_P(28), items) : NULL;
	if (tf)
		lm_transforms_check(tf, source, members, items);
	else
		lm_check_source(source, members);

	lm_check_range("embedding_dim", PG_GETARG_INT32(2), 1, 1024);
	meta_hidden = int_array_arg(PG_GETARG_ARRAYTYPE_P(3), "meta_hidden", &n_meta_hidden);
	global_hidden = int_array_arg(PG_GETARG_ARRAYTYPE_P(4), "global_hidden", &n_global_hidden);
	loss = lm_loss_arg(PG_GETARG_TEXT_PP(5));

	cfg.inner_steps = PG_GETARG_INT32(6);
	/* NULL: a rate that suits the loss (mse gradients scale with the targets) */
	cfg.inner_lr = PG_ARGISNULL(7) ? (loss == LM_LOSS_BCE ? 1.0 : 0.1) : lm_getarg_real(fcinfo, 7);
	cfg.support_size = PG_GETARG_INT32(8);
	cfg.query_size = PG_GETARG_INT32(9);
	cfg.seed = PG_GETARG_INT64(10);
	cfg.adapt_steps = PG_ARGISNULL(14) ? cfg.inner_steps : PG_GETARG_INT32(14);
	cfg.adapt_lr = PG_ARGISNULL(15) ? cfg.inner_lr : lm_getarg_real(fcinfo, 15);
	/* 0.1.0's and older 0.2.0 builds' limaml_create_model have fewer arguments */
	cfg.negatives = 0;
	if (PG_NARGS() > 24 && !PG_ARGISNULL(24))
	{
		cfg.negatives = PG_GETARG_INT32(24);
		lm_check_range("negatives", cfg.negatives, 1, LM_MAX_NEGATIVES);
		if (!OidIsValid(items))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("negatives needs an items relation"),
					 errhint("Pass items => a relation of (item_id, features) to draw them from.")));
		if (loss != LM_LOSS_BCE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("negatives needs loss bce"),
					 errhint("Negatives are rows of label 0 for positive-only logs.")));
		if (get_attnum(source, "item_id") == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("source relation \"%s\" has no column \"item_id\"", get_rel_name(source)),
					 errhint("negatives needs an item_id column in the source: it keys the sampling.")));
		lm_check_item_id(source);
	}
	if (OidIsValid(items))
		lm_check_items_for(tf, items);
	if (!PG_ARGISNULL(15) && !PG_ARGISNULL(16) && PG_GETARG_BOOL(16))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("adapt_lr conflicts with meta_sgd: Meta-SGD ignores adapt_lr"),
				 errhint("Meta-SGD adapts with its learned rates; omit adapt_lr.")));
	if ((err = lm_config_problem(&cfg)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", err)));

	/* NULL dimensions come from the source's first row */
	member_dim = PG_ARGISNULL(12) ? -1 : PG_GETARG_INT32(12);
	item_dim = PG_ARGISNULL(13) ? -1 : PG_GETARG_INT32(13);
	if (!PG_ARGISNULL(12))
		lm_check_range("member_dim", member_dim, 0, LM_MAX_WIDTH);
	if (!PG_ARGISNULL(13))
		lm_check_range("item_dim", item_dim, 1, LM_MAX_WIDTH);
	if (tf)
		transform_dims(tf, source, &member_dim, &item_dim);
	else if (PG_ARGISNULL(12) || PG_ARGISNULL(13))
		infer_dims(source, &member_dim, &item_dim);
	lm_check_range("member_dim", member_dim, 0, LM_MAX_WIDTH);
	lm_check_range("item_dim", item_dim, 1, LM_MAX_WIDTH);

	err = lm_arch_init(&arch, member_dim, item_dim, PG_GETARG_INT32(2),
					   meta_hidden, n_meta_hidden, global_hidden, n_global_hidden, loss);
	if (err)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model shape: %s", err)));
	if (PG_ARGISNULL(18) ? (item_buckets = auto_item_buckets(source, name, &item_vocab)) > 0 :
		(item_buckets = PG_GETARG_INT32(18)) != 0)
	{
		int			buckets = item_buckets;
		int			dim = PG_ARGISNULL(19) ? 16 : PG_GETARG_INT32(19);

		lm_check_range("item_buckets", buckets, 0, LM_MAX_ITEM_BUCKETS);
		lm_check_range("item_embedding_dim", dim, 1, 1024);
		lm_check_item_id(source);
		if ((err = lm_arch_enable_item_embedding(&arch, buckets, dim)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid model shape: %s", err)));
		arch.item_vocab = item_vocab;
	}
	/*
	 * wide_features, learn_lambda and history => NULL: on for positive-only
	 * logs (negatives), off for labelled sources: measured on two
	 * positive-only data sets and on MovieLens' ratings (README, "Positive-only
	 * logs").  Only through 0.3.0's signature (thirty arguments): earlier ones
	 * keep their NULL = off.
	 */
	event_log = cfg.negatives > 0 && PG_NARGS() > 29;
	/* 0.1.0's limaml_create_model has twenty arguments; history by default only when it fits */
	if (PG_NARGS() > 23 &&
		(PG_ARGISNULL(23) ? event_log && lm_arch_history_fits(&arch) : PG_GETARG_BOOL(23)) &&
		(err = lm_arch_enable_history(&arch, meta_hidden, n_meta_hidden)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model shape: %s", err)));
	/* the wide head needs item ids */
	if (PG_NARGS() > 22 && (PG_ARGISNULL(20) ? arch.item_buckets > 0 && WIDE_BY_DEFAULT :
							PG_GETARG_BOOL(20)))
	{
		if (arch.item_buckets == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("wide needs item ids"),
					 errhint("Set item_buckets, with an item_id column in the source.")));
		if (PG_NARGS() <= 30)
			ARG_OR_NULL_ERROR(21, "wide_rank");
		ARG_OR_NULL_ERROR(22, "ridge_lambda");
		wide_rank = !PG_ARGISNULL(21) ? PG_GETARG_INT32(21) :
			event_log ? WIDE_RANK_EVENT_LOG : WIDE_RANK_DEFAULT;
		lm_check_range("wide_rank", wide_rank, 0, LM_MAX_WIDE_RANK);
		lm_check_range("ridge_lambda", lm_getarg_real(fcinfo, 22), 1e-6, 1e6);
		if ((err = lm_arch_enable_wide(&arch, wide_rank, lm_getarg_real(fcinfo, 22))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid model shape: %s", err)));
		/* 0.2.0's limaml_create_model has twenty-six arguments */
		if (PG_NARGS() > 26 ? (PG_ARGISNULL(26) ? event_log : PG_GETARG_BOOL(26)) : false)
			lm_arch_enable_wide_features(&arch);
	}
	else if (PG_NARGS() > 26 && !PG_ARGISNULL(26) && PG_GETARG_BOOL(26))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wide_features needs the wide head"),
				 errhint("Leave wide at its default (on with item ids) or set wide => true.")));
	/* the item relation must hold more items than negatives, of the model's item_dim */
	if (cfg.negatives > 0)
		load_items(items, tf, tf && tf->item.n ? 0 : arch.item_feature_dim, cfg.negatives, cfg.seed,
				   name, InvalidOid);
	if (!PG_ARGISNULL(17) && PG_GETARG_BOOL(17))
		lm_arch_enable_bilinear(&arch);
	/* 0.3.0's limaml_create_model before learn_lambda has twenty-nine arguments */
	if (PG_NARGS() > 29 && (PG_ARGISNULL(29) ? arch.wide && event_log : PG_GETARG_BOOL(29)))
	{
		if (!arch.wide)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("learn_lambda needs the wide head"),
					 errhint("Leave wide at its default (on with item ids) or set wide => true.")));
		if ((err = lm_arch_enable_learned_lambda(&arch)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid model shape: %s", err)));
	}
	/* 0.3.0's limaml_create_model before fold_in has thirty arguments */
	if (PG_NARGS() > 30 && (PG_ARGISNULL(30) ? event_log && arch.wide && arch.wide_rank > 0 :
							PG_GETARG_BOOL(30)))
	{
		if (!arch.wide || arch.wide_rank == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("fold_in needs the wide head with factors"),
					 errhint("Leave wide at its default (on with item ids) and set wide_rank > 0.")));
		/* its a is chosen by ranking the items relation (src/core/fold_in.h) */
		if (cfg.negatives == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("fold_in needs negatives"),
					 errhint("The fold-in term is for positive-only logs: set negatives and items.")));
		if ((err = lm_arch_enable_fold_in(&arch)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid model shape: %s", err)));
	}
	if (!PG_ARGISNULL(16) && PG_GETARG_BOOL(16))
		lm_arch_enable_meta_sgd(&arch);

	lm_check_model_size(&arch, name);
	model_id = lm_insert_model(name, source, members, items,
							   lm_config_with_transforms(lm_config_to_json(&arch, &cfg), tf), NULL);
	params = palloc(arch.n_params * sizeof(float));
	pg_prng_seed(&rng, (uint64) cfg.seed);
	lm_arch_init_params(&arch, params, prng_uniform, &rng);
	/* Meta-SGD starts from the scalar rate everywhere */
	for (size_t i = 0; i < arch.n_lr_params; i++)
		params[arch.n_meta_params + arch.n_global_params + i] = (float) cfg.inner_lr;
	lm_store_version(model_id, params, arch.n_params,
					 "{\"method\": \"initialization\"}", true);
	PG_RETURN_INT32(model_id);
}

Datum
limaml_drop_model(PG_FUNCTION_ARGS)
{
	const char *schema = lm_schema_quoted();
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {PointerGetDatum(PG_GETARG_TEXT_PP(0))};

	lm_lock_model_name(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PushActiveSnapshot(GetTransactionSnapshot());
	lm_check_model_owner(text_to_cstring(PG_GETARG_TEXT_PP(0)), "drop", false, NULL);
	PopActiveSnapshot();
	lm_spi_connect();
	/* waits for adaptations in flight, then sees their embeddings */
	SPI_execute_with_args(psprintf("SELECT model_id FROM %s.limaml_model WHERE name = $1", schema),
						  1, argtypes, args, NULL, false, 1);
	if (SPI_processed > 0)
	{
		bool		isnull;

		lm_lock_model_id(DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													 1, &isnull)), true);
	}
	SPI_execute_with_args(psprintf("DELETE FROM %s.limaml_model WHERE name = $1", schema),
						  1, argtypes, args, NULL, false, 0);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model \"%s\" does not exist", text_to_cstring(PG_GETARG_TEXT_PP(0)))));
	/* checked above: the embeddings go as the catalog's owner, without a check per row */
	lm_execute_plan_as(lm_catalog_owner(),
					   SPI_prepare(psprintf("DELETE FROM %s.limaml_meta_embedding "
											"WHERE model = $1", schema),
								   1, argtypes),
					   args, NULL, false, 0);
	lm_spi_finish();
	PG_RETURN_VOID();
}
