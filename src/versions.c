/*
 * versions.c - limaml_drop_version: frees an old model version.
 *
 * A version is immutable and its number is never reused: embeddings and
 * item codes carry (model id, version) in their headers, so a dropped
 * number coming back would score old bytea with new parameters.  Hence the
 * newest version always stays, as does the active one; embeddings still
 * made by the version go with it only when forced (they could no longer
 * be scored).  The catalog's DELETE triggers invalidate every backend's
 * cached copy.
 */
#include "limaml.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(limaml_drop_version);

/* the model's active and newest versions, its row locked against training */
static bool
lock_versions(int32 model_id, int32 version, int32 *active, int32 *newest)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2] = {Int32GetDatum(model_id), Int32GetDatum(version)};
	bool		isnull,
				exists;
	const char *schema = lm_schema_quoted();

	SPI_execute_with_args(psprintf("SELECT m.active_version, "
								   "(SELECT max(v.version) FROM %s.limaml_model_version v "
								   "  WHERE v.model_id = m.model_id), "
								   "EXISTS (SELECT FROM %s.limaml_model_version v "
								   "  WHERE v.model_id = m.model_id AND v.version = $2) "
								   "FROM %s.limaml_model m WHERE m.model_id = $1 FOR UPDATE OF m",
								   schema, schema, schema),
						  2, argtypes, args, NULL, false, 1);
	*active = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*newest = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	exists = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	return exists;
}

/* meta embeddings still made by the version */
static int64
count_embeddings(text *name, int32 version)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2] = {PointerGetDatum(name), Int32GetDatum(version)};
	bool		isnull;

	SPI_execute_with_args(psprintf("SELECT count(*) FROM %s.limaml_meta_embedding "
								   "WHERE model = $1 AND model_version = $2", lm_schema_quoted()),
						  2, argtypes, args, NULL, false, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

Datum
limaml_drop_version(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	char	   *name_str = text_to_cstring(name);
	int32		version = PG_GETARG_INT32(1);
	bool		force = PG_GETARG_BOOL(2);
	const char *schema = lm_schema_quoted();
	int32		model_id,
				active,
				newest;
	int64		n_embeddings;
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2];

	lm_check_model_owner(name_str, "drop versions of", false, &model_id);
	lm_spi_connect();
	if (!lock_versions(model_id, version, &active, &newest))
	{
		lm_spi_finish();
		ereport(NOTICE,
				(errmsg("version %d of limaml model \"%s\" does not exist, skipping",
						version, name_str)));
		PG_RETURN_BOOL(false);
	}
	if (version == active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("version %d is the active version of limaml model \"%s\"", version, name_str),
				 errhint("Train or import a newer version first, or drop the whole model with limaml_drop_model.")));
	if (version == newest)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("version %d is the newest version of limaml model \"%s\"", version, name_str),
				 errdetail("Version numbers are never reused, so the newest version stays."),
				 errhint("It can be dropped once a newer version exists.")));
	n_embeddings = count_embeddings(name, version);
	if (n_embeddings > 0 && !force)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("version %d of limaml model \"%s\" is still used by " INT64_FORMAT " meta embeddings",
						version, name_str, n_embeddings),
				 errhint("limaml_refresh moves them to the active version; "
						 "force => true drops them with the version.")));
	if (n_embeddings > 0)
	{
		Oid			emb_types[2] = {TEXTOID, INT4OID};
		Datum		emb_args[2] = {PointerGetDatum(name), Int32GetDatum(version)};

		/* ownership checked above: as the catalog's owner, without a check per row */
		lm_execute_plan_as(lm_catalog_owner(),
						   SPI_prepare(psprintf("DELETE FROM %s.limaml_meta_embedding "
												"WHERE model = $1 "
												"AND model_version = $2", schema),
									   2, emb_types),
						   emb_args, NULL, false, 0);
	}
	args[0] = Int32GetDatum(model_id);
	args[1] = Int32GetDatum(version);
	SPI_execute_with_args(psprintf("DELETE FROM %s.limaml_model_version "
								   "WHERE model_id = $1 AND version = $2", schema),
						  2, argtypes, args, NULL, false, 0);
	lm_spi_finish();
	PG_RETURN_BOOL(true);
}
