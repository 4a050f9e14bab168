/*
 * super.c - mounting an ext4 file system: the superblock, the feature
 * policy, the group descriptors, the journal, and unmounting.
 *
 * What mount trusts, and where it is checked (everything else read from
 * the media is checked where it is read):
 *   superblock   magic, revision, 4 KiB blocks, counts against the device,
 *                group geometry, inode and descriptor sizes, checksum
 *   features     incompat outside SUPPORTED_INCOMPAT: refused by name;
 *                ro_compat outside MAINTAINED_RO_COMPAT (and orphan_file):
 *                read-only only, named
 *   descriptors  checksum (crc32c, or crc16 under gdt_csum), bitmaps and
 *                inode table inside the file system and past the
 *                descriptor blocks, free counts within the group
 *   journal      s_journal_inum's extents (via inode.c/extent.c checks),
 *                then the journal layer checks and recovers the log
 * After recovery the superblock and descriptors are loaded again through
 * the journal's view, since a replayed transaction may have changed them.
 * Before recovery only the descriptors' locations are binding (they find
 * the journal inode): a descriptor block torn by a crash in its checkpoint
 * is whole again after the replay, so its checksum and counts are checked
 * after recovery only.
 *
 * Mount states (the superblock written home directly at both edges):
 *   clean (s_state VALID, no RECOVER) --rw mount, after recovery--> mounted
 *   (VALID cleared, RECOVER set if journalled, mount count+1)
 *   --sdx_fs_close: journal commits and checkpoints--> clean
 * A read-only mount writes nothing.
 *
 * The superblock written in place (both edges above) is 1 KiB, its
 * checksum in another cache line than the fields that change, and
 * persistent memory is failure-atomic only per 8 bytes: a crash between
 * the stores and their drain can leave a checksum mismatch.  So every such
 * write goes first, whole and checksummed, to a shadow in bytes 2048..3071
 * of block 0 (ext4 leaves block 0 past the superblock unused with 4 KiB
 * blocks), is persisted there, then written home and persisted.  Invariant:
 * at every instant either the superblock checks, or the shadow checks and
 * is the update that was being written.  Mount restores a superblock that
 * fails its checksum from a shadow that checks and names the same file
 * system (uuid, block and inode counts, block size); a read-only mount uses
 * the shadow in place (fs->sb_shadow).  e2fsck and Linux do not know the
 * shadow: to them such a torn superblock is corrupt (the format's limit on
 * memory without sector atomicity), until syncdax mounts it once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "syncdax.h"
#include "fs/fs.h"
#include "lib/crc32c.h"
#include "lib/err.h"
#include "pmem/pmem.h"

#define SUPPORTED_INCOMPAT                                                 \
	(EXT4_FEATURE_INCOMPAT_FILETYPE | EXT4_FEATURE_INCOMPAT_RECOVER |   \
	 EXT4_FEATURE_INCOMPAT_EXTENTS | EXT4_FEATURE_INCOMPAT_64BIT |      \
	 EXT4_FEATURE_INCOMPAT_FLEX_BG | EXT4_FEATURE_INCOMPAT_CSUM_SEED)
#define MAINTAINED_RO_COMPAT                                               \
	(EXT4_FEATURE_RO_COMPAT_SPARSE_SUPER |                              \
	 EXT4_FEATURE_RO_COMPAT_LARGE_FILE |                                \
	 EXT4_FEATURE_RO_COMPAT_HUGE_FILE |                                 \
	 EXT4_FEATURE_RO_COMPAT_DIR_NLINK |                                 \
	 EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE |                               \
	 EXT4_FEATURE_RO_COMPAT_METADATA_CSUM)
/* compat features whose structures a writer would have to maintain */
#define RO_ONLY_COMPAT EXT4_FEATURE_COMPAT_ORPHAN_FILE

#define ICACHE_BUCKETS 1024u

struct feature_name {
	uint32_t mask;
	const char *name;
};

static const struct feature_name incompat_names[] = {
	{ EXT4_FEATURE_INCOMPAT_COMPRESSION, "compression" },
	{ EXT4_FEATURE_INCOMPAT_JOURNAL_DEV, "journal_dev" },
	{ EXT4_FEATURE_INCOMPAT_META_BG, "meta_bg" },
	{ EXT4_FEATURE_INCOMPAT_MMP, "mmp" },
	{ EXT4_FEATURE_INCOMPAT_EA_INODE, "ea_inode" },
	{ EXT4_FEATURE_INCOMPAT_DIRDATA, "dirdata" },
	{ EXT4_FEATURE_INCOMPAT_LARGEDIR, "large_dir" },
	{ EXT4_FEATURE_INCOMPAT_INLINE_DATA, "inline_data" },
	{ EXT4_FEATURE_INCOMPAT_ENCRYPT, "encrypt" },
	{ EXT4_FEATURE_INCOMPAT_CASEFOLD, "casefold" },
	{ 0, NULL }
};

static const struct feature_name ro_compat_names[] = {
	{ EXT4_FEATURE_RO_COMPAT_BTREE_DIR, "btree_dir" },
	{ EXT4_FEATURE_RO_COMPAT_GDT_CSUM, "uninit_bg" },
	{ EXT4_FEATURE_RO_COMPAT_HAS_SNAPSHOT, "snapshot" },
	{ EXT4_FEATURE_RO_COMPAT_QUOTA, "quota" },
	{ EXT4_FEATURE_RO_COMPAT_BIGALLOC, "bigalloc" },
	{ EXT4_FEATURE_RO_COMPAT_REPLICA, "replica" },
	{ EXT4_FEATURE_RO_COMPAT_READONLY, "read-only" },
	{ EXT4_FEATURE_RO_COMPAT_PROJECT, "project" },
	{ EXT4_FEATURE_RO_COMPAT_SHARED_BLOCKS, "shared_blocks" },
	{ EXT4_FEATURE_RO_COMPAT_VERITY, "verity" },
	{ EXT4_FEATURE_RO_COMPAT_ORPHAN_PRESENT, "orphan_present" },
	{ 0, NULL }
};

static const char *feature_name(const struct feature_name *tab, uint32_t bits)
{
	for (; tab->name; tab++)
		if (bits & tab->mask)
			return tab->name;
	return "unknown";
}

/* ---- checksums ---- */

static uint32_t super_csum(const struct ext4_super_block *sb)
{
	return sdx_crc32c(~0u, sb, offsetof(struct ext4_super_block,
					    s_checksum));
}

/* CRC-16/ARC (the kernel's crc16), for gdt_csum descriptors. */
static uint16_t crc16(uint16_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ ((crc & 1) ? 0xA001 : 0);
	}
	return crc;
}

static uint16_t group_desc_csum(const struct sdx_fs *fs, uint32_t group,
				const struct ext4_group_desc *gd)
{
	const size_t off = offsetof(struct ext4_group_desc, bg_checksum);
	const uint8_t *p = (const uint8_t *)gd;
	uint32_t le_group = group;
	uint16_t zero = 0;

	if (fs->has_csum) {
		uint32_t c = sdx_crc32c(fs->csum_seed, &le_group, 4);

		c = sdx_crc32c(c, p, off);
		c = sdx_crc32c(c, &zero, 2);
		if (fs->desc_size > off + 2)
			c = sdx_crc32c(c, p + off + 2, fs->desc_size - off - 2);
		return (uint16_t)(c & 0xFFFF);
	}
	uint16_t c = crc16(0xFFFF, fs->uuid, 16);

	c = crc16(c, &le_group, 4);
	c = crc16(c, p, off);
	if (fs->desc_size > off + 2)
		c = crc16(c, p + off + 2, fs->desc_size - off - 2);
	return c;
}

/* Where every in-place superblock write goes first (see top). */
#define SUPER_SHADOW_OFFSET 2048u

static bool has_metadata_csum(const struct ext4_super_block *sb)
{
	return sb->s_feature_ro_compat & EXT4_FEATURE_RO_COMPAT_METADATA_CSUM;
}

const struct ext4_super_block *sdx_super_shadow(const uint8_t *block0)
{
	const struct ext4_super_block *sb =
		(const void *)(block0 + EXT4_SUPERBLOCK_OFFSET);
	const struct ext4_super_block *shadow =
		(const void *)(block0 + SUPER_SHADOW_OFFSET);

	if (!has_metadata_csum(sb) || sb->s_checksum == super_csum(sb))
		return NULL;
	if (shadow->s_magic != EXT4_SUPER_MAGIC || !has_metadata_csum(shadow) ||
	    shadow->s_checksum_type != EXT4_CRC32C_CHKSUM ||
	    shadow->s_checksum != super_csum(shadow) ||
	    memcmp(shadow->s_uuid, sb->s_uuid, sizeof(sb->s_uuid)) ||
	    shadow->s_blocks_count_lo != sb->s_blocks_count_lo ||
	    shadow->s_blocks_count_hi != sb->s_blocks_count_hi ||
	    shadow->s_inodes_count != sb->s_inodes_count ||
	    shadow->s_log_block_size != sb->s_log_block_size)
		return NULL;
	return shadow;
}

/* ---- geometry ---- */

uint32_t sdx_block_group(const struct sdx_fs *fs, uint64_t block)
{
	return (uint32_t)((block - fs->first_data_block) /
			  fs->blocks_per_group);
}

uint32_t sdx_inode_group(const struct sdx_fs *fs, uint32_t ino)
{
	return (ino - 1) / fs->inodes_per_group;
}

uint64_t sdx_group_first_block(const struct sdx_fs *fs, uint32_t group)
{
	return fs->first_data_block + (uint64_t)group * fs->blocks_per_group;
}

uint32_t sdx_group_blocks(const struct sdx_fs *fs, uint32_t group)
{
	uint64_t first = sdx_group_first_block(fs, group);

	if (group + 1 < fs->groups_count)
		return fs->blocks_per_group;
	return (uint32_t)(fs->blocks_count - first);
}

/* ---- block access ---- */

const void *sdx_bread(struct sdx_fs *fs, uint64_t block, int *err)
{
	const void *p;

	if (block >= fs->blocks_count) {
		*err = sdx_err(-EUCLEAN, "block %llu beyond the file system "
			       "(%llu blocks)", (unsigned long long)block,
			       (unsigned long long)fs->blocks_count);
		return NULL;
	}
	if (!fs->journal)
		return fs->dev->base + block * SDX_BLOCK_SIZE;
	p = sdx_journal_bread(fs->journal, block);
	if (!p)
		*err = -EIO;
	return p;
}

int sdx_fs_start(struct sdx_fs *fs, int credits, struct sdx_handle **out)
{
	if (fs->is_rdonly)
		return sdx_err(-EROFS, "file system mounted read-only");
	return sdx_journal_start(fs->journal, credits, out);
}

/* ---- superblock ---- */

const struct ext4_super_block *sdx_super(struct sdx_fs *fs, int *err)
{
	const uint8_t *b = sdx_bread(fs, 0, err);

	if (!b)
		return NULL;
	/* read-only over a torn home copy that no replayed copy hides */
	if (fs->sb_shadow && b == fs->dev->base)
		return fs->sb_shadow;
	return (const void *)(b + EXT4_SUPERBLOCK_OFFSET);
}

int sdx_super_get_write(struct sdx_handle *h, struct sdx_fs *fs,
			struct ext4_super_block **sb)
{
	void *b;
	int err = sdx_journal_get_write_access(h, 0, &b);

	(void)fs;
	if (err)
		return err;
	*sb = (void *)((uint8_t *)b + EXT4_SUPERBLOCK_OFFSET);
	return 0;
}

void sdx_super_dirty(struct sdx_handle *h, struct sdx_fs *fs)
{
	struct ext4_super_block *sb;
	void *b;

	if (sdx_journal_get_write_access(h, 0, &b))
		return;
	sb = (void *)((uint8_t *)b + EXT4_SUPERBLOCK_OFFSET);
	if (fs->has_csum)
		sb->s_checksum = super_csum(sb);
	sdx_journal_dirty_metadata(h, 0);
}

/* The free counts, on the published statistics page. */
static void gauge_free(struct sdx_fs *fs, uint64_t blocks, uint64_t inodes)
{
	if (fs->statpage) {
		sdx_stat_set(&fs->statpage->fs.free_blocks, blocks);
		sdx_stat_set(&fs->statpage->fs.free_inodes, inodes);
	}
}

static uint64_t sb_free_blocks(const struct ext4_super_block *sb)
{
	return sb->s_free_blocks_count_lo |
	       (uint64_t)sb->s_free_blocks_count_hi << 32;
}

int sdx_super_add_free(struct sdx_handle *h, struct sdx_fs *fs,
		       int64_t blocks, int64_t inodes)
{
	struct ext4_super_block *sb;
	int64_t nb, ni;
	int err = sdx_super_get_write(h, fs, &sb);

	if (err)
		return err;
	nb = (int64_t)sb_free_blocks(sb) + blocks;
	ni = (int64_t)sb->s_free_inodes_count + inodes;
	if (nb < 0 || (uint64_t)nb > fs->blocks_count || ni < 0 ||
	    (uint64_t)ni > fs->inodes_count)
		return sdx_err(-EUCLEAN, "superblock: free counts would become "
			       "%lld blocks, %lld inodes", (long long)nb,
			       (long long)ni);
	sb->s_free_blocks_count_lo = (uint32_t)nb;
	sb->s_free_blocks_count_hi = (uint32_t)((uint64_t)nb >> 32);
	sb->s_free_inodes_count = (uint32_t)ni;
	sdx_super_dirty(h, fs);
	gauge_free(fs, (uint64_t)nb, (uint64_t)ni);
	return 0;
}

uint64_t sdx_fs_free_blocks(struct sdx_fs *fs)
{
	int err;
	const struct ext4_super_block *sb = sdx_super(fs, &err);

	return sb ? sb_free_blocks(sb) : 0;
}

int sdx_fs_statvfs(struct sdx_fs *fs, struct statvfs *sv)
{
	int err = 0;
	const struct ext4_super_block *sb = sdx_super(fs, &err);
	uint64_t reserved, free_blocks;

	if (!sb)
		return err;
	reserved = sb->s_r_blocks_count_lo |
		   (uint64_t)sb->s_r_blocks_count_hi << 32;
	free_blocks = sb_free_blocks(sb);
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = SDX_BLOCK_SIZE;
	sv->f_frsize = SDX_BLOCK_SIZE;
	sv->f_blocks = fs->blocks_count;
	sv->f_bfree = free_blocks;
	sv->f_bavail = free_blocks > reserved ? free_blocks - reserved : 0;
	sv->f_files = fs->inodes_count;
	sv->f_ffree = sb->s_free_inodes_count;
	sv->f_favail = sb->s_free_inodes_count;
	memcpy(&sv->f_fsid, fs->uuid, sizeof(sv->f_fsid));
	sv->f_flag = fs->is_rdonly ? ST_RDONLY : 0;
	sv->f_namemax = EXT4_NAME_LEN;
	return 0;
}

/* ---- group descriptors ---- */

static uint64_t gd_location(const struct sdx_fs *fs, uint32_t group,
			    size_t *off)
{
	uint64_t byte = (uint64_t)group * fs->desc_size;

	*off = byte % SDX_BLOCK_SIZE;
	return fs->gdt_block + byte / SDX_BLOCK_SIZE;
}

const struct ext4_group_desc *sdx_group_desc(struct sdx_fs *fs,
					     uint32_t group, int *err)
{
	size_t off;
	uint64_t block = gd_location(fs, group, &off);
	const uint8_t *b = sdx_bread(fs, block, err);

	return b ? (const void *)(b + off) : NULL;
}

int sdx_group_desc_get_write(struct sdx_handle *h, struct sdx_fs *fs,
			     uint32_t group, struct ext4_group_desc **gd)
{
	size_t off;
	uint64_t block = gd_location(fs, group, &off);
	void *b;
	int err = sdx_journal_get_write_access(h, block, &b);

	if (err)
		return err;
	*gd = (void *)((uint8_t *)b + off);
	return 0;
}

void sdx_group_desc_dirty(struct sdx_handle *h, struct sdx_fs *fs,
			  uint32_t group)
{
	size_t off;
	uint64_t block = gd_location(fs, group, &off);
	struct ext4_group_desc *gd;

	if (sdx_group_desc_get_write(h, fs, group, &gd))
		return;
	if (fs->has_csum)
		gd->bg_checksum = group_desc_csum(fs, group, gd);
	sdx_journal_dirty_metadata(h, block);
}

static bool has_hi(const struct sdx_fs *fs)
{
	return fs->desc_size >= EXT4_MIN_DESC_SIZE_64BIT;
}

#define GD_GET(fs, gd, f) \
	((gd)->f##_lo | (has_hi(fs) ? (uint32_t)(gd)->f##_hi << 16 : 0))
#define GD_SET(fs, gd, f, n) do {					\
		(gd)->f##_lo = (uint16_t)(n);				\
		if (has_hi(fs))						\
			(gd)->f##_hi = (uint16_t)((n) >> 16);		\
	} while (0)

/* sdx_gd_NAME() and sdx_gd_set_NAME() for a lo/hi descriptor field. */
#define GD_ACCESSORS(name, field)					\
	uint32_t sdx_gd_##name(const struct sdx_fs *fs,			\
			       const struct ext4_group_desc *gd)	\
	{								\
		return GD_GET(fs, gd, field);				\
	}								\
	void sdx_gd_set_##name(const struct sdx_fs *fs,			\
			       struct ext4_group_desc *gd, uint32_t n)	\
	{								\
		GD_SET(fs, gd, field, n);				\
	}

GD_ACCESSORS(free_blocks, bg_free_blocks_count)
GD_ACCESSORS(free_inodes, bg_free_inodes_count)
GD_ACCESSORS(used_dirs, bg_used_dirs_count)
GD_ACCESSORS(itable_unused, bg_itable_unused)

static uint64_t gd_block(const struct sdx_fs *fs, uint32_t lo, uint32_t hi)
{
	return lo | (has_hi(fs) ? (uint64_t)hi << 32 : 0);
}

/* Check descriptor @group and record its locations in fs->groups; its
 * checksum and counts too if @is_recovered (see top). */
static int load_group(struct sdx_fs *fs, uint32_t group, bool is_recovered)
{
	struct sdx_group *g = &fs->groups[group];
	const struct ext4_group_desc *gd;
	int err;

	gd = sdx_group_desc(fs, group, &err);
	if (!gd)
		return err;
	if (is_recovered && (fs->has_csum || fs->has_gdt_csum) &&
	    gd->bg_checksum != group_desc_csum(fs, group, gd))
		return sdx_err(-EUCLEAN, "group %u: descriptor checksum 0x%04x, "
			       "expected 0x%04x", group, gd->bg_checksum,
			       group_desc_csum(fs, group, gd));
	g->block_bitmap = gd_block(fs, gd->bg_block_bitmap_lo,
				   gd->bg_block_bitmap_hi);
	g->inode_bitmap = gd_block(fs, gd->bg_inode_bitmap_lo,
				   gd->bg_inode_bitmap_hi);
	g->inode_table = gd_block(fs, gd->bg_inode_table_lo,
				  gd->bg_inode_table_hi);
	if (!sdx_fs_block_valid(fs, g->block_bitmap, 1))
		return sdx_err(-EUCLEAN, "group %u: block bitmap at block %llu "
			       "outside the file system", group,
			       (unsigned long long)g->block_bitmap);
	if (!sdx_fs_block_valid(fs, g->inode_bitmap, 1))
		return sdx_err(-EUCLEAN, "group %u: inode bitmap at block %llu "
			       "outside the file system", group,
			       (unsigned long long)g->inode_bitmap);
	if (!sdx_fs_block_valid(fs, g->inode_table, fs->itable_blocks))
		return sdx_err(-EUCLEAN, "group %u: inode table at block %llu "
			       "(%u blocks) outside the file system", group,
			       (unsigned long long)g->inode_table,
			       fs->itable_blocks);
	if (is_recovered && (sdx_gd_free_blocks(fs, gd) > sdx_group_blocks(fs, group) ||
	    sdx_gd_free_inodes(fs, gd) > fs->inodes_per_group ||
	    sdx_gd_itable_unused(fs, gd) > fs->inodes_per_group ||
	    sdx_gd_used_dirs(fs, gd) > fs->inodes_per_group))
		return sdx_err(-EUCLEAN, "group %u: descriptor counts out of "
			       "range (free blocks %u, free inodes %u, unused "
			       "%u, dirs %u)", group,
			       sdx_gd_free_blocks(fs, gd),
			       sdx_gd_free_inodes(fs, gd),
			       sdx_gd_itable_unused(fs, gd),
			       sdx_gd_used_dirs(fs, gd));
	return 0;
}

/* Check every descriptor (before recovery: their locations); sum their
 * free counts into the superblock's CPU copies (the kernel's counters:
 * Linux does not journal them). */
static int load_groups(struct sdx_fs *fs, bool is_recovered)
{
	fs->mount_free_blocks = 0;
	fs->mount_free_inodes = 0;
	for (uint32_t g = 0; g < fs->groups_count; g++) {
		const struct ext4_group_desc *gd;
		int err = load_group(fs, g, is_recovered);

		if (err)
			return err;
		gd = sdx_group_desc(fs, g, &err);
		fs->mount_free_blocks += sdx_gd_free_blocks(fs, gd);
		fs->mount_free_inodes += sdx_gd_free_inodes(fs, gd);
	}
	return 0;
}

/* ---- superblock checks ---- */

static bool is_power_of_2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int check_features(struct sdx_fs *fs, const struct ext4_super_block *sb,
			  bool want_rdonly)
{
	uint32_t bad;

	bad = sb->s_feature_incompat & ~SUPPORTED_INCOMPAT;
	if (bad)
		return sdx_err(-EOPNOTSUPP, "unsupported ext4 feature %s "
			       "(incompat 0x%x)", feature_name(incompat_names,
							       bad), bad);
	if (!(sb->s_feature_incompat & EXT4_FEATURE_INCOMPAT_EXTENTS) &&
	    !want_rdonly)
		return sdx_err(-EROFS, "file system without the extent feature: "
			       "read-only mount only");
	if (sb->s_journal_dev)
		return sdx_err(-EOPNOTSUPP, "external journal device 0x%x not "
			       "supported", sb->s_journal_dev);
	bad = sb->s_feature_ro_compat & ~MAINTAINED_RO_COMPAT;
	if (bad && !want_rdonly)
		return sdx_err(-EROFS, "ext4 feature %s (ro_compat 0x%x) cannot "
			       "be maintained: read-only mount only",
			       feature_name(ro_compat_names, bad), bad);
	if ((sb->s_feature_compat & RO_ONLY_COMPAT) && !want_rdonly)
		return sdx_err(-EROFS, "ext4 feature orphan_file cannot be "
			       "maintained: read-only mount only");
	fs->feature_compat = sb->s_feature_compat;
	fs->feature_incompat = sb->s_feature_incompat;
	fs->feature_ro_compat = sb->s_feature_ro_compat;
	fs->has_csum = sb->s_feature_ro_compat &
		       EXT4_FEATURE_RO_COMPAT_METADATA_CSUM;
	fs->has_gdt_csum = !fs->has_csum && (sb->s_feature_ro_compat &
					     EXT4_FEATURE_RO_COMPAT_GDT_CSUM);
	return 0;
}

static int check_checksum(struct sdx_fs *fs, const struct ext4_super_block *sb)
{
	memcpy(fs->uuid, sb->s_uuid, 16);
	if (!fs->has_csum)
		return 0;
	if (sb->s_checksum_type != EXT4_CRC32C_CHKSUM)
		return sdx_err(-EUCLEAN, "superblock: checksum type %u, expected "
			       "1 (crc32c)", sb->s_checksum_type);
	if (sb->s_checksum != super_csum(sb))
		return sdx_err(-EUCLEAN, "superblock: checksum 0x%08x, expected "
			       "0x%08x", sb->s_checksum, super_csum(sb));
	if (sb->s_feature_incompat & EXT4_FEATURE_INCOMPAT_CSUM_SEED)
		fs->csum_seed = sb->s_checksum_seed;
	else
		fs->csum_seed = sdx_crc32c(~0u, sb->s_uuid, 16);
	return 0;
}

static int check_block_size(const struct ext4_super_block *sb)
{
	if (sb->s_log_block_size == SDX_BLOCK_SHIFT - EXT4_MIN_BLOCK_LOG_SIZE)
		return 0;
	if (sb->s_log_block_size <= 6)
		return sdx_err(-EOPNOTSUPP, "block size %u bytes not supported "
			       "(syncdax needs 4096)",
			       1024u << sb->s_log_block_size);
	return sdx_err(-EUCLEAN, "superblock: s_log_block_size %u is invalid",
		       sb->s_log_block_size);
}

/* Geometry from @sb, checked against itself and the device. */
static int check_geometry(struct sdx_fs *fs, const struct ext4_super_block *sb)
{
	const uint64_t dev_blocks = fs->dev->size / SDX_BLOCK_SIZE;
	const bool is_64bit = sb->s_feature_incompat &
			      EXT4_FEATURE_INCOMPAT_64BIT;
	uint32_t cluster_ratio = 1;
	uint64_t groups;

	fs->blocks_count = sb->s_blocks_count_lo |
			   (is_64bit ? (uint64_t)sb->s_blocks_count_hi << 32 : 0);
	if (fs->blocks_count < 16 || fs->blocks_count > dev_blocks)
		return sdx_err(-EUCLEAN, "superblock: %llu blocks, the device "
			       "holds %llu", (unsigned long long)fs->blocks_count,
			       (unsigned long long)dev_blocks);
	if (sb->s_first_data_block != 0)
		return sdx_err(-EUCLEAN, "superblock: first data block %u, "
			       "expected 0 with 4 KiB blocks",
			       sb->s_first_data_block);
	fs->first_data_block = 0;
	fs->blocks_per_group = sb->s_blocks_per_group;
	if (sb->s_feature_ro_compat & EXT4_FEATURE_RO_COMPAT_BIGALLOC) {
		/* read-only: clusters of 2^n blocks, bitmaps never used */
		if (sb->s_log_cluster_size < sb->s_log_block_size ||
		    sb->s_log_cluster_size > sb->s_log_block_size + 16)
			return sdx_err(-EUCLEAN, "superblock: log cluster size "
				       "%u", sb->s_log_cluster_size);
		cluster_ratio = 1u << (sb->s_log_cluster_size -
				       sb->s_log_block_size);
	}
	if (sb->s_clusters_per_group < 8 || sb->s_clusters_per_group % 8 ||
	    sb->s_clusters_per_group > 8 * SDX_BLOCK_SIZE ||
	    (uint64_t)sb->s_clusters_per_group * cluster_ratio !=
	    fs->blocks_per_group)
		return sdx_err(-EUCLEAN, "superblock: %u blocks (%u clusters) "
			       "per group", fs->blocks_per_group,
			       sb->s_clusters_per_group);
	groups = (fs->blocks_count - fs->first_data_block +
		  fs->blocks_per_group - 1) / fs->blocks_per_group;
	fs->groups_count = (uint32_t)groups;

	if (sb->s_rev_level == EXT4_GOOD_OLD_REV) {
		fs->inode_size = EXT4_GOOD_OLD_INODE_SIZE;
		fs->first_ino = EXT4_GOOD_OLD_FIRST_INO;
	} else if (sb->s_rev_level == EXT4_DYNAMIC_REV) {
		fs->inode_size = sb->s_inode_size;
		fs->first_ino = sb->s_first_ino;
	} else {
		return sdx_err(-EOPNOTSUPP, "superblock: revision level %u not "
			       "supported", sb->s_rev_level);
	}
	if (fs->inode_size < EXT4_GOOD_OLD_INODE_SIZE ||
	    fs->inode_size > SDX_BLOCK_SIZE || !is_power_of_2(fs->inode_size))
		return sdx_err(-EUCLEAN, "superblock: inode size %u",
			       fs->inode_size);
	fs->inodes_per_group = sb->s_inodes_per_group;
	if (fs->inodes_per_group == 0 ||
	    fs->inodes_per_group > 8 * SDX_BLOCK_SIZE ||
	    fs->inodes_per_group % (SDX_BLOCK_SIZE / fs->inode_size))
		return sdx_err(-EUCLEAN, "superblock: %u inodes per group",
			       fs->inodes_per_group);
	if ((uint64_t)fs->inodes_per_group * groups != sb->s_inodes_count)
		return sdx_err(-EUCLEAN, "superblock: %u inodes, expected %llu "
			       "(%u groups of %u)", sb->s_inodes_count,
			       (unsigned long long)(fs->inodes_per_group *
						    groups),
			       fs->groups_count, fs->inodes_per_group);
	fs->inodes_count = sb->s_inodes_count;
	if (fs->first_ino < EXT4_GOOD_OLD_FIRST_INO ||
	    fs->first_ino >= fs->inodes_count)
		return sdx_err(-EUCLEAN, "superblock: first inode %u",
			       fs->first_ino);
	fs->itable_blocks = (uint32_t)(((uint64_t)fs->inodes_per_group *
					fs->inode_size + SDX_BLOCK_SIZE - 1) /
				       SDX_BLOCK_SIZE);

	fs->desc_size = is_64bit ? sb->s_desc_size : EXT4_MIN_DESC_SIZE;
	if (fs->desc_size < (is_64bit ? EXT4_MIN_DESC_SIZE_64BIT :
			     EXT4_MIN_DESC_SIZE) ||
	    fs->desc_size > EXT4_MAX_DESC_SIZE ||
	    !is_power_of_2(fs->desc_size))
		return sdx_err(-EUCLEAN, "superblock: descriptor size %u",
			       fs->desc_size);
	fs->gdt_block = fs->first_data_block + 1;
	fs->gdt_blocks = (uint32_t)((groups * fs->desc_size + SDX_BLOCK_SIZE -
				     1) / SDX_BLOCK_SIZE);
	if (fs->gdt_block + fs->gdt_blocks >= fs->blocks_count)
		return sdx_err(-EUCLEAN, "superblock: %u groups' descriptors do "
			       "not fit in %llu blocks", fs->groups_count,
			       (unsigned long long)fs->blocks_count);

	fs->groups_per_flex = 1;
	if (sb->s_feature_incompat & EXT4_FEATURE_INCOMPAT_FLEX_BG) {
		if (sb->s_log_groups_per_flex > 31)
			return sdx_err(-EUCLEAN, "superblock: log groups per "
				       "flex %u", sb->s_log_groups_per_flex);
		fs->groups_per_flex = 1u << sb->s_log_groups_per_flex;
	}
	fs->want_extra_isize = 0;
	if (fs->inode_size >= sizeof(struct ext4_inode)) {
		fs->want_extra_isize = sizeof(struct ext4_inode) -
				       EXT4_GOOD_OLD_INODE_SIZE;
		if (sb->s_want_extra_isize > fs->want_extra_isize &&
		    sb->s_want_extra_isize % 4 == 0 &&
		    sb->s_want_extra_isize <= fs->inode_size -
					       EXT4_GOOD_OLD_INODE_SIZE)
			fs->want_extra_isize = sb->s_want_extra_isize;
	}
	memcpy(fs->hash_seed, sb->s_hash_seed, sizeof(fs->hash_seed));
	fs->def_hash_version = sb->s_def_hash_version;
	fs->is_unsigned_hash = sb->s_flags & EXT2_FLAGS_UNSIGNED_HASH;
	return 0;
}

/*
 * The home superblock before recovery; one torn by a crash in a write
 * (see top) is first restored from its shadow, in place (read-write) or
 * by using the shadow (read-only).
 */
static const struct ext4_super_block *home_super(struct sdx_fs *fs,
						 bool want_rdonly)
{
	struct ext4_super_block *sb = (void *)(fs->dev->base +
					       EXT4_SUPERBLOCK_OFFSET);
	const struct ext4_super_block *shadow = sdx_super_shadow(fs->dev->base);

	if (!shadow)
		return sb;
	if (want_rdonly) {
		fs->sb_shadow = shadow;
		return shadow;
	}
	sdx_dev_memcpy_persist(fs->dev, sb, shadow, sizeof(*sb));
	return sb;
}

static int load_super(struct sdx_fs *fs, bool want_rdonly)
{
	const struct ext4_super_block *sb;
	int err;

	if (fs->dev->size < 2 * SDX_BLOCK_SIZE)
		return sdx_err(-EUCLEAN, "%s: device of %llu bytes holds no file "
			       "system", fs->dev->path,
			       (unsigned long long)fs->dev->size);
	if (fs->journal) {
		sb = sdx_super(fs, &err);
		if (!sb)
			return err;
	} else {
		sb = (const void *)(fs->dev->base + EXT4_SUPERBLOCK_OFFSET);
		if (sb->s_magic == EXT4_SUPER_MAGIC)
			sb = home_super(fs, want_rdonly);
	}
	if (sb->s_magic != EXT4_SUPER_MAGIC)
		return sdx_err(-EUCLEAN, "%s: no ext4 file system (superblock "
			       "magic 0x%04x, expected 0xef53)", fs->dev->path,
			       sb->s_magic);
	err = check_block_size(sb);
	if (!err)
		err = check_features(fs, sb, want_rdonly);
	if (!err)
		err = check_checksum(fs, sb);
	if (!err)
		err = check_geometry(fs, sb);
	return err;
}

/* ---- journal ---- */

/* The journal inode's block map, as runs, for sdx_journal_open. */
static int journal_extents(struct sdx_fs *fs, uint32_t ino,
			   struct sdx_jextent **out, unsigned *nr)
{
	struct sdx_jextent *ext = NULL;
	struct sdx_inode *inode;
	uint64_t lblk = 0, nblocks;
	unsigned n = 0, cap = 0;
	int err;

	if (ino < 1 || ino > fs->inodes_count)
		return sdx_err(-EUCLEAN, "superblock: journal inode %u out of "
			       "range", ino);
	err = sdx_iget(fs, ino, &inode);
	if (err)
		return err;
	nblocks = (sdx_inode_size(inode) + SDX_BLOCK_SIZE - 1) /
		  SDX_BLOCK_SIZE;
	if (nblocks < 16 || nblocks > fs->blocks_count) {
		err = sdx_err(-EUCLEAN, "journal inode %u: %llu blocks", ino,
			      (unsigned long long)nblocks);
		goto out_put;
	}
	while (lblk < nblocks) {
		uint64_t pblk, len;
		unsigned flags;

		err = sdx_extent_map(inode, lblk, &pblk, &len, &flags);
		if (err)
			goto out_free;
		if (flags & (SDX_EXTENT_HOLE | SDX_EXTENT_UNWRITTEN)) {
			err = sdx_err(-EUCLEAN, "journal inode %u: logical block "
				      "%llu is not mapped", ino,
				      (unsigned long long)lblk);
			goto out_free;
		}
		if (len > nblocks - lblk)
			len = nblocks - lblk;
		if (n == cap) {
			struct sdx_jextent *p;

			cap = cap ? 2 * cap : 8;
			p = realloc(ext, cap * sizeof(*ext));
			if (!p) {
				err = -ENOMEM;
				goto out_free;
			}
			ext = p;
		}
		ext[n++] = (struct sdx_jextent){ lblk, pblk, len };
		lblk += len;
	}
	*out = ext;
	*nr = n;
	sdx_iput(inode);
	return 0;
out_free:
	free(ext);
out_put:
	sdx_iput(inode);
	return err;
}

static int open_journal(struct sdx_fs *fs, bool want_rdonly)
{
	struct sdx_journal_opts opts = {
		.readonly = want_rdonly,
		.no_journal = !(fs->feature_compat &
				EXT4_FEATURE_COMPAT_HAS_JOURNAL),
		.fs_blocks = fs->blocks_count,
		.fs_uuid = fs->uuid,
		.owner_lock = &fs->lock,
		.metadata_csum = fs->has_csum,
		.is_64bit = fs->feature_incompat & EXT4_FEATURE_INCOMPAT_64BIT,
		.stats = fs->statpage ? &fs->statpage->journal : NULL,
	};
	struct sdx_jextent *ext = NULL;
	unsigned nr = 0;
	int err;

	if (!opts.no_journal) {
		int rerr;
		const struct ext4_super_block *sb = sdx_super(fs, &rerr);

		if (!sb)
			return rerr;
		err = journal_extents(fs, sb->s_journal_inum, &ext, &nr);
		if (err)
			return err;
	}
	err = sdx_journal_open(fs->dev, ext, nr, &opts, &fs->journal);
	free(ext);
	return err;
}

/*
 * The superblock's mount state, written home directly as the kernel does
 * (ext4_commit_super): at a read-write mount, right after recovery left the
 * log empty, "in use, needs recovery" (Linux replays a journal only with
 * that flag) and the free counts summed from the descriptors (an image
 * Linux left behind after a crash has stale ones); at unmount, after the
 * journal is checkpointed and closed, "clean".  The log holds no copy of
 * block 0 at either moment.  With metadata_csum the new superblock goes
 * to its shadow first (see top).
 */
static void write_mount_state(struct sdx_fs *fs, bool is_mounting)
{
	struct ext4_super_block *home = (void *)(fs->dev->base +
						 EXT4_SUPERBLOCK_OFFSET);
	struct ext4_super_block new = *home, *sb = &new;
	const uint32_t now = (uint32_t)time(NULL);

	if (is_mounting) {
		sb->s_free_blocks_count_lo = (uint32_t)fs->mount_free_blocks;
		sb->s_free_blocks_count_hi = (uint32_t)(fs->mount_free_blocks >> 32);
		sb->s_free_inodes_count = (uint32_t)fs->mount_free_inodes;
		sb->s_mnt_count++;
		sb->s_mtime = now;
		sb->s_state &= (uint16_t)~EXT4_VALID_FS;
		if (fs->feature_compat & EXT4_FEATURE_COMPAT_HAS_JOURNAL)
			sb->s_feature_incompat |= EXT4_FEATURE_INCOMPAT_RECOVER;
	} else {
		sb->s_state |= EXT4_VALID_FS;
		sb->s_feature_incompat &=
			~(uint32_t)EXT4_FEATURE_INCOMPAT_RECOVER;
	}
	sb->s_wtime = now;
	if (fs->has_csum) {
		sb->s_checksum = super_csum(sb);
		sdx_dev_memcpy_persist(fs->dev, fs->dev->base +
				       SUPER_SHADOW_OFFSET, sb, sizeof(*sb));
	}
	sdx_dev_memcpy_persist(fs->dev, home, sb, sizeof(*sb));
}

static void free_fs(struct sdx_fs *fs)
{
	for (uint32_t b = 0; fs->icache && b < fs->icache_size; b++) {
		while (fs->icache[b]) {
			struct sdx_inode *inode = fs->icache[b];

			fs->icache[b] = inode->hash_next;
			pthread_rwlock_destroy(&inode->invalidate_lock);
			free(inode);
		}
	}
	free(fs->icache);
	free(fs->groups);
	free(fs->csum_good);
	sdx_statpage_unpublish(fs->statpage);
	if (fs->dev)
		sdx_dev_close(fs->dev);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

/*
 * The mount's statistics page (lib/statpage.h), for `syncdax stats`: the
 * journal, the fault path and this layer count into it.  Not for a
 * simulated device (its crash points end the process by design: each would
 * leave a stale page).  Failing to publish keeps the counters private; it
 * never fails the mount.
 */
static void publish_stats(struct sdx_fs *fs)
{
	unsigned mode = (fs->is_rdonly ? SDX_STATPAGE_RDONLY : 0) |
			(fs->feature_compat & EXT4_FEATURE_COMPAT_HAS_JOURNAL ?
			 0 : SDX_STATPAGE_NO_JOURNAL);

	if (!fs->dev->crash)	/* sets fs->statpage only on success */
		sdx_statpage_publish(fs->dev->fd, fs->dev->path, mode,
				     &fs->statpage);
}

int sdx_fs_open(const char *device, unsigned flags, struct sdx_fs **out)
{
	const bool want_rdonly = flags & SDX_MOUNT_RDONLY;
	unsigned dev_flags = 0;
	struct sdx_fs *fs;
	int err;

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	pthread_mutex_init(&fs->lock, NULL);
	fs->is_rdonly = want_rdonly;
	fs->icache_size = ICACHE_BUCKETS;
	fs->icache = calloc(fs->icache_size, sizeof(*fs->icache));
	if (!fs->icache) {
		err = -ENOMEM;
		goto out_free;
	}
	if (flags & SDX_MOUNT_EMULATE)
		dev_flags |= SDX_DEV_EMULATE;
	if (want_rdonly)
		dev_flags |= SDX_DEV_RDONLY;
	err = sdx_dev_open(device, dev_flags, &fs->dev);
	if (err)
		goto out_free;
	err = load_super(fs, want_rdonly);
	if (err)
		goto out_free;
	fs->groups = calloc(fs->groups_count, sizeof(*fs->groups));
	if (!fs->groups) {
		err = -ENOMEM;
		goto out_free;
	}
	err = load_groups(fs, false);
	if (err)
		goto out_free;
	publish_stats(fs);
	pthread_mutex_lock(&fs->lock);
	err = open_journal(fs, want_rdonly);
	/* recovery may have replayed the superblock and descriptors */
	if (!err)
		err = load_super(fs, want_rdonly);
	if (!err)
		err = load_groups(fs, true);
	if (!err && !want_rdonly)
		write_mount_state(fs, true);
	if (!err)
		gauge_free(fs, fs->mount_free_blocks, fs->mount_free_inodes);
	pthread_mutex_unlock(&fs->lock);
	if (err)
		goto out_journal;
	*out = fs;
	return 0;
out_journal:
	if (fs->journal)
		sdx_journal_close(fs->journal);
out_free:
	free_fs(fs);
	return err;
}

int sdx_fs_close(struct sdx_fs *fs)
{
	int err;

	if (!fs)
		return 0;
	err = sdx_journal_close(fs->journal);
	if (!err && !fs->is_rdonly)
		write_mount_state(fs, false);
	free_fs(fs);
	return err;
}

struct sdx_dev *sdx_fs_dev(struct sdx_fs *fs)
{
	return fs->dev;
}

struct sdx_statpage *sdx_fs_statpage(struct sdx_fs *fs)
{
	return fs->statpage;
}

void sdx_fs_set_invalidate(struct sdx_fs *fs, sdx_invalidate_fn fn)
{
	fs->invalidate = fn;
}
