/*
 * file.c - file data: read and write as direct copies between the device
 * and the caller, truncate, fallocate, and fsync/fdatasync by journal
 * commit.
 *
 * The data of a regular file lives in its blocks on the device and is
 * copied with the device's persist primitives; only the block map, size
 * and times are metadata (journaled).  A user buffer may itself be a
 * syncdax mapping whose fault handler takes fs->lock, so the public paths
 * copy through a bounce buffer in chunks of CHUNK_BYTES and hold the locks
 * only around the device side of a chunk:
 *
 *   user --memcpy, no lock--> bounce --invalidate_lock shared + fs->lock +
 *   handle--> device                                   (write; read mirrors)
 *
 * Remaps (truncate down, punch, zero, collapse, insert) take the inode's
 * invalidate_lock exclusive, unmap the pages from every mapping (fs's
 * invalidate hook) with fs->lock dropped, then change the block map.
 *
 * Invariants:
 *   (1) No stale data: a block that joins the file (hole or unwritten
 *       extent) has every byte the write does not cover zeroed and
 *       persisted before the extent that exposes it is inserted or marked
 *       written; unwritten extents read as zeroes.
 *   (2) Bytes past i_size in the last block are zero (zeroed on shrink and
 *       before the size grows), so growing never exposes old bytes.
 *   (3) inode->sync_tid is the last transaction that changed the inode;
 *       datasync_tid the last that changed what fdatasync must make
 *       durable (size, block map).  A data-only overwrite changes only
 *       times, so fdatasync then commits nothing.
 *   (4) Truncate down puts the inode on the orphan list in the handle that
 *       shrinks i_size and takes it off in the one that frees the last
 *       blocks; a crash between is finished at mount (orphan.c).
 *
 * COLLAPSE_RANGE and INSERT_RANGE copy no data: they shift the logical
 * block numbers of the extents after the offset (sdx_extent_shift), as
 * ext4 does.  COLLAPSE punches [off, off+len), shifts the extents after it
 * down by len and sets i_size - len; INSERT splits the extent that
 * straddles off, shifts the extents from off on up by len and sets
 * i_size + len.  The handle's credits are counted first: the tree blocks
 * (leaves and index blocks) that hold extents from off on, the bitmaps
 * and descriptors of the blocks a collapse frees, the inode.
 *
 *   fits one transaction (a quarter of the journal; the normal case: with
 *   the 1024-block journal of a small image, about 250 leaves of 340
 *   extents) -> punch or split, shift and the new i_size in ONE handle:
 *   after a crash the file is either the old one or the new one.
 *
 *   does not fit -> in several transactions, the order Linux uses
 *   (ext4_collapse_range, ext4_insert_range restart their handle when the
 *   credits run out), SHIFT_STEP_LEAVES leaves per transaction:
 *     COLLAPSE: (a) the punch; (b) the extents shifted down leaf by leaf
 *       from off on; (c) i_size - len.  A crash before (c) leaves i_size
 *       as it was: the file reads as the old one up to off, then the
 *       extents already shifted, then a hole of len bytes that reads as
 *       zeroes, then the extents not yet shifted at their old place.
 *     INSERT: (a) i_size + len (the file reads as the old one with len
 *       zero bytes appended); (b) the extents shifted up leaf by leaf from
 *       the end of the file down to off.  A crash during (b) leaves the
 *       new i_size, the extents not yet shifted at their old place, a hole
 *       of len bytes, the shifted extents at their new place.
 *     Either way a crashed state holds the old data, each byte once, and
 *     exactly one hole of len bytes where the old and the new layout
 *     meet; i_size tells a collapse that did not finish (still the old
 *     size).  e2fsck finds every intermediate state clean.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>

#include "fs/ops.h"
#include "lib/err.h"
#include "pmem/pmem.h"

#define BS		SDX_BLOCK_SIZE
#define CHUNK_BYTES	(64u * 1024)
#define WRITE_RUNS	4	/* allocations or conversions per handle */
#define WRITE_CREDITS	(SDX_CREDITS_INODE + WRITE_RUNS * SDX_CREDITS_EXTENT)
#define REMOVE_CREDITS	(SDX_CREDITS_INODE + 8 * SDX_CREDITS_EXTENT)
#define SHIFT_STEP_LEAVES 64u	/* leaves per handle of a split shift */
#define SHIFT_STEP_CREDITS (SDX_CREDITS_INODE + SDX_CREDITS_EXTENT + \
			    2 * SHIFT_STEP_LEAVES)
#define MAX_BYTES	((uint64_t)SDX_MAX_FILE_BLOCKS * BS)
#define DIV_UP(a, b)	(((a) + (b) - 1) / (b))

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint8_t *block_addr(struct sdx_fs *fs, uint64_t pblk)
{
	return fs->dev->base + pblk * BS;
}

void sdx_inode_changed(struct sdx_handle *h, struct sdx_inode *inode,
		       bool is_datasync)
{
	sdx_tid_t tid = sdx_handle_tid(h);

	inode->sync_tid = tid;
	if (is_datasync)
		inode->datasync_tid = tid;
}

/* sdx_extent_map with the run checked against the file system. */
static int map_block(struct sdx_inode *inode, uint64_t lblk, uint64_t *pblk,
		     uint64_t *len, unsigned *flags)
{
	int err = sdx_extent_map(inode, lblk, pblk, len, flags);

	if (err)
		return err;
	if (*len == 0)
		return sdx_err(-EUCLEAN, "inode %u: empty mapping at block "
			       "%llu", inode->ino, (unsigned long long)lblk);
	if (!(*flags & SDX_EXTENT_HOLE) &&
	    !sdx_fs_block_valid(inode->fs, *pblk, *len))
		return sdx_err(-EUCLEAN, "inode %u: block %llu maps outside "
			       "the file system (%llu+%llu)", inode->ino,
			       (unsigned long long)lblk,
			       (unsigned long long)*pblk,
			       (unsigned long long)*len);
	return 0;
}

/* Zero [off, off+len) inside one block where it holds written data. */
static int zero_in_block(struct sdx_inode *inode, uint64_t off, uint64_t len)
{
	uint64_t pblk, n;
	unsigned flags;
	int err;

	if (len == 0)
		return 0;
	err = map_block(inode, off / BS, &pblk, &n, &flags);
	if (err || (flags & (SDX_EXTENT_HOLE | SDX_EXTENT_UNWRITTEN)))
		return err;
	sdx_dev_memset_persist(inode->fs->dev,
			       block_addr(inode->fs, pblk) + off % BS, 0, len);
	return 0;
}

/* Invariant (2): zero from @size to the end of its block. */
static int zero_tail(struct sdx_inode *inode, uint64_t size)
{
	return size % BS ? zero_in_block(inode, size, BS - size % BS) : 0;
}

/* Zero the parts of [off, end) that only partly cover a block. */
static int zero_partial(struct sdx_inode *inode, uint64_t off, uint64_t end)
{
	uint64_t head_end = min64(end, (off / BS + 1) * BS);
	int err = 0;

	if (off % BS || head_end % BS)
		err = zero_in_block(inode, off, head_end - off);
	if (!err && end % BS && end / BS > off / BS)
		err = zero_in_block(inode, end / BS * BS, end % BS);
	return err;
}

/*
 * Copy @n bytes of @buf (library memory or device) to file offset @off,
 * allocating holes and converting unwritten extents (invariant 1), at most
 * WRITE_RUNS of them (the handle's credits).  *@is_new tells whether any
 * block joined the file.
 * Return: bytes written (short after an error or WRITE_RUNS), or -errno.
 */
static ssize_t write_blocks(struct sdx_handle *h, struct sdx_inode *inode,
			    const uint8_t *buf, size_t n, uint64_t off,
			    bool *is_new)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t end = off + n, pos = off, size = sdx_inode_size(inode);
	bool is_datasync = false;
	unsigned runs = 0;
	int err = 0;

	*is_new = false;
	if (end > MAX_BYTES || end < off)
		return sdx_err(-EFBIG, "inode %u: write past the largest file "
			       "size", inode->ino);
	if (end > size)
		err = zero_tail(inode, size);
	while (!err && pos < end && runs < WRITE_RUNS) {
		uint64_t lblk = pos / BS, boff = pos % BS;
		uint64_t want = (end - 1) / BS - lblk + 1;
		uint64_t pblk, len, cnt, span, tail;
		unsigned flags;
		uint8_t *dst;

		err = map_block(inode, lblk, &pblk, &len, &flags);
		if (err)
			break;
		cnt = min64(len, want);
		if (flags & SDX_EXTENT_HOLE) {
			err = sdx_file_block_alloc(h, inode, lblk, cnt, &pblk,
						   &cnt);
			if (err)
				break;
		}
		span = min64(cnt * BS - boff, end - pos);
		dst = block_addr(fs, pblk);
		if (flags & (SDX_EXTENT_HOLE | SDX_EXTENT_UNWRITTEN)) {
			tail = cnt * BS - boff - span;
			if (boff)
				sdx_dev_memset_persist(fs->dev, dst, 0, boff);
			if (tail)
				sdx_dev_memset_persist(fs->dev, dst + boff + span,
						       0, tail);
			*is_new = is_datasync = true;
			runs++;
		}
		sdx_dev_memcpy_persist(fs->dev, dst + boff, buf + (pos - off),
				       span);
		if (flags & SDX_EXTENT_HOLE) {
			err = sdx_extent_insert(h, inode, lblk, pblk, cnt, false);
			if (err) {
				sdx_block_free(h, fs, pblk, cnt);
				break;
			}
		} else if (flags & SDX_EXTENT_UNWRITTEN) {
			err = sdx_extent_mark_written(h, inode, lblk, cnt);
			if (err)
				break;
		}
		pos += span;
	}
	if (pos > off) {
		int e;

		if (pos > size) {
			sdx_inode_set_size(inode, pos);
			is_datasync = true;
		}
		sdx_inode_touch(inode, SDX_TIME_MTIME | SDX_TIME_CTIME);
		sdx_inode_changed(h, inode, is_datasync);
		e = sdx_inode_mark_dirty(h, inode);
		if (e)
			return e;
		return (ssize_t)(pos - off);
	}
	return err;
}

int sdx_file_write_locked(struct sdx_handle *h, struct sdx_inode *inode,
			  const void *buf, size_t n, uint64_t off)
{
	bool is_new;
	ssize_t r = write_blocks(h, inode, buf, n, off, &is_new);

	if (r < 0)
		return (int)r;
	return (size_t)r == n ? 0 : -ENOSPC;
}

ssize_t sdx_file_read_locked(struct sdx_inode *inode, void *buf, size_t n,
			     uint64_t off)
{
	uint64_t size = sdx_inode_size(inode), done = 0;

	if (off >= size)
		return 0;
	n = min64(n, size - off);
	while (done < n) {
		uint64_t pos = off + done, pblk, len, span;
		unsigned flags;
		int err = map_block(inode, pos / BS, &pblk, &len, &flags);

		if (err)
			return err;
		span = min64(len * BS - pos % BS, n - done);
		if (flags & (SDX_EXTENT_HOLE | SDX_EXTENT_UNWRITTEN))
			memset((uint8_t *)buf + done, 0, span);
		else
			memcpy((uint8_t *)buf + done, block_addr(inode->fs,
				pblk) + pos % BS, span);
		done += span;
	}
	return (ssize_t)n;
}

ssize_t sdx_file_read(struct sdx_inode *inode, void *buf, size_t n,
		      uint64_t off)
{
	struct sdx_fs *fs = inode->fs;
	size_t done = 0;
	ssize_t r = 0;
	uint8_t *bounce = malloc(CHUNK_BYTES);

	if (!bounce)
		return -ENOMEM;
	while (done < n) {
		size_t chunk = min64(CHUNK_BYTES, n - done);

		pthread_mutex_lock(&fs->lock);
		r = sdx_file_read_locked(inode, bounce, chunk, off + done);
		pthread_mutex_unlock(&fs->lock);
		if (r <= 0)
			break;
		memcpy((uint8_t *)buf + done, bounce, (size_t)r);
		done += (size_t)r;
		if ((size_t)r < chunk)
			break;
	}
	free(bounce);
	return done ? (ssize_t)done : r;
}

/* Unmap file pages [first, first+count) from every mapping.  Context:
 * invalidate_lock exclusive, fs->lock not held. */
static void unmap_pages(struct sdx_inode *inode, uint64_t first,
			uint64_t count)
{
	if (inode->fs->invalidate && count)
		inode->fs->invalidate(inode, first, count);
}

ssize_t sdx_file_write(struct sdx_inode *inode, const void *buf, size_t n,
		       uint64_t off, bool is_append)
{
	struct sdx_fs *fs = inode->fs;
	pthread_rwlock_t *inv = &inode->invalidate_lock;
	size_t done = 0;
	ssize_t r = 0;
	uint8_t *bounce = malloc(CHUNK_BYTES);

	if (!bounce)
		return -ENOMEM;
	while (done < n) {
		size_t chunk = min64(CHUNK_BYTES, n - done);
		struct sdx_handle *h;
		bool is_new = false;
		uint64_t pos;
		int err;

		memcpy(bounce, (const uint8_t *)buf + done, chunk);
		pthread_rwlock_rdlock(inv);
		pthread_mutex_lock(&fs->lock);
		pos = is_append ? sdx_inode_size(inode) : off + done;
		err = sdx_fs_start(fs, WRITE_CREDITS, &h);
		if (err) {
			r = err;
		} else {
			r = write_blocks(h, inode, bounce, chunk, pos, &is_new);
			err = sdx_journal_stop(h);
			if (err && r >= 0)
				r = err;
		}
		pthread_mutex_unlock(&fs->lock);
		pthread_rwlock_unlock(inv);
		if (r > 0 && is_new) {
			/* hole pages may be mapped to the zero page */
			pthread_rwlock_wrlock(inv);
			unmap_pages(inode, pos / BS,
				    DIV_UP(pos + (uint64_t)r, BS) - pos / BS);
			pthread_rwlock_unlock(inv);
		}
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	free(bounce);
	return done ? (ssize_t)done : r;
}

/* A new i_size, times and fsync tids for a change in @h. */
static int size_changed(struct sdx_handle *h, struct sdx_inode *inode,
			uint64_t size)
{
	sdx_inode_set_size(inode, size);
	sdx_inode_touch(inode, SDX_TIME_MTIME | SDX_TIME_CTIME);
	sdx_inode_changed(h, inode, true);
	return sdx_inode_mark_dirty(h, inode);
}

/* Set i_size in a handle of its own (zeroing per invariant 2). */
static int set_size(struct sdx_inode *inode, uint64_t size, bool add_orphan)
{
	struct sdx_handle *h;
	uint64_t old = sdx_inode_size(inode);
	int err = sdx_fs_start(inode->fs, SDX_CREDITS_INODE, &h), e;

	if (err)
		return err;
	if (add_orphan)
		err = sdx_orphan_add(h, inode);
	if (!err)
		err = zero_tail(inode, size < old ? size : old);
	if (!err)
		err = size_changed(h, inode, size);
	e = sdx_journal_stop(h);
	return err ? err : e;
}

/* Free the blocks past i_size, and take the inode off the orphan list
 * unless @keep_orphan (it was on it before the truncate). */
static int free_past_size(struct sdx_inode *inode, bool keep_orphan)
{
	struct sdx_handle *h;
	int err = sdx_fs_start(inode->fs, REMOVE_CREDITS, &h), e;

	if (err)
		return err;
	err = sdx_inode_truncate_blocks(h, inode, sdx_inode_size(inode));
	if (!err && !keep_orphan)
		err = sdx_orphan_del(h, inode);
	sdx_inode_changed(h, inode, true);
	e = sdx_journal_stop(h);
	return err ? err : e;
}

int sdx_file_truncate(struct sdx_inode *inode, uint64_t size)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t old;
	bool was_orphan;
	int err;

	if (size > MAX_BYTES)
		return sdx_err(-EFBIG, "size %llu is past the largest file",
			       (unsigned long long)size);
	pthread_rwlock_wrlock(&inode->invalidate_lock);
	pthread_mutex_lock(&fs->lock);
	old = sdx_inode_size(inode);
	was_orphan = inode->is_orphan;
	err = set_size(inode, size, size < old && !was_orphan);
	if (!err && size < old) {
		pthread_mutex_unlock(&fs->lock);
		unmap_pages(inode, DIV_UP(size, BS),
			    DIV_UP(old, BS) - DIV_UP(size, BS));
		pthread_mutex_lock(&fs->lock);
		err = free_past_size(inode, was_orphan);
	}
	pthread_mutex_unlock(&fs->lock);
	pthread_rwlock_unlock(&inode->invalidate_lock);
	return err;
}

/* Allocate unwritten blocks for the holes of [lblk, lblk+count); one
 * handle per run.  Context: lock. */
static int prealloc(struct sdx_inode *inode, uint64_t lblk, uint64_t count)
{
	uint64_t end = lblk + count;

	while (lblk < end) {
		struct sdx_handle *h;
		uint64_t pblk, len, got;
		unsigned flags;
		int err = map_block(inode, lblk, &pblk, &len, &flags), e;

		if (err)
			return err;
		len = min64(len, end - lblk);
		if (!(flags & SDX_EXTENT_HOLE)) {
			lblk += len;
			continue;
		}
		err = sdx_fs_start(inode->fs, SDX_CREDITS_INODE +
				   SDX_CREDITS_EXTENT, &h);
		if (err)
			return err;
		err = sdx_file_block_alloc(h, inode, lblk,
					   min64(len, EXT_UNWRITTEN_MAX_LEN),
					   &pblk, &got);
		if (!err) {
			err = sdx_extent_insert(h, inode, lblk, pblk, got, true);
			if (err)
				sdx_block_free(h, inode->fs, pblk, got);
			else
				sdx_inode_changed(h, inode, true);
		}
		e = sdx_journal_stop(h);
		if (err || e)
			return err ? err : e;
		lblk += got;
	}
	return 0;
}

/* Remove blocks [lblk, lblk+count) and zero the partial edges of
 * [off, end) in one handle.  Context: lock, invalidate_lock exclusive. */
static int punch(struct sdx_inode *inode, uint64_t off, uint64_t end)
{
	uint64_t first = DIV_UP(off, BS), last = end / BS;
	struct sdx_handle *h;
	int err = sdx_fs_start(inode->fs, REMOVE_CREDITS, &h), e;

	if (err)
		return err;
	err = zero_partial(inode, off, end);
	if (!err && last > first)
		err = sdx_extent_remove(h, inode, first, last - first);
	if (!err) {
		sdx_inode_touch(inode, SDX_TIME_MTIME | SDX_TIME_CTIME);
		sdx_inode_changed(h, inode, true);
		err = sdx_inode_mark_dirty(h, inode);
	}
	e = sdx_journal_stop(h);
	return err ? err : e;
}

/*
 * Credits to free the blocks of [lblk, lblk+count): a bitmap and a
 * descriptor block for each group an extent there touches (at most every
 * group), and the superblock.  Context: lock.
 */
static int free_credits(struct sdx_inode *inode, uint64_t lblk,
			uint64_t count, uint64_t *credits)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t end = lblk + count, most = fs->groups_count + fs->gdt_blocks;
	uint64_t n = 0;

	while (lblk < end && n < most) {
		uint64_t pblk, len;
		unsigned flags;
		int err = map_block(inode, lblk, &pblk, &len, &flags);

		if (err)
			return err;
		len = min64(len, end - lblk);
		if (!(flags & SDX_EXTENT_HOLE))
			n += 2 * (sdx_block_group(fs, pblk + len - 1) -
				  sdx_block_group(fs, pblk) + 1);
		lblk += len;
	}
	*credits = min64(n, most) + 1;
	return 0;
}

/* The shift of a tree too large for one transaction (see the top). */
static int shift_in_steps(struct sdx_inode *inode, uint64_t off,
			  uint64_t len, bool is_insert)
{
	uint64_t first = off / BS, n = len / BS, size = sdx_inode_size(inode);
	uint64_t cur = is_insert ? SDX_MAX_FILE_BLOCKS : first + n;
	uint64_t done = is_insert ? first : SDX_MAX_FILE_BLOCKS;
	int err = is_insert ? set_size(inode, size + len, false) :
			      punch(inode, off, off + len);

	while (!err && cur != done) {
		struct sdx_handle *h;
		uint64_t stop;
		int e;

		err = sdx_fs_start(inode->fs, SHIFT_STEP_CREDITS, &h);
		if (err)
			break;
		err = sdx_extent_shift(h, inode, is_insert ? first : cur,
				       is_insert ? cur : SDX_MAX_FILE_BLOCKS, n,
				       !is_insert, SHIFT_STEP_LEAVES, &stop);
		sdx_inode_changed(h, inode, true);
		e = sdx_journal_stop(h);
		err = err ? err : e;
		cur = stop;
	}
	return err || is_insert ? err : set_size(inode, size - len, false);
}

/*
 * COLLAPSE_RANGE (@is_insert false) or INSERT_RANGE of whole blocks, in
 * one handle when it fits (see the top).  Context: lock, invalidate_lock
 * exclusive, pages from @off on unmapped.
 */
static int shift(struct sdx_inode *inode, uint64_t off, uint64_t len,
		 bool is_insert)
{
	uint64_t size = sdx_inode_size(inode), first = off / BS, n = len / BS;
	uint64_t end, last, nodes, credits = 0, stop;
	struct sdx_handle *h;
	int err = sdx_extent_end(inode, &end, &last), e;

	if (!err && is_insert && (end + n > SDX_MAX_FILE_BLOCKS ||
				  size + len > MAX_BYTES))
		return sdx_err(-EFBIG, "insert range past the largest file");
	if (!err)
		err = sdx_extent_count_nodes(inode, first, &nodes);
	if (!err && !is_insert)
		err = free_credits(inode, first, n, &credits);
	if (!err)
		err = sdx_fs_start(inode->fs, (int)min64(SDX_CREDITS_INODE +
				   SDX_CREDITS_EXTENT + nodes + credits,
				   INT32_MAX), &h);
	if (err == -ENOSPC)
		return shift_in_steps(inode, off, len, is_insert);
	if (err)
		return err;
	if (!is_insert)
		err = sdx_extent_remove(h, inode, first, n);
	if (!err)
		err = sdx_extent_shift(h, inode, is_insert ? first : first + n,
				       SDX_MAX_FILE_BLOCKS, n, !is_insert, 0,
				       &stop);
	if (!err)
		err = size_changed(h, inode, is_insert ? size + len :
					     size - len);
	e = sdx_journal_stop(h);
	return err ? err : e;
}

static int check_fallocate(struct sdx_inode *inode, int mode, uint64_t off,
			   uint64_t len)
{
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
			  FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE |
			  FALLOC_FL_INSERT_RANGE;
	const int shifts = FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE;

	if (!S_ISREG(inode->raw.i_mode))
		return sdx_err(-ENODEV, "fallocate: inode %u is not a regular "
			       "file", inode->ino);
	if (mode & ~known)
		return sdx_err(-EOPNOTSUPP, "fallocate mode 0x%x", mode);
	if ((mode & FALLOC_FL_PUNCH_HOLE) &&
	    (!(mode & FALLOC_FL_KEEP_SIZE) || (mode & ~(FALLOC_FL_PUNCH_HOLE |
	     FALLOC_FL_KEEP_SIZE))))
		return sdx_err(-EOPNOTSUPP, "fallocate: PUNCH_HOLE goes with "
			       "KEEP_SIZE only");
	if ((mode & FALLOC_FL_ZERO_RANGE) &&
	    (mode & ~(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)))
		return sdx_err(-EINVAL, "fallocate: ZERO_RANGE with mode 0x%x",
			       mode);
	if (mode & shifts) {
		if ((mode & ~shifts) || (mode & shifts) == shifts)
			return sdx_err(-EINVAL, "fallocate: COLLAPSE/INSERT_"
				       "RANGE take no other flag");
		if (off % BS || len % BS)
			return sdx_err(-EINVAL, "fallocate: COLLAPSE/INSERT_"
				       "RANGE need block-aligned offset and "
				       "length (%u)", BS);
	}
	if (len == 0)
		return sdx_err(-EINVAL, "fallocate: length 0");
	if (off + len > MAX_BYTES || off + len < off)
		return sdx_err(-EFBIG, "fallocate past the largest file size");
	return 0;
}

int sdx_file_fallocate(struct sdx_inode *inode, int mode, uint64_t off,
		       uint64_t len)
{
	struct sdx_fs *fs = inode->fs;
	uint64_t end = off + len, size, first = off / BS;
	uint64_t count = DIV_UP(end, BS) - first;
	bool is_remap = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE |
				FALLOC_FL_COLLAPSE_RANGE |
				FALLOC_FL_INSERT_RANGE);
	int err = check_fallocate(inode, mode, off, len);

	if (err)
		return err;
	if (is_remap) {
		pthread_rwlock_wrlock(&inode->invalidate_lock);
		unmap_pages(inode, first, mode & (FALLOC_FL_COLLAPSE_RANGE |
			    FALLOC_FL_INSERT_RANGE) ? SDX_MAX_FILE_BLOCKS -
			    first : count);
	} else {
		pthread_rwlock_rdlock(&inode->invalidate_lock);
	}
	pthread_mutex_lock(&fs->lock);
	size = sdx_inode_size(inode);
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) {
		bool is_insert = mode & FALLOC_FL_INSERT_RANGE;

		if (is_insert ? off >= size : end >= size)
			err = sdx_err(-EINVAL, "fallocate: COLLAPSE/INSERT_RANGE "
				      "must end inside the file (size %llu)",
				      (unsigned long long)size);
		else
			err = shift(inode, off, len, is_insert);
		goto out_unlock;
	}
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		err = punch(inode, off, end);
	if (!err && !(mode & FALLOC_FL_PUNCH_HOLE))
		err = prealloc(inode, first, count);
	if (!err && !(mode & FALLOC_FL_KEEP_SIZE) && end > size)
		err = set_size(inode, end, false);
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	pthread_rwlock_unlock(&inode->invalidate_lock);
	return err;
}

int sdx_file_sync(struct sdx_inode *inode, bool is_datasync)
{
	struct sdx_fs *fs = inode->fs;
	int err;

	pthread_mutex_lock(&fs->lock);
	err = sdx_journal_commit_upto(fs->journal, is_datasync ?
				      inode->datasync_tid : inode->sync_tid);
	pthread_mutex_unlock(&fs->lock);
	return err;
}
