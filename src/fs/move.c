/*
 * move.c - move a file's blocks into one contiguous run, or, for a file
 * longer than any free run, into the fewest extents the free space allows
 * (the file-system half of online defragmentation; src/dax/defrag.c holds
 * the mapping protocol around it: invalidate_lock exclusive, fdatasync,
 * unmap).
 *
 *   1. plan: N = the last mapped block + 1; nothing to do when [0, N) is
 *      one written physically contiguous run, or written without holes in
 *      no more extents than N needs (ceil(N / EXT_INIT_MAX_LEN)).  Walk
 *      the whole extent tree once, so every node is checked (extent.c
 *      checks a node fully once per mount) before anything moves.  Choose
 *      the target R from the free runs (sdx_block_free_runs: a run goes on
 *      across group boundaries): the longest run if it holds N blocks,
 *      else the longest runs in turn until they do, if that makes fewer
 *      extents than the file has; else ENOSPC naming the longest run;
 *   2. for each piece of [0, N) in turn (an extent, unwritten extent or
 *      hole, never crossing a run of R or a multiple of EXT_INIT_MAX_LEN
 *      from the start of its run, so the moved pieces merge into the
 *      fewest extents) one handle: allocate its blocks at their place in
 *      R (the goal, free; sdx_block_alloc stops at a group's end, so a
 *      piece may be cut there and the next goes on in the next group),
 *      copy the data there (zeroes for holes and unwritten blocks) and
 *      persist it, make sure the tree blocks the insert may need are free
 *      (reserve_tree_blocks), and only then remove the old extent (freeing
 *      its blocks) and insert the new one, which merges with the one
 *      before.
 *
 * fs->lock is taken for each step and dropped between pieces, where the
 * progress callback runs; the caller's exclusive invalidate_lock keeps
 * every writer and fault of the file out meanwhile, so only other files
 * (and this file's tree blocks) can allocate in R (a piece then lands
 * elsewhere: still correct, less contiguous).
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
#include <stdlib.h>

#include "fs/ops.h"
#include "lib/err.h"
#include "pmem/pmem.h"

#define MAX_RUNS 64u			/* free runs R may be made of */
#define TREE_RESERVE (EXT4_EXT_MAX_DEPTH + 1u)	/* blocks an insert may take */

/* The target: runs of free blocks and where in the file each begins. */
struct target {
	unsigned nr;
	struct {
		uint64_t first, len;	/* blocks of the run (used part) */
		uint64_t lblk;		/* the file block it begins */
	} run[MAX_RUNS];
};

/* sdx_block_free_runs callback: keep the MAX_RUNS longest, longest first. */
static int keep_longest(uint64_t first, uint64_t len, void *arg)
{
	struct target *t = arg;
	unsigned i;

	if (t->nr == MAX_RUNS) {
		if (len <= t->run[MAX_RUNS - 1].len)
			return 0;
		i = MAX_RUNS - 1;
	} else {
		i = t->nr++;
	}
	for (; i > 0 && t->run[i - 1].len < len; i--)
		t->run[i] = t->run[i - 1];
	t->run[i].first = first;
	t->run[i].len = len;
	return 0;
}

static uint64_t extents_for(uint64_t n)
{
	return (n + EXT_INIT_MAX_LEN - 1) / EXT_INIT_MAX_LEN;
}

/*
 * Step 1's choice of R for @n blocks of a file in @extents extents: the
 * longest free run if it holds them, else the longest runs in turn while
 * they make fewer extents than the file has.
 */
static int choose_target(struct sdx_inode *inode, uint64_t n,
			 uint64_t extents, struct target *t)
{
	uint64_t lblk = 0, made = 0;
	unsigned nr = 0;
	int err;

	t->nr = 0;
	err = sdx_block_free_runs(inode->fs, keep_longest, t);
	if (err)
		return err;
	while (nr < t->nr && lblk < n) {
		if (t->run[nr].len > n - lblk)
			t->run[nr].len = n - lblk;
		t->run[nr].lblk = lblk;
		lblk += t->run[nr].len;
		made += extents_for(t->run[nr++].len);
	}
	if (lblk == n && (nr == 1 || made < extents)) {
		t->nr = nr;
		return 0;
	}
	return sdx_err(-ENOSPC, "defrag of inode %u: no free run of %" PRIu64
		       " blocks (the longest has %" PRIu64 "), nor free runs "
		       "that hold them in fewer than its %" PRIu64 " extents",
		       inode->ino, n, t->nr ? t->run[0].len : 0, extents);
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

/* Step 2 for the piece at @lblk, at most @len blocks: move it to @target
 * (one handle). */
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

/*
 * The layout of [0, @n): its extents and whether it is one written run of
 * physically contiguous blocks, or written without holes at all.
 */
static int survey(struct sdx_inode *inode, uint64_t n, uint64_t *extents,
		  bool *is_one_run, bool *is_written)
{
	uint64_t lblk = 0, start = 0, pblk, len;
	unsigned flags;
	int err;

	*extents = 0;
	*is_one_run = true;
	*is_written = true;
	while (lblk < n) {
		err = sdx_extent_map(inode, lblk, &pblk, &len, &flags);
		if (err)
			return err;
		if (flags & (SDX_EXTENT_HOLE | SDX_EXTENT_UNWRITTEN))
			*is_written = false;
		if (!(flags & SDX_EXTENT_HOLE))
			(*extents)++;
		if (lblk == 0)
			start = pblk;
		else if (pblk != start + lblk)
			*is_one_run = false;
		lblk += len;
	}
	*is_one_run = *is_one_run && *is_written;
	return 0;
}

/* Step 1: N, whether anything moves, and R; the walk of the tree checks
 * every node (invariant (2)). */
static int plan(struct sdx_inode *inode, uint64_t *end, bool *is_done,
		struct target *t)
{
	uint64_t last, nodes, extents = 0;
	bool is_one_run = true, is_written = true;
	int err = sdx_extent_end(inode, end, &last);

	if (!err && *end)
		err = survey(inode, *end, &extents, &is_one_run, &is_written);
	*is_done = is_one_run ||
		   (is_written && extents <= extents_for(*end));
	if (!err && !*is_done)
		err = sdx_extent_count_nodes(inode, 0, &nodes);
	if (!err && !*is_done)
		err = choose_target(inode, *end, extents, t);
	return err;
}

/* The piece at @lblk: where R has its place and how long it may be. */
static void place(const struct target *t, uint64_t lblk, uint64_t *pblk,
		  uint64_t *len)
{
	unsigned j = 0;
	uint64_t off;

	while (j + 1 < t->nr && lblk >= t->run[j + 1].lblk)
		j++;
	off = lblk - t->run[j].lblk;
	*pblk = t->run[j].first + off;
	*len = t->run[j].len - off;
	if (*len > EXT_INIT_MAX_LEN - off % EXT_INIT_MAX_LEN)
		*len = EXT_INIT_MAX_LEN - off % EXT_INIT_MAX_LEN;
}

int sdx_file_move_blocks(struct sdx_inode *inode, sdx_progress_fn *progress,
			 void *arg)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t end = 0, lblk = 0;
	struct target *t = malloc(sizeof(*t));
	bool is_done = true;
	int err = t ? 0 : -ENOMEM;

	if (!err) {
		pthread_mutex_lock(&fs->lock);
		err = plan(inode, &end, &is_done, t);
		pthread_mutex_unlock(&fs->lock);
	}
	if (is_done)
		lblk = end;
	while (!err) {
		uint64_t moved = 0, target, len;

		if (progress)
			progress(lblk, end, arg);
		if (lblk >= end)
			break;
		place(t, lblk, &target, &len);
		pthread_mutex_lock(&fs->lock);
		err = move_piece(inode, lblk, len, target, &moved);
		pthread_mutex_unlock(&fs->lock);
		lblk += moved;
	}
	free(t);
	return err;
}
