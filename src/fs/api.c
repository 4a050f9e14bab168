/*
 * api.c - the public file system calls of include/syncdax.h: mount and
 * unmount, the file descriptor table, the namespace operations (open,
 * unlink, mkdir, rmdir, rename, symlink, link, readlink, stat, readdir),
 * the attributes (flags, chmod, chown, utimens: ctime follows each) and
 * the extended attribute calls (xattr.c stores them).
 *
 * Every call clears the error detail on entry, takes fs->lock (the data
 * calls only around the descriptor lookup: file.c locks per chunk), and
 * converts the library's -errno with sdx_errno_ret/sdx_errno_ptr.
 *
 * A caller's memory (path strings, struct stat, flags, readlink buffers)
 * may be a syncdax mapping whose fault takes fs->lock, so no call touches
 * it with the lock held: paths are copied in (struct path_arg) before the
 * lock is taken, and results are built in locals and stored after it is
 * dropped.
 *
 * A file descriptor is an index into fs->fds->files; a slot is free when
 * its inode is NULL.  An open file holds one inode reference; a call that
 * works on a descriptor without the lock (read, write, truncate, ...)
 * takes its own reference first, so a concurrent close cannot free the
 * inode under it.
 *
 * Invariants:
 *   (1) inode->open_count is the number of descriptors naming the inode.
 *   (2) Every namespace change (entries, link counts, the orphan list) is
 *       made in one handle; the deletion of an inode whose last link went
 *       happens at its last reference, in a handle of its own, and a crash
 *       between leaves it on the orphan list for the next mount.
 *   (3) A directory's i_links_count is 2 + its subdirectories, or 1 once
 *       that passes EXT4_LINK_MAX (dir_nlink).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "syncdax.h"
#include "fs/ops.h"
#include "lib/err.h"

#define OP_CREDITS	(3 * SDX_CREDITS_INODE + 2 * SDX_CREDITS_EXTENT + 8)
#define FL_USER_VISIBLE	0x705BDFFFu	/* EXT4_FL_USER_VISIBLE */
/* chattr flags ext4 stores and syncdax may change (no behaviour to add) */
#define FL_SETTABLE	(EXT4_SECRM_FL | EXT4_UNRM_FL | EXT4_COMPR_FL |     \
			 EXT4_SYNC_FL | EXT4_IMMUTABLE_FL | EXT4_APPEND_FL | \
			 EXT4_NODUMP_FL | EXT4_NOATIME_FL | EXT4_NOTAIL_FL | \
			 EXT4_DIRSYNC_FL | EXT4_TOPDIR_FL |                  \
			 EXT4_PROJINHERIT_FL)

struct sdx_file {
	struct sdx_inode *inode;	/* NULL: a free slot */
	int flags;			/* open flags */
};

/* fsops' per-mount state: the descriptors, and src/dax's writeback hook
 * (fsync's part, kept here since struct sdx_fs belongs to super.c). */
struct sdx_fdtable {
	struct sdx_file *files;
	int nr;
	sdx_writeback_fn writeback;	/* sdx_fs_set_writeback; may be NULL */
};

/* A path (or symlink target) argument copied in before fs->lock is taken. */
struct path_arg {
	char s[SDX_PATH_MAX];
};

struct sdx_dir {
	struct dirent *entries;
	size_t count;
	size_t pos;
	size_t cap;
};

static bool is_dir(const struct sdx_inode *inode)
{
	return S_ISDIR(inode->raw.i_mode);
}

static bool is_writable(int flags)
{
	return (flags & O_ACCMODE) == O_WRONLY ||
	       (flags & O_ACCMODE) == O_RDWR;
}

static bool is_readable(int flags)
{
	return (flags & O_ACCMODE) == O_RDONLY ||
	       (flags & O_ACCMODE) == O_RDWR;
}

/* Copy the caller's @path into @p.  Context: no lock held (it may fault).
 * Return: 0, -EINVAL (NULL), -ENAMETOOLONG. */
static int path_copy(const char *path, struct path_arg *p)
{
	size_t len;

	if (!path)
		return -EINVAL;
	len = strnlen(path, SDX_PATH_MAX);
	if (len >= SDX_PATH_MAX)
		return sdx_err(-ENAMETOOLONG, "path longer than %d bytes",
			       SDX_PATH_MAX - 1);
	memcpy(p->s, path, len + 1);
	return 0;
}

/* ---- mount ---- */

struct sdx_fs *sdx_mount(const char *device, unsigned flags)
{
	struct sdx_fs *fs;
	int err;

	sdx_err_clear();
	if (!device || (flags & ~(SDX_MOUNT_RDONLY | SDX_MOUNT_EMULATE)))
		return sdx_errno_ptr(-EINVAL, NULL);
	err = sdx_fs_open(device, flags, &fs);
	if (err)
		return sdx_errno_ptr(err, NULL);
	fs->fds = calloc(1, sizeof(*fs->fds));
	if (!fs->fds) {
		err = -ENOMEM;
		goto out_close;
	}
	fs->evict = sdx_orphan_evict;
	sdx_dir_forget(fs);
	pthread_mutex_lock(&fs->lock);
	err = sdx_orphan_process(fs);
	pthread_mutex_unlock(&fs->lock);
	if (err)
		goto out_close;
	return fs;
out_close:
	sdx_dir_forget(fs);
	free(fs->fds);
	fs->fds = NULL;
	sdx_fs_close(fs);
	return sdx_errno_ptr(err, NULL);
}

/* An inode referenced by more than its descriptors: a mapping holds one
 * until its munmap (or a call is still running).  Context: lock. */
static struct sdx_inode *held_inode(struct sdx_fs *fs)
{
	for (uint32_t b = 0; b < fs->icache_size; b++)
		for (struct sdx_inode *i = fs->icache[b]; i; i = i->hash_next)
			if (i->refcount > i->open_count)
				return i;
	return NULL;
}

int sdx_unmount(struct sdx_fs *fs)
{
	struct sdx_inode *busy;

	sdx_err_clear();
	if (!fs)
		return (int)sdx_errno_ret(-EINVAL);
	pthread_mutex_lock(&fs->lock);
	busy = held_inode(fs);
	if (busy) {
		int err = sdx_err(-EBUSY, "unmount: inode %u is still mapped "
				  "or in use", busy->ino);

		pthread_mutex_unlock(&fs->lock);
		return (int)sdx_errno_ret(err);
	}
	for (int fd = 0; fd < fs->fds->nr; fd++) {
		struct sdx_inode *inode = fs->fds->files[fd].inode;

		if (inode) {
			inode->open_count--;
			sdx_iput(inode);
		}
	}
	free(fs->fds->files);
	free(fs->fds);
	fs->fds = NULL;
	pthread_mutex_unlock(&fs->lock);
	sdx_dir_forget(fs);
	return (int)sdx_errno_ret(sdx_fs_close(fs));
}

/* ---- descriptors ---- */

/* The open file @fd.  Context: lock. */
static int fd_get(struct sdx_fs *fs, int fd, struct sdx_file **f)
{
	if (fd < 0 || fd >= fs->fds->nr || !fs->fds->files[fd].inode)
		return sdx_err(-EBADF, "file descriptor %d is not open", fd);
	*f = &fs->fds->files[fd];
	return 0;
}

/* Give @inode (its reference) the lowest free descriptor.  Lock. */
static int fd_install(struct sdx_fs *fs, struct sdx_inode *inode, int flags)
{
	struct sdx_fdtable *t = fs->fds;
	int fd;

	for (fd = 0; fd < t->nr && t->files[fd].inode; fd++)
		;
	if (fd == t->nr) {
		int nr = t->nr ? 2 * t->nr : 16;
		struct sdx_file *files;

		if (nr > INT_MAX / 2)
			return -EMFILE;
		files = realloc(t->files, (size_t)nr * sizeof(*files));
		if (!files)
			return -ENOMEM;
		memset(files + t->nr, 0, (size_t)(nr - t->nr) *
		       sizeof(*files));
		t->files = files;
		t->nr = nr;
	}
	t->files[fd].inode = inode;
	t->files[fd].flags = flags;
	if (inode->refcount == 1 && !fs->is_rdonly) {
		/*
		 * Just read from its table block: the tids of changes made
		 * before it left the cache are gone, so assume the running
		 * transaction holds some (as ext4_iget does).
		 */
		inode->sync_tid = sdx_journal_running_tid(fs->journal);
		inode->datasync_tid = inode->sync_tid;
	}
	inode->open_count++;
	if (fs->statpage)
		sdx_stat_add(&fs->statpage->fs.open_files, 1);
	return fd;
}

/* An open file taken for a call that runs without the lock: a reference
 * on its inode and what the call decides on, read under the lock. */
struct grab {
	struct sdx_inode *inode;
	int flags;		/* open flags */
	mode_t mode;		/* i_mode */
	uint32_t iflags;	/* i_flags */
};

/*
 * Take @fd for a call that runs without the lock; check the access mode
 * (@need_read/@need_write, -@bad_mode if not).
 */
static int fd_grab(struct sdx_fs *fs, int fd, bool need_read, bool need_write,
		   int bad_mode, struct grab *g)
{
	struct sdx_file *f = NULL;
	int err;

	pthread_mutex_lock(&fs->lock);
	err = fd_get(fs, fd, &f);
	if (!err && ((need_read && !is_readable(f->flags)) ||
		     (need_write && !is_writable(f->flags))))
		err = sdx_err(-bad_mode, "file descriptor %d is not open for "
			      "%s", fd, need_write ? "writing" : "reading");
	if (!err) {
		g->inode = sdx_igrab(f->inode);
		g->flags = f->flags;
		g->mode = f->inode->raw.i_mode;
		g->iflags = f->inode->raw.i_flags;
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

static void fd_ungrab(struct sdx_inode *inode)
{
	struct sdx_fs *fs = inode->fs;

	pthread_mutex_lock(&fs->lock);
	sdx_iput(inode);
	pthread_mutex_unlock(&fs->lock);
}

struct sdx_inode *sdx_inode_get_fd(struct sdx_fs *fs, int fd, int *open_flags)
{
	struct grab g;
	int err = fd_grab(fs, fd, false, false, EBADF, &g);

	if (err)
		return sdx_errno_ptr(err, NULL);
	if (open_flags)
		*open_flags = g.flags;
	return g.inode;
}

void sdx_fs_set_writeback(struct sdx_fs *fs, sdx_writeback_fn fn)
{
	__atomic_store_n(&fs->fds->writeback, fn, __ATOMIC_RELEASE);
}

/* ---- links and creation ---- */

static bool has_dir_nlink(const struct sdx_fs *fs)
{
	return fs->feature_ro_compat & EXT4_FEATURE_RO_COMPAT_DIR_NLINK;
}

/* May directory @dir take another subdirectory? */
static int check_dir_link(struct sdx_inode *dir)
{
	if (dir->raw.i_links_count + 1 >= EXT4_LINK_MAX &&
	    !has_dir_nlink(dir->fs))
		return sdx_err(-EMLINK, "directory inode %u has %u links",
			       dir->ino, dir->raw.i_links_count);
	return 0;
}

static void dir_link_inc(struct sdx_inode *dir)
{
	uint16_t *n = &dir->raw.i_links_count;

	if (*n != 1)
		*n = *n + 1 >= EXT4_LINK_MAX ? 1 : *n + 1;
}

static void dir_link_dec(struct sdx_inode *dir)
{
	if (dir->raw.i_links_count > 2)
		dir->raw.i_links_count--;
}

/* Parent's side of a change: times, sync tids, written back. */
static int touch_dir(struct sdx_handle *h, struct sdx_inode *dir)
{
	sdx_inode_touch(dir, SDX_TIME_MTIME | SDX_TIME_CTIME);
	sdx_inode_changed(h, dir, true);
	return sdx_inode_mark_dirty(h, dir);
}

/* Drop one link of @inode in @h; no links left: onto the orphan list. */
static int drop_link(struct sdx_handle *h, struct sdx_inode *inode)
{
	int err = 0;

	if (is_dir(inode))
		inode->raw.i_links_count = 0;
	else if (inode->raw.i_links_count > 0)
		inode->raw.i_links_count--;
	if (inode->raw.i_links_count == 0)
		err = sdx_orphan_add(h, inode);
	sdx_inode_touch(inode, SDX_TIME_CTIME);
	sdx_inode_changed(h, inode, true);
	if (!err)
		err = sdx_inode_mark_dirty(h, inode);
	return err;
}

/*
 * Create @nd's name as a new inode of @mode in its directory.  For a
 * directory its first block, for a symlink its target.  Context: lock.
 */
static int create(struct sdx_fs *fs, struct sdx_nameidata *nd, mode_t mode,
		  const char *target, struct sdx_inode **out)
{
	struct sdx_inode *dir = nd->dir, *inode = NULL;
	struct sdx_handle *h;
	int err, e;

	if (S_ISDIR(mode)) {
		err = check_dir_link(dir);
		if (err)
			return err;
	}
	err = sdx_fs_start(fs, OP_CREDITS, &h);
	if (err)
		return err;
	err = sdx_inode_alloc(h, dir, mode, &inode);
	if (err)
		goto out_stop;
	inode->raw.i_links_count = S_ISDIR(mode) ? 2 : 1;
	if (S_ISDIR(mode))
		err = sdx_dir_init(h, inode, dir->ino);
	else if (S_ISLNK(mode))
		err = sdx_symlink_store(h, inode, target, strlen(target));
	if (!err)
		err = sdx_xattr_inherit(h, dir, inode);
	if (!err) {
		sdx_inode_changed(h, inode, true);
		err = sdx_inode_mark_dirty(h, inode);
	}
	if (!err)
		err = sdx_dir_add(h, dir, nd->name, nd->len, inode->ino,
				  sdx_dir_ftype(fs, mode));
	if (err) {
		inode->raw.i_links_count = 0;
		sdx_inode_delete(h, inode);
		goto out_stop;
	}
	if (S_ISDIR(mode))
		dir_link_inc(dir);
	err = touch_dir(h, dir);
out_stop:
	e = sdx_journal_stop(h);
	if (!err)
		err = e;
	if (err && inode) {
		sdx_iput(inode);
		inode = NULL;
	}
	*out = inode;
	return err;
}

/* ---- open and close ---- */

static int open_inode_at(struct sdx_fs *fs, const char *path, int flags,
			 mode_t mode, unsigned depth, struct sdx_inode **out);

/*
 * O_CREAT on a dangling symlink creates its target, as Linux does: open
 * the target path (relative to the link's directory) in its place.
 */
static int create_through_link(struct sdx_fs *fs, const char *path,
			       uint32_t ino, int flags, mode_t mode,
			       unsigned depth, struct sdx_inode **out)
{
	const char *slash = strrchr(path, '/');
	size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0, len;
	char *buf = malloc(2 * SDX_PATH_MAX);
	struct sdx_inode *link;
	int err = buf ? sdx_iget(fs, ino, &link) : -ENOMEM;

	if (err)
		goto out_free;
	if (depth >= SDX_SYMLOOP_MAX)
		err = sdx_err(-ELOOP, "more than %d symlinks", SDX_SYMLOOP_MAX);
	else if (!S_ISLNK(link->raw.i_mode))
		err = -ENOENT;	/* not dangling: a missing directory */
	else
		err = sdx_symlink_target(link, buf + SDX_PATH_MAX, SDX_PATH_MAX,
					 &len);
	sdx_iput(link);
	if (err)
		goto out_free;
	if (buf[SDX_PATH_MAX] == '/')
		dir_len = 0;
	if (dir_len + len >= SDX_PATH_MAX) {
		err = sdx_err(-ENAMETOOLONG, "path longer than %d bytes after "
			      "symlinks", SDX_PATH_MAX - 1);
		goto out_free;
	}
	memcpy(buf, path, dir_len);
	memcpy(buf + dir_len, buf + SDX_PATH_MAX, len + 1);
	err = open_inode_at(fs, buf, flags, mode, depth + 1, out);
out_free:
	free(buf);
	return err;
}

/* Open the existing inode of @path or create it (O_CREAT).  Lock. */
static int open_inode_at(struct sdx_fs *fs, const char *path, int flags,
			 mode_t mode, unsigned depth, struct sdx_inode **out)
{
	unsigned follow = flags & O_NOFOLLOW ? 0 : SDX_LOOKUP_FOLLOW;
	struct sdx_nameidata nd;
	uint32_t ino;
	int err;

	if (!(flags & O_CREAT))
		return sdx_namei(fs, path, follow, out);
	err = sdx_namei_parent(fs, path, &nd);
	if (err)
		return err;
	if (nd.len == 0)
		err = -EISDIR;
	else
		err = sdx_dir_lookup(nd.dir, nd.name, nd.len, &ino, NULL);
	if (err == 0 && (flags & O_EXCL)) {
		err = -EEXIST;
	} else if (err == 0) {
		err = sdx_namei(fs, path, follow, out);
		if (err == -ENOENT && follow && !nd.is_dir_required)
			err = create_through_link(fs, path, ino, flags, mode,
						  depth, out);
	} else if (err == -ENOENT && nd.is_dir_required) {
		err = -EISDIR;
	} else if (err == -ENOENT) {
		err = create(fs, &nd, S_IFREG | (mode & 07777), NULL, out);
	}
	sdx_iput(nd.dir);
	return err;
}

static int open_inode(struct sdx_fs *fs, const char *path, int flags,
		      mode_t mode, struct sdx_inode **out)
{
	return open_inode_at(fs, path, flags, mode, 0, out);
}

/* May @inode be opened with @flags?  Context: lock. */
static int check_open(struct sdx_inode *inode, int flags)
{
	uint32_t iflags = inode->raw.i_flags;

	if (S_ISLNK(inode->raw.i_mode))
		return sdx_err(-ELOOP, "inode %u is a symlink (O_NOFOLLOW)",
			       inode->ino);
	if ((flags & O_DIRECTORY) && !is_dir(inode))
		return -ENOTDIR;
	if (is_dir(inode) && (is_writable(flags) || (flags & O_TRUNC)))
		return -EISDIR;
	if (is_writable(flags) && (iflags & EXT4_IMMUTABLE_FL))
		return sdx_err(-EPERM, "inode %u is immutable", inode->ino);
	if (is_writable(flags) && (iflags & EXT4_APPEND_FL) &&
	    (!(flags & O_APPEND) || (flags & O_TRUNC)))
		return sdx_err(-EPERM, "inode %u is append-only", inode->ino);
	return 0;
}

int sdx_open(struct sdx_fs *fs, const char *path, int flags, mode_t mode)
{
	struct sdx_inode *inode;
	struct path_arg p;
	int err;

	sdx_err_clear();
	if (!fs || !path)
		return (int)sdx_errno_ret(-EINVAL);
	if ((flags & O_ACCMODE) == O_ACCMODE)
		return (int)sdx_errno_ret(sdx_err(-EINVAL, "open flags 0x%x: "
						  "bad access mode", flags));
	if (fs->is_rdonly && (is_writable(flags) || (flags & O_TRUNC)))
		return (int)sdx_errno_ret(-EROFS);
	err = path_copy(path, &p);
	if (err)
		return (int)sdx_errno_ret(err);
	pthread_mutex_lock(&fs->lock);
	if (fs->is_rdonly && (flags & O_CREAT)) {
		/* an existing file opens for reading; a new one cannot be */
		err = (flags & O_EXCL) ? -EROFS :
		      open_inode(fs, p.s, flags & ~O_CREAT, mode, &inode);
		if (err == -ENOENT)
			err = -EROFS;
	} else {
		err = open_inode(fs, p.s, flags, mode, &inode);
	}
	if (!err) {
		err = check_open(inode, flags);
		if (err)
			sdx_iput(inode);
	}
	pthread_mutex_unlock(&fs->lock);
	if (err)
		return (int)sdx_errno_ret(err);
	if ((flags & O_TRUNC) && is_writable(flags) &&
	    S_ISREG(inode->raw.i_mode)) {
		err = sdx_file_truncate(inode, 0);
		if (err) {
			fd_ungrab(inode);
			return (int)sdx_errno_ret(err);
		}
	}
	pthread_mutex_lock(&fs->lock);
	err = fd_install(fs, inode, flags);
	if (err < 0)
		sdx_iput(inode);
	pthread_mutex_unlock(&fs->lock);
	return (int)sdx_errno_ret(err);
}

int sdx_close(struct sdx_fs *fs, int fd)
{
	struct sdx_file *f = NULL;
	int err;

	sdx_err_clear();
	if (!fs)
		return (int)sdx_errno_ret(-EINVAL);
	pthread_mutex_lock(&fs->lock);
	err = fd_get(fs, fd, &f);
	if (!err) {
		struct sdx_inode *inode = f->inode;

		f->inode = NULL;
		inode->open_count--;
		if (fs->statpage)
			sdx_stat_add(&fs->statpage->fs.open_files, -1ull);
		sdx_iput(inode);
	}
	pthread_mutex_unlock(&fs->lock);
	return (int)sdx_errno_ret(err);
}

/* ---- data ---- */

/* What pread and pwrite begin with: argument checks, then @fd taken. */
static int io_begin(struct sdx_fs *fs, int fd, const void *buf, size_t n,
		    off_t off, bool is_write, struct grab *g)
{
	sdx_err_clear();
	if (!fs || off < 0)
		return -EINVAL;
	if (!buf && n)
		return -EFAULT;
	return fd_grab(fs, fd, !is_write, is_write, EBADF, g);
}

ssize_t sdx_pread(struct sdx_fs *fs, int fd, void *buf, size_t n, off_t off)
{
	struct grab g;
	ssize_t r;
	int err = io_begin(fs, fd, buf, n, off, false, &g);

	if (err)
		return sdx_errno_ret(err);
	if (S_ISDIR(g.mode))
		r = -EISDIR;
	else
		r = sdx_file_read(g.inode, buf, n > SSIZE_MAX ? SSIZE_MAX : n,
				  (uint64_t)off);
	fd_ungrab(g.inode);
	return sdx_errno_ret(r);
}

ssize_t sdx_pwrite(struct sdx_fs *fs, int fd, const void *buf, size_t n,
		   off_t off)
{
	struct grab g;
	ssize_t r;
	int err = io_begin(fs, fd, buf, n, off, true, &g);

	if (err)
		return sdx_errno_ret(err);
	if (!S_ISREG(g.mode))
		r = sdx_err(-EINVAL, "inode %u is not a regular file",
			    g.inode->ino);
	else
		r = sdx_file_write(g.inode, buf, n > SSIZE_MAX ? SSIZE_MAX : n,
				   (uint64_t)off, g.flags & O_APPEND);
	/* O_SYNC and chattr +S: fsync; O_DSYNC: fdatasync */
	if (r > 0 && ((g.flags & O_DSYNC) || (g.iflags & EXT4_SYNC_FL))) {
		bool is_full = (g.flags & O_SYNC) == O_SYNC ||
			       (g.iflags & EXT4_SYNC_FL);

		err = sdx_file_sync(g.inode, !is_full);
		if (err)
			r = err;
	}
	fd_ungrab(g.inode);
	return sdx_errno_ret(r);
}

/* fsync and fdatasync: the dirty pages of the file's non-synchronous
 * mappings first (src/dax's hook, no lock held), then the commit. */
static int sync_fd(struct sdx_fs *fs, int fd, bool is_datasync)
{
	sdx_writeback_fn writeback;
	struct grab g;
	int err;

	sdx_err_clear();
	if (!fs)
		return (int)sdx_errno_ret(-EINVAL);
	err = fd_grab(fs, fd, false, false, EBADF, &g);
	if (err)
		return (int)sdx_errno_ret(err);
	writeback = __atomic_load_n(&fs->fds->writeback, __ATOMIC_ACQUIRE);
	if (writeback)
		writeback(g.inode);
	err = sdx_file_sync(g.inode, is_datasync);
	fd_ungrab(g.inode);
	return (int)sdx_errno_ret(err);
}

int sdx_fsync(struct sdx_fs *fs, int fd)
{
	return sync_fd(fs, fd, false);
}

int sdx_fdatasync(struct sdx_fs *fs, int fd)
{
	return sync_fd(fs, fd, true);
}

int sdx_ftruncate(struct sdx_fs *fs, int fd, off_t len)
{
	struct grab g;
	int err;

	sdx_err_clear();
	if (!fs || len < 0)
		return (int)sdx_errno_ret(-EINVAL);
	err = fd_grab(fs, fd, false, true, EINVAL, &g);
	if (err)
		return (int)sdx_errno_ret(err);
	if (!S_ISREG(g.mode))
		err = -EINVAL;
	else if (g.iflags & (EXT4_IMMUTABLE_FL | EXT4_APPEND_FL))
		err = sdx_err(-EPERM, "inode %u is immutable or append-only",
			      g.inode->ino);
	else
		err = sdx_file_truncate(g.inode, (uint64_t)len);
	fd_ungrab(g.inode);
	return (int)sdx_errno_ret(err);
}

int sdx_fallocate(struct sdx_fs *fs, int fd, int mode, off_t off, off_t len)
{
	struct grab g;
	int err;

	sdx_err_clear();
	if (!fs || off < 0 || len <= 0)
		return (int)sdx_errno_ret(-EINVAL);
	err = fd_grab(fs, fd, false, true, EBADF, &g);
	if (err)
		return (int)sdx_errno_ret(err);
	if (g.iflags & EXT4_IMMUTABLE_FL)
		err = sdx_err(-EPERM, "inode %u is immutable", g.inode->ino);
	else if ((g.iflags & EXT4_APPEND_FL) && (mode & ~FALLOC_FL_KEEP_SIZE))
		err = sdx_err(-EPERM, "inode %u is append-only: fallocate "
			      "mode 0x%x would change its data", g.inode->ino,
			      mode);	/* vfs_fallocate */
	else
		err = sdx_file_fallocate(g.inode, mode, (uint64_t)off,
					 (uint64_t)len);
	fd_ungrab(g.inode);
	return (int)sdx_errno_ret(err);
}

/* ---- attributes ---- */

/* What a path call reads of an inode, into a local copy (the caller's
 * memory is not written under the lock). */
union path_read {
	struct stat st;
	struct statvfs sv;
};
typedef int (*path_read_fn)(struct sdx_inode *inode, union path_read *out);

/* Look @path up and @read its inode into *@out (@size bytes of it). */
static int read_path(struct sdx_fs *fs, const char *path, unsigned follow,
		     path_read_fn read, void *out, size_t size)
{
	struct sdx_inode *inode;
	union path_read local;
	struct path_arg p;
	int err;

	sdx_err_clear();
	if (!fs || !out)
		return (int)sdx_errno_ret(-EINVAL);
	err = path_copy(path, &p);
	if (err)
		return (int)sdx_errno_ret(err);
	pthread_mutex_lock(&fs->lock);
	err = sdx_namei(fs, p.s, follow, &inode);
	if (!err) {
		err = read(inode, &local);
		sdx_iput(inode);
	}
	pthread_mutex_unlock(&fs->lock);
	if (!err)
		memcpy(out, &local, size);
	return (int)sdx_errno_ret(err);
}

static int read_stat(struct sdx_inode *inode, union path_read *out)
{
	sdx_inode_stat(inode, &out->st);
	return 0;
}

static int read_statvfs(struct sdx_inode *inode, union path_read *out)
{
	return sdx_fs_statvfs(inode->fs, &out->sv);
}

int sdx_stat(struct sdx_fs *fs, const char *path, struct stat *st)
{
	return read_path(fs, path, SDX_LOOKUP_FOLLOW, read_stat, st,
			 sizeof(*st));
}

int sdx_lstat(struct sdx_fs *fs, const char *path, struct stat *st)
{
	return read_path(fs, path, 0, read_stat, st, sizeof(*st));
}

int sdx_statvfs(struct sdx_fs *fs, const char *path, struct statvfs *sv)
{
	return read_path(fs, path, SDX_LOOKUP_FOLLOW, read_statvfs, sv,
			 sizeof(*sv));
}

int sdx_fstat(struct sdx_fs *fs, int fd, struct stat *st)
{
	struct sdx_file *f = NULL;
	struct stat local;
	int err;

	sdx_err_clear();
	if (!fs || !st)
		return (int)sdx_errno_ret(-EINVAL);
	pthread_mutex_lock(&fs->lock);
	err = fd_get(fs, fd, &f);
	if (!err)
		sdx_inode_stat(f->inode, &local);
	pthread_mutex_unlock(&fs->lock);
	if (!err)
		*st = local;
	return (int)sdx_errno_ret(err);
}

int sdx_getflags(struct sdx_fs *fs, int fd, unsigned *flags)
{
	struct sdx_file *f = NULL;
	unsigned local = 0;
	int err;

	sdx_err_clear();
	if (!fs || !flags)
		return (int)sdx_errno_ret(-EINVAL);
	pthread_mutex_lock(&fs->lock);
	err = fd_get(fs, fd, &f);
	if (!err)
		local = f->inode->raw.i_flags & FL_USER_VISIBLE;
	pthread_mutex_unlock(&fs->lock);
	if (!err)
		*flags = local;
	return (int)sdx_errno_ret(err);
}

int sdx_setflags(struct sdx_fs *fs, int fd, unsigned flags)
{
	struct sdx_handle *h;
	struct sdx_file *f = NULL;
	int err, e;

	sdx_err_clear();
	if (!fs)
		return (int)sdx_errno_ret(-EINVAL);
	if (fs->is_rdonly)
		return (int)sdx_errno_ret(-EROFS);
	pthread_mutex_lock(&fs->lock);
	err = fd_get(fs, fd, &f);
	if (!err && ((flags ^ f->inode->raw.i_flags) & EXT4_FL_USER_MODIFIABLE &
		     ~FL_SETTABLE))
		err = sdx_err(-EOPNOTSUPP, "flags 0x%x: only the chattr flags "
			      "0x%x can change", flags, FL_SETTABLE);
	if (!err)
		err = sdx_fs_start(fs, SDX_CREDITS_INODE, &h);
	if (!err) {
		struct sdx_inode *inode = f->inode;

		inode->raw.i_flags = (inode->raw.i_flags & ~FL_SETTABLE) |
				     (flags & FL_SETTABLE);
		sdx_inode_touch(inode, SDX_TIME_CTIME);
		sdx_inode_changed(h, inode, false);
		err = sdx_inode_mark_dirty(h, inode);
		e = sdx_journal_stop(h);
		if (!err)
			err = e;
	}
	pthread_mutex_unlock(&fs->lock);
	return (int)sdx_errno_ret(err);
}

/* ---- mode, ownership, times ---- */

/*
 * One attribute change of an inode: @set checks (before changing
 * anything) and then writes inode->raw (and, for extended attributes,
 * blocks in @h); attr_apply gives it its handle.
 * Context of @set: lock, handle open.
 */
typedef int (*attr_set_fn)(struct sdx_handle *h, struct sdx_inode *inode,
			   const void *arg);

/* EPERM where Linux's notify_change gives it: a mode, owner or explicit
 * time change of an immutable or append-only inode. */
static int check_attr_change(const struct sdx_inode *inode, uint32_t iflags)
{
	if (inode->raw.i_flags & iflags)
		return sdx_err(-EPERM, "inode %u is %s", inode->ino,
			       inode->raw.i_flags & EXT4_IMMUTABLE_FL ?
			       "immutable" : "append-only");
	return 0;
}

/* Apply @set to @inode in a handle of its own, ctime now.  Lock. */
static int attr_apply(struct sdx_inode *inode, attr_set_fn set,
		      const void *arg)
{
	struct sdx_handle *h;
	int err, e;

	if (inode->fs->is_rdonly)
		return -EROFS;
	err = sdx_fs_start(inode->fs, SDX_CREDITS_INODE, &h);
	if (err)
		return err;
	err = set(h, inode, arg);
	if (!err) {
		sdx_inode_touch(inode, SDX_TIME_CTIME);
		sdx_inode_changed(h, inode, false);
		err = sdx_inode_mark_dirty(h, inode);
	}
	e = sdx_journal_stop(h);
	return err ? err : e;
}

/* The path-named variant: @set on the inode @path names (@follow). */
static int attr_path(struct sdx_fs *fs, const char *path, unsigned follow,
		     attr_set_fn set, const void *arg)
{
	struct sdx_inode *inode;
	struct path_arg p;
	int err;

	if (!fs)
		return -EINVAL;
	err = path_copy(path, &p);
	if (err)
		return err;
	pthread_mutex_lock(&fs->lock);
	err = sdx_namei(fs, p.s, follow, &inode);
	if (!err) {
		err = attr_apply(inode, set, arg);
		sdx_iput(inode);
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

static int set_mode(struct sdx_handle *h, struct sdx_inode *inode,
		    const void *arg)
{
	mode_t mode = *(const mode_t *)arg;
	int err = check_attr_change(inode, EXT4_IMMUTABLE_FL | EXT4_APPEND_FL);

	if (!err)
		err = sdx_xattr_chmod(h, inode, mode);
	if (!err)
		inode->raw.i_mode = (uint16_t)((inode->raw.i_mode & S_IFMT) |
					       (mode & 07777));
	return err;
}

int sdx_chmod(struct sdx_fs *fs, const char *path, mode_t mode)
{
	sdx_err_clear();
	return (int)sdx_errno_ret(attr_path(fs, path, SDX_LOOKUP_FOLLOW,
					    set_mode, &mode));
}

int sdx_fchmod(struct sdx_fs *fs, int fd, mode_t mode)
{
	struct sdx_file *f = NULL;
	int err;

	sdx_err_clear();
	if (!fs)
		return (int)sdx_errno_ret(-EINVAL);
	pthread_mutex_lock(&fs->lock);
	err = fd_get(fs, fd, &f);
	if (!err)
		err = attr_apply(f->inode, set_mode, &mode);
	pthread_mutex_unlock(&fs->lock);
	return (int)sdx_errno_ret(err);
}

struct owner {
	uid_t uid;	/* (uid_t)-1: keep */
	gid_t gid;	/* (gid_t)-1: keep */
};

/*
 * chown_common's change: the ids given, and for a non-directory the
 * set-user-ID bit dropped, the set-group-ID bit too when group-execute
 * is set (without it, it marks mandatory locking), also for root.
 */
static int set_owner(struct sdx_handle *h, struct sdx_inode *inode,
		     const void *arg)
{
	const struct owner *o = arg;
	struct ext4_inode *raw = &inode->raw;
	int err = check_attr_change(inode, EXT4_IMMUTABLE_FL | EXT4_APPEND_FL);

	(void)h;
	if (err)
		return err;
	if (o->uid != (uid_t)-1) {
		raw->i_uid = (uint16_t)o->uid;
		raw->l_i_uid_high = (uint16_t)(o->uid >> 16);
	}
	if (o->gid != (gid_t)-1) {
		raw->i_gid = (uint16_t)o->gid;
		raw->l_i_gid_high = (uint16_t)(o->gid >> 16);
	}
	if (!is_dir(inode)) {
		raw->i_mode &= (uint16_t)~S_ISUID;
		if (raw->i_mode & S_IXGRP)
			raw->i_mode &= (uint16_t)~S_ISGID;
	}
	return 0;
}

int sdx_chown(struct sdx_fs *fs, const char *path, uid_t uid, gid_t gid)
{
	struct owner o = { uid, gid };

	sdx_err_clear();
	return (int)sdx_errno_ret(attr_path(fs, path, SDX_LOOKUP_FOLLOW,
					    set_owner, &o));
}

int sdx_lchown(struct sdx_fs *fs, const char *path, uid_t uid, gid_t gid)
{
	struct owner o = { uid, gid };

	sdx_err_clear();
	return (int)sdx_errno_ret(attr_path(fs, path, 0, set_owner, &o));
}

/* Set (or touch, UTIME_NOW; UTIME_OMIT: keep) atime and mtime. */
static int set_times(struct sdx_handle *h, struct sdx_inode *inode,
		     const void *arg)
{
	const struct timespec *t = arg;
	bool is_explicit = (t[0].tv_nsec != UTIME_NOW &&
			    t[0].tv_nsec != UTIME_OMIT) ||
			   (t[1].tv_nsec != UTIME_NOW &&
			    t[1].tv_nsec != UTIME_OMIT);
	int err = check_attr_change(inode, is_explicit ?
				    EXT4_IMMUTABLE_FL | EXT4_APPEND_FL :
				    EXT4_IMMUTABLE_FL);

	(void)h;
	if (err)
		return err;
	if (t[0].tv_nsec == UTIME_NOW)
		sdx_inode_touch(inode, SDX_TIME_ATIME);
	else if (t[0].tv_nsec != UTIME_OMIT)
		sdx_inode_set_time(inode, SDX_TIME_ATIME, t[0]);
	if (t[1].tv_nsec == UTIME_NOW)
		sdx_inode_touch(inode, SDX_TIME_MTIME);
	else if (t[1].tv_nsec != UTIME_OMIT)
		sdx_inode_set_time(inode, SDX_TIME_MTIME, t[1]);
	return 0;
}

static bool is_valid_nsec(long nsec)
{
	return (nsec >= 0 && nsec < 1000000000) || nsec == UTIME_NOW ||
	       nsec == UTIME_OMIT;
}

static int utimens_path(struct sdx_fs *fs, const char *path, unsigned follow,
			const struct timespec times[2])
{
	struct timespec t[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };

	sdx_err_clear();
	if (times) {
		t[0] = times[0];
		t[1] = times[1];
	}
	if (!is_valid_nsec(t[0].tv_nsec) || !is_valid_nsec(t[1].tv_nsec))
		return (int)sdx_errno_ret(sdx_err(-EINVAL, "utimens: "
			"tv_nsec %ld/%ld out of range", t[0].tv_nsec,
			t[1].tv_nsec));
	if (t[0].tv_nsec == UTIME_OMIT && t[1].tv_nsec == UTIME_OMIT)
		return 0;	/* as utimensat: nothing, not even ctime */
	return (int)sdx_errno_ret(attr_path(fs, path, follow, set_times, t));
}

int sdx_utimens(struct sdx_fs *fs, const char *path,
		const struct timespec times[2])
{
	return utimens_path(fs, path, SDX_LOOKUP_FOLLOW, times);
}

int sdx_lutimens(struct sdx_fs *fs, const char *path,
		 const struct timespec times[2])
{
	return utimens_path(fs, path, 0, times);
}

/* ---- extended attributes ---- */

#define XATTR_NAME_MAX_LEN	255	/* XATTR_NAME_MAX */
#define XATTR_SIZE_MAX_LEN	65536	/* XATTR_SIZE_MAX, also for lists */

/* An attribute name copied in before fs->lock is taken. */
struct name_arg {
	char s[XATTR_NAME_MAX_LEN + 1];
};

/* Copy @name into @n.  Context: no lock.  Return: 0, -EINVAL, -ERANGE. */
static int name_copy(const char *name, struct name_arg *n)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, sizeof(n->s));
	if (len == 0 || len == sizeof(n->s))
		return sdx_err(-ERANGE, "extended attribute name of %s bytes "
			       "(1..%d)", len ? "too many" : "0",
			       XATTR_NAME_MAX_LEN);
	memcpy(n->s, name, len + 1);
	return 0;
}

/*
 * The inode @path names (@follow), fs->lock held on success; the path and
 * the name copied in first.
 */
static int xattr_begin(struct sdx_fs *fs, const char *path, unsigned follow,
		       const char *name, struct name_arg *n,
		       struct sdx_inode **inode)
{
	struct path_arg p;
	int err;

	if (!fs)
		return -EINVAL;
	err = path_copy(path, &p);
	if (!err && n)
		err = name_copy(name, n);
	if (err)
		return err;
	pthread_mutex_lock(&fs->lock);
	err = sdx_namei(fs, p.s, follow, inode);
	if (err)
		pthread_mutex_unlock(&fs->lock);
	return err;
}

static void xattr_end(struct sdx_fs *fs, struct sdx_inode *inode)
{
	sdx_iput(inode);
	pthread_mutex_unlock(&fs->lock);
}

/* getxattr and listxattr: the result built in a library buffer under the
 * lock, copied to the caller's after it. */
static ssize_t xattr_read(struct sdx_fs *fs, const char *path,
			  unsigned follow, const char *name, void *out,
			  size_t size)
{
	size_t cap = size < XATTR_SIZE_MAX_LEN ? size : XATTR_SIZE_MAX_LEN;
	struct sdx_inode *inode;
	struct name_arg n;
	char *buf = NULL;
	ssize_t r;

	sdx_err_clear();
	if (!out && size)
		return sdx_errno_ret(-EFAULT);
	if (cap && !(buf = malloc(cap)))
		return sdx_errno_ret(-ENOMEM);
	r = xattr_begin(fs, path, follow, name, name ? &n : NULL, &inode);
	if (r == 0) {
		r = name ? sdx_xattr_get(inode, n.s, buf, cap) :
		    sdx_xattr_list(inode, buf, cap);
		xattr_end(fs, inode);
	}
	if (r > 0 && cap)
		memcpy(out, buf, (size_t)r);
	free(buf);
	return sdx_errno_ret(r);
}

ssize_t sdx_getxattr(struct sdx_fs *fs, const char *path, const char *name,
		     void *value, size_t size)
{
	if (!name)
		return sdx_errno_ret(-EINVAL);
	return xattr_read(fs, path, SDX_LOOKUP_FOLLOW, name, value, size);
}

ssize_t sdx_lgetxattr(struct sdx_fs *fs, const char *path, const char *name,
		      void *value, size_t size)
{
	if (!name)
		return sdx_errno_ret(-EINVAL);
	return xattr_read(fs, path, 0, name, value, size);
}

ssize_t sdx_listxattr(struct sdx_fs *fs, const char *path, char *list,
		      size_t size)
{
	return xattr_read(fs, path, SDX_LOOKUP_FOLLOW, NULL, list, size);
}

ssize_t sdx_llistxattr(struct sdx_fs *fs, const char *path, char *list,
		       size_t size)
{
	return xattr_read(fs, path, 0, NULL, list, size);
}

struct xattr_value {
	const char *name;
	const void *value;	/* NULL: remove */
	size_t size;
	int flags;
};

static int set_xattr(struct sdx_handle *h, struct sdx_inode *inode,
		     const void *arg)
{
	const struct xattr_value *v = arg;

	return sdx_xattr_set(h, inode, v->name, v->value, v->size, v->flags);
}

/* setxattr (@value not NULL) and removexattr (@value NULL). */
static int xattr_change(struct sdx_fs *fs, const char *path, unsigned follow,
			const char *name, const void *value, size_t size,
			int flags)
{
	struct xattr_value v = { NULL, value, size, flags };
	struct sdx_inode *inode;
	struct name_arg n;
	void *copy = NULL;
	int err;

	sdx_err_clear();
	if (size > XATTR_SIZE_MAX_LEN)
		return (int)sdx_errno_ret(sdx_err(-E2BIG, "extended attribute "
			"value of %zu bytes (at most %d)", size,
			XATTR_SIZE_MAX_LEN));
	if (value && size) {
		copy = malloc(size);
		if (!copy)
			return (int)sdx_errno_ret(-ENOMEM);
		memcpy(copy, value, size);
		v.value = copy;
	}
	err = xattr_begin(fs, path, follow, name, &n, &inode);
	if (!err) {
		v.name = n.s;
		err = attr_apply(inode, set_xattr, &v);
		xattr_end(fs, inode);
	}
	free(copy);
	return (int)sdx_errno_ret(err);
}

int sdx_setxattr(struct sdx_fs *fs, const char *path, const char *name,
		 const void *value, size_t size, int flags)
{
	if (!value && size)
		return (int)sdx_errno_ret(-EFAULT);
	return xattr_change(fs, path, SDX_LOOKUP_FOLLOW, name, value ? value :
			    "", size, flags);
}

int sdx_lsetxattr(struct sdx_fs *fs, const char *path, const char *name,
		  const void *value, size_t size, int flags)
{
	if (!value && size)
		return (int)sdx_errno_ret(-EFAULT);
	return xattr_change(fs, path, 0, name, value ? value : "", size,
			    flags);
}

int sdx_removexattr(struct sdx_fs *fs, const char *path, const char *name)
{
	return xattr_change(fs, path, SDX_LOOKUP_FOLLOW, name, NULL, 0,
			    XATTR_REPLACE);
}

int sdx_lremovexattr(struct sdx_fs *fs, const char *path, const char *name)
{
	return xattr_change(fs, path, 0, name, NULL, 0, XATTR_REPLACE);
}

/* ---- namespace ---- */

/* Copy @path into @p and resolve its parent for a change; on success
 * fs->lock is held. */
static int change_begin(struct sdx_fs *fs, const char *path,
			struct path_arg *p, struct sdx_nameidata *nd)
{
	int err;

	if (!fs || !path)
		return -EINVAL;
	if (fs->is_rdonly)
		return -EROFS;
	err = path_copy(path, p);
	if (err)
		return err;
	pthread_mutex_lock(&fs->lock);
	err = sdx_namei_parent(fs, p->s, nd);
	if (err)
		pthread_mutex_unlock(&fs->lock);
	return err;
}

/* The existing child @nd names, referenced.  Lock. */
static int lookup_nd(struct sdx_fs *fs, struct sdx_nameidata *nd,
		     struct sdx_inode **child)
{
	uint32_t ino;
	int err = sdx_dir_lookup(nd->dir, nd->name, nd->len, &ino, NULL);

	if (!err)
		err = sdx_iget(fs, ino, child);
	return err;
}

/* mkdir and symlink: create @path as a new inode of @mode. */
static int create_path(struct sdx_fs *fs, const char *path, mode_t mode,
		       const char *target)
{
	struct sdx_nameidata nd;
	struct sdx_inode *child;
	struct path_arg p;
	uint32_t ino;
	int err = change_begin(fs, path, &p, &nd);

	if (err)
		return err;
	if (nd.len == 0 || sdx_is_dot_or_dotdot(nd.name, nd.len))
		err = -EEXIST;
	else
		err = sdx_dir_lookup(nd.dir, nd.name, nd.len, &ino, NULL);
	if (err == 0)
		err = -EEXIST;
	else if (err == -ENOENT && nd.is_dir_required && !S_ISDIR(mode))
		err = -ENOENT;
	else if (err == -ENOENT)
		err = create(fs, &nd, mode, target, &child);
	if (!err)
		sdx_iput(child);
	sdx_iput(nd.dir);
	pthread_mutex_unlock(&fs->lock);
	return err;
}

int sdx_mkdir(struct sdx_fs *fs, const char *path, mode_t mode)
{
	sdx_err_clear();
	return (int)sdx_errno_ret(create_path(fs, path,
					      S_IFDIR | (mode & 07777), NULL));
}

int sdx_symlink(struct sdx_fs *fs, const char *target, const char *path)
{
	struct path_arg t;
	size_t tlen;

	sdx_err_clear();
	if (!target)
		return (int)sdx_errno_ret(-EINVAL);
	tlen = strnlen(target, SDX_BLOCK_SIZE);
	if (tlen == 0)
		return (int)sdx_errno_ret(-ENOENT);
	if (tlen >= SDX_BLOCK_SIZE)
		return (int)sdx_errno_ret(sdx_err(-ENAMETOOLONG, "symlink "
			"target longer than %u bytes", SDX_BLOCK_SIZE - 1));
	memcpy(t.s, target, tlen + 1);	/* tlen < SDX_PATH_MAX */
	return (int)sdx_errno_ret(create_path(fs, path, S_IFLNK | 0777,
					      t.s));
}

/* Remove @nd's entry (a non-directory for unlink, an empty directory for
 * rmdir) and drop the link.  Lock. */
static int remove_entry(struct sdx_fs *fs, struct sdx_nameidata *nd,
			bool is_rmdir)
{
	struct sdx_inode *child;
	struct sdx_handle *h;
	int err, e;

	if (nd->len == 0)
		return is_rmdir ? -EBUSY : -EISDIR;
	if (sdx_is_dot_or_dotdot(nd->name, nd->len))
		return is_rmdir ? (nd->len == 1 ? -EINVAL : -ENOTEMPTY) :
		       -EISDIR;
	err = lookup_nd(fs, nd, &child);
	if (err)
		return err;
	if (is_rmdir && !is_dir(child))
		err = -ENOTDIR;
	else if (!is_rmdir && is_dir(child))
		err = -EISDIR;
	else if (!is_rmdir && nd->is_dir_required)
		err = -ENOTDIR;
	else if (is_rmdir && child->ino == EXT4_ROOT_INO)
		err = -EBUSY;
	else if (is_rmdir) {
		int empty = sdx_dir_is_empty(child);

		err = empty < 0 ? empty : empty ? 0 : -ENOTEMPTY;
	}
	if (!err)
		err = sdx_fs_start(fs, OP_CREDITS, &h);
	if (!err) {
		err = sdx_dir_remove(h, nd->dir, nd->name, nd->len);
		if (!err)
			err = drop_link(h, child);
		if (!err && is_rmdir)
			dir_link_dec(nd->dir);
		if (!err)
			err = touch_dir(h, nd->dir);
		e = sdx_journal_stop(h);
		if (!err)
			err = e;
	}
	sdx_iput(child);
	return err;
}

static int remove_path(struct sdx_fs *fs, const char *path, bool is_rmdir)
{
	struct sdx_nameidata nd;
	struct path_arg p;
	int err;

	sdx_err_clear();
	err = change_begin(fs, path, &p, &nd);
	if (err)
		return (int)sdx_errno_ret(err);
	err = remove_entry(fs, &nd, is_rmdir);
	sdx_iput(nd.dir);
	pthread_mutex_unlock(&fs->lock);
	return (int)sdx_errno_ret(err);
}

int sdx_unlink(struct sdx_fs *fs, const char *path)
{
	return remove_path(fs, path, false);
}

int sdx_rmdir(struct sdx_fs *fs, const char *path)
{
	return remove_path(fs, path, true);
}

/* Is directory @ino @dir or an ancestor of @dir?  Lock. */
static int is_ancestor(struct sdx_fs *fs, uint32_t ino, struct sdx_inode *dir)
{
	struct sdx_inode *cur = sdx_igrab(dir), *up;
	uint32_t parent;
	int err = 0, found = 0;

	for (uint32_t steps = 0; steps < fs->inodes_count; steps++) {
		if (cur->ino == ino) {
			found = 1;
			break;
		}
		if (cur->ino == EXT4_ROOT_INO)
			break;
		err = sdx_dir_lookup(cur, "..", 2, &parent, NULL);
		if (!err)
			err = sdx_iget(fs, parent, &up);
		if (err)
			break;
		sdx_iput(cur);
		cur = up;
	}
	sdx_iput(cur);
	return err ? err : found;
}

/* Can @src replace @dst (rename over)?  Lock. */
static int check_replace(struct sdx_inode *src, struct sdx_inode *dst)
{
	int empty;

	if (is_dir(src) && !is_dir(dst))
		return -ENOTDIR;
	if (!is_dir(src) && is_dir(dst))
		return -EISDIR;
	if (!is_dir(dst))
		return 0;
	empty = sdx_dir_is_empty(dst);
	if (empty < 0)
		return empty;
	return empty ? 0 : -ENOTEMPTY;
}

/* The changes of a rename, in one handle.  Lock. */
static int rename_entries(struct sdx_fs *fs, struct sdx_nameidata *from,
			  struct sdx_nameidata *to, struct sdx_inode *src,
			  struct sdx_inode *dst)
{
	uint8_t ftype = sdx_dir_ftype(fs, src->raw.i_mode);
	bool moves_dir = is_dir(src) && from->dir != to->dir;
	struct sdx_handle *h;
	int err, e;

	if (moves_dir && !dst) {
		err = check_dir_link(to->dir);
		if (err)
			return err;
	}
	err = sdx_fs_start(fs, 2 * OP_CREDITS, &h);
	if (err)
		return err;
	if (dst) {
		err = sdx_dir_retarget(h, to->dir, to->name, to->len, src->ino,
				       ftype);
		if (!err)
			err = drop_link(h, dst);
		if (!err && is_dir(dst))
			dir_link_dec(to->dir);
	} else {
		err = sdx_dir_add(h, to->dir, to->name, to->len, src->ino,
				  ftype);
	}
	if (!err)
		err = sdx_dir_remove(h, from->dir, from->name, from->len);
	if (!err && is_dir(src)) {
		dir_link_dec(from->dir);
		dir_link_inc(to->dir);
	}
	if (!err && moves_dir)
		err = sdx_dir_retarget(h, src, "..", 2, to->dir->ino,
				       sdx_dir_ftype(fs, S_IFDIR));
	if (!err) {
		sdx_inode_touch(src, SDX_TIME_CTIME);
		sdx_inode_changed(h, src, true);
		err = sdx_inode_mark_dirty(h, src);
	}
	if (!err)
		err = touch_dir(h, from->dir);
	if (!err && to->dir != from->dir)
		err = touch_dir(h, to->dir);
	e = sdx_journal_stop(h);
	return err ? err : e;
}

static int do_rename(struct sdx_fs *fs, struct sdx_nameidata *from,
		     struct sdx_nameidata *to)
{
	struct sdx_inode *src, *dst = NULL;
	int err;

	if (from->len == 0 || to->len == 0 ||
	    sdx_is_dot_or_dotdot(from->name, from->len) ||
	    sdx_is_dot_or_dotdot(to->name, to->len))
		return -EBUSY;
	err = lookup_nd(fs, from, &src);
	if (err)
		return err;
	if ((from->is_dir_required || to->is_dir_required) && !is_dir(src))
		err = -ENOTDIR;
	if (!err) {
		err = lookup_nd(fs, to, &dst);
		if (err == -ENOENT) {
			dst = NULL;
			err = 0;
		}
	}
	if (!err && dst && dst->ino == src->ino)
		goto out_put;		/* the same file: nothing to do */
	if (!err && is_dir(src)) {
		int r = is_ancestor(fs, src->ino, to->dir);

		err = r < 0 ? r : r ? sdx_err(-EINVAL, "cannot move a "
					       "directory into itself") : 0;
	}
	if (!err && dst)
		err = check_replace(src, dst);
	if (!err)
		err = rename_entries(fs, from, to, src, dst);
out_put:
	if (dst)
		sdx_iput(dst);
	sdx_iput(src);
	return err;
}

/*
 * A change naming two paths (rename, link): @other copied in too, then
 * change_begin on @path and @op with both under the lock.
 */
typedef int (*two_path_fn)(struct sdx_fs *fs, struct sdx_nameidata *nd,
			   const char *other);

static int change_two(struct sdx_fs *fs, const char *path, const char *other,
		      two_path_fn op)
{
	struct sdx_nameidata nd;
	struct path_arg p, o;
	int err;

	sdx_err_clear();
	err = path_copy(other, &o);
	if (!err)
		err = change_begin(fs, path, &p, &nd);
	if (err)
		return (int)sdx_errno_ret(err);
	err = op(fs, &nd, o.s);
	sdx_iput(nd.dir);
	pthread_mutex_unlock(&fs->lock);
	return (int)sdx_errno_ret(err);
}

static int rename_to(struct sdx_fs *fs, struct sdx_nameidata *from,
		     const char *to)
{
	struct sdx_nameidata nd;
	int err = sdx_namei_parent(fs, to, &nd);

	if (!err) {
		err = do_rename(fs, from, &nd);
		sdx_iput(nd.dir);
	}
	return err;
}

int sdx_rename(struct sdx_fs *fs, const char *from, const char *to)
{
	return change_two(fs, from, to, rename_to);
}

/* Add @nd's name for the existing @inode.  Lock. */
static int link_entry(struct sdx_fs *fs, struct sdx_nameidata *nd,
		      struct sdx_inode *inode)
{
	struct sdx_handle *h;
	uint32_t ino;
	int err, e;

	if (nd->len == 0 || sdx_is_dot_or_dotdot(nd->name, nd->len))
		return -EEXIST;
	err = sdx_dir_lookup(nd->dir, nd->name, nd->len, &ino, NULL);
	if (err == 0)
		return -EEXIST;
	if (err != -ENOENT)
		return err;
	if (nd->is_dir_required)
		return -ENOENT;
	if (is_dir(inode))
		return sdx_err(-EPERM, "inode %u is a directory: no hard "
			       "links", inode->ino);
	err = check_attr_change(inode, EXT4_IMMUTABLE_FL | EXT4_APPEND_FL);
	if (err)
		return err;
	if (inode->raw.i_links_count >= EXT4_LINK_MAX)
		return sdx_err(-EMLINK, "inode %u has %u links", inode->ino,
			       inode->raw.i_links_count);
	err = sdx_fs_start(fs, OP_CREDITS, &h);
	if (err)
		return err;
	err = sdx_dir_add(h, nd->dir, nd->name, nd->len, inode->ino,
			  sdx_dir_ftype(fs, inode->raw.i_mode));
	if (!err) {
		inode->raw.i_links_count++;
		sdx_inode_touch(inode, SDX_TIME_CTIME);
		sdx_inode_changed(h, inode, true);
		err = sdx_inode_mark_dirty(h, inode);
	}
	if (!err)
		err = touch_dir(h, nd->dir);
	e = sdx_journal_stop(h);
	return err ? err : e;
}

static int link_from(struct sdx_fs *fs, struct sdx_nameidata *nd,
		     const char *oldpath)
{
	struct sdx_inode *inode;
	int err = sdx_namei(fs, oldpath, 0, &inode);	/* link(2): no follow */

	if (!err) {
		err = link_entry(fs, nd, inode);
		sdx_iput(inode);
	}
	return err;
}

int sdx_link(struct sdx_fs *fs, const char *oldpath, const char *newpath)
{
	return change_two(fs, newpath, oldpath, link_from);
}

ssize_t sdx_readlink(struct sdx_fs *fs, const char *path, char *buf, size_t n)
{
	struct sdx_inode *inode;
	struct path_arg *p;
	size_t len = 0;
	int err;

	sdx_err_clear();
	if (!fs || (!buf && n))
		return sdx_errno_ret(-EINVAL);
	p = malloc(2 * sizeof(*p));	/* the path, then the target */
	if (!p)
		return sdx_errno_ret(-ENOMEM);
	err = path_copy(path, &p[0]);
	if (err)
		goto out_free;
	pthread_mutex_lock(&fs->lock);
	err = sdx_namei(fs, p[0].s, 0, &inode);
	if (!err) {
		err = S_ISLNK(inode->raw.i_mode) ?
		      sdx_symlink_target(inode, p[1].s, SDX_PATH_MAX, &len) :
		      -EINVAL;
		sdx_iput(inode);
	}
	pthread_mutex_unlock(&fs->lock);
	if (!err) {
		len = len < n ? len : n;
		memcpy(buf, p[1].s, len);
	}
out_free:
	free(p);
	return err ? sdx_errno_ret(err) : (ssize_t)len;
}

/* ---- directories ---- */

static unsigned char dirent_type(uint8_t ftype)
{
	static const unsigned char types[EXT4_FT_MAX] = {
		[EXT4_FT_UNKNOWN] = DT_UNKNOWN, [EXT4_FT_REG_FILE] = DT_REG,
		[EXT4_FT_DIR] = DT_DIR, [EXT4_FT_CHRDEV] = DT_CHR,
		[EXT4_FT_BLKDEV] = DT_BLK, [EXT4_FT_FIFO] = DT_FIFO,
		[EXT4_FT_SOCK] = DT_SOCK, [EXT4_FT_SYMLINK] = DT_LNK,
	};

	return ftype < EXT4_FT_MAX ? types[ftype] : DT_UNKNOWN;
}

static int collect(void *arg, const char *name, size_t len, uint32_t ino,
		   uint8_t ftype)
{
	struct sdx_dir *d = arg;
	struct dirent *de;

	if (d->count == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		struct dirent *e = realloc(d->entries, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		d->entries = e;
		d->cap = cap;
	}
	de = &d->entries[d->count++];
	memset(de, 0, sizeof(*de));
	de->d_ino = ino;
	de->d_off = (off_t)d->count;
	de->d_reclen = sizeof(*de);
	de->d_type = dirent_type(ftype);
	memcpy(de->d_name, name, len);
	return 0;
}

struct sdx_dir *sdx_opendir(struct sdx_fs *fs, const char *path)
{
	struct sdx_inode *inode;
	struct path_arg p;
	struct sdx_dir *d;
	int err;

	sdx_err_clear();
	if (!fs)
		return sdx_errno_ptr(-EINVAL, NULL);
	err = path_copy(path, &p);
	if (err)
		return sdx_errno_ptr(err, NULL);
	d = calloc(1, sizeof(*d));
	if (!d)
		return sdx_errno_ptr(-ENOMEM, NULL);
	pthread_mutex_lock(&fs->lock);
	err = sdx_namei(fs, p.s, SDX_LOOKUP_FOLLOW, &inode);
	if (!err) {
		err = is_dir(inode) ? sdx_dir_iterate(inode, collect, d) :
		      -ENOTDIR;
		sdx_iput(inode);
	}
	pthread_mutex_unlock(&fs->lock);
	if (err) {
		free(d->entries);
		free(d);
		return sdx_errno_ptr(err, NULL);
	}
	return d;
}

struct dirent *sdx_readdir(struct sdx_dir *d)
{
	sdx_err_clear();
	if (!d)
		return sdx_errno_ptr(-EBADF, NULL);
	return d->pos < d->count ? &d->entries[d->pos++] : NULL;
}

int sdx_closedir(struct sdx_dir *d)
{
	sdx_err_clear();
	if (!d)
		return (int)sdx_errno_ret(-EBADF);
	free(d->entries);
	free(d);
	return 0;
}
