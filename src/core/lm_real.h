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

/*
 * Called between the steps of the core's long loops (the wide head's start);
 * the extension points it at CHECK_FOR_INTERRUPTS, which may not return
 * (core memory is then freed with the caller's memory context).  Default: none.
 */
extern void (*lm_check_interrupts)(void);

/* zero-filled allocation of n elements of lm_real */
lm_real    *lm_alloc_reals(size_t n);

#endif
