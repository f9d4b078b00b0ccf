/*
 * formats.h - the two bytea formats limaml writes, read without a server:
 * the meta embedding (this header, then float32[dim]) and the item code
 * (this header, then float32[len]), little-endian.  The glue (embedding.c,
 * item_code.c) turns a status and problem into an ereport; the fuzz targets
 * (test/fuzz) call the same readers.
 *
 * The CRC-32C detects corruption, not forgery: a header with a valid
 * checksum is still checked for what the checksum cannot vouch for
 * (non-finite payload, negative n_support, reserved flags).
 */
#ifndef LM_FORMATS_H
#define LM_FORMATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct LmEmbeddingHeader
{
	uint32_t	magic;			/* LM_EMBEDDING_MAGIC */
	uint16_t	format;			/* LM_EMBEDDING_FORMAT */
	uint16_t	dim;
	int32_t		model_id;
	int32_t		model_version;
	int32_t		n_support;		/* interactions adapted on; 0 is cold start */
	uint32_t	checksum;		/* CRC-32C of header (this field 0) and payload */
} LmEmbeddingHeader;

#define LM_EMBEDDING_MAGIC 0x424d4c4c	/* "LLMB" little-endian */
#define LM_EMBEDDING_FORMAT 1

typedef struct LmItemCodeHeader
{
	uint32_t	magic;			/* LM_ITEM_CODE_MAGIC */
	uint16_t	format;			/* LM_ITEM_CODE_FORMAT */
	uint16_t	len;			/* floats after the header: the plan's code_len */
	int32_t		model_id;
	int32_t		model_version;
	uint32_t	flags;			/* 0; reserved */
	uint32_t	checksum;		/* CRC-32C of header (this field 0) and payload */
} LmItemCodeHeader;

#define LM_ITEM_CODE_MAGIC 0x43494c4c	/* "LLIC" little-endian */
#define LM_ITEM_CODE_FORMAT 1

typedef enum LmFormatStatus
{
	LM_FORMAT_OK = 0,
	LM_FORMAT_INVALID,			/* malformed or forged: *problem says how */
	LM_FORMAT_CORRUPT			/* checksum mismatch */
} LmFormatStatus;

/* CRC-32C (PostgreSQL's COMP_CRC32C, with its inversions) of header and payload */
uint32_t	lm_embedding_checksum(const LmEmbeddingHeader *header, const void *payload);
uint32_t	lm_item_code_checksum(const LmItemCodeHeader *header, const void *payload);

/*
 * Validate size bytes of data; the header is copied into *header (even when
 * invalid, as far as it was read), and the payload starts at
 * data + sizeof(header), possibly unaligned.  *problem is a static message
 * for LM_FORMAT_INVALID.
 */
LmFormatStatus lm_embedding_parse(const void *data, size_t size, LmEmbeddingHeader *header,
								  const char **problem);
LmFormatStatus lm_item_code_parse(const void *data, size_t size, LmItemCodeHeader *header,
								  const char **problem);

/* index of the first NaN or infinity among n (possibly unaligned) floats, or -1 */
int64_t		lm_first_non_finite(const void *payload, size_t n);

#endif
