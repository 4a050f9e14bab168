/*
 * jbd2.h - the jbd2 on-disk format (the ext4 journal), as the kernel's
 * include/linux/jbd2.h and e2fsprogs' kernel-jbd.h define it.
 *
 * Every field is big-endian.  The journal is a circular log of blocks
 * s_first .. s_maxlen-1 of the journal inode; block 0 holds the journal
 * superblock.  A transaction in the log is
 *
 *   descriptor (tags) , data blocks ... [, descriptor, data ...]
 *   [revoke block ...] , commit block
 *
 * all carrying the transaction's tid in h_sequence.  The log runs from the
 * superblock's s_start (tid s_sequence); s_start == 0 means empty.
 *
 * Checksums (CRC32C, raw, see lib/crc32c.h) with csum v2/v3, seeded with
 * seed = crc32c(~0, jsb.s_uuid, 16):
 *   superblock   crc32c(~0, jsb with s_checksum = 0, 1024)
 *   descriptor,  crc32c(seed, block with the tail = 0, 4096) in the last
 *   revoke       4 bytes of the block
 *   commit       crc32c(seed, block with h_chksum[0] = 0) in h_chksum[0]
 *   data (tag)   crc32c(crc32c(seed, be32 tid, 4), log block, 4096):
 *                all 32 bits in tag3 (v3), the low 16 in tag (v2)
 */
#ifndef SDX_JBD2_H
#define SDX_JBD2_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define JBD2_MAGIC_NUMBER	0xc03b3998u

/* h_blocktype */
#define JBD2_DESCRIPTOR_BLOCK	1
#define JBD2_COMMIT_BLOCK	2
#define JBD2_SUPERBLOCK_V1	3
#define JBD2_SUPERBLOCK_V2	4
#define JBD2_REVOKE_BLOCK	5

/* s_feature_compat */
#define JBD2_FEATURE_COMPAT_CHECKSUM		0x00000001u
/* s_feature_incompat */
#define JBD2_FEATURE_INCOMPAT_REVOKE		0x00000001u
#define JBD2_FEATURE_INCOMPAT_64BIT		0x00000002u
#define JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT	0x00000004u
#define JBD2_FEATURE_INCOMPAT_CSUM_V2		0x00000008u
#define JBD2_FEATURE_INCOMPAT_CSUM_V3		0x00000010u
#define JBD2_FEATURE_INCOMPAT_FAST_COMMIT	0x00000020u

/* s_checksum_type */
#define JBD2_CRC32C_CHKSUM	4

/* tag t_flags */
#define JBD2_FLAG_ESCAPE	1u	/* first 4 bytes were the magic */
#define JBD2_FLAG_SAME_UUID	2u	/* no 16-byte UUID follows the tag */
#define JBD2_FLAG_DELETED	4u
#define JBD2_FLAG_LAST_TAG	8u	/* last tag of this descriptor */

#define JBD2_HEADER_SIZE	12u
#define JBD2_UUID_SIZE		16u
#define JBD2_TAIL_SIZE		4u	/* jbd2_journal_block_tail */
#define JBD2_REVOKE_HEADER_SIZE	16u	/* header + r_count */

/* Byte offsets in a commit block. */
#define JBD2_COMMIT_CHKSUM_TYPE	12u
#define JBD2_COMMIT_CHKSUM_SIZE	13u
#define JBD2_COMMIT_CHKSUM	16u	/* h_chksum[0] */
#define JBD2_COMMIT_SEC		48u
#define JBD2_COMMIT_NSEC	56u

/* Byte offsets in a tag (journal_block_tag_t; tag3 below). */
#define JBD2_TAG_BLOCKNR	0u
#define JBD2_TAG_CHECKSUM16	4u	/* csum v2: __be16 */
#define JBD2_TAG_FLAGS16	6u	/* not v3: __be16 */
#define JBD2_TAG_BLOCKNR_HIGH	8u
/* journal_block_tag3_t (csum v3): four __be32 */
#define JBD2_TAG3_FLAGS		4u
#define JBD2_TAG3_BLOCKNR_HIGH	8u
#define JBD2_TAG3_CHECKSUM	12u
#define JBD2_TAG3_SIZE		16u

/* The journal superblock, block 0 of the journal (1024 bytes used). */
struct jbd2_superblock {
	uint32_t h_magic;
	uint32_t h_blocktype;
	uint32_t h_sequence;
	uint32_t s_blocksize;		/* 0x0c */
	uint32_t s_maxlen;		/* 0x10: blocks in the journal */
	uint32_t s_first;		/* 0x14: first log block */
	uint32_t s_sequence;		/* 0x18: first tid expected in the log */
	uint32_t s_start;		/* 0x1c: first log block; 0 = clean */
	uint32_t s_errno;		/* 0x20 */
	uint32_t s_feature_compat;	/* 0x24 */
	uint32_t s_feature_incompat;	/* 0x28 */
	uint32_t s_feature_ro_compat;	/* 0x2c */
	uint8_t s_uuid[16];		/* 0x30 */
	uint32_t s_nr_users;		/* 0x40 */
	uint32_t s_dynsuper;		/* 0x44 */
	uint32_t s_max_transaction;	/* 0x48 */
	uint32_t s_max_trans_data;	/* 0x4c */
	uint8_t s_checksum_type;	/* 0x50 */
	uint8_t s_padding2[3];
	uint32_t s_num_fc_blks;		/* 0x54 */
	uint32_t s_head;		/* 0x58 */
	uint32_t s_padding[40];		/* 0x5c */
	uint32_t s_checksum;		/* 0xfc */
	uint8_t s_users[16 * 48];	/* 0x100 */
};

_Static_assert(sizeof(struct jbd2_superblock) == 1024,
	       "jbd2 superblock is 1024 bytes");
_Static_assert(offsetof(struct jbd2_superblock, s_checksum) == 0xfc,
	       "s_checksum at 0xfc");

static inline uint32_t jbd2_get32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static inline uint16_t jbd2_get16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return be16toh(v);
}

static inline void jbd2_put32(void *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static inline void jbd2_put16(void *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, 2);
}

static inline void jbd2_put64(void *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

#endif /* SDX_JBD2_H */
