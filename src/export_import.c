/*
 * export_import.c - limaml_model_export and limaml_model_import: a model
 * version out of the catalog as jsonb, and back in as a new version (of a
 * new model, or of an existing one of the same shape).  The jsonb layout is
 * model_json.c's.
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
lock_existing_model(const char *name, int32 *model_id, LmArch *arch, LmTransforms **tf)
{
	const char *schema = lm_schema_quoted();
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	LmConfig	cfg;

	lm_spi_connect();
	SPI_execute_with_args(psprintf("SELECT model_id, config FROM %s.limaml_model "
								   "WHERE name = $1 FOR UPDATE", schema),
						  1, argtypes, args, NULL, false, 1);
	if (SPI_processed == 0)
	{
		lm_spi_finish();
		return false;
	}
	*model_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	lm_config_from_jsonb(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 2, &isnull)),
						 arch, &cfg);
	*tf = lm_transforms_from_config(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc, 2, &isnull)));
	lm_spi_finish();
	return true;
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

Datum
limaml_model_import(PG_FUNCTION_ARGS)
{
	char	   *name;
	LmArch		arch,
				existing;
	LmConfig	cfg;
	float	   *params;
	int32		model_id;
	int32		version;
	LmTransforms *tf,
			   *existing_tf;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name and json must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	params = lm_model_from_jsonb(PG_GETARG_JSONB_P(1), name, &arch, &cfg);
	tf = import_transforms(PG_GETARG_JSONB_P(1), &arch);
	/* imports, creates and drops of one name run one at a time; see what one committed meanwhile */
	lm_lock_model_name(name);
	PushActiveSnapshot(GetTransactionSnapshot());
	/* a model of another role's (hidden, or only granted) is not ours to import into */
	if (lm_check_model_owner(name, "import into", true, NULL) &&
		lock_existing_model(name, &model_id, &existing, &existing_tf))
	{
		/* relations change with limaml_alter_model, never silently here */
		if (!PG_ARGISNULL(2) || !PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source and members apply only when limaml_model_import creates the model; limaml model \"%s\" exists", name),
					 errhint("Import without them, then change the relations with limaml_alter_model(name, source => ..., members => ...).")));
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
								   lm_config_with_transforms(lm_config_to_json(&arch, &cfg), tf));
	}
	version = lm_store_version(model_id, params, arch.n_params, "{\"method\": \"import\"}", true);
	PopActiveSnapshot();
	PG_RETURN_INT32(version);
}
