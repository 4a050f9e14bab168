/*
 * ialloc.c - inode numbers: the inode bitmaps of the groups, INODE_UNINIT
 * groups, bg_itable_unused, the used-directories count, and the free inode
 * counts in the descriptors and the superblock.
 *
 * Group choice: a directory goes to a group with at least the average of
 * free inodes and free blocks, searched from a rotor so directories spread
 * over the device; anything else goes to its parent's group, or the next
 * group with a free inode.
 *
 * Group states:
 *   INODE_UNINIT (bitmap block not written, no inode in use)
 *     --first allocation--> initialised (bitmap checksum in the descriptor)
 *
 * Invariants:
 *   (1) An inode number is in use iff its bit is 1; the descriptor's free
 *       count and the superblock's agree with the bitmaps after a handle.
 *   (2) Every inode in use lies below inodes_per_group - bg_itable_unused
 *       in its group (e2fsck reads no further).
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs.h"
#include "lib/err.h"

/* Flags a new inode inherits from its directory (as ext4 does). */
#define INHERITED_FL (EXT4_SYNC_FL | EXT4_NODUMP_FL | EXT4_NOATIME_FL | \
		      EXT4_PROJINHERIT_FL)

bool sdx_inode_bitmap_test(struct sdx_fs *fs, uint32_t ino)
{
	uint32_t group = sdx_inode_group(fs, ino);
	const struct ext4_group_desc *gd;
	const uint8_t *bitmap;
	int err;

	gd = sdx_group_desc(fs, group, &err);
	if (!gd || (gd->bg_flags & EXT4_BG_INODE_UNINIT))
		return false;
	bitmap = sdx_bitmap_read(fs, group, SDX_INODE_BITMAP, gd, &err);
	return bitmap && sdx_bit_test(bitmap, (ino - 1) % fs->inodes_per_group);
}

/* Does @group have a free inode (and, for @is_spread, room to spread)? */
static bool group_fits(struct sdx_fs *fs, uint32_t group, bool is_spread)
{
	const struct ext4_group_desc *gd;
	int err;

	gd = sdx_group_desc(fs, group, &err);
	if (!gd || sdx_gd_free_inodes(fs, gd) == 0)
		return false;
	if (!is_spread)
		return true;
	return sdx_gd_free_inodes(fs, gd) >= fs->inodes_per_group / 2 &&
	       sdx_gd_free_blocks(fs, gd) >= sdx_group_blocks(fs, group) / 2;
}

static int choose_group(struct sdx_fs *fs, struct sdx_inode *dir, bool is_dir,
			uint32_t *group)
{
	uint32_t start = sdx_inode_group(fs, dir ? dir->ino : EXT4_ROOT_INO);

	if (is_dir) {
		for (uint32_t i = 0; i < fs->groups_count; i++) {
			uint32_t g = (fs->alloc_rotor + i) % fs->groups_count;

			if (group_fits(fs, g, true)) {
				fs->alloc_rotor = g + 1;
				*group = g;
				return 0;
			}
		}
	}
	for (uint32_t i = 0; i < fs->groups_count; i++) {
		uint32_t g = (start + i) % fs->groups_count;

		if (group_fits(fs, g, false)) {
			*group = g;
			return 0;
		}
	}
	return sdx_err(-ENOSPC, "no free inode left");
}

/* Take the first free inode of @group; *@ino. */
static int take_inode(struct sdx_handle *h, struct sdx_fs *fs, uint32_t group,
		      bool is_dir, uint32_t *ino)
{
	struct ext4_group_desc *gd;
	uint8_t *bitmap;
	uint32_t bit, used_end;
	int err;

	err = sdx_bitmap_get_write(h, fs, group, SDX_INODE_BITMAP, &bitmap, &gd);
	if (err)
		return err;
	for (bit = 0; bit < fs->inodes_per_group; bit++) {
		uint32_t ino = group * fs->inodes_per_group + bit + 1;

		/* a free number still cached is a raw (fsck-style) read */
		if (!sdx_bit_test(bitmap, bit) && ino >= fs->first_ino &&
		    !sdx_inode_cached(fs, ino))
			break;
	}
	if (bit == fs->inodes_per_group)
		return sdx_err(-EUCLEAN, "group %u: %u free inodes in the "
			       "descriptor, none in the bitmap", group,
			       sdx_gd_free_inodes(fs, gd));
	sdx_bit_set(bitmap, bit);
	sdx_gd_set_free_inodes(fs, gd, sdx_gd_free_inodes(fs, gd) - 1);
	if (is_dir)
		sdx_gd_set_used_dirs(fs, gd, sdx_gd_used_dirs(fs, gd) + 1);
	used_end = fs->inodes_per_group - sdx_gd_itable_unused(fs, gd);
	if (bit >= used_end)
		sdx_gd_set_itable_unused(fs, gd,
					 fs->inodes_per_group - bit - 1);
	sdx_bitmap_dirty(h, fs, group, SDX_INODE_BITMAP, gd, bitmap);
	*ino = group * fs->inodes_per_group + bit + 1;
	return sdx_super_add_free(h, fs, 0, -1);
}

static uint32_t new_generation(void)
{
	uint32_t gen;

	if (getrandom(&gen, sizeof(gen), GRND_NONBLOCK) != sizeof(gen))
		gen = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	return gen;
}

static void init_raw(struct sdx_fs *fs, struct sdx_inode *dir, mode_t mode,
		     struct ext4_inode *raw)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();

	memset(raw, 0, sizeof(*raw));
	raw->i_mode = (uint16_t)mode;
	raw->i_uid = (uint16_t)uid;
	raw->l_i_uid_high = (uint16_t)(uid >> 16);
	raw->i_gid = (uint16_t)gid;
	raw->l_i_gid_high = (uint16_t)(gid >> 16);
	raw->i_generation = new_generation();
	if (fs->inode_size > EXT4_GOOD_OLD_INODE_SIZE)
		raw->i_extra_isize = fs->want_extra_isize;
	if (dir) {
		raw->i_flags = dir->raw.i_flags & INHERITED_FL;
		if (S_ISDIR(mode))
			raw->i_flags |= dir->raw.i_flags & EXT4_DIRSYNC_FL;
	}
	if ((S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode)) &&
	    (fs->feature_incompat & EXT4_FEATURE_INCOMPAT_EXTENTS)) {
		struct ext4_extent_header *eh = (void *)raw->i_block;

		raw->i_flags |= EXT4_EXTENTS_FL;
		eh->eh_magic = EXT4_EXT_MAGIC;
		eh->eh_max = (sizeof(raw->i_block) - sizeof(*eh)) /
			     sizeof(struct ext4_extent);
	}
}

int sdx_inode_alloc(struct sdx_handle *h, struct sdx_inode *dir, mode_t mode,
		    struct sdx_inode **out)
{
	struct sdx_fs *fs = dir ? dir->fs : NULL;
	struct sdx_inode *inode;
	uint32_t group = 0, ino = 0;
	int err;

	if (!fs)
		return sdx_err(-EINVAL, "inode allocation without a directory");
	err = choose_group(fs, dir, S_ISDIR(mode), &group);
	if (err)
		return err;
	err = take_inode(h, fs, group, S_ISDIR(mode), &ino);
	if (err)
		return err;
	err = sdx_inode_new(fs, ino, &inode);
	if (err)
		return err;
	init_raw(fs, dir, mode, &inode->raw);
	sdx_inode_touch(inode, SDX_TIME_ATIME | SDX_TIME_MTIME |
			SDX_TIME_CTIME | SDX_TIME_CRTIME);
	err = sdx_inode_mark_dirty(h, inode);
	if (err) {
		sdx_iput(inode);
		return err;
	}
	*out = inode;
	return 0;
}

/* Clear @ino's bit and count it free. */
static int put_inode(struct sdx_handle *h, struct sdx_fs *fs, uint32_t ino,
		     bool is_dir)
{
	uint32_t group = sdx_inode_group(fs, ino);
	uint32_t bit = (ino - 1) % fs->inodes_per_group;
	struct ext4_group_desc *gd;
	uint8_t *bitmap;
	int err;

	err = sdx_bitmap_get_write(h, fs, group, SDX_INODE_BITMAP, &bitmap, &gd);
	if (err)
		return err;
	if (!sdx_bit_test(bitmap, bit))
		return sdx_err(-EUCLEAN, "freeing inode %u, which is already "
			       "free", ino);
	bitmap[bit >> 3] &= (uint8_t)~(1u << (bit & 7));
	sdx_gd_set_free_inodes(fs, gd, sdx_gd_free_inodes(fs, gd) + 1);
	if (is_dir && sdx_gd_used_dirs(fs, gd) > 0)
		sdx_gd_set_used_dirs(fs, gd, sdx_gd_used_dirs(fs, gd) - 1);
	sdx_bitmap_dirty(h, fs, group, SDX_INODE_BITMAP, gd, bitmap);
	return sdx_super_add_free(h, fs, 0, 1);
}

int sdx_inode_free(struct sdx_handle *h, struct sdx_inode *inode)
{
	struct ext4_inode *raw = &inode->raw;
	int err = 0;

	if (raw->i_flags & EXT4_EXTENTS_FL)
		err = sdx_inode_truncate_blocks(h, inode, 0);
	else if (sdx_inode_blocks512(inode) != 0 && !S_ISLNK(raw->i_mode))
		err = sdx_err(-EOPNOTSUPP, "inode %u: block-mapped (ext2/3) "
			      "inodes cannot be freed", inode->ino);
	if (!err && (raw->i_file_acl_lo || raw->l_i_file_acl_high))
		err = sdx_xattr_block_release(h, inode);
	if (err)
		return err;
	raw->i_links_count = 0;
	raw->i_dtime = (uint32_t)time(NULL);
	sdx_inode_set_size(inode, 0);
	err = sdx_inode_mark_dirty(h, inode);
	if (err)
		return err;
	return put_inode(h, inode->fs, inode->ino, S_ISDIR(raw->i_mode));
}
