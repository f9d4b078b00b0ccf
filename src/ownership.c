/*
 * ownership.c - who may own and use a model (README, Security).
 *
 * A model belongs to the role in limaml_model.owner.  Row-level security
 * on the catalog hides the models a role may not use; the checks here turn
 * the owner's operations into clear 42501 errors before any work, and the
 * trigger below does the same for direct UPDATE and DELETE.  The relations
 * a model names (source, members, items) are read with its owner's rights
 * whenever someone else runs the call, so no role's view or function ever
 * runs as another role.
 */
#include "limaml.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(limaml_check_owner);
PG_FUNCTION_INFO_V1(limaml_grant);
PG_FUNCTION_INFO_V1(limaml_revoke);

/* the catalog before the update to 0.3.0 has no owners: every role owns every model */
bool
lm_catalog_has_owner(void)
{
	return get_attnum(lm_catalog_relid("limaml_model"), "owner") != InvalidAttrNumber;
}

static void
permission_error(const char *name, Oid owner, const char *action)
{
	char	   *owner_name = GetUserNameFromId(owner, true);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for limaml model \"%s\"", name),
			 errhint("Only its owner (%s), members of that role and superusers may %s it; "
					 "other roles may use it once granted with limaml_grant.",
					 owner_name ? owner_name : "a dropped role", action)));
}

/*
 * Checks that the current user owns the named model (is a member of its
 * owner, or a superuser) and returns its id.  A model the user may not
 * even use is invisible: 42704, or false when missing_ok.
 */
bool
lm_check_model_owner(const char *name, const char *action, bool missing_ok, int32 *model_id)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	Oid			owner = InvalidOid;

	lm_spi_connect();
	SPI_execute_with_args(psprintf("SELECT model_id%s FROM %s.limaml_model WHERE name = $1",
								   lm_catalog_has_owner() ? ", owner::pg_catalog.oid" : "",
								   lm_schema_quoted()),
						  1, argtypes, args, NULL, true, 1);
	if (SPI_processed == 0)
	{
		lm_spi_finish();
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("limaml model \"%s\" does not exist", name)));
	}
	if (model_id)
		*model_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (SPI_tuptable->tupdesc->natts > 1)
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	lm_spi_finish();
	if (OidIsValid(owner) && !is_member_of_role(GetUserId(), owner))
		permission_error(name, owner, action);
	return true;
}

/* ------------------------------------------------ reading as another role */

/*
 * The role to read a model's own relations as: its owner when someone
 * else calls, InvalidOid (the caller) when the owner does or there is no
 * owner yet (the catalog before the update).
 */
Oid
lm_model_reader(const LmModel *model)
{
	if (!OidIsValid(model->owner) || model->owner == GetUserId())
		return InvalidOid;
	return model->owner;
}

/*
 * Runs fn(arg) as role (when valid), restricted as SECURITY DEFINER code
 * is; the caller's identity comes back on every path, errors included.
 */
void
lm_run_as(Oid role, void (*fn) (void *), void *arg)
{
	Oid			saved_uid;
	int			saved_sec;

	if (!OidIsValid(role))
	{
		fn(arg);
		return;
	}
	GetUserIdAndSecContext(&saved_uid, &saved_sec);
	SetUserIdAndSecContext(role, saved_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		fn(arg);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_uid, saved_sec);
	}
	PG_END_TRY();
}

typedef struct PlanCall
{
	SPIPlanPtr	plan;
	Datum	   *args;
	const char *nulls;
	bool		read_only;
	long		count;
	Portal		portal;
} PlanCall;

static void
execute_plan(void *arg)
{
	PlanCall   *c = arg;

	SPI_execute_plan(c->plan, c->args, c->nulls, c->read_only, c->count);
}

static void
cursor_open(void *arg)
{
	PlanCall   *c = arg;

	c->portal = SPI_cursor_open(NULL, c->plan, c->args, c->nulls, c->read_only);
}

static void
cursor_fetch(void *arg)
{
	PlanCall   *c = arg;

	SPI_cursor_fetch(c->portal, true, c->count);
}

void
lm_execute_plan_as(Oid role, SPIPlanPtr plan, Datum *args, const char *nulls,
				   bool read_only, long count)
{
	PlanCall	c = {plan, args, nulls, read_only, count, NULL};

	lm_run_as(role, execute_plan, &c);
}

Portal
lm_cursor_open_as(Oid role, SPIPlanPtr plan, Datum *args, bool read_only)
{
	PlanCall	c = {plan, args, NULL, read_only, 0, NULL};

	lm_run_as(role, cursor_open, &c);
	return c.portal;
}

void
lm_cursor_fetch_as(Oid role, Portal portal, long count)
{
	PlanCall	c = {NULL, NULL, NULL, true, count, portal};

	lm_run_as(role, cursor_fetch, &c);
}

/* the owner of the catalog tables: reads what row-level security hides from the caller */
Oid
lm_catalog_owner(void)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(lm_catalog_relid("limaml_model")));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for limaml_model");
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* --------------------------------------------------------- direct DML */

/* the owner of the model named name, as the caller sees it; InvalidOid if hidden */
static Oid
owner_by_name(Datum name)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {TEXTOID};
	bool		isnull;
	Oid			owner = InvalidOid;

	lm_spi_connect();
	if (!plan)
	{
		plan = SPI_prepare(psprintf("SELECT owner::pg_catalog.oid FROM %s.limaml_model "
									"WHERE name = $1", lm_schema_quoted()),
						   1, argtypes);
		if (!plan || SPI_keepplan(plan) != 0)
			elog(ERROR, "limaml: could not plan the owner lookup");
	}
	SPI_execute_plan(plan, &name, NULL, true, 1);
	if (SPI_processed > 0)
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	lm_spi_finish();
	return owner;
}

/*
 * Trigger BEFORE UPDATE OR DELETE on the catalog tables a model's users
 * can read (limaml_model, limaml_meta_embedding, limaml_refresh_progress):
 * row-level security lets them see the row, only the owner may change it.
 */
Datum
limaml_check_owner(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	old;
	TupleDesc	desc;
	AttrNumber	owner_att;
	bool		isnull;
	Datum		name;
	Oid			owner;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("limaml_check_owner must be called as a BEFORE ROW trigger")));
	rel = trigdata->tg_relation;
	old = trigdata->tg_trigtuple;
	desc = RelationGetDescr(rel);
	/* the catalog's owner (a superuser) and superusers pass without a look-up */
	if (!pg_class_ownercheck(RelationGetRelid(rel), GetUserId()))
	{
		owner_att = SPI_fnumber(desc, "owner");
		if (owner_att > 0)
		{
			name = heap_getattr(old, SPI_fnumber(desc, "name"), desc, &isnull);
			owner = DatumGetObjectId(heap_getattr(old, owner_att, desc, &isnull));
		}
		else
		{
			name = heap_getattr(old, SPI_fnumber(desc, "model"), desc, &isnull);
			owner = owner_by_name(name);
		}
		if (OidIsValid(owner) && !is_member_of_role(GetUserId(), owner))
			permission_error(TextDatumGetCString(name), owner,
							 "change");
	}
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		PG_RETURN_POINTER(trigdata->tg_newtuple);
	PG_RETURN_POINTER(old);
}

/* ------------------------------------------------------------- grants */

typedef struct GrantCall
{
	const char *sql;
	Datum		args[2];
} GrantCall;

static void
write_grant(void *arg)
{
	GrantCall  *c = arg;
	Oid			argtypes[2] = {INT4OID, OIDOID};

	SPI_execute_with_args(c->sql, 2, argtypes, c->args, NULL, false, 0);
}

/*
 * limaml_grant and limaml_revoke: the owner's check, then the write as the
 * catalog's owner (limaml_model_grant has no row-level security, and
 * PUBLIC may only read it, as the ACLs of PostgreSQL's own catalogs)
 */
static void
change_grant(FunctionCallInfo fcinfo, const char *action, const char *sql)
{
	GrantCall	c;
	int32		model_id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and role must not be NULL")));
	if (!lm_catalog_has_owner())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("limaml models have no owners before ALTER EXTENSION limaml UPDATE")));
	lm_check_model_owner(text_to_cstring(PG_GETARG_TEXT_PP(0)), action, false, &model_id);
	c.sql = psprintf(sql, lm_schema_quoted());
	c.args[0] = Int32GetDatum(model_id);
	c.args[1] = PG_GETARG_DATUM(1);
	lm_spi_connect();
	lm_run_as(lm_catalog_owner(), write_grant, &c);
	lm_spi_finish();
}

Datum
limaml_grant(PG_FUNCTION_ARGS)
{
	change_grant(fcinfo, "grant",
				 "INSERT INTO %s.limaml_model_grant (model_id, grantee) "
				 "VALUES ($1, $2::pg_catalog.regrole) ON CONFLICT DO NOTHING");
	PG_RETURN_VOID();
}

Datum
limaml_revoke(PG_FUNCTION_ARGS)
{
	change_grant(fcinfo, "revoke",
				 "DELETE FROM %s.limaml_model_grant "
				 "WHERE model_id = $1 "
				 "AND grantee::pg_catalog.oid = $2");
	PG_RETURN_VOID();
}
