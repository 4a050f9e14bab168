/*
 * cmd_mount.c - `syncdax mount DEVICE MOUNTPOINT`: the file system on
 * DEVICE served through FUSE (libfuse3), so that every other program --
 * shells, cp, tar, editors -- reads and writes it while syncdax holds the
 * device.
 *
 * Each FUSE request becomes one call of the public API (include/syncdax.h)
 * on the one mounted struct sdx_fs; lsattr and chattr arrive as ioctls,
 * getfattr and setfattr as the xattr requests.  An open FUSE file carries
 * its syncdax file descriptor in fi->fh.  Permission checks are the kernel's
 * (default_permissions).  A file unlinked while open is renamed to
 * .fuse_hiddenNNNN by libfuse and unlinked at its last close: the kernel
 * asks for the attributes of an open file by inode, which the path-based
 * FUSE API can only answer while the file has a name.  Requests are
 * served one at a time: the library serialises metadata under one lock in
 * any case, and one thread keeps the order of operations that of the
 * requests.
 *
 * Life of the command:
 *
 *   start --fork (unless -f)--> parent waits on a pipe
 *   child: sdx_mount --> fuse_new --> fuse_mount --> READY (a byte down the
 *          pipe: the parent exits 0; on any failure before READY the child
 *          prints why and the parent exits 1)
 *   READY --fusermount3 -u / SIGINT / SIGTERM--> loop ends --> fuse_unmount
 *          --> sdx_unmount (commit, checkpoint, image clean) --> exit
 *
 * Invariants:
 *   (1) The device is mounted (and locked) only in the process that serves
 *       the requests: it is mounted after the fork, so the journal's thread
 *       lives in that process and the device lock is released exactly when
 *       the image is clean.  `flock DEVICE true` therefore waits for the end
 *       of an unmount that `fusermount3 -u` only started.
 *   (2) Every file descriptor stored in fi->fh is closed by release.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <getopt.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "syncdax.h"

static struct sdx_fs *mounted_fs(void)
{
	return fuse_get_context()->private_data;
}

/* -errno of the last failed syncdax call (EIO if it left errno 0). */
static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;	/* st_ino is the ext4 inode number */
	return mounted_fs();
}

static int op_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	int r;

	if (!path && !fi)
		return -ESTALE;
	r = path ? sdx_lstat(mounted_fs(), path, st)
		 : sdx_fstat(mounted_fs(), (int)fi->fh, st);
	return r ? neg_errno() : 0;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n;

	if (size == 0)
		return -EINVAL;
	n = sdx_readlink(mounted_fs(), path, buf, size - 1);
	if (n < 0)
		return neg_errno();
	buf[n] = '\0';
	return 0;
}

static int op_mkdir(const char *path, mode_t mode)
{
	return sdx_mkdir(mounted_fs(), path, mode) ? neg_errno() : 0;
}

static int op_unlink(const char *path)
{
	return sdx_unlink(mounted_fs(), path) ? neg_errno() : 0;
}

static int op_rmdir(const char *path)
{
	return sdx_rmdir(mounted_fs(), path) ? neg_errno() : 0;
}

static int op_symlink(const char *target, const char *path)
{
	return sdx_symlink(mounted_fs(), target, path) ? neg_errno() : 0;
}

static int op_link(const char *from, const char *to)
{
	return sdx_link(mounted_fs(), from, to) ? neg_errno() : 0;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct sdx_fs *fs = mounted_fs();
	int r = fi ? sdx_fchmod(fs, (int)fi->fh, mode)
		   : sdx_chmod(fs, path, mode);

	return r ? neg_errno() : 0;
}

/* The kernel has resolved symlinks: a symlink's path here is lchown's. */
static int op_chown(const char *path, uid_t uid, gid_t gid,
		    struct fuse_file_info *fi)
{
	(void)fi;
	return sdx_lchown(mounted_fs(), path, uid, gid) ? neg_errno() : 0;
}

/* Likewise utimensat(AT_SYMLINK_NOFOLLOW): `touch -h` of a symlink. */
static int op_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	(void)fi;
	return sdx_lutimens(mounted_fs(), path, tv) ? neg_errno() : 0;
}

/*
 * Extended attributes: the l-variants, the kernel has resolved links.
 * POSIX ACLs are refused: the mount does not ask the kernel to enforce
 * them (no FUSE_CAP_POSIX_ACL; default_permissions checks the mode), and
 * the kernel would not see the mode change an access ACL makes.  cp -p
 * then falls back to chmod.
 */
static int op_setxattr(const char *path, const char *name, const char *value,
		       size_t size, int flags)
{
	if (!strncmp(name, "system.posix_acl_", strlen("system.posix_acl_")))
		return -EOPNOTSUPP;
	return sdx_lsetxattr(mounted_fs(), path, name, value, size, flags)
		       ? neg_errno()
		       : 0;
}

static int op_getxattr(const char *path, const char *name, char *value,
		       size_t size)
{
	ssize_t n = sdx_lgetxattr(mounted_fs(), path, name, value, size);

	return n < 0 ? neg_errno() : (int)n;
}

static int op_listxattr(const char *path, char *list, size_t size)
{
	ssize_t n = sdx_llistxattr(mounted_fs(), path, list, size);

	return n < 0 ? neg_errno() : (int)n;
}

static int op_removexattr(const char *path, const char *name)
{
	return sdx_lremovexattr(mounted_fs(), path, name) ? neg_errno() : 0;
}

/* RENAME_NOREPLACE/EXCHANGE: EINVAL makes callers (mv) fall back. */
static int op_rename(const char *from, const char *to, unsigned int flags)
{
	if (flags)
		return -EINVAL;
	return sdx_rename(mounted_fs(), from, to) ? neg_errno() : 0;
}

static int op_truncate(const char *path, off_t size,
		       struct fuse_file_info *fi)
{
	struct sdx_fs *fs = mounted_fs();
	int fd, r;

	if (fi)
		return sdx_ftruncate(fs, (int)fi->fh, size) ? neg_errno() : 0;
	fd = sdx_open(fs, path, O_WRONLY, 0);
	if (fd < 0)
		return neg_errno();
	r = sdx_ftruncate(fs, fd, size) ? neg_errno() : 0;
	sdx_close(fs, fd);
	return r;
}

/*
 * The kernel has already done O_CREAT/O_EXCL (lookup, create) and O_TRUNC
 * (a truncate); it also computes the offset of an O_APPEND write.  syncdax
 * gets the access mode only; O_SYNC/O_DSYNC are honoured in op_write.
 */
static int op_open(const char *path, struct fuse_file_info *fi)
{
	int fd = sdx_open(mounted_fs(), path, fi->flags & O_ACCMODE, 0);

	if (fd < 0)
		return neg_errno();
	fi->fh = (uint64_t)fd;
	return 0;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int flags = (fi->flags & (O_ACCMODE | O_EXCL | O_TRUNC)) | O_CREAT;
	int fd = sdx_open(mounted_fs(), path, flags, mode);

	if (fd < 0)
		return neg_errno();
	fi->fh = (uint64_t)fd;
	return 0;
}

/* FUSE wants the whole request unless the file ends first. */
static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	size_t done = 0;

	(void)path;
	while (done < size) {
		ssize_t n = sdx_pread(mounted_fs(), (int)fi->fh, buf + done,
				      size - done, off + (off_t)done);
		if (n < 0)
			return done ? (int)done : neg_errno();
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (int)done;
}

static int op_write(const char *path, const char *buf, size_t size,
		    off_t off, struct fuse_file_info *fi)
{
	struct sdx_fs *fs = mounted_fs();
	int fd = (int)fi->fh;
	size_t done = 0;

	(void)path;
	while (done < size) {
		ssize_t n = sdx_pwrite(fs, fd, buf + done, size - done,
				       off + (off_t)done);
		if (n < 0)
			return done ? (int)done : neg_errno();
		done += (size_t)n;
	}
	if ((fi->flags & O_SYNC) == O_SYNC) {
		if (sdx_fsync(fs, fd))
			return neg_errno();
	} else if ((fi->flags & O_DSYNC) && sdx_fdatasync(fs, fd)) {
		return neg_errno();
	}
	return (int)done;
}

/* What df shows. */
static int op_statfs(const char *path, struct statvfs *sv)
{
	return sdx_statvfs(mounted_fs(), path, sv) ? neg_errno() : 0;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	return sdx_close(mounted_fs(), (int)fi->fh) ? neg_errno() : 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct sdx_fs *fs = mounted_fs();
	int r;

	(void)path;
	r = datasync ? sdx_fdatasync(fs, (int)fi->fh)
		     : sdx_fsync(fs, (int)fi->fh);
	return r ? neg_errno() : 0;
}

/*
 * A directory is read whole on each call (offset 0 mode: libfuse keeps the
 * entries for the kernel's later requests), so rewinddir sees changes.
 */
static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct sdx_dir *dir;
	struct dirent *de;
	int r = 0;

	(void)off;
	(void)fi;
	(void)flags;
	if (!path)
		return -ENOENT;
	dir = sdx_opendir(mounted_fs(), path);
	if (!dir)
		return neg_errno();
	errno = 0;
	while ((de = sdx_readdir(dir))) {
		struct stat st = {
			.st_ino = de->d_ino,
			.st_mode = DTTOIF(de->d_type),
		};

		if (fill(buf, de->d_name, &st, 0, 0)) {
			r = -ENOMEM;	/* libfuse could not grow its buffer */
			break;
		}
	}
	if (!de && errno)
		r = neg_errno();
	sdx_closedir(dir);
	return r;
}

static int op_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	(void)path;
	return sdx_fallocate(mounted_fs(), (int)fi->fh, mode, off, len)
		       ? neg_errno()
		       : 0;
}

/* The chattr flags that have an FS_XFLAG_* twin (as the kernel maps them). */
static const struct {
	unsigned int flag;
	unsigned int xflag;
} xflag_map[] = {
	{ FS_SYNC_FL, FS_XFLAG_SYNC },
	{ FS_IMMUTABLE_FL, FS_XFLAG_IMMUTABLE },
	{ FS_APPEND_FL, FS_XFLAG_APPEND },
	{ FS_NODUMP_FL, FS_XFLAG_NODUMP },
	{ FS_NOATIME_FL, FS_XFLAG_NOATIME },
	{ FS_PROJINHERIT_FL, FS_XFLAG_PROJINHERIT },
};

/* FS_IOC_FSGETXATTR / FS_IOC_FSSETXATTR in terms of the chattr flags. */
static int xattr_flags(struct sdx_fs *fs, int fd, struct fsxattr *fsx,
		       bool is_set)
{
	unsigned int flags;

	if (sdx_getflags(fs, fd, &flags))
		return neg_errno();
	if (!is_set)
		memset(fsx, 0, sizeof(*fsx));
	for (size_t i = 0; i < sizeof(xflag_map) / sizeof(xflag_map[0]); i++) {
		if (!is_set && (flags & xflag_map[i].flag))
			fsx->fsx_xflags |= xflag_map[i].xflag;
		else if (is_set && (fsx->fsx_xflags & xflag_map[i].xflag))
			flags |= xflag_map[i].flag;
		else if (is_set)
			flags &= ~xflag_map[i].flag;
	}
	if (is_set && sdx_setflags(fs, fd, flags))
		return neg_errno();
	return 0;
}

/*
 * lsattr/chattr of a regular file.  The kernel reads the old attributes
 * with FS_IOC_FSGETXATTR before it sets new flags, and passes the flags
 * as 4 bytes, as ext4 reads and writes them.
 */
static int op_ioctl(const char *path, int cmd, void *arg,
		    struct fuse_file_info *fi, unsigned int flags, void *data)
{
	struct sdx_fs *fs = mounted_fs();
	int fd = (int)fi->fh;

	(void)path;
	(void)arg;
	if (flags & FUSE_IOCTL_DIR)
		return -ENOTTY;
	switch ((unsigned int)cmd) {
	case FS_IOC_GETFLAGS:
		return sdx_getflags(fs, fd, data) ? neg_errno() : 0;
	case FS_IOC_SETFLAGS:
		return sdx_setflags(fs, fd, *(unsigned int *)data) ? neg_errno()
								   : 0;
	case FS_IOC_FSGETXATTR:
		return xattr_flags(fs, fd, data, false);
	case FS_IOC_FSSETXATTR:
		return xattr_flags(fs, fd, data, true);
	default:
		return -ENOTTY;
	}
}

static const struct fuse_operations sdx_fuse_ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.chmod = op_chmod,
	.chown = op_chown,
	.utimens = op_utimens,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.truncate = op_truncate,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.statfs = op_statfs,
	.release = op_release,
	.fsync = op_fsync,
	.readdir = op_readdir,
	.fallocate = op_fallocate,
	.ioctl = op_ioctl,
};

struct mount_args {
	const char *device;
	const char *mountpoint;
	const char *options;	/* -o, handed to FUSE */
	bool is_foreground;
	bool is_debug;
	bool is_rdonly;
};

static int parse_args(int argc, char **argv, struct mount_args *a)
{
	int c;

	memset(a, 0, sizeof(*a));
	optind = 0;	/* glibc: start afresh, argv[0] is "mount" */
	while ((c = getopt(argc, argv, "fdro:")) != -1) {
		switch (c) {
		case 'f':
			a->is_foreground = true;
			break;
		case 'd':
			a->is_debug = true;
			a->is_foreground = true;
			break;
		case 'r':
			a->is_rdonly = true;
			break;
		case 'o':
			a->options = optarg;
			break;
		default:
			return -1;
		}
	}
	if (argc - optind != 2)
		return -1;
	a->device = argv[optind];
	a->mountpoint = argv[optind + 1];
	return 0;
}

/* The FUSE command line: name, mount options, -d. */
static int fuse_argv(const struct mount_args *a, struct fuse_args *fa)
{
	char *opts = NULL;
	char fsname[PATH_MAX + 8];
	int r;

	snprintf(fsname, sizeof(fsname), "fsname=%s", a->device);
	r = fuse_opt_add_arg(fa, "syncdax") ||
	    fuse_opt_add_opt_escaped(&opts, fsname) ||
	    fuse_opt_add_opt(&opts, "subtype=syncdax,default_permissions") ||
	    (a->is_rdonly && fuse_opt_add_opt(&opts, "ro")) ||
	    (a->options && fuse_opt_add_opt(&opts, a->options)) ||
	    fuse_opt_add_arg(fa, "-o") || fuse_opt_add_arg(fa, opts) ||
	    (a->is_debug && fuse_opt_add_arg(fa, "-d"));
	free(opts);
	return r ? -1 : 0;
}

/* For a failed libc call: "syncdax: WHAT: strerror" (cli_fail tells the
 * library's detail instead).  Return: 1, the exit status. */
static int fail_errno(const char *what)
{
	fprintf(stderr, "syncdax: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Tell the waiting parent (if any) how the mount went. */
static void report_ready(int ready_fd, char status)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, &status, 1) != 1)
		fail_errno("mount: telling the parent");
	close(ready_fd);
}

/* After READY a daemon's stdio goes nowhere, and it holds no directory. */
static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	if (chdir("/"))
		return;	/* stays where it was; nothing depends on it */
}

/*
 * Mount, serve until unmounted, unmount.  @ready_fd is the pipe to the
 * waiting parent (-1 in the foreground).  Return: the exit status.
 */
static int serve(const struct mount_args *a, int ready_fd)
{
	struct fuse_args fa = FUSE_ARGS_INIT(0, NULL);
	struct fuse *fuse = NULL;
	struct sdx_fs *fs;
	int status = 1;

	fs = cli_mount(a->device, a->is_rdonly ? SDX_MOUNT_RDONLY : 0);
	if (!fs)
		goto out_report;
	if (fuse_argv(a, &fa)) {
		fprintf(stderr, "syncdax: mount: out of memory\n");
		goto out_unmount;
	}
	fuse = fuse_new(&fa, &sdx_fuse_ops, sizeof(sdx_fuse_ops), fs);
	if (!fuse)	/* libfuse printed why (bad -o option) */
		goto out_unmount;
	if (fuse_mount(fuse, a->mountpoint))
		goto out_destroy;
	if (fuse_set_signal_handlers(fuse_get_session(fuse)))
		goto out_fuse_unmount;

	if (ready_fd >= 0)
		setsid();
	report_ready(ready_fd, 0);
	ready_fd = -1;
	if (!a->is_foreground)
		detach_stdio();
	/* 0 unmounted, a signal number after SIGTERM/SIGINT, or -errno */
	status = fuse_loop(fuse) < 0 ? 1 : 0;
	fuse_remove_signal_handlers(fuse_get_session(fuse));
out_fuse_unmount:
	fuse_unmount(fuse);
out_destroy:
	fuse_destroy(fuse);
out_unmount:
	fuse_opt_free_args(&fa);
	if (sdx_unmount(fs))
		status = cli_fail(a->device);
out_report:
	report_ready(ready_fd, 1);
	return status;
}

/* Fork; the parent exits with what the child reports through the pipe. */
static int daemonize_and_serve(const struct mount_args *a)
{
	int pipe_fd[2];
	pid_t pid;
	char status;
	ssize_t n;

	if (pipe(pipe_fd))
		return fail_errno("mount: pipe");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return fail_errno("mount: fork");
	if (pid == 0) {
		close(pipe_fd[0]);
		exit(serve(a, pipe_fd[1]));	/* stdio was flushed */
	}
	close(pipe_fd[1]);
	do {
		n = read(pipe_fd[0], &status, 1);
	} while (n < 0 && errno == EINTR);
	close(pipe_fd[0]);
	if (n == 1 && status == 0)
		return 0;
	waitpid(pid, NULL, 0);
	if (n != 1)
		fprintf(stderr, "syncdax: mount: %s: the file system process "
			"ended before the mount was ready\n", a->device);
	return 1;
}

/**
 * cli_mount_fuse - `syncdax mount [-f] [-d] [-r] [-o OPTS] DEVICE MOUNTPOINT`
 * @argc/@argv: argv[0] is "mount"
 *
 * -f stays in the foreground, -d also prints every FUSE request, -r mounts
 * read-only, -o passes mount options to FUSE (allow_other, ...).  Without
 * -f the command returns once the mount is in place (or failed).
 * Return: the exit status: 0 mounted (foreground: unmounted cleanly), 1 an
 *         error (printed), 2 a usage error.
 */
int cli_mount_fuse(int argc, char **argv)
{
	struct mount_args a;
	char device[PATH_MAX], mountpoint[PATH_MAX];

	if (parse_args(argc, argv, &a)) {
		cli_usage("mount");
		return 2;
	}
	/* The daemon leaves the working directory; keep absolute paths. */
	if (!realpath(a.device, device))
		return fail_errno(a.device);
	if (!realpath(a.mountpoint, mountpoint))
		return fail_errno(a.mountpoint);
	a.device = device;
	a.mountpoint = mountpoint;
	return a.is_foreground ? serve(&a, -1) : daemonize_and_serve(&a);
}
