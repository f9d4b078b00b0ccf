/*
 * wide_init.c - the wide head's starting biases from the source's labels
 * (lm_wide_init_biases in the core does the arithmetic).
 *
 * One aggregate over the source at limaml_create_model: the label sum and
 * row count per item id.  With negatives, each catalogue item also counts
 * the negatives it is expected to be drawn as: negatives × positive rows /
 * catalogue items, every one a 0 label.
 */
#include "limaml.h"

#include "core/items.h"
#include "core/wide.h"
#include "executor/spi.h"
#include "miscadmin.h"

void
lm_wide_init_from_source(const LmArch *arch, Oid source, const LmNegatives *neg, float *params)
{
	LmSourceSql sql;
	double	   *sum = palloc0(sizeof(double) * arch->item_buckets);
	double	   *count = palloc0(sizeof(double) * arch->item_buckets);
	double		total = 0,
				rows = 0,
				positives = 0;

	lm_source_sql(source, &sql);
	lm_spi_connect();
	SPI_execute(psprintf("SELECT %s, pg_catalog.sum(%s)::pg_catalog.float8, "
						 "pg_catalog.count(*)::pg_catalog.float8, "
						 "pg_catalog.count(*) FILTER (WHERE %s > 0)::pg_catalog.float8 "
						 "FROM %s src GROUP BY 1",
						 sql.item_id, sql.label, sql.label, lm_relation_sql(source)),
				true, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		null_id,
					isnull;
		Datum		id = SPI_getbinval(tuple, desc, 1, &null_id);
		double		s = DatumGetFloat8(SPI_getbinval(tuple, desc, 2, &isnull));
		double		n = DatumGetFloat8(SPI_getbinval(tuple, desc, 3, &isnull));

		CHECK_FOR_INTERRUPTS();
		if (isnull)
			continue;			/* only NULL labels: no statistics */
		total += s;
		rows += n;
		positives += DatumGetFloat8(SPI_getbinval(tuple, desc, 4, &isnull));
		if (!null_id)
		{
			int32		b = lm_item_bucket(arch, DatumGetInt64(id));

			if (b < arch->item_buckets)
			{
				sum[b] += s;
				count[b] += n;
			}
		}
	}
	lm_spi_finish();
	if (neg != NULL && neg->n > 0 && neg->n_items > 0)
	{
		double		each = (double) neg->n * positives / neg->n_items;

		for (int i = 0; i < neg->n_items; i++)
		{
			int32		b = lm_item_bucket(arch, neg->item_ids[i]);

			if (b < arch->item_buckets)
				count[b] += each;
		}
		rows += neg->n * positives;
	}
	if (rows > 0)
		lm_wide_init_biases(arch, params, sum, count, total / rows);
	pfree(sum);
	pfree(count);
}
