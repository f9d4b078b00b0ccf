/*
 * citus.c - where a member's rows are on this node, when Citus distributes
 * the relation.  limaml_adapt inside a query that Citus ships to a worker
 * must not run a distributed query from the shard (Citus refuses nested
 * distributed execution): it reads the shard that holds the member when
 * this node has it, as the shipped query itself does.  Without Citus, or
 * for a plain table, nothing changes.
 */
#include "limaml.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"

/*
 * The local shard of a hash-distributed relation holding member_id, or the
 * local shard of a reference table; InvalidOid when Citus is absent, the
 * relation is not Citus's, or the shard is on another node.  Inside SPI.
 */
Oid
lm_citus_local_shard(Oid relid, int64 member_id)
{
	Oid			argtypes[2] = {OIDOID, INT8OID};
	Datum		args[2];
	bool		isnull;
	Datum		shard;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return InvalidOid;
	args[0] = ObjectIdGetDatum(relid);
	args[1] = Int64GetDatum(member_id);
	/* the shard's table lives in the relation's schema (to_regclass: Citus hides shards from pg_class) */
	SPI_execute_with_args("SELECT to_regclass(quote_ident(n.nspname) || '.' || quote_ident(t.name[cardinality(t.name)])) "
						  "FROM pg_dist_partition p "
						  "JOIN pg_dist_shard s ON s.logicalrelid = p.logicalrelid "
						  "JOIN pg_class r ON r.oid = p.logicalrelid "
						  "JOIN pg_namespace n ON n.oid = r.relnamespace, "
						  "LATERAL (SELECT parse_ident(shard_name(p.logicalrelid, s.shardid)) AS name) t "
						  "WHERE p.logicalrelid = $1 AND (p.partmethod = 'n' OR (p.partmethod = 'h' "
						  " AND s.shardid = get_shard_id_for_distribution_column(p.logicalrelid, $2)))",
						  2, argtypes, args, NULL, true, 1);
	if (SPI_processed == 0)
		return InvalidOid;
	shard = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? InvalidOid : DatumGetObjectId(shard);
}
