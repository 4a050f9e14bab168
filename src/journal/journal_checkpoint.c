/*
 * journal_checkpoint.c - writing committed blocks home and advancing the
 * log tail.
 *
 * Checkpoint writes every checkpoint copy (the newest committed version of
 * a block) to its home location, drains, and only then moves the tail in
 * the journal superblock to the head: the log is then empty.  It never
 * runs while a commit is in flight (callers wait for it first), so every
 * transaction in the log is committed and covered.
 *
 * Invariants:
 *   (1) The tail in the superblock never passes a transaction whose blocks
 *       are not durable at home.
 *   (2) A read-only journal never checkpoints: its checkpoint copies are
 *       the in-memory overlay of a recovery that must not write.
 */
#include <stdlib.h>
#include <string.h>

#include "journal/journal_int.h"
#include "pmem/pmem.h"

/**
 * sdx_jcheckpoint - write all committed blocks home, advance the tail
 * @j: the journal
 *
 * Context: owner lock held (or the journal not shared: open, close); no
 *          commit in flight.
 * Return: 0.
 */
int sdx_jcheckpoint(struct sdx_journal *j)
{
	if (j->opts.readonly || (j->checkpoint.n == 0 && j->head == j->tail))
		return 0;
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
	j->log_used = 0;
	j->tail = j->head;
	j->tail_tid = j->running.tid;
	sdx_jsb_write_tail(j, j->tail, j->tail_tid);
	j->stats.checkpoints++;
	return 0;
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
	j->log_used = 0;
	j->running.tid = next_tid;
	j->committed_tid = next_tid - 1;
	sdx_jsb_write_tail(j, 0, next_tid);
}
