/*
 * defrag.c - online defragmentation (sdx_defrag): move a file's blocks into
 * one contiguous run while it is mapped; contents and the addresses of its
 * mappings stay as they were (Linux refuses EXT4_IOC_MOVE_EXT for DAX).
 *
 * This file holds the mapping protocol of a remap (DESIGN.md); moving the
 * blocks is file-system work (src/fs/move.c):
 *
 *   invalidate_lock exclusive (faults wait) -> fdatasync -> unmap the
 *   file from every mapping -> sdx_file_move_blocks (one transaction per
 *   piece, progress reported between pieces) -> fdatasync -> release
 *   (faults map the new blocks).
 *
 * Invariant: no page of the file is mapped while blocks move
 * (invalidate_lock exclusive; the pages were unmapped first).
 */
#include <errno.h>
#include <fcntl.h>

#include "dax/dax.h"
#include "fs/ops.h"
#include "lib/err.h"
#include "syncdax.h"

int sdx_defrag(struct sdx_fs *fs, int fd,
	       void (*progress)(uint64_t done, uint64_t total, void *arg),
	       void *arg)
{
	struct sdx_inode *inode;
	int open_flags, err;

	sdx_err_clear();
	if (!fs)
		return (int)sdx_errno_ret(-EINVAL);
	inode = sdx_inode_get_fd(fs, fd, &open_flags);
	if (!inode)
		return -1;
	if (!S_ISREG(inode->raw.i_mode))
		err = sdx_err(-EINVAL, "defrag: descriptor %d is not a regular "
			      "file", fd);
	else if ((open_flags & O_ACCMODE) == O_RDONLY || fs->is_rdonly)
		err = sdx_err(-EBADF, "defrag: descriptor %d is not open for "
			      "writing", fd);
	else
		err = 0;
	if (!err) {
		pthread_rwlock_wrlock(&inode->invalidate_lock);
		err = sdx_inode_datasync(inode);
		sdx_dax_invalidate(sdx_inode_dax_slot(inode), 0,
				   SDX_MAX_FILE_BLOCKS);
		if (!err)
			err = sdx_file_move_blocks(inode, progress, arg);
		if (!err)
			err = sdx_inode_datasync(inode);
		pthread_rwlock_unlock(&inode->invalidate_lock);
	}
	sdx_inode_put(inode);
	return (int)sdx_errno_ret(err);
}
