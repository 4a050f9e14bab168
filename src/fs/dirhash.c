/*
 * dirhash.c - the name hashes of ext4 htree directories: legacy, half-MD4
 * and TEA, each with signed or unsigned chars (s_flags says which the
 * creating machine used), keyed by s_hash_seed.
 *
 * The hash of a name decides which leaf of an htree holds it: the index
 * maps hash ranges to leaf blocks.  Only bits 31..1 count (bit 0 of an
 * index entry marks a leaf that continues the previous one's hash), and
 * the value 0x7fffffff << 1 is reserved for end of directory.
 *
 * Invariant: the functions read at most @len bytes of the name and return
 * the same value the kernel's fs/ext4/hash.c returns for the same input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/ops.h"

#define HTREE_EOF_32BIT	0x7fffffffu
#define TEA_DELTA	0x9E3779B9u

static uint32_t rol32(uint32_t x, unsigned s)
{
	return (x << s) | (x >> (32 - s));
}

static int name_char(const char *name, size_t i, bool is_signed)
{
	return is_signed ? (int)(signed char)name[i] :
	       (int)(unsigned char)name[i];
}

/* The legacy hash of ext3's first htree code. */
static uint32_t legacy_hash(const char *name, size_t len, bool is_signed)
{
	uint32_t hash0 = 0x12a3fe2d, hash1 = 0x37abe8f9, hash;

	for (size_t i = 0; i < len; i++) {
		hash = hash1 + (hash0 ^ (uint32_t)(name_char(name, i,
							      is_signed) *
						    7152373));
		if (hash & 0x80000000u)
			hash -= 0x7fffffff;
		hash1 = hash0;
		hash0 = hash;
	}
	return hash0 << 1;
}

/*
 * Pack up to 4 * @words bytes of the name into words, big-endian within
 * each word, padded with a pattern made of the length.
 */
static void name_words(const char *name, size_t len, uint32_t *out,
		       int words, bool is_signed)
{
	uint32_t pad = (uint32_t)len | ((uint32_t)len << 8), val;
	size_t i;

	pad |= pad << 16;
	val = pad;
	if (len > (size_t)words * 4)
		len = (size_t)words * 4;
	for (i = 0; i < len; i++) {
		val = (uint32_t)name_char(name, i, is_signed) + (val << 8);
		if (i % 4 == 3) {
			*out++ = val;
			val = pad;
			words--;
		}
	}
	if (--words >= 0)
		*out++ = val;
	while (--words >= 0)
		*out++ = pad;
}

#define MD4_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD4_G(x, y, z) (((x) & (y)) + (((x) ^ (y)) & (z)))
#define MD4_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD4_STEP(f, a, b, c, d, x, s) ((a) = rol32((a) + f(b, c, d) + (x), s))
#define MD4_K2 0x5A827999u
#define MD4_K3 0x6ED9EBA1u

/* Half of MD4's rounds over 8 words, folded into @buf. */
static void half_md4(uint32_t buf[4], const uint32_t in[8])
{
	uint32_t a = buf[0], b = buf[1], c = buf[2], d = buf[3];

	MD4_STEP(MD4_F, a, b, c, d, in[0], 3);
	MD4_STEP(MD4_F, d, a, b, c, in[1], 7);
	MD4_STEP(MD4_F, c, d, a, b, in[2], 11);
	MD4_STEP(MD4_F, b, c, d, a, in[3], 19);
	MD4_STEP(MD4_F, a, b, c, d, in[4], 3);
	MD4_STEP(MD4_F, d, a, b, c, in[5], 7);
	MD4_STEP(MD4_F, c, d, a, b, in[6], 11);
	MD4_STEP(MD4_F, b, c, d, a, in[7], 19);

	MD4_STEP(MD4_G, a, b, c, d, in[1] + MD4_K2, 3);
	MD4_STEP(MD4_G, d, a, b, c, in[3] + MD4_K2, 5);
	MD4_STEP(MD4_G, c, d, a, b, in[5] + MD4_K2, 9);
	MD4_STEP(MD4_G, b, c, d, a, in[7] + MD4_K2, 13);
	MD4_STEP(MD4_G, a, b, c, d, in[0] + MD4_K2, 3);
	MD4_STEP(MD4_G, d, a, b, c, in[2] + MD4_K2, 5);
	MD4_STEP(MD4_G, c, d, a, b, in[4] + MD4_K2, 9);
	MD4_STEP(MD4_G, b, c, d, a, in[6] + MD4_K2, 13);

	MD4_STEP(MD4_H, a, b, c, d, in[3] + MD4_K3, 3);
	MD4_STEP(MD4_H, d, a, b, c, in[7] + MD4_K3, 9);
	MD4_STEP(MD4_H, c, d, a, b, in[2] + MD4_K3, 11);
	MD4_STEP(MD4_H, b, c, d, a, in[6] + MD4_K3, 15);
	MD4_STEP(MD4_H, a, b, c, d, in[1] + MD4_K3, 3);
	MD4_STEP(MD4_H, d, a, b, c, in[5] + MD4_K3, 9);
	MD4_STEP(MD4_H, c, d, a, b, in[0] + MD4_K3, 11);
	MD4_STEP(MD4_H, b, c, d, a, in[4] + MD4_K3, 15);

	buf[0] += a;
	buf[1] += b;
	buf[2] += c;
	buf[3] += d;
}

/* 16 rounds of TEA over 4 words, folded into buf[0..1]. */
static void tea(uint32_t buf[4], const uint32_t in[4])
{
	uint32_t sum = 0, b0 = buf[0], b1 = buf[1];

	for (int n = 0; n < 16; n++) {
		sum += TEA_DELTA;
		b0 += ((b1 << 4) + in[0]) ^ (b1 + sum) ^ ((b1 >> 5) + in[1]);
		b1 += ((b0 << 4) + in[2]) ^ (b0 + sum) ^ ((b0 >> 5) + in[3]);
	}
	buf[0] += b0;
	buf[1] += b1;
}

int sdx_dirhash(const struct sdx_fs *fs, unsigned version, const char *name,
		size_t len, uint32_t *hash)
{
	uint32_t buf[4] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476 };
	uint32_t in[8], h;
	bool is_signed = version < DX_HASH_LEGACY_UNSIGNED;

	if (fs->hash_seed[0] | fs->hash_seed[1] | fs->hash_seed[2] |
	    fs->hash_seed[3])
		for (int i = 0; i < 4; i++)
			buf[i] = fs->hash_seed[i];
	switch (version) {
	case DX_HASH_LEGACY:
	case DX_HASH_LEGACY_UNSIGNED:
		h = legacy_hash(name, len, is_signed);
		break;
	case DX_HASH_HALF_MD4:
	case DX_HASH_HALF_MD4_UNSIGNED:
		for (size_t off = 0; off < len; off += 32) {
			name_words(name + off, len - off, in, 8, is_signed);
			half_md4(buf, in);
		}
		h = buf[1];
		break;
	case DX_HASH_TEA:
	case DX_HASH_TEA_UNSIGNED:
		for (size_t off = 0; off < len; off += 16) {
			name_words(name + off, len - off, in, 4, is_signed);
			tea(buf, in);
		}
		h = buf[0];
		break;
	default:
		return -EOPNOTSUPP;
	}
	h &= ~1u;
	if (h == HTREE_EOF_32BIT << 1)
		h = (HTREE_EOF_32BIT - 1) << 1;
	*hash = h;
	return 0;
}
