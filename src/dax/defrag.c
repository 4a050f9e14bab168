/*
 * defrag.c - online defragmentation (sdx_defrag): move a file's blocks into
 * one contiguous run while it is mapped; contents and the addresses of its
 * mappings stay as they were (Linux refuses EXT4_IOC_MOVE_EXT for DAX).
 *
 * It is a remap, so it follows the protocol of DESIGN.md: invalidate_lock
 * exclusive (faults wait) -> fdatasync -> unmap the file from every
 * mapping -> remap -> release (faults map the new blocks).  The remap is
 * built from src/fs's internal block and extent calls, under fs->lock:
 *
 *   1. find a free run R of N blocks (N = the last mapped block + 1):
 *      allocate runs until one is N long, free them all in that handle,
 *      commit (freed blocks are reusable only after their commit);
 *   2. for each piece of [0, N) in turn (an extent, unwritten extent or
 *      hole) one handle: allocate its blocks at R + lblk (the goal, free),
 *      copy the data there (zeroes for holes and unwritten blocks) and
 *      persist it, remove the old extent (freeing its blocks) and insert
 *      the new one, which merges with the one before.
 *
 * Invariants:
 *   (1) Each piece moves in one transaction: after a crash the file maps
 *       either its old blocks or its new, persisted copy, never both or
 *       neither (e2fsck finds no leak).
 *   (2) No page of the file is mapped while blocks move (invalidate_lock
 *       exclusive; the pages were unmapped first).
 * Holes inside [0, N) become zeroed written blocks and unwritten blocks
 * written zeroes: the contents read the same, i_blocks grows.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>

#include "dax/dax.h"
#include "fs/fs.h"
#include "lib/err.h"
#include "pmem/pmem.h"
#include "syncdax.h"

#define MAX_PROBES 64u			/* runs tried when looking for R */
#define MAX_EXTENT_LEN 32768u		/* longest initialised ext4 extent */

/* Step 1: a free run of @n blocks, left free (committed) in *@first. */
static int find_free_run(struct sdx_inode *inode, uint64_t n, uint64_t *first)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t runs[MAX_PROBES][2];
	unsigned nr = 0;
	struct sdx_handle *h;
	int err, err2;

	err = sdx_fs_start(fs, SDX_CREDITS_EXTENT, &h);
	if (err)
		return err;
	err = -ENOSPC;
	while (nr < MAX_PROBES) {
		uint64_t got;

		if (sdx_block_alloc(h, inode, 0, n, &runs[nr][0], &got))
			break;
		runs[nr++][1] = got;
		if (got == n) {
			*first = runs[nr - 1][0];
			err = 0;
			break;
		}
	}
	for (unsigned i = 0; i < nr; i++) {
		err2 = sdx_block_free(h, fs, runs[i][0], runs[i][1]);
		err = err ? err : err2;
	}
	err2 = sdx_journal_stop(h);
	err = err ? err : err2;
	if (err == -ENOSPC)
		return sdx_err(-ENOSPC, "defrag of inode %u: no free run of %"
			       PRIu64 " blocks", inode->ino, n);
	return err ? err : sdx_journal_force_commit(fs->journal);
}

/* Step 2 for the piece at @lblk: move it to @target (one handle). */
static int move_piece(struct sdx_inode *inode, uint64_t lblk, uint64_t len,
		      uint64_t target, uint64_t *moved)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t pblk, got, old;
	struct sdx_handle *h;
	unsigned flags;
	int err, err2;

	err = sdx_extent_map(inode, lblk, &old, &got, &flags);
	if (err)
		return err;
	len = got < len ? got : len;
	if (len > MAX_EXTENT_LEN)
		len = MAX_EXTENT_LEN;
	err = sdx_fs_start(fs, 2 * SDX_CREDITS_EXTENT, &h);
	if (err)
		return err;
	err = sdx_block_alloc(h, inode, target, len, &pblk, &got);
	if (err)
		goto out_stop;
	if (flags & (SDX_EXTENT_HOLE | SDX_EXTENT_UNWRITTEN))
		sdx_dev_memset_persist(fs->dev, fs->dev->base +
				       pblk * SDX_BLOCK_SIZE, 0,
				       got * SDX_BLOCK_SIZE);
	else
		sdx_dev_memcpy_persist(fs->dev, fs->dev->base +
				       pblk * SDX_BLOCK_SIZE, fs->dev->base +
				       old * SDX_BLOCK_SIZE,
				       got * SDX_BLOCK_SIZE);
	err = sdx_extent_remove(h, inode, lblk, got);
	if (!err)
		err = sdx_extent_insert(h, inode, lblk, pblk, got, false);
	if (err)
		sdx_block_free(h, fs, pblk, got);
	inode->datasync_tid = sdx_handle_tid(h);
	inode->sync_tid = inode->datasync_tid;
	*moved = got;
out_stop:
	err2 = sdx_journal_stop(h);
	return err ? err : err2;
}

/* Is [0, @n) one written run of physically contiguous blocks already? */
static int is_contiguous(struct sdx_inode *inode, uint64_t n, bool *yes)
{
	uint64_t lblk = 0, start = 0, pblk, len;
	unsigned flags;
	int err;

	*yes = false;
	while (lblk < n) {
		err = sdx_extent_map(inode, lblk, &pblk, &len, &flags);
		if (err)
			return err;
		if (flags & (SDX_EXTENT_HOLE | SDX_EXTENT_UNWRITTEN))
			return 0;
		if (lblk == 0)
			start = pblk;
		else if (pblk != start + lblk)
			return 0;
		lblk += len;
	}
	*yes = true;
	return 0;
}

static int defrag_locked(struct sdx_inode *inode)
{
	uint64_t end, last, first, lblk;
	bool done = false;
	int err;

	err = sdx_extent_end(inode, &end, &last);
	if (!err && end)
		err = is_contiguous(inode, end, &done);
	if (err || !end || done)
		return err;
	err = find_free_run(inode, end, &first);
	for (lblk = 0; !err && lblk < end;) {
		uint64_t moved = 0;

		err = move_piece(inode, lblk, end - lblk, first + lblk,
				 &moved);
		lblk += moved;
	}
	return err;
}

int sdx_defrag(struct sdx_fs *fs, int fd)
{
	struct sdx_inode *inode;
	int open_flags, err;

	sdx_err_clear();
	if (!fs)
		return (int)sdx_errno_ret(-EINVAL);
	inode = sdx_inode_get_fd(fs, fd, &open_flags);
	if (!inode)
		return -1;
	if (!S_ISREG(inode->raw.i_mode))
		err = sdx_err(-EINVAL, "defrag: descriptor %d is not a regular "
			      "file", fd);
	else if ((open_flags & O_ACCMODE) == O_RDONLY || fs->is_rdonly)
		err = sdx_err(-EBADF, "defrag: descriptor %d is not open for "
			      "writing", fd);
	else
		err = 0;
	if (!err) {
		pthread_rwlock_wrlock(&inode->invalidate_lock);
		err = sdx_inode_datasync(inode);
		sdx_dax_invalidate(sdx_inode_dax_slot(inode), 0,
				   SDX_MAX_FILE_BLOCKS);
		pthread_mutex_lock(&fs->lock);
		if (!err)
			err = defrag_locked(inode);
		pthread_mutex_unlock(&fs->lock);
		if (!err)
			err = sdx_inode_datasync(inode);
		pthread_rwlock_unlock(&inode->invalidate_lock);
	}
	sdx_inode_put(inode);
	return (int)sdx_errno_ret(err);
}
