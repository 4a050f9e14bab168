/*
 * ops.h - the namespace and file operations half of src/fs: directories
 * (dir.c), path resolution (namei.c), file data (file.c) and the orphan
 * list (orphan.c), on which the public calls of api.c are built.
 *
 * Locking (fs.h): "Context: lock" means fs->lock held by the caller;
 * "handle open" means inside a handle the caller started.  The data paths
 * of file.c (read, write, truncate, fallocate, sync) take the locks
 * themselves, because they must not hold fs->lock while they touch a user
 * buffer (it may be a syncdax mapping whose fault handler takes the lock).
 */
#ifndef SDX_OPS_H
#define SDX_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/fs.h"

#define SDX_PATH_MAX	4096	/* bytes with the NUL, as Linux's PATH_MAX */
#define SDX_SYMLOOP_MAX	40	/* symlinks followed per lookup (Linux) */

/* ---- dir.c: directory entries ---- */

/* Is @name "." or ".."? */
bool sdx_is_dot_or_dotdot(const char *name, size_t len);

/* EXT4_FT_* of an inode mode (0 without the filetype feature). */
uint8_t sdx_dir_ftype(const struct sdx_fs *fs, mode_t mode);

/*
 * sdx_dir_lookup - find @name in @dir
 * Return: 0 and *@ino (and *@ftype if not NULL), -ENOENT, -EUCLEAN for a
 *         corrupt block (named).  Context: lock.
 */
int sdx_dir_lookup(struct sdx_inode *dir, const char *name, size_t len,
		   uint32_t *ino, uint8_t *ftype);

/*
 * sdx_dir_add - add the entry @name -> @ino (caller checked it is absent)
 * Where no block has room the directory grows: an htree leaf splits (and
 * index nodes with it), a one-block directory becomes an htree, a linear
 * one gets a new block.
 * Return: 0, -ENOSPC, -EFBIG, -EUCLEAN.  Context: lock, handle open.
 */
int sdx_dir_add(struct sdx_handle *h, struct sdx_inode *dir, const char *name,
		size_t len, uint32_t ino, uint8_t ftype);

/* Remove the entry @name.  Return: 0, -ENOENT, -EUCLEAN.  Lock, handle. */
int sdx_dir_remove(struct sdx_handle *h, struct sdx_inode *dir,
		   const char *name, size_t len);

/* Point the existing entry @name at @ino (rename over, ".." of a moved
 * directory).  Return: 0, -ENOENT, -EUCLEAN.  Lock, handle. */
int sdx_dir_retarget(struct sdx_handle *h, struct sdx_inode *dir,
		     const char *name, size_t len, uint32_t ino,
		     uint8_t ftype);

/* Give the new directory @dir its first block with "." and "..". */
int sdx_dir_init(struct sdx_handle *h, struct sdx_inode *dir,
		 uint32_t parent);

/* 1 if @dir holds only "." and "..", 0 if not, or -EUCLEAN.  Lock. */
int sdx_dir_is_empty(struct sdx_inode *dir);

/*
 * Revoke every block of @dir before it is deleted: directory blocks are
 * journaled metadata, and a freed block must leave the journal before it
 * can hold another file's data.  Context: lock, handle open.
 */
int sdx_dir_revoke(struct sdx_handle *h, struct sdx_inode *dir);

/* Forget what dir.c verified of @fs's blocks (mount, unmount). */
void sdx_dir_forget(const struct sdx_fs *fs);

/* Called for each live entry; a non-zero return stops the walk with it. */
typedef int (*sdx_dir_actor)(void *arg, const char *name, size_t len,
			     uint32_t ino, uint8_t ftype);
/* Walk every entry of @dir in block order.  Context: lock. */
int sdx_dir_iterate(struct sdx_inode *dir, sdx_dir_actor actor, void *arg);

/* ---- dirhash.c: htree name hashes ---- */

/* The htree hash of a name (DX_HASH_* @version, already made unsigned
 * where s_flags says so).  Return: 0, or -EOPNOTSUPP for a version it
 * does not know (siphash needs casefolding). */
int sdx_dirhash(const struct sdx_fs *fs, unsigned version, const char *name,
		size_t len, uint32_t *hash);

/* ---- namei.c: paths ---- */

#define SDX_LOOKUP_FOLLOW 0x1u	/* follow a symlink in the last component */

/*
 * sdx_namei - resolve @path (from the root; "." and ".." and symlinks)
 * Return: 0 and a referenced *@out, -ENOENT, -ENOTDIR, -ELOOP,
 *         -ENAMETOOLONG, -EUCLEAN.  Context: lock.
 */
int sdx_namei(struct sdx_fs *fs, const char *path, unsigned flags,
	      struct sdx_inode **out);

/* Where a path ends: its parent directory and last component. */
struct sdx_nameidata {
	struct sdx_inode *dir;		/* referenced */
	char name[EXT4_NAME_LEN + 1];	/* "" for "/", may be "." or ".." */
	size_t len;
	bool is_dir_required;		/* the path ended in '/' */
};

/* Resolve all but the last component of @path.  Context: lock. */
int sdx_namei_parent(struct sdx_fs *fs, const char *path,
		     struct sdx_nameidata *nd);

/* The target of symlink @inode into @buf (NUL-ended); *@len without NUL.
 * @n >= SDX_PATH_MAX is always enough.  Context: lock. */
int sdx_symlink_target(struct sdx_inode *inode, char *buf, size_t n,
		       size_t *len);

/* Store @target (1..4095 bytes) in the new symlink @inode.  Lock, handle. */
int sdx_symlink_store(struct sdx_handle *h, struct sdx_inode *inode,
		      const char *target, size_t len);

/* ---- file.c: file data ---- */

/*
 * Record that @h changed @inode: fsync commits up to this transaction, and
 * fdatasync too when @is_datasync (size, block map; not times alone).
 */
void sdx_inode_changed(struct sdx_handle *h, struct sdx_inode *inode,
		       bool is_datasync);

/* Read into a library buffer (no user memory).  Context: lock. */
ssize_t sdx_file_read_locked(struct sdx_inode *inode, void *buf, size_t n,
			     uint64_t off);

/*
 * The data paths: each takes the locks it needs.  Context: no lock held,
 * a reference on @inode.  sdx_file_write with @is_append writes at the end
 * of file atomically and returns the offset written at in *@pos.
 */
ssize_t sdx_file_read(struct sdx_inode *inode, void *buf, size_t n,
		      uint64_t off);
ssize_t sdx_file_write(struct sdx_inode *inode, const void *buf, size_t n,
		       uint64_t off, bool is_append);
int sdx_file_truncate(struct sdx_inode *inode, uint64_t size);
int sdx_file_fallocate(struct sdx_inode *inode, int mode, uint64_t off,
		       uint64_t len);
int sdx_file_sync(struct sdx_inode *inode, bool is_datasync);

/* Write @n bytes of @buf at @off, library buffer.  Lock, handle open. */
int sdx_file_write_locked(struct sdx_handle *h, struct sdx_inode *inode,
			  const void *buf, size_t n, uint64_t off);

/* ---- move.c: a file's blocks into one contiguous run (defrag) ---- */

/* Progress of a long operation: @done of @total units so far. */
typedef void sdx_progress_fn(uint64_t done, uint64_t total, void *arg);

/**
 * sdx_file_move_blocks - move the blocks of [0, N) of @inode (N: its last
 * mapped block + 1) into one contiguous free run (it may span groups), or,
 * when none is N long, into the longest runs if that makes fewer extents,
 * one transaction per piece; holes and unwritten blocks in [0, N) become
 * written zeroes
 * @progress: if not NULL, called without fs->lock with the blocks done of
 *            N: 0 of N first, after every piece, N of N at the end; only
 *            N of N when the file is one run already, or written in the
 *            fewest extents N blocks need (0 of 0 if empty)
 *
 * Context: no lock held; the caller holds @inode's invalidate_lock
 * exclusive and has unmapped its pages from every mapping.
 * Return: 0, -ENOSPC (no such runs, or no room for a piece's tree blocks;
 *         the piece that failed left the file as it was), -EUCLEAN, -EIO,
 *         -ENOMEM.
 */
int sdx_file_move_blocks(struct sdx_inode *inode, sdx_progress_fn *progress,
			 void *arg);

/* ---- orphan.c: the orphan list (s_last_orphan, chained by i_dtime) ---- */

/* Put @inode on / take it off the list.  Context: lock, handle open. */
int sdx_orphan_add(struct sdx_handle *h, struct sdx_inode *inode);
int sdx_orphan_del(struct sdx_handle *h, struct sdx_inode *inode);

/* Mount: delete or truncate every inode on the list.  Context: lock. */
int sdx_orphan_process(struct sdx_fs *fs);

/* fs->evict: take an inode deleted by sdx_iput off the orphan list (and
 * revoke a directory's blocks). */
int sdx_orphan_evict(struct sdx_handle *h, struct sdx_inode *inode);

/* Delete @inode (no links): revoke a directory's blocks, then
 * sdx_inode_free.  Context: lock, handle open. */
int sdx_inode_delete(struct sdx_handle *h, struct sdx_inode *inode);

#endif /* SDX_OPS_H */
