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

/*
 * Format 2 (0.3.0) names the model version by its identity, the same on
 * every node and database: the model's UUID, the version number and the
 * first LM_HASH_PREFIX bytes of the version's content hash (catalog.c).
 * Format 1 (0.1.0, 0.2.0) named it by the per-database model id; the
 * readers still parse it (LmEmbeddingHeader1) so the glue can say what it
 * is, and store its model id in model_uuid's first four bytes, the rest 0.
 */
#define LM_UUID_LEN 16
#define LM_HASH_PREFIX 8

typedef struct LmEmbeddingHeader
{
	uint32_t	magic;			/* LM_EMBEDDING_MAGIC */
	uint16_t	format;			/* LM_EMBEDDING_FORMAT */
	uint16_t	dim;
	uint8_t		model_uuid[LM_UUID_LEN];	/* RFC 4122 byte order */
	int32_t		model_version;
	int32_t		n_support;		/* interactions adapted on; 0 is cold start */
	uint8_t		content_hash[LM_HASH_PREFIX];	/* prefix of the version's SHA-256 */
	uint32_t	checksum;		/* CRC-32C of header (this field 0) and payload */
} LmEmbeddingHeader;

typedef struct LmEmbeddingHeader1
{
	uint32_t	magic;
	uint16_t	format;			/* 1 */
	uint16_t	dim;
	int32_t		model_id;		/* per database: not an identity elsewhere */
	int32_t		model_version;
	int32_t		n_support;
	uint32_t	checksum;
} LmEmbeddingHeader1;

#define LM_EMBEDDING_MAGIC 0x424d4c4c	/* "LLMB" little-endian */
#define LM_EMBEDDING_FORMAT 2

typedef struct LmItemCodeHeader
{
	uint32_t	magic;			/* LM_ITEM_CODE_MAGIC */
	uint16_t	format;			/* LM_ITEM_CODE_FORMAT */
	uint16_t	len;			/* floats after the header: the plan's code_len */
	uint8_t		model_uuid[LM_UUID_LEN];
	int32_t		model_version;
	uint32_t	flags;			/* 0; reserved */
	uint8_t		content_hash[LM_HASH_PREFIX];
	uint32_t	checksum;		/* CRC-32C of header (this field 0) and payload */
} LmItemCodeHeader;

typedef struct LmItemCodeHeader1
{
	uint32_t	magic;
	uint16_t	format;			/* 1 */
	uint16_t	len;
	int32_t		model_id;
	int32_t		model_version;
	uint32_t	flags;
	uint32_t	checksum;
} LmItemCodeHeader1;

#define LM_ITEM_CODE_MAGIC 0x43494c4c	/* "LLIC" little-endian */
#define LM_ITEM_CODE_FORMAT 2

/* bytes before the payload of an embedding or item code of that format */
#define LM_EMBEDDING_HEADER_SIZE(format) \
	((format) == 1 ? sizeof(LmEmbeddingHeader1) : sizeof(LmEmbeddingHeader))
#define LM_ITEM_CODE_HEADER_SIZE(format) \
	((format) == 1 ? sizeof(LmItemCodeHeader1) : sizeof(LmItemCodeHeader))

typedef enum LmFormatStatus
{
	LM_FORMAT_OK = 0,
	LM_FORMAT_INVALID,			/* malformed or forged: *problem says how */
	LM_FORMAT_CORRUPT			/* checksum mismatch */
} LmFormatStatus;

/* CRC-32C (PostgreSQL's COMP_CRC32C, with its inversions) of header and payload */
uint32_t	lm_embedding_checksum(const LmEmbeddingHeader *header, const void *payload);
uint32_t	lm_item_code_checksum(const LmItemCodeHeader *header, const void *payload);
uint32_t	lm_embedding1_checksum(const LmEmbeddingHeader1 *header, const void *payload);
uint32_t	lm_item_code1_checksum(const LmItemCodeHeader1 *header, const void *payload);

/*
 * Validate size bytes of data of format 1 or 2; the header is copied into
 * *header (even when invalid, as far as it was read; format 1 converted as
 * said above), and the payload starts at data + LM_*_HEADER_SIZE(format),
 * possibly unaligned.  *problem is a static message for LM_FORMAT_INVALID.
 */
LmFormatStatus lm_embedding_parse(const void *data, size_t size, LmEmbeddingHeader *header,
								  const char **problem);
LmFormatStatus lm_item_code_parse(const void *data, size_t size, LmItemCodeHeader *header,
								  const char **problem);

/* index of the first NaN or infinity among n (possibly unaligned) floats, or -1 */
int64_t		lm_first_non_finite(const void *payload, size_t n);

#endif
