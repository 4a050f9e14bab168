/*
 * journal_int.h - the journal's private state, shared by the files of
 * src/journal (journal.c handles and reads, journal_super.c the jbd2
 * superblock and log geometry, journal_commit.c, journal_checkpoint.c,
 * journal_recovery.c).  Nothing outside src/journal includes it.
 *
 * A metadata block the journal knows is a struct sdx_jblock in a hash by
 * block number.  It holds up to three DRAM copies, one per stage:
 *
 *   home (device) --get_write_access--> running copy (handles modify it)
 *   running --commit starts-->  committing copy (frozen: written to the log,
 *                               never modified; a handle of the next
 *                               transaction gets a new running copy of it)
 *   committing --commit record durable--> checkpoint copy (replaces older)
 *   checkpoint --checkpoint: written home--> (freed); the log tail
 *                advances later, when a commit needs the space
 *
 * Readers see running > committing > checkpoint > home.
 *
 * Invariants:
 *   (1) A jblock is on running.blocks iff in_running, on committing.blocks
 *       iff in_committing, on j->checkpoint iff on_checkpoint, and on a
 *       revoke list iff revoke_running / revoke_committing; it is freed
 *       only when none of these holds and it has no copy.
 *   (2) The log holds the transactions from tail (tid tail_tid) up to
 *       head; log_used counts those blocks and never exceeds log_len().
 *   (3) At most one transaction commits at a time (commit_in_flight); its
 *       log space is reserved (head advanced) before its blocks are
 *       written, and no checkpoint runs until it is finished.
 *   (4) Only the committing transaction's writer touches jb->committing
 *       without the owner lock, and only to read it.
 *   (5) Counters change only through j->stats (another process may be
 *       reading them: the published page).
 */
#ifndef SDX_JOURNAL_INT_H
#define SDX_JOURNAL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/jbd2.h"
#include "journal/journal.h"

struct sdx_dev;

struct sdx_jblock {
	uint64_t block;
	struct sdx_jblock *hash_next;
	uint8_t *running;
	uint8_t *committing;
	uint8_t *checkpoint;
	bool in_running;
	bool dirty;			/* running copy marked dirty */
	bool revoke_running;
	bool in_committing;
	bool revoke_committing;
	bool on_checkpoint;
};

struct sdx_jvec {
	struct sdx_jblock **v;
	size_t n, cap;
};

struct sdx_transaction {
	sdx_tid_t tid;
	struct sdx_jvec blocks;		/* blocks with write access */
	struct sdx_jvec revokes;	/* blocks revoked */
	unsigned updates;		/* open handles */
	uint64_t nr_dirty;		/* dirty blocks on blocks */
	uint32_t log_start;		/* committing: first log block */
};

struct sdx_journal {
	struct sdx_dev *dev;
	struct sdx_journal_opts opts;
	bool direct;			/* no jbd2 log: write home at once */

	/* journal_super.c: geometry of the log */
	struct sdx_jextent *ext;	/* the journal inode's block map */
	unsigned nr_ext;
	struct jbd2_superblock *jsb;	/* in the device mapping */
	uint32_t first, maxlen;		/* log blocks first..maxlen-1 */
	bool csum_v2, csum_v3, is_64bit;
	uint32_t csum_seed;
	uint32_t tag_bytes;
	uint32_t max_transaction;	/* blocks a transaction may log */

	/* the log (invariant 2) */
	uint32_t head, tail;
	sdx_tid_t tail_tid;
	uint32_t log_used;
	bool media_empty;		/* jsb says s_start == 0 */

	/* transactions */
	struct sdx_transaction running;
	struct sdx_transaction committing;
	bool commit_in_flight;
	sdx_tid_t committed_tid;
	struct sdx_jvec checkpoint;
	int aborted;			/* -errno after a failed write */

	/* blocks by number */
	struct sdx_jblock **hash;
	size_t hash_size, hash_count;

	/* background thread (journal.c) */
	pthread_t thread;
	bool has_thread;
	pthread_mutex_t bg_lock;
	pthread_cond_t bg_cond;
	bool stopping;
	pthread_cond_t commit_done;	/* waited on with opts.owner_lock */

	/* counters: where the opener said (opts.stats: its mount's published
	 * page, lib/statpage.h), else own_stats */
	struct sdx_journal_stats *stats;
	struct sdx_journal_stats own_stats;
};

/* log_used, and its published gauge (invariant 2). */
static inline void sdx_jset_log_used(struct sdx_journal *j, uint32_t used)
{
	j->log_used = used;
	sdx_stat_set(&j->stats->log_used, used);
}

/* journal.c */
struct sdx_jblock *sdx_jblock_find(struct sdx_journal *j, uint64_t block);
struct sdx_jblock *sdx_jblock_get(struct sdx_journal *j, uint64_t block);
void sdx_jblock_release(struct sdx_journal *j, struct sdx_jblock *jb);
int sdx_jvec_push(struct sdx_jvec *vec, struct sdx_jblock *jb);
void sdx_jvec_free(struct sdx_jvec *vec);
uint8_t *sdx_journal_home(const struct sdx_journal *j, uint64_t block);

/* journal_super.c */
int sdx_jsb_load(struct sdx_journal *j, const struct sdx_jextent *ext,
		 unsigned nr_ext);
int sdx_jsb_set_features(struct sdx_journal *j);
void sdx_jsb_write_tail(struct sdx_journal *j, uint32_t start,
			sdx_tid_t sequence);
uint8_t *sdx_jlog_block(const struct sdx_journal *j, uint32_t lblk);
uint32_t sdx_jlog_next(const struct sdx_journal *j, uint32_t lblk);
uint32_t sdx_jlog_len(const struct sdx_journal *j);
bool sdx_jhas_csum(const struct sdx_journal *j);
uint32_t sdx_jcsum_tail(const struct sdx_journal *j, const uint8_t *block);
uint32_t sdx_jcsum_commit(const struct sdx_journal *j, const uint8_t *block);
uint32_t sdx_jcsum_data(const struct sdx_journal *j, sdx_tid_t tid,
			const uint8_t *block);
uint32_t sdx_jtags_per_descriptor(const struct sdx_journal *j);
uint32_t sdx_jrevokes_per_block(const struct sdx_journal *j);

/* journal_commit.c */
int sdx_jcommit(struct sdx_journal *j);
int sdx_jcommit_start(struct sdx_journal *j);
void sdx_jcommit_write(struct sdx_journal *j);
void sdx_jcommit_finish(struct sdx_journal *j);
void sdx_jwait_commit(struct sdx_journal *j);

/* journal_checkpoint.c */
void sdx_jwrite_home(struct sdx_journal *j);
void sdx_jcheckpoint(struct sdx_journal *j);
void sdx_jreset_log(struct sdx_journal *j, sdx_tid_t next_tid);

/* journal_recovery.c */
int sdx_jrecover(struct sdx_journal *j);

#endif /* SDX_JOURNAL_INT_H */
