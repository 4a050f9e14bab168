/*
 * move.c - move a file's blocks into one contiguous run (the file-system
 * half of online defragmentation; src/dax/defrag.c holds the mapping
 * protocol around it: invalidate_lock exclusive, fdatasync, unmap).
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
 * fs->lock is taken for each step and dropped between pieces, where the
 * progress callback runs; the caller's exclusive invalidate_lock keeps
 * every writer and fault of the file out meanwhile, so only other files
 * can allocate in R (a piece then lands elsewhere: still correct, less
 * contiguous).
 *
 * Invariants:
 *   (1) Each piece moves in one transaction: after a crash the file maps
 *       either its old blocks or its new, persisted copy, never both or
 *       neither (e2fsck finds no leak).
 *   (2) Progress: done only grows, from 0 (or N when nothing moves) to
 *       done == total == N at the end of a successful move.
 * Holes inside [0, N) become zeroed written blocks and unwritten blocks
 * written zeroes: the contents read the same, i_blocks grows.
 */
#include <errno.h>
#include <inttypes.h>

#include "fs/ops.h"
#include "lib/err.h"
#include "pmem/pmem.h"

#define MAX_PROBES 64u			/* runs tried when looking for R */

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
	if (len > EXT_INIT_MAX_LEN)
		len = EXT_INIT_MAX_LEN;
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
	sdx_inode_changed(h, inode, true);
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

/* Steps before the pieces: N, whether anything moves, and R. */
static int plan(struct sdx_inode *inode, uint64_t *end, bool *is_done,
		uint64_t *first)
{
	uint64_t last;
	int err = sdx_extent_end(inode, end, &last);

	*is_done = true;
	if (!err && *end)
		err = is_contiguous(inode, *end, is_done);
	if (!err && !*is_done)
		err = find_free_run(inode, *end, first);
	return err;
}

int sdx_file_move_blocks(struct sdx_inode *inode, sdx_progress_fn *progress,
			 void *arg)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t end = 0, first = 0, lblk = 0;
	bool is_done;
	int err;

	pthread_mutex_lock(&fs->lock);
	err = plan(inode, &end, &is_done, &first);
	pthread_mutex_unlock(&fs->lock);
	if (is_done)
		lblk = end;
	while (!err) {
		uint64_t moved = 0;

		if (progress)
			progress(lblk, end, arg);
		if (lblk >= end)
			break;
		pthread_mutex_lock(&fs->lock);
		err = move_piece(inode, lblk, end - lblk, first + lblk, &moved);
		pthread_mutex_unlock(&fs->lock);
		lblk += moved;
	}
	return err;
}
