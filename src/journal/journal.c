/*
 * journal.c - handles, transactions and reads of the syncdax journal; open,
 * close and the background commit thread.
 *
 * A handle joins the running transaction.  get_write_access gives it the
 * running transaction's DRAM copy of a block (made from the newest
 * version: committing > checkpoint > home); dirty_metadata marks the copy
 * for the log; revoke drops the block from the transaction and records a
 * revoke.  The life of a copy is told in journal_int.h.
 *
 * Transaction states (tids increase by one):
 *
 *   RUNNING --commit starts (no open handle)--> COMMITTING (log blocks
 *   written; the next RUNNING opens at once) --commit record durable-->
 *   COMMITTED (copies wait for checkpoint) --checkpoint--> home, freed
 *
 * A commit starts when a handle would overflow the transaction
 * (sdx_journal_start), on sdx_journal_commit_upto/force_commit, at close,
 * and every commit_interval_ms in the background thread, which takes the
 * owner's lock and drops it while the log blocks are written (so a handle
 * of the next transaction may copy a committing block: frozen data).
 *
 * Direct mode (opts.no_journal): handles write home and persist at
 * dirty_metadata; a "commit" only advances the tids.
 *
 * Invariants:
 *   (1) committed_tid + 1 == running.tid, or + 2 while a commit is in
 *       flight; committed_tid only grows.
 *   (2) Every block number passing through here is < fs_blocks and inside
 *       the device mapping.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal/journal_int.h"
#include "lib/err.h"
#include "pmem/pmem.h"

#define SDX_JOURNAL_DEFAULT_INTERVAL_MS 5000u
#define HASH_MIN_SIZE 1024u
/* How long the background thread waits for the owner's lock at a time
 * before it looks again whether the journal is closing. */
#define BG_LOCK_POLL_NS 20000000L

struct sdx_handle {
	struct sdx_journal *j;
	sdx_tid_t tid;
};

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

uint8_t *sdx_journal_home(const struct sdx_journal *j, uint64_t block)
{
	return j->dev->base + block * SDX_PAGE_SIZE;
}

/* ---- the block hash and vectors ---- */

static size_t hash_slot(const struct sdx_journal *j, uint64_t block)
{
	return (size_t)((block * 0x9e3779b97f4a7c15ull) >> 17) &
	       (j->hash_size - 1);
}

struct sdx_jblock *sdx_jblock_find(struct sdx_journal *j, uint64_t block)
{
	struct sdx_jblock *jb = j->hash[hash_slot(j, block)];

	while (jb && jb->block != block)
		jb = jb->hash_next;
	return jb;
}

static int hash_grow(struct sdx_journal *j)
{
	size_t old_size = j->hash_size;
	struct sdx_jblock **old = j->hash;

	j->hash = calloc(old_size * 2, sizeof(*j->hash));
	if (!j->hash) {
		j->hash = old;
		return -ENOMEM;
	}
	j->hash_size = old_size * 2;
	for (size_t i = 0; i < old_size; i++) {
		struct sdx_jblock *jb = old[i], *next;

		for (; jb; jb = next) {
			size_t s = hash_slot(j, jb->block);

			next = jb->hash_next;
			jb->hash_next = j->hash[s];
			j->hash[s] = jb;
		}
	}
	free(old);
	return 0;
}

/* Find or add the jblock of @block; NULL when out of memory. */
struct sdx_jblock *sdx_jblock_get(struct sdx_journal *j, uint64_t block)
{
	struct sdx_jblock *jb = sdx_jblock_find(j, block);
	size_t s;

	if (jb)
		return jb;
	if (j->hash_count >= j->hash_size * 2 && hash_grow(j))
		return NULL;
	jb = calloc(1, sizeof(*jb));
	if (!jb)
		return NULL;
	jb->block = block;
	s = hash_slot(j, block);
	jb->hash_next = j->hash[s];
	j->hash[s] = jb;
	j->hash_count++;
	return jb;
}

/* Free @jb if no stage holds it any more (journal_int.h invariant 1). */
void sdx_jblock_release(struct sdx_journal *j, struct sdx_jblock *jb)
{
	struct sdx_jblock **pp;

	if (jb->running || jb->committing || jb->checkpoint ||
	    jb->in_running || jb->revoke_running || jb->in_committing ||
	    jb->revoke_committing || jb->on_checkpoint)
		return;
	for (pp = &j->hash[hash_slot(j, jb->block)]; *pp != jb;
	     pp = &(*pp)->hash_next)
		;
	*pp = jb->hash_next;
	j->hash_count--;
	free(jb);
}

int sdx_jvec_push(struct sdx_jvec *vec, struct sdx_jblock *jb)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 64;
		struct sdx_jblock **v = realloc(vec->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		vec->v = v;
		vec->cap = cap;
	}
	vec->v[vec->n++] = jb;
	return 0;
}

static void jvec_remove(struct sdx_jvec *vec, struct sdx_jblock *jb)
{
	for (size_t i = 0; i < vec->n; i++) {
		if (vec->v[i] == jb) {
			vec->v[i] = vec->v[--vec->n];
			return;
		}
	}
}

void sdx_jvec_free(struct sdx_jvec *vec)
{
	free(vec->v);
	memset(vec, 0, sizeof(*vec));
}

/* ---- background commit ---- */

static void deadline_after_ns(struct timespec *ts, long ns)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += ns % 1000000000L;
	ts->tv_sec += ns / 1000000000L + ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

static bool is_stopping(struct sdx_journal *j)
{
	return __atomic_load_n(&j->stopping, __ATOMIC_ACQUIRE);
}

/* Take the owner's lock unless the journal closes meanwhile (which would
 * hold that lock while it waits for this thread). */
static bool lock_owner_unless_stopping(struct sdx_journal *j)
{
	struct timespec ts;

	for (;;) {
		if (is_stopping(j))
			return false;
		deadline_after_ns(&ts, BG_LOCK_POLL_NS);
		if (pthread_mutex_timedlock(j->opts.owner_lock, &ts) == 0)
			return true;
	}
}

/*
 * Every commit_interval_ms: commit the running transaction (dropping the
 * owner's lock while the log blocks are written) and write the committed
 * blocks home.  When the
 * journal closes while a commit is being written, the closer may hold the
 * owner's lock and waits for this thread: the commit then finishes without
 * the lock, which is safe because nothing else runs during close.
 */
static void *background(void *arg)
{
	struct sdx_journal *j = arg;
	struct timespec ts;

	for (;;) {
		pthread_mutex_lock(&j->bg_lock);
		if (!j->stopping) {
			deadline_after_ns(&ts, (long)j->opts.commit_interval_ms *
					  1000000L);
			pthread_cond_timedwait(&j->bg_cond, &j->bg_lock, &ts);
		}
		pthread_mutex_unlock(&j->bg_lock);
		if (!lock_owner_unless_stopping(j))
			break;
		if (j->running.updates == 0 && sdx_jcommit_start(j) > 0) {
			pthread_mutex_unlock(j->opts.owner_lock);
			sdx_jcommit_write(j);
			if (!lock_owner_unless_stopping(j)) {
				sdx_jcommit_finish(j);
				break;
			}
			sdx_jcommit_finish(j);
		}
		sdx_jwrite_home(j);
		pthread_mutex_unlock(j->opts.owner_lock);
	}
	return NULL;
}

static int start_background(struct sdx_journal *j)
{
	int err;

	if (!j->opts.owner_lock || j->opts.readonly || j->direct)
		return 0;
	pthread_mutex_init(&j->bg_lock, NULL);
	pthread_cond_init(&j->bg_cond, NULL);
	err = pthread_create(&j->thread, NULL, background, j);
	if (err)
		return sdx_err(-err, "journal: cannot start the commit thread");
	j->has_thread = true;
	return 0;
}

static void stop_background(struct sdx_journal *j)
{
	if (!j->has_thread)
		return;
	pthread_mutex_lock(&j->bg_lock);
	__atomic_store_n(&j->stopping, true, __ATOMIC_RELEASE);
	pthread_cond_signal(&j->bg_cond);
	pthread_mutex_unlock(&j->bg_lock);
	pthread_join(j->thread, NULL);
	pthread_mutex_destroy(&j->bg_lock);
	pthread_cond_destroy(&j->bg_cond);
	j->has_thread = false;
}

/* ---- open and close ---- */

static void free_blocks(struct sdx_journal *j)
{
	for (size_t i = 0; j->hash && i < j->hash_size; i++) {
		struct sdx_jblock *jb = j->hash[i], *next;

		for (; jb; jb = next) {
			next = jb->hash_next;
			free(jb->running);
			free(jb->committing);
			free(jb->checkpoint);
			free(jb);
		}
	}
	free(j->hash);
	sdx_jvec_free(&j->running.blocks);
	sdx_jvec_free(&j->running.revokes);
	sdx_jvec_free(&j->committing.blocks);
	sdx_jvec_free(&j->committing.revokes);
	sdx_jvec_free(&j->checkpoint);
}

static void journal_free(struct sdx_journal *j)
{
	free_blocks(j);
	free(j->ext);
	pthread_cond_destroy(&j->commit_done);
	free(j);
}

/**
 * sdx_journal_open - load the journal of a file system (see journal.h)
 *
 * Context: the caller holds opts->owner_lock if it gives one (as for every
 *          call here); the background thread starts only with a lock.
 * Return: 0, or -errno with a sentence.  After a read-write open whose
 *         recovery replayed transactions the log is empty again, so the
 *         caller may clear the ext4 needs_recovery flag at once.
 */
int sdx_journal_open(struct sdx_dev *dev, const struct sdx_jextent *ext,
		     unsigned nr_ext, const struct sdx_journal_opts *opts,
		     struct sdx_journal **out)
{
	struct sdx_journal *j;
	int err;

	if (opts->fs_blocks == 0)
		return sdx_err(-EINVAL, "journal: file system of 0 blocks");
	if (!opts->readonly && dev->is_rdonly)
		return sdx_err(-EROFS, "journal: read-write journal on a "
			       "read-only device");
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->dev = dev;
	j->opts = *opts;
	j->direct = opts->no_journal;
	j->stats = opts->stats ? opts->stats : &j->own_stats;
	if (j->opts.commit_interval_ms == 0)
		j->opts.commit_interval_ms = SDX_JOURNAL_DEFAULT_INTERVAL_MS;
	pthread_cond_init(&j->commit_done, NULL);
	j->running.tid = 1;
	j->hash_size = HASH_MIN_SIZE;
	j->hash = calloc(j->hash_size, sizeof(*j->hash));
	err = -ENOMEM;
	if (!j->hash)
		goto out_free;
	if (!j->direct) {
		err = sdx_jsb_load(j, ext, nr_ext);
		if (err)
			goto out_free;
		j->stats->log_blocks = sdx_jlog_len(j);
		err = sdx_jrecover(j);
		if (err)
			goto out_free;
		if (!opts->readonly) {
			err = sdx_jsb_set_features(j);
			if (err)
				goto out_free;
		}
	}
	j->committed_tid = j->running.tid - 1;
	err = start_background(j);
	if (err)
		goto out_free;
	*out = j;
	return 0;
out_free:
	journal_free(j);
	return err;
}

/**
 * sdx_journal_close - commit, checkpoint and free the journal
 *
 * Context: the last call on @j: no handle open, no other call running;
 *          the owner's lock may be held or not (the background thread
 *          does not wait for it once the journal closes).
 * Return: 0, or the first error of the final commit (the journal is freed
 *         either way; recovery at the next open replays what was durable).
 */
int sdx_journal_close(struct sdx_journal *j)
{
	int err = 0;

	if (!j)
		return 0;
	stop_background(j);
	if (!j->direct && !j->opts.readonly) {
		err = sdx_jcommit(j);
		if (!err) {
			sdx_jwrite_home(j);
			sdx_jreset_log(j, j->running.tid);
		}
	}
	journal_free(j);
	return err;
}

/* ---- handles ---- */

int sdx_journal_start(struct sdx_journal *j, int credits,
		      struct sdx_handle **out)
{
	struct sdx_transaction *t = &j->running;
	struct sdx_handle *h;
	int err;

	if (credits <= 0)
		return sdx_err(-EINVAL, "journal: handle with %d credits",
			       credits);
	if (j->opts.readonly)
		return sdx_err(-EROFS, "journal: read-only, no handles");
	if (!j->direct) {
		if ((uint32_t)credits > j->max_transaction)
			return sdx_err(-ENOSPC, "journal: handle of %d credits "
				       "exceeds the largest transaction (%u "
				       "blocks)", credits, j->max_transaction);
		if (t->updates == 0 &&
		    t->nr_dirty + (uint64_t)credits > j->max_transaction) {
			err = sdx_jcommit(j);
			if (err)
				return err;
		}
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->j = j;
	h->tid = j->running.tid;
	j->running.updates++;
	*out = h;
	return 0;
}

/* Give @block a running copy: from @zero, else the newest version. */
static int access_block(struct sdx_handle *h, uint64_t block, bool zero,
			void **data)
{
	struct sdx_journal *j = h->j;
	struct sdx_jblock *jb;
	const uint8_t *src;
	int err = check_block(j, block);

	if (err)
		return err;
	if (j->direct) {
		if (zero)
			memset(sdx_journal_home(j, block), 0, SDX_PAGE_SIZE);
		*data = sdx_journal_home(j, block);
		return 0;
	}
	jb = sdx_jblock_get(j, block);
	if (!jb)
		return -ENOMEM;
	if (!jb->running) {
		if (j->running.blocks.n >= 2 * (size_t)j->max_transaction) {
			sdx_jblock_release(j, jb);
			return sdx_err(-ENOSPC, "journal: transaction %u would "
				       "log more than %u blocks (handles "
				       "exceeded their credits)",
				       j->running.tid, 2 * j->max_transaction);
		}
		jb->running = malloc(SDX_PAGE_SIZE);
		if (!jb->running || sdx_jvec_push(&j->running.blocks, jb)) {
			free(jb->running);
			jb->running = NULL;
			sdx_jblock_release(j, jb);
			return -ENOMEM;
		}
		jb->in_running = true;
		src = jb->committing ? jb->committing :
		      jb->checkpoint ? jb->checkpoint :
		      sdx_journal_home(j, block);
		if (!zero)
			memcpy(jb->running, src, SDX_PAGE_SIZE);
	}
	if (zero)
		memset(jb->running, 0, SDX_PAGE_SIZE);
	if (jb->revoke_running) {
		/* Reused within the transaction: the revoke must not hide
		 * the new contents at replay. */
		jvec_remove(&j->running.revokes, jb);
		jb->revoke_running = false;
	}
	*data = jb->running;
	return 0;
}

int sdx_journal_get_write_access(struct sdx_handle *h, uint64_t block,
				 void **data)
{
	return access_block(h, block, false, data);
}

int sdx_journal_get_create_access(struct sdx_handle *h, uint64_t block,
				  void **data)
{
	return access_block(h, block, true, data);
}

void sdx_journal_dirty_metadata(struct sdx_handle *h, uint64_t block)
{
	struct sdx_journal *j = h->j;
	struct sdx_jblock *jb;

	if (check_block(j, block))
		return;
	if (j->direct) {
		sdx_dev_persist(j->dev, sdx_journal_home(j, block),
				SDX_PAGE_SIZE);
		j->running.nr_dirty++;
		return;
	}
	jb = sdx_jblock_find(j, block);
	if (!jb || !jb->running) {
		sdx_err(-EINVAL, "journal: block %llu dirtied without write "
			"access", (unsigned long long)block);
		return;
	}
	if (!jb->dirty) {
		jb->dirty = true;
		j->running.nr_dirty++;
	}
}

int sdx_journal_revoke(struct sdx_handle *h, uint64_t block)
{
	struct sdx_journal *j = h->j;
	struct sdx_jblock *jb;
	int err = check_block(j, block);

	if (err || j->direct)
		return err;
	jb = sdx_jblock_get(j, block);
	if (!jb)
		return -ENOMEM;
	if (jb->in_running) {
		jvec_remove(&j->running.blocks, jb);
		if (jb->dirty)
			j->running.nr_dirty--;
		free(jb->running);
		jb->running = NULL;
		jb->dirty = false;
		jb->in_running = false;
	}
	if (!jb->revoke_running) {
		err = sdx_jvec_push(&j->running.revokes, jb);
		if (err) {
			sdx_jblock_release(j, jb);
			return err;
		}
		jb->revoke_running = true;
	}
	return 0;
}

sdx_tid_t sdx_handle_tid(const struct sdx_handle *h)
{
	return h->tid;
}

int sdx_journal_stop(struct sdx_handle *h)
{
	struct sdx_journal *j = h->j;

	j->running.updates--;
	free(h);
	return 0;
}

/* ---- reads ---- */

const void *sdx_journal_bread(struct sdx_journal *j, uint64_t block)
{
	struct sdx_jblock *jb;

	if (check_block(j, block))
		return NULL;
	jb = sdx_jblock_find(j, block);
	if (jb && jb->running)
		return jb->running;
	if (jb && jb->committing)
		return jb->committing;
	if (jb && jb->checkpoint)
		return jb->checkpoint;
	return sdx_journal_home(j, block);
}

const void *sdx_journal_bread_committed(struct sdx_journal *j,
					uint64_t block)
{
	struct sdx_jblock *jb;

	if (check_block(j, block))
		return NULL;
	jb = sdx_jblock_find(j, block);
	if (jb && jb->checkpoint)
		return jb->checkpoint;
	return sdx_journal_home(j, block);
}

/* ---- commit requests ---- */

static int direct_commit(struct sdx_journal *j)
{
	if (j->running.nr_dirty == 0)
		return 0;
	j->committed_tid = j->running.tid++;
	j->running.nr_dirty = 0;
	j->stats->commits++;
	return 0;
}

int sdx_journal_force_commit(struct sdx_journal *j)
{
	if (j->opts.readonly)
		return 0;
	if (j->direct)
		return direct_commit(j);
	sdx_jwait_commit(j);
	return sdx_jcommit(j);
}

int sdx_journal_commit_upto(struct sdx_journal *j, sdx_tid_t tid)
{
	if ((int32_t)(tid - j->committed_tid) <= 0)
		return 0;
	sdx_jwait_commit(j);
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
	return j->running.tid;
}

void sdx_journal_get_stats(const struct sdx_journal *j,
			   struct sdx_journal_stats *st)
{
	*st = *j->stats;
}
