/*
 * lm_real.h - scalar type and allocation hooks of the numeric core.
 *
 * The core is compiled as float for the extension and as double
 * (-DLIMAML_DOUBLE) for gradient checks against finite differences.
 * It includes no PostgreSQL header: the extension points lm_alloc/lm_free
 * at palloc/pfree so core memory lives in the caller's memory context.
 */
#ifndef LM_REAL_H
#define LM_REAL_H

#include <stddef.h>

#ifdef LIMAML_DOUBLE
typedef double lm_real;
#else
typedef float lm_real;
#endif

/* Allocation hooks; default to malloc/free.  lm_alloc never returns NULL. */
extern void *(*lm_alloc)(size_t size);
extern void (*lm_free)(void *ptr);

/* zero-filled allocation of n elements of lm_real */
lm_real    *lm_alloc_reals(size_t n);

#endif
