/*
 * orphan.c - the ext4 orphan list: inodes whose deletion or truncation
 * must be finished after a crash.
 *
 * The list starts at the superblock's s_last_orphan and is chained through
 * the inodes' i_dtime fields (the next orphan's number; 0 ends it).  An
 * inode goes on it
 *   - when its last link goes, in the same handle (it is deleted at its
 *     last reference -- close, or munmap of a mapping -- by sdx_iput,
 *     whose fs->evict hook, sdx_orphan_evict, takes it off the list in
 *     the deleting handle), and
 *   - while a truncate down frees its blocks (file.c).
 * At a read-write mount every inode on the list is deleted (no links) or
 * has the blocks past its i_size freed (links), and the list is emptied.
 *
 *   IN USE --unlink last link while referenced / truncate down--> ORPHAN
 *   ORPHAN --last reference (links 0) / truncate done--> deleted / IN USE
 *   ORPHAN --crash, mount--> deleted / truncated (sdx_orphan_process)
 *
 * Invariants:
 *   (1) inode->is_orphan is true exactly while the inode is on the list.
 *   (2) Every link of the chain read from the media is checked (inode
 *       number range, in use, at most s_inodes_count steps): a corrupt list
 *       is -EUCLEAN, never a loop.
 */
#include <errno.h>
#include <sys/stat.h>

#include "fs/ops.h"
#include "lib/err.h"

#define DELETE_CREDITS	(SDX_CREDITS_INODE + 8 * SDX_CREDITS_EXTENT)

static int check_orphan_ino(struct sdx_fs *fs, uint32_t ino)
{
	if (ino < fs->first_ino || ino > fs->inodes_count)
		return sdx_err(-EUCLEAN, "orphan list names inode %u (valid: "
			       "%u..%u)", ino, fs->first_ino,
			       fs->inodes_count);
	return 0;
}

int sdx_orphan_add(struct sdx_handle *h, struct sdx_inode *inode)
{
	struct sdx_fs *fs = inode->fs;
	struct ext4_super_block *sb;
	int err;

	if (inode->is_orphan)
		return 0;
	err = sdx_super_get_write(h, fs, &sb);
	if (err)
		return err;
	inode->raw.i_dtime = sb->s_last_orphan;
	sb->s_last_orphan = inode->ino;
	sdx_super_dirty(h, fs);
	inode->is_orphan = true;
	return sdx_inode_mark_dirty(h, inode);
}

/* Make the orphan before @inode on the chain point past it. */
static int unlink_from_chain(struct sdx_handle *h, struct sdx_inode *inode,
			     uint32_t head)
{
	struct sdx_fs *fs = inode->fs;
	uint32_t ino = head, steps;

	for (steps = 0; ino && steps < fs->inodes_count; steps++) {
		struct sdx_inode *p;
		uint32_t next;
		int err = check_orphan_ino(fs, ino);

		if (!err)
			err = sdx_iget_raw(fs, ino, &p);
		if (err)
			return err;
		next = p->raw.i_dtime;
		if (next == inode->ino) {
			p->raw.i_dtime = inode->raw.i_dtime;
			err = sdx_inode_mark_dirty(h, p);
		}
		sdx_iput(p);
		if (err || next == inode->ino)
			return err;
		ino = next;
	}
	return sdx_err(-EUCLEAN, "orphan list: inode %u not found on it",
		       inode->ino);
}

int sdx_orphan_del(struct sdx_handle *h, struct sdx_inode *inode)
{
	struct sdx_fs *fs = inode->fs;
	const struct ext4_super_block *sb;
	int err;

	if (!inode->is_orphan)
		return 0;
	sb = sdx_super(fs, &err);
	if (!sb)
		return err;
	if (sb->s_last_orphan == inode->ino) {
		struct ext4_super_block *wsb;

		err = sdx_super_get_write(h, fs, &wsb);
		if (err)
			return err;
		wsb->s_last_orphan = inode->raw.i_dtime;
		sdx_super_dirty(h, fs);
	} else {
		err = unlink_from_chain(h, inode, sb->s_last_orphan);
		if (err)
			return err;
	}
	inode->raw.i_dtime = 0;
	inode->is_orphan = false;
	return sdx_inode_mark_dirty(h, inode);
}

int sdx_orphan_evict(struct sdx_handle *h, struct sdx_inode *inode)
{
	int err = S_ISDIR(inode->raw.i_mode) ? sdx_dir_revoke(h, inode) : 0;

	return err ? err : sdx_orphan_del(h, inode);
}

int sdx_inode_delete(struct sdx_handle *h, struct sdx_inode *inode)
{
	int err = S_ISDIR(inode->raw.i_mode) ? sdx_dir_revoke(h, inode) : 0;

	return err ? err : sdx_inode_free(h, inode);
}

/* Delete (no links) or truncate an orphan, and take it off the list. */
static int finish_orphan(struct sdx_fs *fs, struct sdx_inode *inode)
{
	struct sdx_handle *h;
	int err = sdx_fs_start(fs, DELETE_CREDITS, &h), e;

	if (err)
		return err;
	err = sdx_orphan_del(h, inode);
	if (!err && inode->raw.i_links_count == 0)
		err = sdx_inode_delete(h, inode);
	else if (!err)
		err = sdx_inode_truncate_blocks(h, inode,
						sdx_inode_size(inode));
	e = sdx_journal_stop(h);
	return err ? err : e;
}

int sdx_orphan_process(struct sdx_fs *fs)
{
	uint32_t steps;

	if (fs->is_rdonly)
		return 0;
	for (steps = 0; steps <= fs->inodes_count; steps++) {
		const struct ext4_super_block *sb;
		struct sdx_inode *inode;
		uint32_t ino;
		int err;

		sb = sdx_super(fs, &err);
		if (!sb)
			return err;
		ino = sb->s_last_orphan;
		if (ino == 0)
			return 0;
		err = check_orphan_ino(fs, ino);
		if (!err)
			err = sdx_iget_raw(fs, ino, &inode);
		if (err)
			return err;
		if (inode->raw.i_mode == 0) {
			sdx_iput(inode);
			return sdx_err(-EUCLEAN, "orphan list: inode %u is not "
				       "in use", ino);
		}
		inode->is_orphan = true;
		err = finish_orphan(fs, inode);
		sdx_iput(inode);
		if (err)
			return err;
	}
	return sdx_err(-EUCLEAN, "orphan list loops");
}
