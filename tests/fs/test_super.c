/*
 * test_super.c - mount checks: crc32c, the superblock, the feature policy,
 * the group descriptors; images made by mkfs.ext4 open, hostile ones are
 * refused with the field named and never crash; a superblock write torn
 * by a crash (8-byte tears, evicted lines) is restored from its shadow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syncdax.h"
#include "fs/fs.h"
#include "lib/crc32c.h"
#include "testutil.h"

static char *template_img;	/* our mkfs, 32 MiB, made once */
static char *scratch_img;

static int setup(void **state)
{
	(void)state;
	template_img = strdup(tu_path("super-template.img"));
	scratch_img = strdup(tu_path("super-scratch.img"));
	tu_mkfs(template_img, 32u << 20);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(template_img);
	unlink(scratch_img);
	free(template_img);
	free(scratch_img);
	return 0;
}

static void fresh_scratch(void)
{
	assert_int_equal(tu_sh("cp '%s' '%s'", template_img, scratch_img), 0);
}

static void read_at(const char *path, void *buf, size_t len, off_t off)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void write_at(const char *path, const void *buf, size_t len, off_t off)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void sb_read(const char *path, struct ext4_super_block *sb)
{
	read_at(path, sb, sizeof(*sb), EXT4_SUPERBLOCK_OFFSET);
}

/* Write @sb back, with a correct checksum if @fix_csum. */
static void sb_write(const char *path, struct ext4_super_block *sb,
		     bool fix_csum)
{
	if (fix_csum)
		sb->s_checksum = sdx_crc32c(~0u, sb, offsetof(
			struct ext4_super_block, s_checksum));
	write_at(path, sb, sizeof(*sb), EXT4_SUPERBLOCK_OFFSET);
}

/* Open @path; expect @want and, if @word, that word in the detail. */
static void expect_open(const char *path, unsigned flags, int want,
			const char *word)
{
	struct sdx_fs *fs = NULL;
	int err = sdx_fs_open(path, flags, &fs);

	if (err != want || (word && !strstr(sdx_strerror_detail(), word)))
		fail_msg("open %s: got %d (%s), expected %d mentioning '%s'",
			 path, err, err ? sdx_strerror_detail() : "",
			 want, word ? word : "");
	if (err == 0)
		assert_int_equal(sdx_fs_close(fs), 0);
}

static void test_crc32c_known_vectors(void **state)
{
	static const uint8_t zeros[32];
	const char *msg = "123456789";

	(void)state;
	/* standard CRC-32C check values (RFC 3720 B.4) */
	assert_int_equal(~sdx_crc32c(~0u, msg, 9), 0xE3069283u);
	assert_int_equal(~sdx_crc32c(~0u, zeros, 32), 0x8A9136AAu);
	/* chaining: a then b is the checksum of ab */
	assert_int_equal(sdx_crc32c(sdx_crc32c(~0u, msg, 4), msg + 4, 5),
			 sdx_crc32c(~0u, msg, 9));
	assert_int_equal(sdx_crc32c(7, msg, 0), 7);
}

static void test_crc32c_matches_mkfs_superblock(void **state)
{
	struct ext4_super_block sb;

	(void)state;
	sb_read(template_img, &sb);
	assert_int_equal(sb.s_magic, EXT4_SUPER_MAGIC);
	assert_int_equal(sb.s_checksum,
			 sdx_crc32c(~0u, &sb, offsetof(struct ext4_super_block,
						       s_checksum)));
}

static void test_our_mkfs_image_mounts_and_unmounts_clean(void **state)
{
	const struct ext4_super_block *view;
	struct ext4_super_block sb;
	struct sdx_fs *fs;
	int err;

	(void)state;
	fresh_scratch();
	assert_int_equal(sdx_fs_open(scratch_img, 0, &fs), 0);
	assert_int_equal(fs->blocks_count, 8192);
	assert_int_equal(fs->groups_count, 1);
	assert_true(fs->has_csum);
	assert_int_equal(fs->desc_size, 64);
	assert_int_equal(fs->inode_size, 256);
	/* mounted: in use, needs recovery until unmounted, on the media
	 * (Linux replays a journal only with that flag) and in the view */
	sb_read(scratch_img, &sb);
	assert_false(sb.s_state & EXT4_VALID_FS);
	assert_true(sb.s_feature_incompat & EXT4_FEATURE_INCOMPAT_RECOVER);
	view = sdx_super(fs, &err);
	assert_non_null(view);
	assert_int_equal(view->s_mnt_count, 1);
	assert_int_equal(sdx_fs_close(fs), 0);
	sb_read(scratch_img, &sb);
	assert_true(sb.s_state & EXT4_VALID_FS);
	assert_false(sb.s_feature_incompat & EXT4_FEATURE_INCOMPAT_RECOVER);
	assert_int_equal(sb.s_mnt_count, 1);
	assert_true(tu_fsck_clean(scratch_img));
}

/* Stale superblock free counts (Linux leaves them so after a crash) are
 * summed again from the descriptors at a read-write mount. */
static void test_stale_free_counts_are_recounted(void **state)
{
	struct ext4_super_block sb, orig;
	struct sdx_fs *fs;
	char *out;

	(void)state;
	fresh_scratch();
	sb_read(scratch_img, &orig);
	sb = orig;
	sb.s_free_blocks_count_lo = 100;
	sb.s_free_inodes_count = 7;
	sb_write(scratch_img, &sb, true);
	assert_int_equal(sdx_fs_open(scratch_img, 0, &fs), 0);
	assert_int_equal(sdx_fs_free_blocks(fs), orig.s_free_blocks_count_lo);
	assert_int_equal(sdx_fs_close(fs), 0);
	sb_read(scratch_img, &sb);
	assert_int_equal(sb.s_free_blocks_count_lo,
			 orig.s_free_blocks_count_lo);
	assert_int_equal(sb.s_free_inodes_count, orig.s_free_inodes_count);
	out = tu_capture("e2fsck -fn '%s' 2>&1", scratch_img);
	assert_null(strstr(out, "count wrong"));
	free(out);
}

static void test_plain_mkfs_ext4_image_mounts(void **state)
{
	(void)state;
	unlink(scratch_img);
	assert_int_equal(tu_sh("truncate -s 48M '%s' && mkfs.ext4 -q -F -b 4096 "
			       "'%s'", scratch_img, scratch_img), 0);
	expect_open(scratch_img, 0, 0, NULL);
	expect_open(scratch_img, SDX_MOUNT_RDONLY, 0, NULL);
	assert_true(tu_fsck_clean(scratch_img));
}

static void test_other_block_sizes_refused_with_the_size(void **state)
{
	static const char *sizes[] = { "1024", "2048", "8192" };

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		unlink(scratch_img);
		assert_int_equal(tu_sh("truncate -s 32M '%s' && mkfs.ext4 -q -F "
				       "-b %s '%s' 2>/dev/null", scratch_img,
				       sizes[i], scratch_img), 0);
		expect_open(scratch_img, SDX_MOUNT_RDONLY, -EOPNOTSUPP,
			    sizes[i]);
	}
}

/* A fresh scratch image with feature @name turned on by debugfs. */
static void scratch_with_feature(const char *name)
{
	fresh_scratch();
	assert_int_equal(tu_sh("debugfs -w -R 'feature %s' '%s' >/dev/null "
			       "2>&1", name, scratch_img), 0);
}

static void test_unsupported_incompat_features_refused_by_name(void **state)
{
	static const char *features[] = {
		"inline_data", "encrypt", "casefold", "meta_bg", "mmp",
		"ea_inode", "large_dir", "journal_dev", "compression",
		"dirdata",
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(features) / sizeof(*features); i++) {
		scratch_with_feature(features[i]);
		expect_open(scratch_img, 0, -EOPNOTSUPP, features[i]);
		expect_open(scratch_img, SDX_MOUNT_RDONLY, -EOPNOTSUPP,
			    features[i]);
	}
}

static void test_unmaintained_ro_compat_features_mount_read_only(void **state)
{
	static const char *features[] = {
		"bigalloc", "quota", "project", "verity", "read-only",
		"uninit_bg", "orphan_file",
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(features) / sizeof(*features); i++) {
		scratch_with_feature(features[i]);
		expect_open(scratch_img, 0, -EROFS, features[i]);
		expect_open(scratch_img, SDX_MOUNT_RDONLY, 0, NULL);
	}
}

static void test_other_layouts_mount_read_only(void **state)
{
	struct ext4_group_desc gd;

	(void)state;
	/* bigalloc: clusters of 16 blocks */
	unlink(scratch_img);
	assert_int_equal(tu_sh("truncate -s 64M '%s' && mkfs.ext4 -q -F -b 4096 "
			       "-O bigalloc -C 65536 '%s' 2>/dev/null",
			       scratch_img, scratch_img), 0);
	expect_open(scratch_img, 0, -EROFS, "bigalloc");
	expect_open(scratch_img, SDX_MOUNT_RDONLY, 0, NULL);

	/* uninit_bg: crc16 descriptor checksums, checked */
	unlink(scratch_img);
	assert_int_equal(tu_sh("truncate -s 64M '%s' && mkfs.ext4 -q -F -b 4096 "
			       "-O ^metadata_csum,uninit_bg '%s'", scratch_img,
			       scratch_img), 0);
	expect_open(scratch_img, 0, -EROFS, "uninit_bg");
	expect_open(scratch_img, SDX_MOUNT_RDONLY, 0, NULL);
	read_at(scratch_img, &gd, sizeof(gd), SDX_BLOCK_SIZE);
	gd.bg_flags ^= EXT4_BG_INODE_ZEROED;
	write_at(scratch_img, &gd, sizeof(gd), SDX_BLOCK_SIZE);
	expect_open(scratch_img, SDX_MOUNT_RDONLY, -EUCLEAN,
		    "descriptor checksum");

	/* ext3: no extents, block-mapped journal */
	unlink(scratch_img);
	assert_int_equal(tu_sh("truncate -s 64M '%s' && mkfs.ext3 -q -F -b 4096 "
			       "'%s'", scratch_img, scratch_img), 0);
	expect_open(scratch_img, 0, -EROFS, "extent");
	expect_open(scratch_img, SDX_MOUNT_RDONLY, 0, NULL);

	/* an external journal device is refused */
	scratch_with_feature("has_journal");
	assert_int_equal(tu_sh("debugfs -w -R 'ssv journal_dev 0x801' '%s' "
			       ">/dev/null 2>&1", scratch_img), 0);
	expect_open(scratch_img, SDX_MOUNT_RDONLY, -EOPNOTSUPP,
		    "external journal");
}

static void test_superblock_magic_and_checksum_checked(void **state)
{
	struct ext4_super_block sb;

	(void)state;
	fresh_scratch();
	sb_read(scratch_img, &sb);
	sb.s_magic = 0x1234;
	sb_write(scratch_img, &sb, true);
	expect_open(scratch_img, SDX_MOUNT_RDONLY, -EUCLEAN, "magic");

	fresh_scratch();
	sb_read(scratch_img, &sb);
	sb.s_volume_name[0] ^= 1;
	sb_write(scratch_img, &sb, false);
	expect_open(scratch_img, 0, -EUCLEAN, "checksum");
}

enum sb_field { F_BLOCKS, F_BPG, F_IPG, F_INODES, F_ISIZE, F_DESC, F_FLEX,
		F_FIRST_INO, F_REV, F_FIRST_DATA, F_LOG_BLOCK, F_CSUM_TYPE,
		F_JOURNAL_INUM, F_NFIELDS };

static void corrupt_field(struct ext4_super_block *sb, enum sb_field f)
{
	switch (f) {
	case F_BLOCKS: sb->s_blocks_count_lo = 1u << 30; break;
	case F_BPG: sb->s_blocks_per_group = 7; break;
	case F_IPG: sb->s_inodes_per_group = 0; break;
	case F_INODES: sb->s_inodes_count += 16; break;
	case F_ISIZE: sb->s_inode_size = 100; break;
	case F_DESC: sb->s_desc_size = 48; break;
	case F_FLEX: sb->s_log_groups_per_flex = 40; break;
	case F_FIRST_INO: sb->s_first_ino = 0; break;
	case F_REV: sb->s_rev_level = 5; break;
	case F_FIRST_DATA: sb->s_first_data_block = 1; break;
	case F_LOG_BLOCK: sb->s_log_block_size = 1000; break;
	case F_CSUM_TYPE: sb->s_checksum_type = 7; break;
	case F_JOURNAL_INUM: sb->s_journal_inum = 0x7fffffff; break;
	default: break;
	}
}

static void test_superblock_fields_bounds_checked(void **state)
{
	struct ext4_super_block sb;

	(void)state;
	for (int f = 0; f < F_NFIELDS; f++) {
		struct sdx_fs *fs = NULL;
		int err;

		fresh_scratch();
		sb_read(scratch_img, &sb);
		corrupt_field(&sb, (enum sb_field)f);
		sb_write(scratch_img, &sb, true);
		err = sdx_fs_open(scratch_img, SDX_MOUNT_RDONLY, &fs);
		if (err != -EUCLEAN && err != -EOPNOTSUPP)
			fail_msg("field %d: open gave %d, expected a refusal",
				 f, err);
		assert_true(strlen(sdx_strerror_detail()) > 0);
	}
}

/* Flip random bytes of the superblock (checksum fixed): never a crash. */
static void test_random_superblock_damage_never_crashes(void **state)
{
	struct ext4_super_block sb, orig;
	unsigned seed = 12345;

	(void)state;
	fresh_scratch();
	sb_read(scratch_img, &orig);
	for (int round = 0; round < 300; round++) {
		struct sdx_fs *fs = NULL;

		sb = orig;
		for (int k = 0; k < 1 + round % 4; k++)
			((uint8_t *)&sb)[rand_r(&seed) % 0x170] =
				(uint8_t)rand_r(&seed);
		sb_write(scratch_img, &sb, true);
		if (sdx_fs_open(scratch_img, SDX_MOUNT_RDONLY, &fs) == 0)
			sdx_fs_close(fs);
	}
	sb_write(scratch_img, &orig, false);
	expect_open(scratch_img, SDX_MOUNT_RDONLY, 0, NULL);
}

/* Descriptor of group 0 with a correct metadata_csum checksum. */
static void gd_write(const char *path, struct ext4_group_desc *gd)
{
	struct ext4_super_block sb;
	uint32_t group = 0, c;
	uint16_t zero = 0;

	sb_read(path, &sb);
	c = sdx_crc32c(sdx_crc32c(~0u, sb.s_uuid, 16), &group, 4);
	c = sdx_crc32c(c, gd, offsetof(struct ext4_group_desc, bg_checksum));
	c = sdx_crc32c(c, &zero, 2);
	c = sdx_crc32c(c, &gd->bg_block_bitmap_hi, 32);
	gd->bg_checksum = (uint16_t)c;
	write_at(path, gd, sizeof(*gd), SDX_BLOCK_SIZE);
}

static void test_group_descriptor_checked(void **state)
{
	struct ext4_group_desc gd, orig;

	(void)state;
	fresh_scratch();
	read_at(scratch_img, &orig, sizeof(orig), SDX_BLOCK_SIZE);
	/* our own checksum agrees with mkfs' */
	gd = orig;
	gd_write(scratch_img, &gd);
	assert_int_equal(gd.bg_checksum, orig.bg_checksum);
	expect_open(scratch_img, SDX_MOUNT_RDONLY, 0, NULL);

	gd = orig;
	gd.bg_flags ^= EXT4_BG_INODE_ZEROED;
	write_at(scratch_img, &gd, sizeof(gd), SDX_BLOCK_SIZE);
	expect_open(scratch_img, SDX_MOUNT_RDONLY, -EUCLEAN,
		    "descriptor checksum");

	for (int f = 0; f < 4; f++) {
		static const char *words[] = { "inode table", "block bitmap",
					       "inode bitmap", "counts" };

		gd = orig;
		switch (f) {
		case 0: gd.bg_inode_table_hi = 5; break;
		case 1: gd.bg_block_bitmap_lo = 0; break;
		case 2: gd.bg_inode_bitmap_lo = 9000; break;
		default: gd.bg_free_blocks_count_lo = 9000; break;
		}
		gd_write(scratch_img, &gd);
		expect_open(scratch_img, SDX_MOUNT_RDONLY, -EUCLEAN, words[f]);
	}
}

#define SB_SHADOW_OFFSET 2048	/* the shadow superblock in block 0 */
#define SB_LINES (sizeof(struct ext4_super_block) / 64)

/*
 * @base holds @new in its shadow; write @torn home on a copy and check:
 * a read-only mount sees @new and writes nothing, a read-write mount
 * restores it (its own write then counts one more mount), e2fsck -fn is
 * clean after syncdax's unmount.
 */
static void check_torn(const char *base, const struct ext4_super_block *torn,
		       const struct ext4_super_block *new)
{
	struct ext4_super_block sb;
	struct sdx_fs *fs;
	int err;

	assert_int_equal(tu_sh("cp '%s' '%s'", base, scratch_img), 0);
	write_at(scratch_img, torn, sizeof(*torn), EXT4_SUPERBLOCK_OFFSET);
	assert_int_equal(sdx_fs_open(scratch_img, SDX_MOUNT_RDONLY, &fs), 0);
	assert_memory_equal(sdx_super(fs, &err), new, sizeof(*new));
	assert_int_equal(sdx_fs_close(fs), 0);
	sb_read(scratch_img, &sb);
	assert_memory_equal(&sb, torn, sizeof(sb));

	assert_int_equal(sdx_fs_open(scratch_img, 0, &fs), 0);
	assert_int_equal(sdx_fs_close(fs), 0);
	sb_read(scratch_img, &sb);
	assert_int_equal(sb.s_mnt_count, new->s_mnt_count + 1);
	assert_true(tu_fsck_clean(scratch_img));
}

/*
 * Every way a crash can tear writing @new over @old home (with @new in
 * the shadow of @base, as the write leaves it): any subset of the changed
 * cache lines evicted to the media, or a stop at any 8-byte word (the
 * words before it new, the rest old).  Return: the torn images checked.
 */
static unsigned check_every_tear(const char *base,
				 const struct ext4_super_block *old,
				 const struct ext4_super_block *new)
{
	const uint8_t *o = (const void *)old, *n = (const void *)new;
	struct ext4_super_block torn;
	uint8_t *t = (void *)&torn;
	unsigned changed = 0, nr = 0;

	for (unsigned l = 0; l < SB_LINES; l++)
		if (memcmp(o + 64 * l, n + 64 * l, 64))
			changed |= 1u << l;
	for (unsigned subset = changed; subset; subset = (subset - 1) &
	     changed) {
		for (unsigned l = 0; l < SB_LINES; l++)
			memcpy(t + 64 * l, (subset >> l & 1 ? n : o) + 64 * l,
			       64);
		if (torn.s_checksum != new->s_checksum ||
		    memcmp(&torn, new, sizeof(torn))) {
			check_torn(base, &torn, new);
			nr++;
		}
	}
	for (size_t w = 1; w < sizeof(torn) / 8; w++) {
		if (!memcmp(o + 8 * (w - 1), n + 8 * (w - 1), 8))
			continue;	/* the same image as a stop at w-1 */
		memcpy(t, n, 8 * w);
		memcpy(t + 8 * w, o + 8 * w, sizeof(torn) - 8 * w);
		check_torn(base, &torn, new);
		nr++;
	}
	return nr;
}

/* Both in-place writes: mount (clean -> in use) and unmount (back). */
static void test_torn_superblock_write_restored_from_shadow(void **state)
{
	char *base = strdup(tu_path("super-base.img"));
	struct ext4_super_block clean, mounted, unmounted, shadow;
	struct sdx_fs *fs;
	unsigned nr;

	(void)state;
	fresh_scratch();
	sb_read(scratch_img, &clean);
	assert_int_equal(sdx_fs_open(scratch_img, 0, &fs), 0);
	assert_int_equal(tu_sh("cp '%s' '%s'", scratch_img, base), 0);
	assert_int_equal(sdx_fs_close(fs), 0);
	sb_read(base, &mounted);
	read_at(base, &shadow, sizeof(shadow), SB_SHADOW_OFFSET);
	assert_memory_equal(&shadow, &mounted, sizeof(shadow));
	nr = check_every_tear(base, &clean, &mounted);

	/* the unmount edge: scratch_img was overwritten; make it again */
	assert_int_equal(tu_sh("cp '%s' '%s'", base, scratch_img), 0);
	assert_int_equal(sdx_fs_open(scratch_img, 0, &fs), 0);
	assert_int_equal(sdx_fs_close(fs), 0);
	assert_int_equal(tu_sh("cp '%s' '%s'", scratch_img, base), 0);
	sb_read(base, &unmounted);
	read_at(base, &shadow, sizeof(shadow), SB_SHADOW_OFFSET);
	assert_memory_equal(&shadow, &unmounted, sizeof(shadow));
	mounted.s_mnt_count = unmounted.s_mnt_count;	/* as it was */
	mounted.s_checksum = sdx_crc32c(~0u, &mounted, offsetof(
		struct ext4_super_block, s_checksum));
	nr += check_every_tear(base, &mounted, &unmounted);
	assert_true(nr >= 8);
	unlink(base);
	free(base);
}

/* A shadow that does not check, or names another file system, is never
 * used: the torn superblock is refused as before. */
static void test_foreign_or_corrupt_shadow_not_used(void **state)
{
	char *other = strdup(tu_path("super-other.img"));
	struct ext4_super_block sb, shadow;
	struct sdx_fs *fs;

	(void)state;
	tu_mkfs(other, 32u << 20);
	assert_int_equal(sdx_fs_open(other, 0, &fs), 0);
	assert_int_equal(sdx_fs_close(fs), 0);
	read_at(other, &shadow, sizeof(shadow), SB_SHADOW_OFFSET);
	assert_int_equal(shadow.s_magic, EXT4_SUPER_MAGIC);

	fresh_scratch();
	sb_read(scratch_img, &sb);
	assert_memory_not_equal(sb.s_uuid, shadow.s_uuid, sizeof(sb.s_uuid));
	write_at(scratch_img, &shadow, sizeof(shadow), SB_SHADOW_OFFSET);
	sb.s_mtime ^= 1;
	sb_write(scratch_img, &sb, false);
	expect_open(scratch_img, SDX_MOUNT_RDONLY, -EUCLEAN, "checksum");
	expect_open(scratch_img, 0, -EUCLEAN, "checksum");

	/* its own shadow, with a bad checksum */
	sb.s_mtime ^= 1;
	sb.s_checksum ^= 1;
	write_at(scratch_img, &sb, sizeof(sb), SB_SHADOW_OFFSET);
	sb.s_mtime ^= 2;
	sb_write(scratch_img, &sb, false);
	expect_open(scratch_img, 0, -EUCLEAN, "checksum");
	unlink(other);
	free(other);
}

/* A descriptor block torn while written home, with its transaction still
 * in the log: the replay makes it whole, so mount does not refuse it. */
static void test_torn_descriptor_in_the_log_is_replayed(void **state)
{
	char *crashed = strdup(tu_path("super-crashed.img"));
	struct ext4_group_desc gd;
	struct sdx_fs *fs;
	uint16_t bad;
	int fd;

	(void)state;
	fresh_scratch();
	fs = sdx_mount(scratch_img, 0);
	assert_non_null(fs);
	fd = sdx_open(fs, "/f", O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(sdx_fsync(fs, fd), 0);
	/* the image as a crash now leaves it: the transaction in the log */
	assert_int_equal(tu_sh("cp '%s' '%s'", scratch_img, crashed), 0);
	assert_int_equal(sdx_close(fs, fd), 0);
	assert_int_equal(sdx_unmount(fs), 0);

	read_at(crashed, &gd, sizeof(gd), SDX_BLOCK_SIZE);
	gd.bg_checksum ^= 0x5a5a;
	bad = gd.bg_checksum;
	write_at(crashed, &gd, sizeof(gd), SDX_BLOCK_SIZE);
	expect_open(crashed, 0, 0, NULL);
	read_at(crashed, &gd, sizeof(gd), SDX_BLOCK_SIZE);
	assert_int_not_equal(gd.bg_checksum, bad);
	assert_true(tu_fsck_clean(crashed));
	unlink(crashed);
	free(crashed);
}

static void test_device_too_small_or_empty_refused(void **state)
{
	(void)state;
	unlink(scratch_img);
	assert_int_equal(tu_sh("truncate -s 4096 '%s'", scratch_img), 0);
	expect_open(scratch_img, SDX_MOUNT_RDONLY, -EUCLEAN, "no file system");
	assert_int_equal(tu_sh("truncate -s 1M '%s'", scratch_img), 0);
	expect_open(scratch_img, SDX_MOUNT_RDONLY, -EUCLEAN, "magic");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_known_vectors),
		cmocka_unit_test(test_crc32c_matches_mkfs_superblock),
		cmocka_unit_test(test_our_mkfs_image_mounts_and_unmounts_clean),
		cmocka_unit_test(test_stale_free_counts_are_recounted),
		cmocka_unit_test(test_plain_mkfs_ext4_image_mounts),
		cmocka_unit_test(test_other_block_sizes_refused_with_the_size),
		cmocka_unit_test(
			test_unsupported_incompat_features_refused_by_name),
		cmocka_unit_test(
			test_unmaintained_ro_compat_features_mount_read_only),
		cmocka_unit_test(test_other_layouts_mount_read_only),
		cmocka_unit_test(test_superblock_magic_and_checksum_checked),
		cmocka_unit_test(test_superblock_fields_bounds_checked),
		cmocka_unit_test(test_random_superblock_damage_never_crashes),
		cmocka_unit_test(test_group_descriptor_checked),
		cmocka_unit_test(test_device_too_small_or_empty_refused),
		cmocka_unit_test(
			test_torn_superblock_write_restored_from_shadow),
		cmocka_unit_test(test_foreign_or_corrupt_shadow_not_used),
		cmocka_unit_test(test_torn_descriptor_in_the_log_is_replayed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
