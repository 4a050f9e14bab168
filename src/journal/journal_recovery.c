/*
 * journal_recovery.c - replaying the jbd2 log at open, in jbd2's three
 * passes:
 *
 *   SCAN    from s_start/s_sequence, follow transactions while each block
 *           has the magic and the expected tid and every checksum holds;
 *           the end is the first transaction without a valid commit block.
 *   REVOKE  collect the revoke records of the committed transactions
 *           (block -> newest revoking tid).
 *   REPLAY  copy each tagged block of the committed transactions, oldest
 *           first, into a checkpoint copy unless a transaction at or after
 *           its own revoked it; the newest copy wins.
 *
 * Read-write: the copies are then checkpointed home and the log reset
 * (empty; the next tid skips one past the end, as jbd2 does, so stale
 * blocks of the broken transaction can never match).  Read-only: the
 * copies stay in memory as the overlay sdx_journal_bread serves; nothing
 * is written.
 *
 * Invariants:
 *   (1) Every count, offset and block number read from the log is checked
 *       before use: tags stay inside their descriptor, revoke counts inside
 *       their block, block numbers inside the file system (-EUCLEAN).
 *   (2) No pass reads more than the log's length of blocks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "journal/journal_int.h"
#include "lib/err.h"
#include "pmem/pmem.h"

enum pass { PASS_SCAN, PASS_REVOKE, PASS_REPLAY };

struct revoke_slot {
	uint64_t block;
	sdx_tid_t tid;
	bool used;
};

struct recovery {
	uint32_t start;
	sdx_tid_t start_tid;
	sdx_tid_t end_tid;		/* first tid without a commit */
	uint32_t end_pos;		/* log block after the last commit */
	struct revoke_slot *revokes;	/* open addressing, power of 2 */
	size_t revokes_size, revokes_count;
};

/* A pass stops at the end of the log: a broken or missing block. */
#define END_OF_LOG 1

static size_t revoke_slot(const struct recovery *rs, uint64_t block)
{
	return (size_t)((block * 0x9e3779b97f4a7c15ull) >> 17) &
	       (rs->revokes_size - 1);
}

static struct revoke_slot *revoke_find(struct recovery *rs, uint64_t block)
{
	size_t s;

	if (!rs->revokes)
		return NULL;
	for (s = revoke_slot(rs, block); rs->revokes[s].used;
	     s = (s + 1) & (rs->revokes_size - 1))
		if (rs->revokes[s].block == block)
			return &rs->revokes[s];
	return NULL;
}

static void revoke_put(struct recovery *rs, uint64_t block, sdx_tid_t tid)
{
	size_t s = revoke_slot(rs, block);

	while (rs->revokes[s].used)
		s = (s + 1) & (rs->revokes_size - 1);
	rs->revokes[s] = (struct revoke_slot){ block, tid, true };
	rs->revokes_count++;
}

static int revoke_add(struct recovery *rs, uint64_t block, sdx_tid_t tid)
{
	struct revoke_slot *slot = revoke_find(rs, block);

	if (slot) {
		if ((int32_t)(tid - slot->tid) > 0)
			slot->tid = tid;
		return 0;
	}
	if (2 * (rs->revokes_count + 1) > rs->revokes_size) {
		struct revoke_slot *old = rs->revokes;
		size_t old_size = rs->revokes_size;

		rs->revokes_size = old_size ? old_size * 2 : 256;
		rs->revokes = calloc(rs->revokes_size, sizeof(*old));
		if (!rs->revokes) {
			rs->revokes = old;
			rs->revokes_size = old_size;
			return -ENOMEM;
		}
		rs->revokes_count = 0;
		for (size_t i = 0; i < old_size; i++)
			if (old[i].used)
				revoke_put(rs, old[i].block, old[i].tid);
		free(old);
	}
	revoke_put(rs, block, tid);
	return 0;
}

static bool is_revoked(struct recovery *rs, uint64_t block, sdx_tid_t tid)
{
	struct revoke_slot *slot = revoke_find(rs, block);

	return slot && (int32_t)(slot->tid - tid) >= 0;
}

static uint32_t tag_flags(const struct sdx_journal *j, const uint8_t *tag)
{
	return j->csum_v3 ? jbd2_get32(tag + JBD2_TAG3_FLAGS)
			  : jbd2_get16(tag + JBD2_TAG_FLAGS16);
}

static uint64_t tag_block(const struct sdx_journal *j, const uint8_t *tag)
{
	uint64_t block = jbd2_get32(tag + JBD2_TAG_BLOCKNR);

	if (j->is_64bit)
		block |= (uint64_t)jbd2_get32(tag + JBD2_TAG_BLOCKNR_HIGH)
			 << 32;
	return block;
}

static bool tag_csum_ok(const struct sdx_journal *j, const uint8_t *tag,
			sdx_tid_t tid, const uint8_t *data)
{
	uint32_t csum = sdx_jcsum_data(j, tid, data);

	if (j->csum_v3)
		return jbd2_get32(tag + JBD2_TAG3_CHECKSUM) == csum;
	if (j->csum_v2)
		return jbd2_get16(tag + JBD2_TAG_CHECKSUM16) ==
		       (uint16_t)csum;
	return true;
}

/* Replay one logged block into its checkpoint copy (the overlay). */
static int replay_block(struct sdx_journal *j, uint64_t block,
			const uint8_t *data, uint32_t flags, sdx_tid_t tid)
{
	struct sdx_jblock *jb;

	if (block >= j->opts.fs_blocks ||
	    block >= j->dev->size / SDX_PAGE_SIZE)
		return sdx_err(-EUCLEAN, "journal transaction %u: tag for "
			       "block %llu beyond the file system (%llu "
			       "blocks)", tid, (unsigned long long)block,
			       (unsigned long long)j->opts.fs_blocks);
	jb = sdx_jblock_get(j, block);
	if (!jb)
		return -ENOMEM;
	if (!jb->checkpoint) {
		jb->checkpoint = malloc(SDX_PAGE_SIZE);
		if (!jb->checkpoint || sdx_jvec_push(&j->checkpoint, jb)) {
			free(jb->checkpoint);
			jb->checkpoint = NULL;
			sdx_jblock_release(j, jb);
			return -ENOMEM;
		}
		jb->on_checkpoint = true;
	}
	memcpy(jb->checkpoint, data, SDX_PAGE_SIZE);
	if (flags & JBD2_FLAG_ESCAPE)
		jbd2_put32(jb->checkpoint, JBD2_MAGIC_NUMBER);
	j->stats->replayed_blocks++;
	return 0;
}

/*
 * The tags of descriptor @desc (at *pos) and the copies after it; *pos
 * ends after the last copy, *walked counts the blocks.
 * Return: 0, END_OF_LOG (scan: broken), or -errno.
 */
static int do_descriptor(struct sdx_journal *j, struct recovery *rs,
			 enum pass pass, const uint8_t *desc, sdx_tid_t tid,
			 uint32_t *pos, uint32_t *walked)
{
	uint32_t end = SDX_PAGE_SIZE - (sdx_jhas_csum(j) ? JBD2_TAIL_SIZE : 0);
	uint32_t off = JBD2_HEADER_SIZE;
	uint32_t p = sdx_jlog_next(j, *pos);
	int err;

	if (pass == PASS_SCAN && sdx_jhas_csum(j) &&
	    jbd2_get32(desc + end) != sdx_jcsum_tail(j, desc))
		return END_OF_LOG;
	(*walked)++;
	while (off + j->tag_bytes <= end) {
		const uint8_t *tag = desc + off;
		uint32_t flags = tag_flags(j, tag);
		const uint8_t *data = sdx_jlog_block(j, p);

		if (++*walked > sdx_jlog_len(j))
			return pass == PASS_SCAN ? END_OF_LOG :
			       sdx_err(-EUCLEAN, "journal transaction %u runs "
				       "over the whole log", tid);
		if (pass == PASS_SCAN && !tag_csum_ok(j, tag, tid, data))
			return END_OF_LOG;
		if (pass == PASS_REPLAY) {
			uint64_t block = tag_block(j, tag);

			if (is_revoked(rs, block, tid)) {
				j->stats->revoked_blocks++;
			} else {
				err = replay_block(j, block, data, flags, tid);
				if (err)
					return err;
			}
		}
		p = sdx_jlog_next(j, p);
		off += j->tag_bytes;
		if (!(flags & JBD2_FLAG_SAME_UUID))
			off += JBD2_UUID_SIZE;
		if (flags & JBD2_FLAG_LAST_TAG)
			break;
	}
	*pos = p;
	return 0;
}

static int do_revoke(struct sdx_journal *j, struct recovery *rs,
		     enum pass pass, const uint8_t *b, sdx_tid_t tid)
{
	uint32_t end = SDX_PAGE_SIZE - (sdx_jhas_csum(j) ? JBD2_TAIL_SIZE : 0);
	uint32_t rec = j->is_64bit ? 8 : 4;
	uint32_t count = jbd2_get32(b + JBD2_HEADER_SIZE);
	int err;

	if (pass == PASS_SCAN)
		return (sdx_jhas_csum(j) &&
			jbd2_get32(b + end) != sdx_jcsum_tail(j, b)) ||
		       count < JBD2_REVOKE_HEADER_SIZE || count > end ||
		       (count - JBD2_REVOKE_HEADER_SIZE) % rec ? END_OF_LOG : 0;
	if (pass != PASS_REVOKE)
		return 0;
	for (uint32_t off = JBD2_REVOKE_HEADER_SIZE; off < count; off += rec) {
		uint64_t block = j->is_64bit ? ((uint64_t)jbd2_get32(b + off)
						<< 32) | jbd2_get32(b + off + 4)
					     : jbd2_get32(b + off);

		err = revoke_add(rs, block, tid);
		if (err)
			return err;
	}
	return 0;
}

/*
 * One pass over the log.  SCAN finds rs->end_tid/end_pos; the others stop
 * there.  Return: 0 or -errno.
 */
static int do_pass(struct sdx_journal *j, struct recovery *rs, enum pass pass)
{
	uint32_t pos = rs->start, walked = 0;
	sdx_tid_t tid = rs->start_tid;
	int err = 0;

	while (pass == PASS_SCAN || tid != rs->end_tid) {
		const uint8_t *b = sdx_jlog_block(j, pos);

		if (walked >= sdx_jlog_len(j) ||
		    jbd2_get32(b) != JBD2_MAGIC_NUMBER ||
		    jbd2_get32(b + 8) != tid)
			break;
		switch (jbd2_get32(b + 4)) {
		case JBD2_DESCRIPTOR_BLOCK:
			err = do_descriptor(j, rs, pass, b, tid, &pos, &walked);
			break;
		case JBD2_REVOKE_BLOCK:
			err = do_revoke(j, rs, pass, b, tid);
			pos = sdx_jlog_next(j, pos);
			walked++;
			break;
		case JBD2_COMMIT_BLOCK:
			if (pass == PASS_SCAN && sdx_jhas_csum(j) &&
			    jbd2_get32(b + JBD2_COMMIT_CHKSUM) !=
			    sdx_jcsum_commit(j, b)) {
				err = END_OF_LOG;
				break;
			}
			pos = sdx_jlog_next(j, pos);
			walked++;
			tid++;
			if (pass == PASS_SCAN) {
				rs->end_tid = tid;
				rs->end_pos = pos;
			}
			if (pass == PASS_REPLAY)
				j->stats->replayed_transactions++;
			break;
		default:
			err = END_OF_LOG;
		}
		if (err)
			break;
	}
	if (err == END_OF_LOG || (err == 0 && pass == PASS_SCAN))
		return 0;
	if (err == 0 && tid != rs->end_tid)
		return sdx_err(-EUCLEAN, "journal transaction %u changed "
			       "between recovery passes", tid);
	return err;
}

/**
 * sdx_jrecover - replay the committed transactions of the log
 * @j: a journal whose superblock sdx_jsb_load() accepted
 *
 * Sets the log geometry and the next tid.  Read-write: replayed blocks go
 * home and the log is reset; read-only: they stay in memory.
 * Return: 0, -EUCLEAN (a committed transaction names a block outside the
 *         file system), -ENOMEM.
 */
int sdx_jrecover(struct sdx_journal *j)
{
	struct recovery rs = { 0 };
	sdx_tid_t sequence = be32toh(j->jsb->s_sequence);
	int err;

	rs.start = be32toh(j->jsb->s_start);
	if (rs.start == 0) {
		j->head = j->tail = j->first;
		j->tail_tid = j->running.tid = sequence;
		j->media_empty = true;
		return 0;
	}
	rs.start_tid = rs.end_tid = sequence;
	rs.end_pos = rs.start;
	err = do_pass(j, &rs, PASS_SCAN);
	if (!err)
		err = do_pass(j, &rs, PASS_REVOKE);
	if (!err)
		err = do_pass(j, &rs, PASS_REPLAY);
	free(rs.revokes);
	if (err)
		return err;
	j->tail = rs.start;
	j->tail_tid = sequence;
	j->head = rs.end_pos;
	sdx_jset_log_used(j, rs.end_pos >= rs.start ? rs.end_pos - rs.start
			  : sdx_jlog_len(j) - (rs.start - rs.end_pos));
	j->running.tid = rs.end_tid + 1;
	if (j->opts.readonly)
		return 0;
	sdx_jwrite_home(j);
	sdx_jreset_log(j, rs.end_tid + 1);
	return 0;
}
