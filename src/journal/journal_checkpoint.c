/*
 * journal_checkpoint.c - writing committed blocks home and advancing the
 * log tail.
 *
 * Two steps, taken apart on purpose:
 *
 *   write home   every checkpoint copy (the newest committed version of a
 *                block) goes to its home location; one drain; the copies
 *                are freed.  The background thread does this after each
 *                periodic commit, so DRAM holds little.
 *   advance tail the superblock's s_start/s_sequence move to the head: the
 *                log is empty.  Only when a commit needs the space (the log
 *                is more than half full) -- or, at close and after
 *                recovery, the log is marked empty instead.
 *
 * Until the tail moves, recovery replays transactions whose blocks are
 * already home: harmless (the log holds every transaction since the tail,
 * in order, with its revokes), and each superblock write is a moment in
 * which a crash can tear it (journal_super.c), so they stay rare.
 *
 * Neither step runs while a commit is in flight (callers wait for it), so
 * every transaction in the log is committed.
 *
 * Invariants:
 *   (1) The tail in the superblock never passes a transaction whose blocks
 *       are not durable at home.
 *   (2) A read-only journal never writes home: its checkpoint copies are
 *       the in-memory overlay of a recovery that must not write.
 */
#include <stdlib.h>
#include <string.h>

#include "journal/journal_int.h"
#include "pmem/pmem.h"

/**
 * sdx_jwrite_home - write all committed blocks home and free their copies
 * @j: the journal
 *
 * Context: owner lock held (or the journal not shared: open, close); no
 *          commit in flight.
 */
void sdx_jwrite_home(struct sdx_journal *j)
{
	if (j->opts.readonly || j->checkpoint.n == 0)
		return;
	for (size_t i = 0; i < j->checkpoint.n; i++) {
		struct sdx_jblock *jb = j->checkpoint.v[i];
		uint8_t *home = sdx_journal_home(j, jb->block);

		if (!jb->checkpoint)
			continue;
		memcpy(home, jb->checkpoint, SDX_PAGE_SIZE);
		sdx_dev_flush(j->dev, home, SDX_PAGE_SIZE);
	}
	sdx_dev_drain(j->dev);
	for (size_t i = 0; i < j->checkpoint.n; i++) {
		struct sdx_jblock *jb = j->checkpoint.v[i];

		free(jb->checkpoint);
		jb->checkpoint = NULL;
		jb->on_checkpoint = false;
		sdx_jblock_release(j, jb);
	}
	j->checkpoint.n = 0;
	j->stats->checkpoints++;
}

/**
 * sdx_jcheckpoint - write all committed blocks home, then move the tail to
 * the head (the log is empty)
 * @j: a read-write journal
 *
 * Context: as sdx_jwrite_home.
 */
void sdx_jcheckpoint(struct sdx_journal *j)
{
	sdx_jwrite_home(j);
	if (j->opts.readonly || j->head == j->tail)
		return;
	sdx_jset_log_used(j, 0);
	j->tail = j->head;
	j->tail_tid = j->running.tid;
	sdx_jsb_write_tail(j, j->tail, j->tail_tid);
}

/**
 * sdx_jreset_log - mark the log empty (s_start 0), next tid @next_tid
 * @j: the journal, everything in it checkpointed
 *
 * As jbd2 does at unmount and after recovery; e2fsck then sees a clean
 * journal.
 */
void sdx_jreset_log(struct sdx_journal *j, sdx_tid_t next_tid)
{
	j->head = j->tail = j->first;
	j->tail_tid = next_tid;
	sdx_jset_log_used(j, 0);
	j->running.tid = next_tid;
	j->committed_tid = next_tid - 1;
	sdx_jsb_write_tail(j, 0, next_tid);
}
