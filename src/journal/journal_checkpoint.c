/*
 * journal_checkpoint.c - writing committed blocks home and advancing the
 * log tail.
 *
 * Checkpoint writes every checkpoint copy (the newest committed version of
 * a block) to its home location, drains, and only then moves the tail in
 * the journal superblock past the transactions it covered: to the first
 * block of the transaction still committing, else to the head.
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
 * Context: owner lock held (or the journal not yet shared: open).
 * Return: 0.
 */
int sdx_jcheckpoint(struct sdx_journal *j)
{
	uint32_t tail = j->commit_in_flight ? j->committing.log_start
					    : j->head;
	sdx_tid_t tid = j->commit_in_flight ? j->committing.tid
					    : j->running.tid;

	if (j->opts.readonly || (j->checkpoint.n == 0 && tail == j->tail))
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
	j->log_used = j->log_used -
		      (tail >= j->tail ? tail - j->tail
				       : sdx_jlog_len(j) - (j->tail - tail));
	j->tail = tail;
	j->tail_tid = tid;
	sdx_jsb_write_tail(j, tail, tid);
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
