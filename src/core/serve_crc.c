/*
 * serve_crc.c - CRC-32C register updates (see serve_crc.h).
 *
 * The register update is linear: upd(r, X) = Z_|X|(r) ⊕ upd(0, X), where
 * Z_n(r) = upd(r, n zero bytes) is a linear map of r.  So three streams
 * A, B, C of L bytes each run independently (A from r, B and C from 0) and
 * combine as Z_L(Z_L(rA) ⊕ rB) ⊕ rC; Z_L is applied with four 256-entry
 * tables, built once per L and kept in a few static slots.
 */
#include "serve_crc.h"

#include <string.h>

#define CRC32C_POLY 0x82F63B78u	/* reflected */

uint32_t
lm_crc32c_update_ref(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len--)
	{
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (CRC32C_POLY & (0u - (crc & 1)));
	}
	return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define STREAM_MIN 64			/* bytes per stream below which one stream wins */
#define N_SLOTS 4

typedef struct ShiftTable
{
	size_t		len;			/* L; 0 when the slot is empty */
	uint32_t	t[4][256];		/* Z_L of byte b at byte position k */
} ShiftTable;

static ShiftTable slots[N_SLOTS];
static int	next_slot;

/* Z_L by definition, on the 32 unit vectors, then tables from their sums */
static const ShiftTable *
shift_table(size_t len)
{
	ShiftTable *s;
	uint32_t	basis[32];
	static const unsigned char zeros[64];

	for (int i = 0; i < N_SLOTS; i++)
		if (slots[i].len == len)
			return &slots[i];
	s = &slots[next_slot];
	next_slot = (next_slot + 1) % N_SLOTS;

	for (int bit = 0; bit < 32; bit++)
	{
		uint32_t	r = 1u << bit;
		size_t		left = len;

		while (left > 0)
		{
			size_t		n = left < sizeof(zeros) ? left : sizeof(zeros);

			r = lm_crc32c_update_ref(r, zeros, n);
			left -= n;
		}
		basis[bit] = r;
	}
	for (int k = 0; k < 4; k++)
		for (int b = 0; b < 256; b++)
		{
			uint32_t	v = 0;

			for (int j = 0; j < 8; j++)
				if (b & (1 << j))
					v ^= basis[8 * k + j];
			s->t[k][b] = v;
		}
	s->len = len;
	return s;
}

static inline uint32_t
shift(const ShiftTable *s, uint32_t r)
{
	return s->t[0][r & 0xff] ^ s->t[1][(r >> 8) & 0xff] ^
		s->t[2][(r >> 16) & 0xff] ^ s->t[3][r >> 24];
}

static inline uint64_t
load64(const unsigned char *p)
{
	uint64_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

__attribute__((target("sse4.2")))
static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t	a = crc;

	if (len >= 3 * STREAM_MIN)
	{
		size_t		L = len / 24 * 8;
		const ShiftTable *s = shift_table(L);
		uint64_t	b = 0,
					c = 0;

		for (size_t i = 0; i < L; i += 8)
		{
			a = _mm_crc32_u64(a, load64(p + i));
			b = _mm_crc32_u64(b, load64(p + L + i));
			c = _mm_crc32_u64(c, load64(p + 2 * L + i));
		}
		a = shift(s, shift(s, (uint32_t) a) ^ (uint32_t) b) ^ (uint32_t) c;
		p += 3 * L;
		len -= 3 * L;
	}
	for (; len >= 8; len -= 8, p += 8)
		a = _mm_crc32_u64(a, load64(p));
	for (; len > 0; len--)
		a = _mm_crc32_u8((uint32_t) a, *p++);
	return (uint32_t) a;
}

int
lm_crc32c_hardware(void)
{
	static int	has = -1;

	if (has < 0)
	{
		__builtin_cpu_init();
		has = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	}
	return has;
}

uint32_t
lm_crc32c_update(uint32_t crc, const void *data, size_t len)
{
	if (lm_crc32c_hardware())
		return crc_hw(crc, data, len);
	return lm_crc32c_update_ref(crc, data, len);
}

#else

int
lm_crc32c_hardware(void)
{
	return 0;
}

uint32_t
lm_crc32c_update(uint32_t crc, const void *data, size_t len)
{
	return lm_crc32c_update_ref(crc, data, len);
}

#endif
