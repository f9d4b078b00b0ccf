/*
 * export_import.c - limaml_model_export and limaml_model_import: a model
 * version out of the catalog as jsonb, and back in (a new model, or an
 * existing one of the same shape).  Format 3 carries the version's identity
 * (model UUID, version number, content hash), which import keeps, so
 * embeddings made anywhere score here; formats 1 and 2 come in as the next
 * version of the named model.  The jsonb layout is model_json.c's.
 */
#include "limaml.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(limaml_model_export);
PG_FUNCTION_INFO_V1(limaml_model_import);

Datum
limaml_model_export(PG_FUNCTION_ARGS)
{
	int32		model_id,
				version;
	LmModel    *model;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL")));
	lm_check_model_owner(text_to_cstring(PG_GETARG_TEXT_PP(0)), "export", false, NULL);
	lm_model_resolve_version(PG_GETARG_TEXT_PP(0), !PG_ARGISNULL(1),
							 PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1), &model_id, &version);
	model = lm_model_acquire(model_id, version, CurrentMemoryContext);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(lm_model_to_json(model))));
}

/* model row of an existing model, locked; false when there is none */
static bool
lock_existing_model(const char *name, int32 *model_id, LmArch *arch, LmConfig *cfg, uint8 *uuid,
					LmTransforms **tf)
{
	const char *schema = lm_schema_quoted();
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	Datum		raw;

	lm_spi_connect();
	SPI_execute_with_args(psprintf("SELECT model_id, config, %s FROM %s.limaml_model "
								   "WHERE name = $1 FOR UPDATE",
								   lm_catalog_has_identity() ? "pg_catalog.uuid_send(model_uuid)" : "NULL::bytea",
								   schema),
						  1, argtypes, args, NULL, false, 1);
	if (SPI_processed == 0)
	{
		lm_spi_finish();
		return false;
	}
	*model_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	lm_config_from_jsonb(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 2, &isnull)),
						 arch, cfg);
	*tf = lm_transforms_from_config(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc, 2, &isnull)));
	raw = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	memset(uuid, 0, LM_UUID_LEN);
	if (!isnull)
		memcpy(uuid, VARDATA_ANY(DatumGetByteaPP(raw)), LM_UUID_LEN);
	lm_spi_finish();
	return true;
}

static char *
hex(const uint8 *bytes, int n)
{
	char	   *s = palloc(2 * n + 1);

	for (int i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", bytes[i]);
	return s;
}

/* the document's config's transforms, whose widths must be the model's dimensions */
static LmTransforms *
import_transforms(Jsonb *json, const LmArch *arch)
{
	JsonbValue *config = getKeyJsonValueFromContainer(&json->root, "config", 6, NULL);
	LmTransforms *tf;

	if (!config || config->type != jbvBinary)
		return NULL;
	tf = lm_transforms_from_container(config->val.binary.data);
	if (tf && ((tf->member.n > 0 && tf->member.dim != arch->member_dim) ||
			   (tf->item.n > 0 && tf->item.dim != arch->item_feature_dim)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid transforms in model json: they make %d member and %d item features, the model has %d and %d",
						tf->member.dim, tf->item.dim, arch->member_dim, arch->item_feature_dim),
				 errhint("The \"transforms\" object is described in docs/formats.md.")));
	return tf;
}

/* the json's content_hash is what its configuration and parameters hash to */
static void
check_content_hash(const LmModelIdentity *id, const LmArch *arch, const LmConfig *cfg,
				   const LmTransforms *tf, const float *params)
{
	uint8		hash[LM_CONTENT_HASH_LEN];

	lm_content_hash(arch, cfg, tf, params, hash);
	if (memcmp(hash, id->content_hash, LM_CONTENT_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model json: content_hash does not match its configuration and parameters"),
				 errdetail("The document says %s, its contents hash to %s.",
						   hex(id->content_hash, LM_CONTENT_HASH_LEN), hex(hash, LM_CONTENT_HASH_LEN)),
				 errhint("The document was changed after limaml_model_export wrote it.  To import changed parameters as a new version, drop its model_uuid and content_hash and set format_version 2.")));
}

/*
 * Whether this node keeps the identity of a json that has one: the version
 * of that number is here already (the import is then a no-op, or an error
 * for other contents), or it is new.  A UUID this database holds under
 * another name, or a name holding another UUID, makes a copy (a new
 * identity, the next version number), as formats 1 and 2 always do.
 */
typedef enum IdentityTarget
{
	KEEP_IDENTITY,
	ALREADY_HERE,
	NEW_IDENTITY
} IdentityTarget;

static IdentityTarget
identity_target(const char *name, const LmModelIdentity *id, bool exists, const uint8 *existing_uuid)
{
	uint8		hash[LM_CONTENT_HASH_LEN];
	char	   *holder;
	/* as the caller: a model another role owns is not named, nor imported into */
	int32		model_id = lm_model_id_by_identity(id->uuid, id->version, hash, &holder, false);

	if (holder && strcmp(holder, name) != 0)
	{
		ereport(NOTICE,
				(errmsg("model %s of the json is limaml model \"%s\" here: \"%s\" is imported as a copy with an identity of its own",
						lm_uuid_string(id->uuid), holder, name),
				 errdetail("Embeddings made by the json's model score with \"%s\", not with the copy.", holder)));
		return NEW_IDENTITY;
	}
	if (exists && !holder)
	{
		ereport(NOTICE,
				(errmsg("limaml model \"%s\" here is model %s, not the json's model %s: the version is imported as its next version",
						name, lm_uuid_string(existing_uuid), lm_uuid_string(id->uuid)),
				 errdetail("Embeddings made by the json's model do not score here; drop \"%s\" first to keep the json's identity.",
						   name)));
		return NEW_IDENTITY;
	}
	if (model_id < 0 || !exists)
		return KEEP_IDENTITY;
	if (memcmp(hash, id->content_hash, LM_CONTENT_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("limaml model \"%s\" already has a version %d with other parameters than the json's",
						name, id->version),
				 errdetail("Content hash here: %s; in the json: %s.",
						   hex(hash, LM_CONTENT_HASH_LEN), hex(id->content_hash, LM_CONTENT_HASH_LEN)),
				 errhint("A version number names one content on every node; drop the version here (limaml_drop_version) or import the json under another name.")));
	return ALREADY_HERE;
}

typedef struct Restore
{
	const char *sql;
	Oid		   *argtypes;
	Datum	   *args;
} Restore;

static void
run_restore(void *arg)
{
	Restore    *r = arg;

	SPI_execute_with_args(r->sql, 3, r->argtypes, r->args, NULL, false, 0);
}

/*
 * The version is here: if superuser DML damaged its stored parameters (they
 * no longer hash to its content hash), the json's restore them, written as
 * the catalog's owner (versions are immutable for everyone else): the owner
 * of the model can only put back the parameters of that very hash.
 */
static void
restore_if_damaged(int32 model_id, const LmModelIdentity *id, const LmArch *arch,
				   const LmConfig *cfg, const LmTransforms *tf, const float *params, const char *name)
{
	const char *schema = lm_schema_quoted();
	Oid			argtypes[3] = {INT4OID, INT4OID, BYTEAOID};
	Datum		args[3] = {Int32GetDatum(model_id), Int32GetDatum(id->version), (Datum) 0};
	bytea	   *stored;
	bool		isnull;
	bool		damaged;

	lm_spi_connect();
	SPI_execute_with_args(psprintf("SELECT params FROM %s.limaml_model_version "
								   "WHERE model_id = $1 AND version = $2", schema),
						  2, argtypes, args, NULL, false, 1);
	stored = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	damaged = VARSIZE_ANY_EXHDR(stored) != arch->n_params * sizeof(float);
	if (!damaged)
	{
		float	   *aligned = palloc(arch->n_params * sizeof(float));
		uint8		hash[LM_CONTENT_HASH_LEN];

		memcpy(aligned, VARDATA_ANY(stored), arch->n_params * sizeof(float));
		lm_content_hash(arch, cfg, tf, aligned, hash);
		damaged = memcmp(hash, id->content_hash, LM_CONTENT_HASH_LEN) != 0;
	}
	if (damaged)
	{
		bytea	   *raw = palloc(VARHDRSZ + arch->n_params * sizeof(float));
		Restore		r;

		SET_VARSIZE(raw, VARHDRSZ + arch->n_params * sizeof(float));
		memcpy(VARDATA(raw), params, arch->n_params * sizeof(float));
		args[2] = PointerGetDatum(raw);
		r.sql = psprintf("UPDATE %s.limaml_model_version SET params = $3 "
						 "WHERE model_id = $1 AND version = $2", schema);
		r.argtypes = argtypes;
		r.args = args;
		lm_run_as(lm_catalog_owner(), run_restore, &r);
		ereport(NOTICE,
				(errmsg("the stored parameters of version %d of limaml model \"%s\" did not match its content hash: restored from the json",
						id->version, name)));
	}
	lm_spi_finish();
}

Datum
limaml_model_import(PG_FUNCTION_ARGS)
{
	char	   *name;
	LmArch		arch,
				existing;
	LmConfig	cfg,
				existing_cfg;
	LmModelIdentity id;
	uint8		existing_uuid[LM_UUID_LEN];
	bool		exists;
	float	   *params;
	int32		model_id = -1;
	int32		version = -1;
	LmTransforms *tf,
			   *existing_tf = NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name and json must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	params = lm_model_from_jsonb(PG_GETARG_JSONB_P(1), name, &arch, &cfg, &id);
	tf = import_transforms(PG_GETARG_JSONB_P(1), &arch);
	if (id.present)
		check_content_hash(&id, &arch, &cfg, tf, params);
	/* a catalog before 0.3.0 has no identities: the version is numbered as in 0.2.0 */
	id.present = id.present && lm_catalog_has_identity();
	/* imports, creates and drops of one name run one at a time; see what one committed meanwhile */
	lm_lock_model_name(name);
	PushActiveSnapshot(GetTransactionSnapshot());
	/* a model of another role's (hidden, or only granted) is not ours to import into */
	exists = lm_check_model_owner(name, "import into", true, NULL) &&
		lock_existing_model(name, &model_id, &existing, &existing_cfg, existing_uuid, &existing_tf);
	/* relations change with limaml_alter_model, never silently here */
	if (exists && (!PG_ARGISNULL(2) || !PG_ARGISNULL(3)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source and members apply only when limaml_model_import creates the model; limaml model \"%s\" exists", name),
				 errhint("Import without them, then change the relations with limaml_alter_model(name, source => ..., members => ...).")));
	if (id.present)
	{
		IdentityTarget target = identity_target(name, &id, exists, existing_uuid);

		if (target == ALREADY_HERE)
		{
			if (exists)
				restore_if_damaged(model_id, &id, &existing, &existing_cfg, existing_tf, params, name);
			PopActiveSnapshot();
			PG_RETURN_INT32(id.version);
		}
		id.present = target == KEEP_IDENTITY;
	}
	if (exists)
	{
		if (!lm_arch_equal(&existing, &arch))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("model json does not match the shape of limaml model \"%s\"", name),
					 errhint("Import it under a new name.")));
		if (!lm_transforms_equal(existing_tf, tf))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("model json's transforms differ from those of limaml model \"%s\"", name),
					 errhint("Import it under a new name.")));
		/* the version's hash covers the configuration, which is the model's */
		if (id.present)
			check_content_hash(&id, &existing, &existing_cfg, existing_tf, params);
	}
	else
	{
		Oid			source = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
		Oid			members = PG_ARGISNULL(3) ? InvalidOid : PG_GETARG_OID(3);

		if (OidIsValid(source) && tf)
		{
			/* no items relation yet: limaml_alter_model sets it */
			lm_check_source_columns(source, InvalidOid, tf->member.n == 0, tf->item.n == 0);
			if (OidIsValid(members))
				lm_check_members_for(tf, members);
		}
		else if (OidIsValid(source))
			lm_check_source(source, members);
		/* no item relation: a model with negatives gets one by UPDATE limaml_model */
		model_id = lm_insert_model(name, source, members, InvalidOid,
								   lm_config_with_transforms(lm_config_to_json(&arch, &cfg), tf),
								   id.present ? id.uuid : NULL);
	}
	/* activated when newer than the active version (an older one is kept inactive) */
	version = lm_store_version_as(model_id, id.present ? id.version : -1, params, arch.n_params,
								  "{\"method\": \"import\"}", true);
	PopActiveSnapshot();
	PG_RETURN_INT32(version);
}
