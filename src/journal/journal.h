/*
 * journal.h - jbd2: handles and transactions, commit, checkpoint, recovery.
 *
 * Every metadata change of src/fs happens inside a handle:
 *
 *	struct sdx_handle *h;
 *	err = sdx_journal_start(j, credits, &h);
 *	err = sdx_journal_get_write_access(h, block, &data);   // DRAM copy
 *	... modify data (4096 bytes) ...
 *	sdx_journal_dirty_metadata(h, block);
 *	err = sdx_journal_stop(h);
 *
 * Readers use sdx_journal_bread(), which returns the newest version of a
 * block: the running transaction's copy, else the committing or committed-
 * but-not-checkpointed copy, else the device's home location.
 *
 * Locking: the journal is given the owner's metadata lock (the file
 * system's big lock) at open.  Every call here except the background thread
 * runs with that lock held by the caller; the background thread (periodic
 * commit, checkpoint) takes it itself, and drops it while it writes a
 * transaction to the log.  So a pointer returned by sdx_journal_bread() or
 * get_write_access stays valid until the caller drops the lock -- or calls
 * sdx_journal_start/commit_upto/force_commit, which may wait for that
 * background commit with the lock released (pthread_cond_wait on it), as
 * jbd2 sleeps.  sdx_journal_close may be called with or without the lock.
 *
 * Recovery and the ext4 superblock: sdx_journal_open replays whatever the
 * log holds, whatever the ext4 needs_recovery flag says; after a read-write
 * open the log is empty again.  e2fsck and Linux replay only when the
 * home superblock has needs_recovery (Linux wipes the log otherwise), so a
 * read-write mount must write that flag home, persisted, before its first
 * commit, and clear it only after sdx_journal_close.
 *
 * Invariants:
 *   (1) The home location of a journaled block is written only at
 *       checkpoint, after the commit record of its transaction is durable.
 *   (2) A block freed in a transaction is not reused for another purpose
 *       before that transaction commits: allocators test the committed view
 *       (sdx_journal_bread_committed) as well as the newest one.
 *   (3) tids increase by one per transaction; last_committed() only grows.
 *
 * Without a journal (an ext4 image without has_journal, opened read-write
 * only when the caller allows it) handles write home directly and persist
 * at dirty_metadata; "commit" is then a no-op.
 */
#ifndef SDX_JOURNAL_H
#define SDX_JOURNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/statpage.h"

struct sdx_dev;
struct sdx_journal;
struct sdx_handle;

typedef uint32_t sdx_tid_t;

/* A run of the journal inode: logical block lblk..lblk+len-1 -> pblk. */
struct sdx_jextent {
	uint64_t lblk;
	uint64_t pblk;
	uint64_t len;
};

struct sdx_journal_opts {
	bool readonly;			/* recover in memory only; no writes */
	bool no_journal;		/* direct mode: image has no journal */
	unsigned commit_interval_ms;	/* 0: 5000 (ext4's default) */
	uint64_t fs_blocks;		/* bounds for every block number */
	const uint8_t *fs_uuid;		/* 16 bytes; unused: as in jbd2, the
					   jsb's own s_uuid seeds the csums */
	pthread_mutex_t *owner_lock;	/* taken by the background thread */
	bool metadata_csum;		/* ext4 metadata_csum: jbd2 csum v3 */
	bool is_64bit;			/* ext4 64bit: jbd2 64bit tags */
	struct sdx_journal_stats *stats; /* where to count (the mount's
					   published page), NULL: privately */
};

/* struct sdx_journal_stats is in lib/statpage.h: the journal counts into
 * opts->stats, its mount's published statistics page. */

/*
 * sdx_journal_open - load the journal of a file system
 * @ext/@nr_ext: the journal inode's block map (ignored with no_journal)
 * Validates the jbd2 superblock (v2; 64bit, csum v3 supported) and recovers
 * (replays committed transactions; in memory only when readonly).
 * Return: 0, or -errno with a sentence (-EUCLEAN corrupt, -EOPNOTSUPP for an
 *         unsupported jbd2 feature, named).
 */
int sdx_journal_open(struct sdx_dev *dev, const struct sdx_jextent *ext,
		     unsigned nr_ext, const struct sdx_journal_opts *opts,
		     struct sdx_journal **out);
/* Stop the thread, commit and checkpoint everything and mark the log empty
 * (not when readonly); the owner's lock may be held or not. */
int sdx_journal_close(struct sdx_journal *j);

int sdx_journal_start(struct sdx_journal *j, int credits,
		      struct sdx_handle **out);
int sdx_journal_get_write_access(struct sdx_handle *h, uint64_t block,
				 void **data);
/* A block that is new to the file system: no read, starts zeroed. */
int sdx_journal_get_create_access(struct sdx_handle *h, uint64_t block,
				  void **data);
void sdx_journal_dirty_metadata(struct sdx_handle *h, uint64_t block);
/* Freed metadata block: revoke record, drop from the running transaction. */
int sdx_journal_revoke(struct sdx_handle *h, uint64_t block);
sdx_tid_t sdx_handle_tid(const struct sdx_handle *h);
int sdx_journal_stop(struct sdx_handle *h);

/* Newest version of @block (see header); NULL + sentence if out of range. */
const void *sdx_journal_bread(struct sdx_journal *j, uint64_t block);
/* Version as of the last commit (for allocators, invariant 2). */
const void *sdx_journal_bread_committed(struct sdx_journal *j,
					uint64_t block);

/* Make transactions up to @tid durable; 0 at once if already committed. */
int sdx_journal_commit_upto(struct sdx_journal *j, sdx_tid_t tid);
/* Commit the running transaction if it has anything. */
int sdx_journal_force_commit(struct sdx_journal *j);
sdx_tid_t sdx_journal_last_committed(const struct sdx_journal *j);
sdx_tid_t sdx_journal_running_tid(const struct sdx_journal *j);
void sdx_journal_get_stats(const struct sdx_journal *j,
			   struct sdx_journal_stats *st);

#endif /* SDX_JOURNAL_H */
