/*
 * iomap.c - src/fs's side of the interface with src/dax (iomap.h): where a
 * file page lives, allocating and converting for writes, and the inode's
 * datasync state.
 *
 * A write into a hole or an unwritten extent (SDX_IOMAP_WRITE):
 *
 *   HOLE      --alloc (goal: after the previous block)--> blocks zeroed and
 *             persisted --> extent inserted (handle) --> MAPPED, NEW|DIRTY
 *   UNWRITTEN --blocks zeroed and persisted--> extent marked written
 *             (handle) --> MAPPED, NEW|DIRTY
 *
 * Invariants:
 *   (1) A block reaches a mapping only after its old contents are zeroed
 *       and the zeroes are persistent, and the zeroing happens before the
 *       extent that exposes it exists (no stale data after a crash).
 *   (2) inode->datasync_tid is the tid of the last transaction that changed
 *       the inode's block map; fdatasync commits up to it, and the inode is
 *       datasync-dirty while that tid is newer than the last commit.
 */
#include <errno.h>

#include "fs/fs.h"
#include "lib/err.h"
#include "pmem/pmem.h"

/* Zero and persist blocks [@pblk, @pblk+@n) on the media. */
static void zero_blocks(struct sdx_fs *fs, uint64_t pblk, uint64_t n)
{
	sdx_dev_memset_persist(fs->dev, fs->dev->base + pblk * SDX_BLOCK_SIZE,
			       0, n * SDX_BLOCK_SIZE);
}

/* Goal for new blocks at @lblk: right after the block mapped before it. */
static int alloc_goal(struct sdx_inode *inode, uint64_t lblk, uint64_t *goal)
{
	uint64_t pblk, len, end;
	unsigned flags;
	int err;

	*goal = 0;
	if (lblk > 0) {
		err = sdx_extent_map(inode, lblk - 1, &pblk, &len, &flags);
		if (err)
			return err;
		if (!(flags & SDX_EXTENT_HOLE)) {
			*goal = pblk + 1;
			return 0;
		}
	}
	err = sdx_extent_end(inode, &end, &pblk);
	if (!err && end > 0)
		*goal = pblk + 1;
	return err;
}

int sdx_file_block_alloc(struct sdx_handle *h, struct sdx_inode *inode,
			 uint64_t lblk, uint64_t n, uint64_t *pblk,
			 uint64_t *got)
{
	uint64_t goal;
	int err = alloc_goal(inode, lblk, &goal);

	if (err)
		return err;
	if (lblk % SDX_IOMAP_HUGE_PAGES == 0 && n >= SDX_IOMAP_HUGE_PAGES) {
		err = sdx_block_alloc_aligned(h, inode, goal,
					      SDX_IOMAP_HUGE_PAGES, pblk);
		if (err != -ENOSPC) {
			*got = err ? 0 : SDX_IOMAP_HUGE_PAGES;
			return err;
		}
	}
	return sdx_block_alloc(h, inode, goal, n, pblk, got);
}

/* Allocate, zero and map up to @n blocks at hole @lblk (the run: @pblk,
 * @got). */
static int fill_hole(struct sdx_handle *h, struct sdx_inode *inode,
		     uint64_t lblk, uint64_t n, uint64_t *pblk, uint64_t *got)
{
	int err = sdx_file_block_alloc(h, inode, lblk, n, pblk, got);

	if (err)
		return err;
	zero_blocks(inode->fs, *pblk, *got);
	err = sdx_extent_insert(h, inode, lblk, *pblk, *got, false);
	if (err)
		sdx_block_free(h, inode->fs, *pblk, *got);
	return err;
}

/* The write half of iomap_begin for a hole or unwritten range. */
static int iomap_write(struct sdx_inode *inode, uint64_t pgoff, uint64_t n,
		       bool is_hole, uint64_t *pblk, uint64_t *got,
		       struct sdx_iomap *out)
{
	struct sdx_fs *fs = inode->fs;
	struct sdx_handle *h;
	int err, err2;

	err = sdx_fs_start(fs, SDX_CREDITS_EXTENT, &h);
	if (err)
		return err;
	if (is_hole) {
		err = fill_hole(h, inode, pgoff, n, pblk, got);
	} else {
		*got = n;
		zero_blocks(fs, *pblk, n);
		err = sdx_extent_mark_written(h, inode, pgoff, n);
	}
	if (!err) {
		inode->datasync_tid = sdx_handle_tid(h);
		inode->sync_tid = inode->datasync_tid;
		out->flags |= SDX_IOMAP_F_NEW | SDX_IOMAP_F_DIRTY;
	}
	err2 = sdx_journal_stop(h);
	return err ? err : err2;
}

static bool datasync_dirty(struct sdx_inode *inode)
{
	struct sdx_journal *j = inode->fs->journal;

	return (int32_t)(inode->datasync_tid -
			 sdx_journal_last_committed(j)) > 0;
}

int sdx_iomap_begin(struct sdx_inode *inode, uint64_t pgoff, uint64_t npages,
		    unsigned flags, struct sdx_iomap *out)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t pblk, len;
	unsigned ext_flags;
	int err;

	if (npages == 0)
		npages = 1;
	if (pgoff >= SDX_MAX_FILE_BLOCKS)
		return sdx_err(-EFBIG, "inode %u: page %llu beyond the largest "
			       "ext4 file", inode->ino,
			       (unsigned long long)pgoff);
	pthread_mutex_lock(&fs->lock);
	err = sdx_extent_map(inode, pgoff, &pblk, &len, &ext_flags);
	if (err)
		goto out_unlock;
	out->pgoff = pgoff;
	out->flags = 0;
	out->npages = len;
	out->dev_off = pblk * SDX_BLOCK_SIZE;
	if (ext_flags & SDX_EXTENT_HOLE)
		out->type = SDX_IOMAP_HOLE;
	else if (ext_flags & SDX_EXTENT_UNWRITTEN)
		out->type = SDX_IOMAP_UNWRITTEN;
	else
		out->type = SDX_IOMAP_MAPPED;
	if ((flags & SDX_IOMAP_WRITE) && out->type != SDX_IOMAP_MAPPED) {
		uint64_t n = npages < len ? npages : len;

		if (!(flags & SDX_IOMAP_SYNCAHEAD))
			n = 1;
		err = iomap_write(inode, pgoff, n,
				  out->type == SDX_IOMAP_HOLE, &pblk, &n, out);
		if (err)
			goto out_unlock;
		out->type = SDX_IOMAP_MAPPED;
		out->npages = n;
		out->dev_off = pblk * SDX_BLOCK_SIZE;
	}
	if (datasync_dirty(inode))
		out->flags |= SDX_IOMAP_F_DIRTY;
	out->datasync_tid = inode->datasync_tid;
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	return err;
}

bool sdx_inode_datasync_dirty(struct sdx_inode *inode)
{
	bool is_dirty;

	pthread_mutex_lock(&inode->fs->lock);
	is_dirty = datasync_dirty(inode);
	pthread_mutex_unlock(&inode->fs->lock);
	return is_dirty;
}

int sdx_inode_datasync(struct sdx_inode *inode)
{
	int err = 0;

	pthread_mutex_lock(&inode->fs->lock);
	if (datasync_dirty(inode))
		err = sdx_journal_commit_upto(inode->fs->journal,
					      inode->datasync_tid);
	pthread_mutex_unlock(&inode->fs->lock);
	return err;
}

pthread_rwlock_t *sdx_inode_invalidate_lock(struct sdx_inode *inode)
{
	return &inode->invalidate_lock;
}

void **sdx_inode_dax_slot(struct sdx_inode *inode)
{
	return &inode->dax;
}

bool sdx_inode_is_sync(struct sdx_inode *inode)
{
	return inode->raw.i_flags & EXT4_SYNC_FL;
}

void sdx_inode_put(struct sdx_inode *inode)
{
	struct sdx_fs *fs = inode->fs;

	pthread_mutex_lock(&fs->lock);
	sdx_iput(inode);
	pthread_mutex_unlock(&fs->lock);
}
