/*
 * journal_commit.c - writing a transaction to the jbd2 log.
 *
 * A commit has three phases:
 *
 *   start   (owner lock)  the running transaction becomes the committing
 *                         one, its dirty copies are frozen, its log space
 *                         is reserved; a new running transaction opens.
 *   write   (lock dropped by the background thread)  descriptor blocks
 *                         with tags, the block copies (jbd2 magic escaped),
 *                         revoke blocks; one drain; then the commit block,
 *                         persisted on its own.
 *   finish  (owner lock)  the frozen copies become checkpoint copies, the
 *                         tid counts as committed, waiters wake.
 *
 * Invariants:
 *   (1) The commit block reaches the device only after every other block
 *       of its transaction has been drained (jbd2 without async_commit).
 *   (2) The journal superblock names a log start at or before the first
 *       block of every transaction whose commit block may be durable.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal/journal_int.h"
#include "lib/err.h"
#include "pmem/pmem.h"

static uint32_t div_up(uint64_t a, uint32_t b)
{
	return (uint32_t)((a + b - 1) / b);
}

/* Log blocks a transaction of @nblocks copies and @nrevokes revokes uses. */
static uint64_t footprint(const struct sdx_journal *j, uint64_t nblocks,
			  uint64_t nrevokes)
{
	return div_up(nblocks, sdx_jtags_per_descriptor(j)) + nblocks +
	       div_up(nrevokes, sdx_jrevokes_per_block(j)) + 1;
}

static void put_header(uint8_t *b, uint32_t type, sdx_tid_t tid)
{
	memset(b, 0, SDX_PAGE_SIZE);
	jbd2_put32(b, JBD2_MAGIC_NUMBER);
	jbd2_put32(b + 4, type);
	jbd2_put32(b + 8, tid);
}

static int checkpoint_reserve(struct sdx_journal *j, size_t extra)
{
	struct sdx_jvec *vec = &j->checkpoint;
	size_t cap = vec->cap ? vec->cap : 64;
	struct sdx_jblock **v;

	while (cap < vec->n + extra)
		cap *= 2;
	if (cap == vec->cap)
		return 0;
	v = realloc(vec->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	vec->v = v;
	vec->cap = cap;
	return 0;
}

/**
 * sdx_jcommit_start - phase 1: freeze the running transaction and reserve
 * its log space
 * Context: owner lock held, no commit in flight.
 * Return: 1 when a commit started (call sdx_jcommit_write, then _finish),
 *         0 when the running transaction is empty, -errno.
 */
int sdx_jcommit_start(struct sdx_journal *j)
{
	struct sdx_transaction *t = &j->running, *c = &j->committing;
	uint64_t need = footprint(j, t->nr_dirty, t->revokes.n);
	size_t n = 0;
	int err;

	if (t->nr_dirty == 0 && t->revokes.n == 0)
		return 0;
	if (t->updates)
		return sdx_err(-EDEADLK, "journal: commit of transaction %u "
			       "with %u handles open", t->tid, t->updates);
	if (need > sdx_jlog_len(j))
		return sdx_err(-ENOSPC, "journal: transaction %u needs %llu "
			       "log blocks, the log has %u", t->tid,
			       (unsigned long long)need, sdx_jlog_len(j));
	if (j->log_used + need > sdx_jlog_len(j) / 2)
		sdx_jcheckpoint(j);
	err = checkpoint_reserve(j, t->nr_dirty);
	if (err)
		return err;
	if (j->media_empty) {
		j->tail = j->head;
		j->tail_tid = t->tid;
		sdx_jsb_write_tail(j, j->head, t->tid);
	}
	*c = *t;
	memset(t, 0, sizeof(*t));
	t->tid = c->tid + 1;
	for (size_t i = 0; i < c->blocks.n; i++) {
		struct sdx_jblock *jb = c->blocks.v[i];

		jb->in_running = false;
		if (jb->dirty) {
			jb->committing = jb->running;
			jb->in_committing = true;
			c->blocks.v[n++] = jb;
		} else {
			free(jb->running);
		}
		jb->running = NULL;
		jb->dirty = false;
		sdx_jblock_release(j, jb);
	}
	c->blocks.n = n;
	for (size_t i = 0; i < c->revokes.n; i++) {
		c->revokes.v[i]->revoke_running = false;
		c->revokes.v[i]->revoke_committing = true;
	}
	c->log_start = j->head;
	for (uint64_t i = 0; i < need; i++)
		j->head = sdx_jlog_next(j, j->head);
	sdx_jset_log_used(j, j->log_used + (uint32_t)need);
	j->commit_in_flight = true;
	return 1;
}

static void put_tag(const struct sdx_journal *j, uint8_t *tag,
		    uint64_t block, uint32_t flags, uint32_t csum)
{
	jbd2_put32(tag + JBD2_TAG_BLOCKNR, (uint32_t)block);
	if (j->csum_v3) {
		jbd2_put32(tag + JBD2_TAG3_FLAGS, flags);
		jbd2_put32(tag + JBD2_TAG3_BLOCKNR_HIGH,
			   (uint32_t)(block >> 32));
		jbd2_put32(tag + JBD2_TAG3_CHECKSUM, csum);
		return;
	}
	if (j->csum_v2)
		jbd2_put16(tag + JBD2_TAG_CHECKSUM16, (uint16_t)csum);
	jbd2_put16(tag + JBD2_TAG_FLAGS16, (uint16_t)flags);
	if (j->is_64bit)
		jbd2_put32(tag + JBD2_TAG_BLOCKNR_HIGH,
			   (uint32_t)(block >> 32));
}

/* Write descriptor blocks and copies from @pos; return the next block. */
static uint32_t write_copies(struct sdx_journal *j,
			     const struct sdx_transaction *c, uint32_t pos)
{
	uint32_t per = sdx_jtags_per_descriptor(j);

	for (size_t i = 0; i < c->blocks.n; i += per) {
		size_t n = c->blocks.n - i < per ? c->blocks.n - i : per;
		uint8_t *desc = sdx_jlog_block(j, pos);
		uint32_t off = JBD2_HEADER_SIZE;

		put_header(desc, JBD2_DESCRIPTOR_BLOCK, c->tid);
		pos = sdx_jlog_next(j, pos);
		for (size_t k = 0; k < n; k++) {
			const struct sdx_jblock *jb = c->blocks.v[i + k];
			uint8_t *copy = sdx_jlog_block(j, pos);
			uint32_t flags = k ? JBD2_FLAG_SAME_UUID : 0;

			memcpy(copy, jb->committing, SDX_PAGE_SIZE);
			if (jbd2_get32(copy) == JBD2_MAGIC_NUMBER) {
				jbd2_put32(copy, 0);
				flags |= JBD2_FLAG_ESCAPE;
			}
			if (k + 1 == n)
				flags |= JBD2_FLAG_LAST_TAG;
			put_tag(j, desc + off, jb->block, flags,
				sdx_jhas_csum(j) ?
				sdx_jcsum_data(j, c->tid, copy) : 0);
			off += j->tag_bytes;
			if (k == 0) {
				memcpy(desc + off, j->jsb->s_uuid,
				       JBD2_UUID_SIZE);
				off += JBD2_UUID_SIZE;
			}
			sdx_dev_flush(j->dev, copy, SDX_PAGE_SIZE);
			pos = sdx_jlog_next(j, pos);
		}
		if (sdx_jhas_csum(j))
			jbd2_put32(desc + SDX_PAGE_SIZE - JBD2_TAIL_SIZE,
				   sdx_jcsum_tail(j, desc));
		sdx_dev_flush(j->dev, desc, SDX_PAGE_SIZE);
	}
	return pos;
}

static uint32_t write_revokes(struct sdx_journal *j,
			      const struct sdx_transaction *c, uint32_t pos)
{
	uint32_t per = sdx_jrevokes_per_block(j);
	uint32_t rec = j->is_64bit ? 8 : 4;

	for (size_t i = 0; i < c->revokes.n; i += per) {
		size_t n = c->revokes.n - i < per ? c->revokes.n - i : per;
		uint8_t *b = sdx_jlog_block(j, pos);
		uint32_t off = JBD2_REVOKE_HEADER_SIZE;

		put_header(b, JBD2_REVOKE_BLOCK, c->tid);
		for (size_t k = 0; k < n; k++, off += rec) {
			uint64_t block = c->revokes.v[i + k]->block;

			if (j->is_64bit)
				jbd2_put64(b + off, block);
			else
				jbd2_put32(b + off, (uint32_t)block);
		}
		jbd2_put32(b + JBD2_HEADER_SIZE, off);
		if (sdx_jhas_csum(j))
			jbd2_put32(b + SDX_PAGE_SIZE - JBD2_TAIL_SIZE,
				   sdx_jcsum_tail(j, b));
		sdx_dev_flush(j->dev, b, SDX_PAGE_SIZE);
		pos = sdx_jlog_next(j, pos);
	}
	return pos;
}

/* Phase 2: may run without the owner lock (journal_int.h invariant 4). */
void sdx_jcommit_write(struct sdx_journal *j)
{
	const struct sdx_transaction *c = &j->committing;
	uint32_t pos = write_revokes(j, c, write_copies(j, c, c->log_start));
	uint8_t *commit = sdx_jlog_block(j, pos);
	struct timespec now;

	sdx_dev_drain(j->dev);
	clock_gettime(CLOCK_REALTIME, &now);
	put_header(commit, JBD2_COMMIT_BLOCK, c->tid);
	jbd2_put64(commit + JBD2_COMMIT_SEC, (uint64_t)now.tv_sec);
	jbd2_put32(commit + JBD2_COMMIT_NSEC, (uint32_t)now.tv_nsec);
	if (sdx_jhas_csum(j))
		jbd2_put32(commit + JBD2_COMMIT_CHKSUM,
			   sdx_jcsum_commit(j, commit));
	sdx_dev_persist(j->dev, commit, SDX_PAGE_SIZE);
}

/* Phase 3: the commit record is durable.  Owner lock held, or the
 * journal closing (nothing else runs). */
void sdx_jcommit_finish(struct sdx_journal *j)
{
	struct sdx_transaction *c = &j->committing;

	for (size_t i = 0; i < c->blocks.n; i++) {
		struct sdx_jblock *jb = c->blocks.v[i];

		free(jb->checkpoint);
		jb->checkpoint = jb->committing;
		jb->committing = NULL;
		jb->in_committing = false;
		if (!jb->on_checkpoint) {
			j->checkpoint.v[j->checkpoint.n++] = jb;
			jb->on_checkpoint = true;
		}
	}
	for (size_t i = 0; i < c->revokes.n; i++) {
		struct sdx_jblock *jb = c->revokes.v[i];

		/* The revoke now keeps older log copies from replay, so an
		 * older committed copy need not (must not) go home. */
		free(jb->checkpoint);
		jb->checkpoint = NULL;
		jb->revoke_committing = false;
		sdx_jblock_release(j, jb);
	}
	j->committed_tid = c->tid;
	j->stats->commits++;
	j->stats->commit_blocks += c->blocks.n;
	j->stats->revoked_blocks += c->revokes.n;
	sdx_jvec_free(&c->blocks);
	sdx_jvec_free(&c->revokes);
	memset(c, 0, sizeof(*c));
	j->commit_in_flight = false;
	pthread_cond_broadcast(&j->commit_done);
}

/* Wait for a commit the background thread has in flight. */
void sdx_jwait_commit(struct sdx_journal *j)
{
	while (j->commit_in_flight)
		pthread_cond_wait(&j->commit_done, j->opts.owner_lock);
}

/**
 * sdx_jcommit - commit the running transaction, if it has anything
 * @j: the journal
 *
 * Context: owner lock held (dropped while waiting for a background commit
 *          in flight); no handle open on the running transaction.
 * Return: 0, -EDEADLK with an open handle, -ENOSPC for a transaction
 *         larger than the log, -ENOMEM.
 */
int sdx_jcommit(struct sdx_journal *j)
{
	int err;

	sdx_jwait_commit(j);
	err = sdx_jcommit_start(j);
	if (err <= 0)
		return err;
	sdx_jcommit_write(j);
	sdx_jcommit_finish(j);
	return 0;
}
