/*
 * move.c - move a file's blocks into one contiguous run (the file-system
 * half of online defragmentation; src/dax/defrag.c holds the mapping
 * protocol around it: invalidate_lock exclusive, fdatasync, unmap).
 *
 *   1. find a free run R of N blocks (N = the last mapped block + 1):
 *      allocate runs until one is N long, free them all in that handle,
 *      commit (freed blocks are reusable only after their commit); and
 *      walk the whole extent tree once, so that every node is checked
 *      (extent.c checks a node fully once per mount) before anything moves;
 *   2. for each piece of [0, N) in turn (an extent, unwritten extent or
 *      hole, never crossing a multiple of EXT_INIT_MAX_LEN, so the moved
 *      pieces merge into the fewest extents) one handle: allocate its
 *      blocks at R + lblk (the goal, free), copy the data there (zeroes
 *      for holes and unwritten blocks) and persist it, make sure the
 *      tree blocks the insert may need are free (reserve_tree_blocks),
 *      and only then remove the old extent (freeing its blocks) and insert
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
 *   (2) A piece that fails leaves the file and the free count as they
 *       were.  A handle cannot be rolled back, so every step that can
 *       fail comes before the first change of the tree:
 *       - the removal cannot fail for want of space: a piece begins where
 *         an extent or a hole begins (the piece before ended there), so it
 *         removes a whole extent or the head of one, never the middle,
 *         and never needs a tree block;
 *       - the insert may split a node on each level and grow the root:
 *         at most EXT4_EXT_MAX_DEPTH + 1 tree blocks.  Before the removal
 *         that many are allocated and freed again in the handle: blocks
 *         allocated and freed in the same transaction are free in both
 *         the newest and the committed bitmap, so they can be allocated
 *         again, and between there and the insert only frees happen.
 *         Without them the piece's run is freed and the answer is ENOSPC
 *         with the file untouched;
 *       - neither meets an unchecked node (step 1 checked the tree; the
 *         nodes made since are this file's own);
 *       what is left is running out of memory for a journal copy, which
 *       no step here can undo.
 *   (3) Progress: done only grows, from 0 (or N when nothing moves) to
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
#define TREE_RESERVE (EXT4_EXT_MAX_DEPTH + 1u)	/* blocks an insert may take */

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

/*
 * Invariant (2): make sure the EXT4_EXT_MAX_DEPTH + 1 tree blocks an
 * insert may take are free now, by allocating them and freeing them again.
 */
static int reserve_tree_blocks(struct sdx_handle *h, struct sdx_inode *inode)
{
	uint64_t runs[TREE_RESERVE][2];
	uint64_t have = 0;
	unsigned nr = 0;
	int err = 0, err2;

	while (have < TREE_RESERVE && !err) {
		err = sdx_block_alloc(h, inode, 0, TREE_RESERVE - have,
				      &runs[nr][0], &runs[nr][1]);
		if (!err)
			have += runs[nr++][1];
	}
	for (unsigned i = 0; i < nr; i++) {
		err2 = sdx_block_free(h, inode->fs, runs[i][0], runs[i][1]);
		err = err ? err : err2;
	}
	if (err == -ENOSPC)
		return sdx_err(-ENOSPC, "defrag of inode %u: no room for the %u "
			       "extent tree blocks moving a piece may take",
			       inode->ino, TREE_RESERVE);
	return err;
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
	if (len > EXT_INIT_MAX_LEN - lblk % EXT_INIT_MAX_LEN)
		len = EXT_INIT_MAX_LEN - lblk % EXT_INIT_MAX_LEN;
	err = sdx_fs_start(fs, 3 * SDX_CREDITS_EXTENT, &h);
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
	err = reserve_tree_blocks(h, inode);
	if (!err)
		err = sdx_extent_remove(h, inode, lblk, got);
	if (!err)
		err = sdx_extent_insert(h, inode, lblk, pblk, got, false);
	if (err) {
		sdx_block_free(h, fs, pblk, got);
		goto out_stop;
	}
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

/* Steps before the pieces: N, whether anything moves, and R; the walk of
 * the tree checks every node (invariant (2)). */
static int plan(struct sdx_inode *inode, uint64_t *end, bool *is_done,
		uint64_t *first)
{
	uint64_t last, nodes;
	int err = sdx_extent_end(inode, end, &last);

	*is_done = true;
	if (!err && *end)
		err = is_contiguous(inode, *end, is_done);
	if (!err && !*is_done)
		err = sdx_extent_count_nodes(inode, 0, &nodes);
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
