/*
 * serving.h - declarations shared by the serving glue (score.c,
 * item_code.c, rank.c): serving plans per cached model version, item
 * features read without copies (serving.c), and the item-code bytea
 * (item_code.c).
 */
#ifndef LIMAML_SERVING_H
#define LIMAML_SERVING_H

#include "limaml.h"

#include <math.h>

#include "core/serve.h"

/*
 * The serving plan of a cached model version: built on first use, kept in
 * the version's memory context and freed with it.
 */
LmServePlan *lm_serving_plan(LmModel *model);

/*
 * The elements of a real[] argument of item_dim values (the features the
 * caller gives: an arch's item_feature_dim), finite ones when check_finite
 * (else the caller checks); raises the same errors as
 * lm_array_floats otherwise.  The array is read in place unless it is
 * toasted or has a 1-byte header (then copied into buf, which holds
 * LM_SHORT_ARRAY_BUF bytes, or detoasted).
 */
#define LM_SHORT_ARRAY_BUF 136
const float *lm_item_features(Datum array, int item_dim, const LmServeKernels *k, void *buf,
							  bool check_finite);

/*
 * The item input X[plan->p] of one candidate: its features
 * v[item_feature_dim], then, for a model with item-ID embeddings, the E row
 * of item_id's bucket (has_id false: the unknown item's row; a never-trained
 * row reads the unknown row, as at adaptation and evaluation).  Without an
 * item-ID embedding the item id is ignored and v itself is returned;
 * otherwise X (plan->p floats) is filled and returned.  Every serving path
 * (arrays, item codes, limaml_top_k) builds its input here, so they agree
 * bit for bit.
 */
const float *lm_item_serving_input(const LmServePlan *plan, const float *v, bool has_id,
								   int64 item_id, float *X);

/* item codes: the bytea of core/formats.h */
bytea	   *lm_item_code_encode(const LmModel *model, const LmServePlan *plan, const float *v);

/*
 * Validates an item code (length, magic, format, checksum) and returns its
 * possibly unaligned payload; the header is copied into *header.
 */
const char *lm_item_code_read(bytea *raw, LmItemCodeHeader *header);
void		lm_check_item_code_format(const LmItemCodeHeader *header);

#endif
