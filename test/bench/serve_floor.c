/*
 * serve_floor.c - the floor of any similarity ranking, for the serving
 * benchmark (test/bench/serve.sh): a minimal C inner product of two real[],
 * as a pgvector-style ordering would compute per candidate.  Built and
 * loaded by the benchmark itself (CREATE FUNCTION ... AS '<path>'); not
 * part of limaml.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/array.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(serve_floor_dot);

Datum
serve_floor_dot(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	const float *x = (const float *) ARR_DATA_PTR(a);
	const float *y = (const float *) ARR_DATA_PTR(b);
	float		sum = 0;

	if (n != ArrayGetNItems(ARR_NDIM(b), ARR_DIMS(b)) || ARR_HASNULL(a) || ARR_HASNULL(b))
		ereport(ERROR, (errmsg("serve_floor_dot: arrays of different lengths, or NULLs")));
	for (int i = 0; i < n; i++)
		sum += x[i] * y[i];
	PG_RETURN_FLOAT4(sum);
}
