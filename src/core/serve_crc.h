/*
 * serve_crc.h - CRC-32C (Castagnoli) register updates for item codes, which
 * are checked on every scored row.
 *
 * lm_crc32c_update computes exactly what PostgreSQL's COMP_CRC32C does (the
 * register update, without the initial and final inversion), with the
 * SSE4.2 crc32 instruction on three interleaved streams combined by
 * shift tables when the CPU has it: about three times the speed of one
 * stream on a few hundred bytes.  lm_crc32c_update_ref is the bitwise
 * reference.
 */
#ifndef LM_SERVE_CRC_H
#define LM_SERVE_CRC_H

#include <stddef.h>
#include <stdint.h>

uint32_t	lm_crc32c_update(uint32_t crc, const void *data, size_t len);
uint32_t	lm_crc32c_update_ref(uint32_t crc, const void *data, size_t len);

/* 1 when lm_crc32c_update uses the crc32 instruction */
int			lm_crc32c_hardware(void);

#endif
