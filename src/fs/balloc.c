/*
 * balloc.c - block allocation: the block bitmaps of the groups, their
 * checksums, BLOCK_UNINIT groups, and the free counts in the descriptors
 * and the superblock.  Also the bitmap helpers ialloc.c shares, and the
 * read-only walk of the free runs across groups that defrag plans with.
 *
 * Goal-directed: a run starts at the caller's goal when it is free (the
 * block after the file's last extent, so sequential writes stay
 * contiguous); otherwise the search goes on from the goal through the
 * goal's group, the rest of the goal's flex group, then every other group
 * in order, wrapping around.  sdx_block_alloc_aligned searches the same
 * way for a whole run that starts on a multiple of its length (2 MiB for
 * a huge mapping of the run), and finds none rather than a lesser one.
 *
 * Group bitmap states:
 *   BLOCK_UNINIT (bitmap block not written; only group metadata in use)
 *     --first allocation or free in the group--> initialised (bits valid,
 *     checksum in the descriptor)
 *
 * Invariants:
 *   (1) A bit is 1 in the newest bitmap iff the block is in use; the
 *       group's descriptor count and the superblock count agree with the
 *       bitmaps after every handle.
 *   (2) A block is handed out only if it is free in the newest and in the
 *       committed bitmap (journal.h invariant 2): a block freed by a
 *       transaction that has not committed is not reused before it has.
 *   (3) Bitmaps, descriptor and superblock change in the same handle.
 *   (4) A bitmap's checksum is verified once per mount (the first read);
 *       from then on only sdx_bitmap_dirty changes it, and sets the sum.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "lib/crc32c.h"
#include "lib/err.h"

bool sdx_bit_test(const uint8_t *bitmap, uint32_t bit)
{
	return bitmap[bit >> 3] & (1u << (bit & 7));
}

void sdx_bit_set(uint8_t *bitmap, uint32_t bit)
{
	bitmap[bit >> 3] |= (uint8_t)(1u << (bit & 7));
}

/* The descriptor fields of a bitmap kind. */
static uint16_t *csum_lo(struct ext4_group_desc *gd, enum sdx_bitmap_kind kind)
{
	return kind == SDX_BLOCK_BITMAP ? &gd->bg_block_bitmap_csum_lo :
					  &gd->bg_inode_bitmap_csum_lo;
}

static uint16_t *csum_hi(struct ext4_group_desc *gd, enum sdx_bitmap_kind kind)
{
	return kind == SDX_BLOCK_BITMAP ? &gd->bg_block_bitmap_csum_hi :
					  &gd->bg_inode_bitmap_csum_hi;
}

static uint16_t uninit_flag(enum sdx_bitmap_kind kind)
{
	return kind == SDX_BLOCK_BITMAP ? EXT4_BG_BLOCK_UNINIT :
					  EXT4_BG_INODE_UNINIT;
}

static uint64_t bitmap_block(const struct sdx_fs *fs, uint32_t group,
			     enum sdx_bitmap_kind kind)
{
	return kind == SDX_BLOCK_BITMAP ? fs->groups[group].block_bitmap :
					  fs->groups[group].inode_bitmap;
}

/* crc32c of the bitmap as the descriptor holds it (16 bits if 32-byte). */
static uint32_t bitmap_csum(const struct sdx_fs *fs, const uint8_t *bitmap,
			    enum sdx_bitmap_kind kind)
{
	uint32_t nbits = kind == SDX_BLOCK_BITMAP ? fs->blocks_per_group :
						    fs->inodes_per_group;
	uint32_t c = sdx_crc32c(fs->csum_seed, bitmap, nbits / 8);

	return fs->desc_size >= EXT4_MIN_DESC_SIZE_64BIT ? c : c & 0xFFFF;
}

static uint32_t bitmap_csum_of(const struct sdx_fs *fs,
			       const struct ext4_group_desc *gd,
			       enum sdx_bitmap_kind kind)
{
	struct ext4_group_desc *d = (struct ext4_group_desc *)gd;
	uint32_t c = *csum_lo(d, kind);

	if (fs->desc_size >= EXT4_MIN_DESC_SIZE_64BIT)
		c |= (uint32_t)*csum_hi(d, kind) << 16;
	return c;
}

const uint8_t *sdx_bitmap_read(struct sdx_fs *fs, uint32_t group,
			       enum sdx_bitmap_kind kind,
			       const struct ext4_group_desc *gd, int *err)
{
	const uint8_t *bitmap = sdx_bread(fs, bitmap_block(fs, group, kind),
					  err);
	uint8_t *checked = &fs->groups[group].bitmaps_checked;

	if (!bitmap || !fs->has_csum || (*checked & (1u << kind)))
		return bitmap;
	if (bitmap_csum_of(fs, gd, kind) != bitmap_csum(fs, bitmap, kind)) {
		*err = sdx_err(-EUCLEAN, "group %u: %s bitmap checksum 0x%08x, "
			       "expected 0x%08x", group,
			       kind == SDX_BLOCK_BITMAP ? "block" : "inode",
			       bitmap_csum_of(fs, gd, kind),
			       bitmap_csum(fs, bitmap, kind));
		return NULL;
	}
	*checked |= (uint8_t)(1u << kind);
	return bitmap;
}

/* Does @group hold a backup of the superblock and descriptors? */
static bool group_has_super(const struct sdx_fs *fs,
			    const struct ext4_super_block *sb, uint32_t group)
{
	if (group == 0)
		return true;
	if (fs->feature_compat & EXT4_FEATURE_COMPAT_SPARSE_SUPER2)
		return group == sb->s_backup_bgs[0] ||
		       group == sb->s_backup_bgs[1];
	if (group == 1 ||
	    !(fs->feature_ro_compat & EXT4_FEATURE_RO_COMPAT_SPARSE_SUPER))
		return true;
	if (!(group & 1))
		return false;
	for (uint32_t base = 3; base <= 7; base += 2) {
		uint64_t p = base;

		while (p < group)
			p *= base;
		if (p == group)
			return true;
	}
	return false;
}

/* Mark [@block, @block+@count) in @bitmap of @group where it overlaps. */
static void mark_range(const struct sdx_fs *fs, uint32_t group,
		       uint8_t *bitmap, uint64_t block, uint64_t count)
{
	uint64_t first = sdx_group_first_block(fs, group);
	uint64_t end = first + sdx_group_blocks(fs, group);

	for (uint64_t b = block; b < block + count; b++)
		if (b >= first && b < end)
			sdx_bit_set(bitmap, (uint32_t)(b - first));
}

/* The bitmap of a BLOCK_UNINIT group: its share of the metadata. */
static int block_bitmap_init(struct sdx_fs *fs, uint32_t group,
			     uint8_t *bitmap)
{
	const struct ext4_super_block *sb;
	int err;

	sb = sdx_super(fs, &err);
	if (!sb)
		return err;
	memset(bitmap, 0, SDX_BLOCK_SIZE);
	if (group_has_super(fs, sb, group))
		mark_range(fs, group, bitmap, sdx_group_first_block(fs, group),
			   1 + fs->gdt_blocks + sb->s_reserved_gdt_blocks);
	for (uint32_t g = 0; g < fs->groups_count; g++) {
		const struct sdx_group *o = &fs->groups[g];

		mark_range(fs, group, bitmap, o->block_bitmap, 1);
		mark_range(fs, group, bitmap, o->inode_bitmap, 1);
		mark_range(fs, group, bitmap, o->inode_table,
			   fs->itable_blocks);
	}
	for (uint32_t bit = sdx_group_blocks(fs, group);
	     bit < 8 * SDX_BLOCK_SIZE; bit++)
		sdx_bit_set(bitmap, bit);
	return 0;
}

int sdx_bitmap_get_write(struct sdx_handle *h, struct sdx_fs *fs,
			 uint32_t group, enum sdx_bitmap_kind kind,
			 uint8_t **bitmap, struct ext4_group_desc **gd)
{
	uint64_t block = bitmap_block(fs, group, kind);
	void *b;
	int err;

	err = sdx_group_desc_get_write(h, fs, group, gd);
	if (err)
		return err;
	if (!((*gd)->bg_flags & uninit_flag(kind))) {
		if (!sdx_bitmap_read(fs, group, kind, *gd, &err))
			return err;
		err = sdx_journal_get_write_access(h, block, &b);
		if (err)
			return err;
		*bitmap = b;
		return 0;
	}
	err = sdx_journal_get_create_access(h, block, &b);
	if (err)
		return err;
	if (kind == SDX_BLOCK_BITMAP) {
		err = block_bitmap_init(fs, group, b);
		if (err)
			return err;
	} else {
		for (uint32_t bit = fs->inodes_per_group;
		     bit < 8 * SDX_BLOCK_SIZE; bit++)
			sdx_bit_set(b, bit);
	}
	(*gd)->bg_flags &= (uint16_t)~uninit_flag(kind);
	*bitmap = b;
	return 0;
}

void sdx_bitmap_dirty(struct sdx_handle *h, struct sdx_fs *fs, uint32_t group,
		      enum sdx_bitmap_kind kind, struct ext4_group_desc *gd,
		      const uint8_t *bitmap)
{
	if (fs->has_csum) {
		uint32_t c = bitmap_csum(fs, bitmap, kind);

		*csum_lo(gd, kind) = (uint16_t)c;
		if (fs->desc_size >= EXT4_MIN_DESC_SIZE_64BIT)
			*csum_hi(gd, kind) = (uint16_t)(c >> 16);
	}
	sdx_journal_dirty_metadata(h, bitmap_block(fs, group, kind));
	sdx_group_desc_dirty(h, fs, group);
}

/* Is @bit free in both the newest and the committed bitmap? */
static bool is_free(const uint8_t *bitmap, const uint8_t *committed,
		    uint32_t bit)
{
	return !sdx_bit_test(bitmap, bit) &&
	       (!committed || !sdx_bit_test(committed, bit));
}

/* Are bits [@b, @b+@count) all free? */
static bool is_free_run(const uint8_t *bitmap, const uint8_t *committed,
			uint32_t b, uint64_t count)
{
	for (uint64_t i = 0; i < count; i++)
		if (!is_free(bitmap, committed, b + (uint32_t)i))
			return false;
	return true;
}

/* The committed version of @group's block bitmap where it differs from
 * the newest, @bitmap (journal.h invariant 2), else NULL. */
static const uint8_t *committed_view(struct sdx_fs *fs, uint32_t group,
				     const uint8_t *bitmap)
{
	const uint8_t *committed;

	if (!fs->journal)
		return NULL;
	committed = sdx_journal_bread_committed(fs->journal,
						fs->groups[group].block_bitmap);
	return committed == bitmap ? NULL : committed;
}

/* The first run of @count free blocks at or after @start whose first block
 * is a multiple of @count on the device. */
static int find_aligned_run(const struct sdx_fs *fs, uint32_t group,
			    const uint8_t *bitmap, const uint8_t *committed,
			    uint32_t start, uint64_t count, uint32_t *bit)
{
	uint64_t first = sdx_group_first_block(fs, group);
	uint64_t b = (first + start + count - 1) / count * count - first;
	uint32_t nbits = sdx_group_blocks(fs, group);

	for (; b + count <= nbits; b += count)
		if (is_free_run(bitmap, committed, (uint32_t)b, count)) {
			*bit = (uint32_t)b;
			return 1;
		}
	return 0;
}

/*
 * Which blocks of @group sdx_block_alloc may take: *@bitmap (NULL: none)
 * and *@committed as is_free reads them.  A BLOCK_UNINIT group's bitmap is
 * computed into *@scratch (allocated on first need), not written; without
 * @scratch such a group is answered 2 (the caller initialises it).
 */
static int free_view(struct sdx_fs *fs, uint32_t group, uint8_t **scratch,
		     const uint8_t **bitmap, const uint8_t **committed)
{
	const struct ext4_group_desc *gd;
	int err = 0;

	*bitmap = NULL;
	*committed = NULL;
	gd = sdx_group_desc(fs, group, &err);
	if (!gd)
		return err;
	if (sdx_gd_free_blocks(fs, gd) == 0)
		return 0;
	if (gd->bg_flags & EXT4_BG_BLOCK_UNINIT) {
		if (!scratch)
			return 2;
		if (!*scratch && !(*scratch = malloc(SDX_BLOCK_SIZE)))
			return -ENOMEM;
		*bitmap = *scratch;
		return block_bitmap_init(fs, group, *scratch);
	}
	*bitmap = sdx_bitmap_read(fs, group, SDX_BLOCK_BITMAP, gd, &err);
	if (!*bitmap)
		return err;
	*committed = committed_view(fs, group, *bitmap);
	return 0;
}

/*
 * Find a free run in @group at or after bit @start (up to @count long; with
 * @is_aligned exactly @count long and aligned to it).
 * Return: 1 with *@bit and *@len, 0 if none, 2 if the group is BLOCK_UNINIT,
 * or -errno.
 */
static int find_run(struct sdx_fs *fs, uint32_t group, uint32_t start,
		    uint64_t count, bool is_aligned, uint32_t *bit,
		    uint32_t *len)
{
	const uint8_t *bitmap, *committed;
	uint32_t nbits = sdx_group_blocks(fs, group);
	int r = free_view(fs, group, NULL, &bitmap, &committed);

	if (r || !bitmap)
		return r;	/* 2: the caller initialises it, asks again */
	if (is_aligned) {
		*len = (uint32_t)count;
		return find_aligned_run(fs, group, bitmap, committed, start,
					count, bit);
	}
	for (uint32_t b = start; b < nbits; b++) {
		uint32_t e = b;

		if (b % 8 == 0 && bitmap[b / 8] == 0xFF) {
			b += 7;		/* a byte of blocks in use */
			continue;
		}
		if (!is_free(bitmap, committed, b))
			continue;
		while (e < nbits && e - b < count && is_free(bitmap, committed,
							     e))
			e++;
		*bit = b;
		*len = e - b;
		return 1;
	}
	return 0;
}

/*
 * Take (@is_take) or free bits [@bit, @bit+@len) of @group: each must be
 * free, or in use, first.  With @len 0 this only initialises the bitmap of
 * a BLOCK_UNINIT group.
 */
static int change_run(struct sdx_handle *h, struct sdx_fs *fs, uint32_t group,
		      uint32_t bit, uint32_t len, bool is_take)
{
	struct ext4_group_desc *gd;
	uint8_t *bitmap;
	uint32_t free_now;
	int err = sdx_bitmap_get_write(h, fs, group, SDX_BLOCK_BITMAP, &bitmap,
				       &gd);

	if (err)
		return err;
	for (uint32_t b = bit; b < bit + len; b++)
		if (sdx_bit_test(bitmap, b) == is_take)
			return sdx_err(-EUCLEAN, "%s block %llu, which is "
				       "already %s", is_take ? "taking" :
				       "freeing", (unsigned long long)
				       (sdx_group_first_block(fs, group) + b),
				       is_take ? "in use" : "free");
	free_now = sdx_gd_free_blocks(fs, gd);
	if (is_take ? free_now < len :
		      free_now + len > sdx_group_blocks(fs, group))
		return sdx_err(-EUCLEAN, "group %u: free count %u cannot %s "
			       "%u blocks", group, free_now,
			       is_take ? "give" : "take back", len);
	for (uint32_t b = bit; b < bit + len; b++) {
		if (is_take)
			sdx_bit_set(bitmap, b);
		else
			bitmap[b >> 3] &= (uint8_t)~(1u << (b & 7));
	}
	sdx_gd_set_free_blocks(fs, gd, is_take ? free_now - len :
						 free_now + len);
	sdx_bitmap_dirty(h, fs, group, SDX_BLOCK_BITMAP, gd, bitmap);
	if (len == 0)
		return 0;
	return sdx_super_add_free(h, fs, is_take ? -(int64_t)len : len, 0);
}

/* Search @group from @start; on success take the run. */
static int alloc_in_group(struct sdx_handle *h, struct sdx_fs *fs,
			  uint32_t group, uint32_t start, uint64_t count,
			  bool is_aligned, uint64_t *first, uint64_t *got)
{
	uint32_t bit, len;
	int r = find_run(fs, group, start, count, is_aligned, &bit, &len);

	if (r == 2) {
		r = change_run(h, fs, group, 0, 0, true);
		if (r)
			return r;
		r = find_run(fs, group, start, count, is_aligned, &bit, &len);
	}
	if (r <= 0)
		return r;
	r = change_run(h, fs, group, bit, len, true);
	if (r)
		return r;
	*first = sdx_group_first_block(fs, group) + bit;
	*got = len;
	return 1;
}

/* sdx_block_alloc's search, for any run or (@is_aligned) an aligned one. */
static int block_alloc(struct sdx_handle *h, struct sdx_inode *inode,
		       uint64_t goal, uint64_t count, bool is_aligned,
		       uint64_t *first, uint64_t *got)
{
	struct sdx_fs *fs = inode ? inode->fs : NULL;
	uint32_t goal_group, start, gpf, flex_first, flex_end;
	int r;

	if (!fs)
		return sdx_err(-EINVAL, "block allocation without an inode");
	if (count == 0)
		return sdx_err(-EINVAL, "allocation of 0 blocks");
	if (is_aligned && count & (count - 1))
		return sdx_err(-EINVAL, "aligned allocation of %llu blocks",
			       (unsigned long long)count);
	if (is_aligned && count > sdx_group_blocks(fs, 0))
		return -ENOSPC;		/* no group holds such a run */
	if (goal < fs->gdt_block || goal >= fs->blocks_count)
		goal = sdx_group_first_block(fs,
					     sdx_inode_group(fs, inode->ino));
	goal_group = sdx_block_group(fs, goal);
	start = (uint32_t)(goal - sdx_group_first_block(fs, goal_group));
	gpf = fs->groups_per_flex < fs->groups_count ? fs->groups_per_flex :
						       fs->groups_count;
	flex_first = goal_group - goal_group % gpf;
	flex_end = flex_first + gpf < fs->groups_count ? flex_first + gpf :
							  fs->groups_count;

	/* the goal onward in its group */
	r = alloc_in_group(h, fs, goal_group, start, count, is_aligned, first,
			   got);
	/* the rest of its flex group */
	for (uint32_t i = 1; r == 0 && i < flex_end - flex_first; i++)
		r = alloc_in_group(h, fs, flex_first + (goal_group - flex_first +
							i) % (flex_end -
							      flex_first),
				   0, count, is_aligned, first, got);
	/* every other group, wrapping */
	for (uint32_t i = 1; r == 0 && i < fs->groups_count; i++) {
		uint32_t g = (goal_group + i) % fs->groups_count;

		if (g < flex_first || g >= flex_end)
			r = alloc_in_group(h, fs, g, 0, count, is_aligned,
					   first, got);
	}
	/* the goal's group before the goal */
	if (r == 0 && start > 0)
		r = alloc_in_group(h, fs, goal_group, 0, count, is_aligned,
				   first, got);
	if (r == 0)
		return -ENOSPC;
	return r < 0 ? r : 0;
}

int sdx_block_alloc(struct sdx_handle *h, struct sdx_inode *inode,
		    uint64_t goal, uint64_t count, uint64_t *first,
		    uint64_t *got)
{
	int err = block_alloc(h, inode, goal, count, false, first, got);

	return err == -ENOSPC ? sdx_err(-ENOSPC, "no free block left") : err;
}

/*
 * An aligned search that finds nothing has read every group's bitmap; the
 * next one would find nothing either until blocks are freed, so until
 * @count more have been, sdx_block_alloc_aligned answers -ENOSPC at once
 * (the caller falls back to any run): on a fragmented device the fault
 * path does not pay a whole scan per 2 MiB.
 */
int sdx_block_alloc_aligned(struct sdx_handle *h, struct sdx_inode *inode,
			    uint64_t goal, uint64_t count, uint64_t *first)
{
	uint64_t got;
	int err;

	if (inode && inode->fs->aligned_retry_after)
		return -ENOSPC;
	err = block_alloc(h, inode, goal, count, true, first, &got);
	if (err == -ENOSPC)
		inode->fs->aligned_retry_after = count;
	return err;
}

int sdx_block_free_runs(struct sdx_fs *fs, sdx_free_run_fn *fn, void *arg)
{
	uint8_t *scratch = NULL;
	uint64_t start = 0, len = 0;
	int err = 0;

	for (uint32_t g = 0; g < fs->groups_count && !err; g++) {
		uint64_t base = sdx_group_first_block(fs, g);
		uint32_t nbits = sdx_group_blocks(fs, g);
		const uint8_t *bitmap, *committed;

		err = free_view(fs, g, &scratch, &bitmap, &committed);
		for (uint32_t b = 0; !err && b < nbits; b++) {
			if (bitmap && is_free(bitmap, committed, b)) {
				start = len ? start : base + b;
				len++;
				continue;
			}
			if (len)
				err = fn(start, len, arg);
			len = 0;
			if (!bitmap)
				break;	/* nothing free in the group */
		}
	}
	if (!err && len)
		err = fn(start, len, arg);
	free(scratch);
	return err;
}

int sdx_block_free(struct sdx_handle *h, struct sdx_fs *fs, uint64_t block,
		   uint64_t count)
{
	if (!sdx_fs_block_valid(fs, block, count))
		return sdx_err(-EUCLEAN, "freeing blocks %llu+%llu outside the "
			       "file system", (unsigned long long)block,
			       (unsigned long long)count);
	fs->aligned_retry_after -= count < fs->aligned_retry_after ?
				   count : fs->aligned_retry_after;
	while (count > 0) {
		uint32_t group = sdx_block_group(fs, block);
		uint64_t first = sdx_group_first_block(fs, group);
		uint64_t n = first + sdx_group_blocks(fs, group) - block;
		int err;

		if (n > count)
			n = count;
		err = change_run(h, fs, group, (uint32_t)(block - first),
				 (uint32_t)n, false);
		if (err)
			return err;
		block += n;
		count -= n;
	}
	return 0;
}
