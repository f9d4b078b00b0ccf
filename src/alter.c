/*
 * alter.c - limaml_alter_model: points a model at other source, members or
 * item relations without retraining.  Each new relation passes the checks
 * limaml_create_model makes, and its feature lengths must match the
 * model's, so the stored versions stay usable.
 */
#include "limaml.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(limaml_alter_model);

static void
check_length(const char *model, Oid relid, const char *column, int found, int expected,
			 const char *what)
{
	if (found >= 0 && found != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s of relation \"%s\" have %d elements, but limaml model \"%s\" expects %d",
						column, get_rel_name(relid), found, model, expected),
				 errhint("The model's %s is fixed at creation; train a new model for other features.",
						 what)));
}

static void
check_new_source(const LmModel *model, Oid source)
{
	int			member_len,
				item_len;

	lm_model_check_source(model, source);
	if (model->arch.item_buckets > 0 || model->config.negatives > 0)
		lm_check_item_id(source);
	if (model->transforms)
		return;					/* the relations the transforms read are checked on their own */
	lm_first_lengths(source, "member_features", "item_features", &member_len, &item_len);
	check_length(model->name, source, "member_features", member_len, model->arch.member_dim, "member_dim");
	check_length(model->name, source, "item_features", item_len, model->arch.item_feature_dim, "item_dim");
}

static void
check_new_members(const LmModel *model, Oid members)
{
	int			member_len,
				unused;

	lm_check_members_for(model->transforms, members);
	if (model->transforms && model->transforms->member.n > 0)
		return;					/* encoded to member_dim by construction */
	lm_first_lengths(members, "member_features", NULL, &member_len, &unused);
	check_length(model->name, members, "member_features", member_len, model->arch.member_dim, "member_dim");
}

static void
check_new_items(const LmModel *model, Oid items)
{
	int			item_len,
				unused;

	lm_check_items_for(model->transforms, items);
	if (model->transforms && model->transforms->item.n > 0)
		return;					/* encoded to item_dim by construction */
	lm_first_lengths(items, "features", NULL, &item_len, &unused);
	check_length(model->name, items, "features", item_len, model->arch.item_feature_dim, "item_dim");
}

/* a relation argument: InvalidOid when NULL */
static Oid
relation_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? InvalidOid : PG_GETARG_OID(argno);
}

/*
 * limaml_alter_model(name, source, members, items, clear_members,
 * clear_items): owner only
 */
Datum
limaml_alter_model(PG_FUNCTION_ARGS)
{
	char	   *name;
	int32		model_id,
				version;
	LmModel    *model;
	Oid			source = relation_arg(fcinfo, 1);
	Oid			members = relation_arg(fcinfo, 2);
	Oid			items = relation_arg(fcinfo, 3);
	bool		clear_members,
				clear_items;
	Oid			argtypes[6] = {INT4OID, OIDOID, OIDOID, OIDOID, BOOLOID, BOOLOID};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("name, clear_members and clear_items must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	clear_members = PG_GETARG_BOOL(4);
	clear_items = PG_GETARG_BOOL(5);
	lm_check_model_owner(name, "alter", false, &model_id);
	if ((clear_members && OidIsValid(members)) || (clear_items && OidIsValid(items)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a relation cannot be both set and cleared"),
				 errhint("Pass members => relation or clear_members => true, not both (items likewise).")));
	if (!OidIsValid(source) && !OidIsValid(members) && !OidIsValid(items) &&
		!clear_members && !clear_items)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nothing to alter for limaml model \"%s\"", name),
				 errhint("Pass source, members or items, or clear_members => true or clear_items => true.")));
	lm_model_resolve(PG_GETARG_TEXT_PP(0), &model_id, &version);
	model = lm_model_acquire(model_id, version, CurrentMemoryContext);
	if (clear_items && model->config.negatives > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" samples negatives from its items relation", name),
				 errhint("Point it at another relation with items => instead.")));
	if (model->transforms &&
		((clear_members && model->transforms->member.n > 0) || (clear_items && model->transforms->item.n > 0)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml model \"%s\" encodes its %s features from that relation", name,
						clear_members && model->transforms->member.n > 0 ? "member" : "item"),
				 errhint("Point it at another relation with the declared columns instead.")));
	if (OidIsValid(source))
		check_new_source(model, source);
	if (OidIsValid(members))
		check_new_members(model, members);
	if (OidIsValid(items))
		check_new_items(model, items);

	/* the row update fires the catalog trigger: every backend reloads the model */
	args[0] = Int32GetDatum(model_id);
	args[1] = ObjectIdGetDatum(source);
	args[2] = ObjectIdGetDatum(members);
	args[3] = ObjectIdGetDatum(items);
	nulls[1] = OidIsValid(source) ? ' ' : 'n';
	nulls[2] = OidIsValid(members) ? ' ' : 'n';
	nulls[3] = OidIsValid(items) ? ' ' : 'n';
	args[4] = BoolGetDatum(clear_members);
	args[5] = BoolGetDatum(clear_items);
	lm_spi_connect();
	SPI_execute_with_args(psprintf("UPDATE %s.limaml_model SET source = coalesce($2::pg_catalog.regclass, source), "
								   "members = CASE WHEN $5 THEN NULL ELSE coalesce($3::pg_catalog.regclass, members) END%s "
								   "WHERE model_id = $1",
								   lm_schema_quoted(),
								   /* a catalog from before 0.2.0 has no items column */
								   get_attnum(lm_catalog_relid("limaml_model"), "items") != InvalidAttrNumber ?
								   ", items = CASE WHEN $6 THEN NULL ELSE coalesce($4::pg_catalog.regclass, items) END" : ""),
						  6, argtypes, args, nulls, false, 0);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model \"%s\" does not exist", name)));
	lm_spi_finish();
	PG_RETURN_VOID();
}
