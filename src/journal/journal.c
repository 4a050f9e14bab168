/*
 * journal.c - handles and transactions of the syncdax journal.
 *
 * This first version implements the whole journal.h contract in "direct
 * mode": a handle's get_write_access hands out the block's home location in
 * the device mapping, dirty_metadata persists it at once, and a commit only
 * advances the tids.  The jbd2 log (commit, checkpoint, recovery) replaces
 * the direct path for images with a journal.
 *
 * Transaction ids:
 *
 *   running_tid --dirty_metadata--> running transaction has updates
 *   running transaction --commit--> committed_tid = running_tid,
 *                                   running_tid + 1
 *
 * Invariants:
 *   (1) committed_tid == running_tid - 1 at every moment a caller can see.
 *   (2) Every block number handed to or from this file is < fs_blocks and
 *       lies inside the device mapping.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "journal/journal.h"
#include "lib/err.h"
#include "pmem/pmem.h"

#define SDX_JOURNAL_DEFAULT_INTERVAL_MS 5000u

struct sdx_journal {
	struct sdx_dev *dev;
	struct sdx_journal_opts opts;
	sdx_tid_t running_tid;
	sdx_tid_t committed_tid;
	bool running_has_updates;
	struct sdx_journal_stats stats;
};

struct sdx_handle {
	struct sdx_journal *j;
	int credits;
	sdx_tid_t tid;
};

/* Is @block a block of the file system that the device holds? */
static int check_block(const struct sdx_journal *j, uint64_t block)
{
	if (block >= j->opts.fs_blocks ||
	    block >= j->dev->size / SDX_PAGE_SIZE)
		return sdx_err(-EUCLEAN, "journal: block %llu beyond the file "
			       "system (%llu blocks)",
			       (unsigned long long)block,
			       (unsigned long long)j->opts.fs_blocks);
	return 0;
}

static uint8_t *home(const struct sdx_journal *j, uint64_t block)
{
	return j->dev->base + block * SDX_PAGE_SIZE;
}

int sdx_journal_open(struct sdx_dev *dev, const struct sdx_jextent *ext,
		     unsigned nr_ext, const struct sdx_journal_opts *opts,
		     struct sdx_journal **out)
{
	struct sdx_journal *j;

	(void)ext;
	(void)nr_ext;
	if (opts->fs_blocks == 0)
		return sdx_err(-EINVAL, "journal: file system of 0 blocks");
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->dev = dev;
	j->opts = *opts;
	if (j->opts.commit_interval_ms == 0)
		j->opts.commit_interval_ms = SDX_JOURNAL_DEFAULT_INTERVAL_MS;
	j->running_tid = 1;
	j->committed_tid = 0;
	*out = j;
	return 0;
}

int sdx_journal_close(struct sdx_journal *j)
{
	int err;

	if (!j)
		return 0;
	err = sdx_journal_force_commit(j);
	free(j);
	return err;
}

int sdx_journal_start(struct sdx_journal *j, int credits,
		      struct sdx_handle **out)
{
	struct sdx_handle *h;

	if (credits <= 0)
		return sdx_err(-EINVAL, "journal: handle with %d credits",
			       credits);
	if (j->opts.readonly)
		return sdx_err(-EROFS, "journal: read-only, no handles");
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->j = j;
	h->credits = credits;
	h->tid = j->running_tid;
	*out = h;
	return 0;
}

int sdx_journal_get_write_access(struct sdx_handle *h, uint64_t block,
				 void **data)
{
	int err = check_block(h->j, block);

	if (err)
		return err;
	*data = home(h->j, block);
	return 0;
}

int sdx_journal_get_create_access(struct sdx_handle *h, uint64_t block,
				  void **data)
{
	int err = check_block(h->j, block);

	if (err)
		return err;
	memset(home(h->j, block), 0, SDX_PAGE_SIZE);
	*data = home(h->j, block);
	return 0;
}

void sdx_journal_dirty_metadata(struct sdx_handle *h, uint64_t block)
{
	if (check_block(h->j, block))
		return;
	sdx_dev_persist(h->j->dev, home(h->j, block), SDX_PAGE_SIZE);
	h->j->running_has_updates = true;
}

int sdx_journal_revoke(struct sdx_handle *h, uint64_t block)
{
	int err = check_block(h->j, block);

	if (err)
		return err;
	h->j->stats.revoked_blocks++;
	return 0;
}

sdx_tid_t sdx_handle_tid(const struct sdx_handle *h)
{
	return h->tid;
}

int sdx_journal_stop(struct sdx_handle *h)
{
	free(h);
	return 0;
}

const void *sdx_journal_bread(struct sdx_journal *j, uint64_t block)
{
	if (check_block(j, block))
		return NULL;
	return home(j, block);
}

const void *sdx_journal_bread_committed(struct sdx_journal *j,
					uint64_t block)
{
	return sdx_journal_bread(j, block);
}

int sdx_journal_force_commit(struct sdx_journal *j)
{
	if (!j->running_has_updates)
		return 0;
	j->committed_tid = j->running_tid++;
	j->running_has_updates = false;
	j->stats.commits++;
	return 0;
}

int sdx_journal_commit_upto(struct sdx_journal *j, sdx_tid_t tid)
{
	if ((int32_t)(tid - j->committed_tid) <= 0)
		return 0;
	return sdx_journal_force_commit(j);
}

sdx_tid_t sdx_journal_last_committed(const struct sdx_journal *j)
{
	return j->committed_tid;
}

sdx_tid_t sdx_journal_running_tid(const struct sdx_journal *j)
{
	return j->running_tid;
}

void sdx_journal_get_stats(const struct sdx_journal *j,
			   struct sdx_journal_stats *st)
{
	*st = j->stats;
}
