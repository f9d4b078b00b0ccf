/*
 * identity.c - model versions by the identity embeddings and item codes
 * carry (core/formats.h): the model's UUID, the version number and a
 * prefix of the version's content hash, the same on every node.  The local
 * model id behind an identity is cached per backend and forgotten with the
 * version cache (catalog.c), on any change of the catalog.
 */
#include "limaml.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "postmaster/postmaster.h"

typedef struct IdentityKey
{
	uint8		uuid[LM_UUID_LEN];
	int32		version;
} IdentityKey;

typedef struct IdentityEntry
{
	IdentityKey key;
	int32		model_id;
} IdentityEntry;

static HTAB *identity_cache = NULL;
static Oid	identity_catalog_relid = InvalidOid;

static void
identity_inval_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	IdentityEntry *entry;

	if (relid != InvalidOid && relid != identity_catalog_relid)
		return;
	hash_seq_init(&status, identity_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		hash_search(identity_cache, &entry->key, HASH_REMOVE, NULL);
	identity_catalog_relid = InvalidOid;
}

static void
init_identity_cache(void)
{
	HASHCTL		ctl;

	if (!identity_cache)
	{
		ctl.keysize = sizeof(IdentityKey);
		ctl.entrysize = sizeof(IdentityEntry);
		ctl.hcxt = TopMemoryContext;
		identity_cache = hash_create("limaml model identities", 16, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(identity_inval_callback, (Datum) 0);
	}
	if (!OidIsValid(identity_catalog_relid))
		identity_catalog_relid = lm_catalog_relid("limaml_model_version");
}

typedef struct IdentityRead
{
	const uint8 *uuid;
	int32		version;
	bool		latest;			/* the latest catalog, not the statement's snapshot */
} IdentityRead;


/* this database, and on a Citus node the node's name as Citus knows it */
static char *
this_node(void)
{
	const char *host = GetConfigOption("citus.local_hostname", true, false);

	if (host)
		return psprintf("%s:%d, database \"%s\"", host, PostPortNumber,
						get_database_name(MyDatabaseId));
	return psprintf("database \"%s\"", get_database_name(MyDatabaseId));
}

/* the model and version rows of an identity (lm_model_id_by_identity says as whom) */
static void
read_identity(void *arg)
{
	IdentityRead *r = arg;
	const char *schema = lm_schema_quoted();
	Oid			argtypes[2] = {BYTEAOID, INT4OID};
	Datum		args[2];
	bytea	   *uuid = palloc(VARHDRSZ + LM_UUID_LEN);
	SPIPlanPtr	plan;

	SET_VARSIZE(uuid, VARHDRSZ + LM_UUID_LEN);
	memcpy(VARDATA(uuid), r->uuid, LM_UUID_LEN);
	args[0] = PointerGetDatum(uuid);
	args[1] = Int32GetDatum(r->version);
	plan = SPI_prepare(psprintf("SELECT m.model_id, m.name, v.content_hash "
								"FROM %s.limaml_model m LEFT JOIN %s.limaml_model_version v "
								"ON v.model_id = m.model_id AND v.version = $2 "
								"WHERE m.model_uuid = pg_catalog.encode($1, 'hex')::pg_catalog.uuid",
								schema, schema), 2, argtypes);
	/* the cache outlives the statement: fill it from the latest catalog, as catalog.c does */
	SPI_execute_snapshot(plan, args, NULL, r->latest ? lm_catalog_snapshot() : InvalidSnapshot,
						 InvalidSnapshot, true, false, 1);
}

/*
 * The local model id of (uuid, version), or -1 when this database has no
 * such version; *name is the model's name here when it has the model (else
 * NULL), content_hash (when not NULL) the version's hash.  As the catalog's
 * owner (readers: whether the caller may use the model is checked next), or
 * as the caller, who then sees only the models row-level security shows it.
 */
int32
lm_model_id_by_identity(const uint8 *uuid, int32 version, uint8 *content_hash, char **name,
						bool as_catalog_owner)
{
	IdentityRead r = {uuid, version, as_catalog_owner};
	bool		isnull;
	int32		model_id = -1;
	Datum		hash;

	*name = NULL;
	lm_spi_connect();
	if (as_catalog_owner)
		lm_run_as(lm_catalog_owner(), read_identity, &r);
	else
		read_identity(&r);
	if (SPI_processed > 0)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		*name = SPI_getvalue(tuple, desc, 2);
		hash = SPI_getbinval(tuple, desc, 3, &isnull);
		if (!isnull)
		{
			model_id = DatumGetInt32(SPI_getbinval(tuple, desc, 1, &isnull));
			if (content_hash)
				memcpy(content_hash, VARDATA_ANY(DatumGetByteaPP(hash)), LM_CONTENT_HASH_LEN);
		}
	}
	lm_spi_finish();
	return model_id;
}

/* the content hash prefix an embedding or item code carries, as bytea */
bytea *
lm_hash_prefix_bytea(const uint8 *hash)
{
	bytea	   *raw = palloc(VARHDRSZ + LM_HASH_PREFIX);

	SET_VARSIZE(raw, VARHDRSZ + LM_HASH_PREFIX);
	memcpy(VARDATA(raw), hash, LM_HASH_PREFIX);
	return raw;
}

static const char *
hex_prefix(const uint8 *hash)
{
	char	   *s = palloc(2 * LM_HASH_PREFIX + 1);

	for (int i = 0; i < LM_HASH_PREFIX; i++)
		sprintf(s + 2 * i, "%02x", hash[i]);
	return s;
}

/*
 * The version an embedding or item code (what) names, pinned by holder;
 * 42704 when this node has no version of that identity, or one with other
 * parameters: never another version's weights.  In a catalog from before
 * 0.3.0 the identity is format 1's model id (LmModel.uuid).
 */
LmModel *
lm_model_acquire_identity(const uint8 *uuid, int32 version, const uint8 *hash_prefix,
						  const char *what, MemoryContext holder)
{
	IdentityKey key;
	IdentityEntry *entry;
	LmModel    *model;
	int32		model_id;

	if (!lm_catalog_has_identity())
	{
		memcpy(&model_id, uuid, sizeof(int32));
		return lm_model_acquire(model_id, version, holder);
	}
	init_identity_cache();
	memset(&key, 0, sizeof(key));
	memcpy(key.uuid, uuid, LM_UUID_LEN);
	key.version = version;
	entry = hash_search(identity_cache, &key, HASH_FIND, NULL);
	if (entry)
		model_id = entry->model_id;
	else
	{
		char	   *name;

		model_id = lm_model_id_by_identity(uuid, version, NULL, &name, true);
		if (model_id < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("limaml model version %d of model %s is not on this node (%s)",
							version, lm_uuid_string(uuid), this_node()),
					 name ? errdetail("Model \"%s\" here has that UUID but not version %d.", name, version)
					 : errdetail("No model here has that UUID: the %s was made in another database, or by a model since dropped.", what),
					 errhint("Import that version here with limaml_model_import (its export keeps the identity) or, on Citus, publish it (limaml_publish), or make the %s again with a model of this node.",
							 what)));
		entry = hash_search(identity_cache, &key, HASH_ENTER, NULL);
		entry->model_id = model_id;
	}
	model = lm_model_acquire(model_id, version, holder);
	if (memcmp(model->content_hash, hash_prefix, LM_HASH_PREFIX) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model version %d of model %s on this node holds other parameters than the %s's",
						version, lm_uuid_string(uuid), what),
				 errdetail("The %s names content hash %s..., version %d of \"%s\" here has %s....",
						   what, hex_prefix(hash_prefix), version, model->name,
						   hex_prefix(model->content_hash)),
				 errhint("Make the %s again with a model of this node, or import the version that made it under a new name.",
						 what)));
	return model;
}

/* the model version an embedding or item code of this identity names */
bool
lm_model_is(const LmModel *model, const uint8 *uuid, int32 version)
{
	return model->version == version && memcmp(model->uuid, uuid, LM_UUID_LEN) == 0;
}
