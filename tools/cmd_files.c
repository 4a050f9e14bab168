/*
 * cmd_files.c - syncdax commands that work on files inside a device:
 * ls, cat, cp, rm, mkdir, stat, chattr, lsattr, defrag.
 *
 * Each mounts the device (read-only where it only reads), works through the
 * public API of include/syncdax.h, and unmounts.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "syncdax.h"
#include "cli.h"

#define CHUNK (1u << 20)

/* A command's target: the mounted device and the path inside it. */
struct target {
	char device[4096];
	const char *path;
	struct sdx_fs *fs;
};

static int open_target(const char *arg, unsigned flags, struct target *t)
{
	if (cli_split(arg, t->device, sizeof(t->device), &t->path) < 0) {
		fprintf(stderr, "syncdax: %s: expected DEVICE:/path\n", arg);
		return 2;
	}
	t->fs = cli_mount(t->device, flags);
	return t->fs ? 0 : 1;
}

/* Unmount; report a failure of the unmount itself. */
static int close_target(struct target *t, int status)
{
	if (sdx_unmount(t->fs) < 0 && status == 0)
		status = cli_fail(t->device);
	return status;
}

static int fail_path(struct target *t)
{
	char what[4200];

	snprintf(what, sizeof(what), "%s:%s", t->device, t->path);
	return cli_fail(what);
}

/* The one-argument commands share their shape: check usage, mount, run. */
static int one_target(int argc, char **argv, unsigned flags,
		      int (*op)(struct target *t))
{
	struct target t;
	int status;

	if (argc != 2) {
		cli_usage(argv[0]);
		return 2;
	}
	status = open_target(argv[1], flags, &t);
	if (status)
		return status;
	return close_target(&t, op(&t));
}

static char type_char(mode_t mode)
{
	return S_ISDIR(mode) ? 'd' : S_ISLNK(mode) ? 'l' : '-';
}

static void print_long(struct target *t, const char *dir, const char *name)
{
	char path[4200], when[32];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "",
		 name);
	if (sdx_lstat(t->fs, path, &st) < 0) {
		printf("?????????? %s\n", name);
		return;
	}
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M",
		 localtime(&st.st_mtime));
	printf("%c%04o %3lu %5u %5u %12lld %s %s\n", type_char(st.st_mode),
	       st.st_mode & 07777, (unsigned long)st.st_nlink, st.st_uid,
	       st.st_gid, (long long)st.st_size, when, name);
}

int cli_ls(int argc, char **argv)
{
	bool is_long = argc > 1 && strcmp(argv[1], "-l") == 0;
	struct sdx_dir *d;
	struct dirent *e;
	struct target t;
	int status;

	if (argc != 2 + is_long) {
		cli_usage("ls");
		return 2;
	}
	status = open_target(argv[1 + is_long], SDX_MOUNT_RDONLY, &t);
	if (status)
		return status;
	d = sdx_opendir(t.fs, t.path);
	if (d == NULL)
		return close_target(&t, fail_path(&t));
	errno = 0;
	while ((e = sdx_readdir(d)) != NULL) {
		if (is_long)
			print_long(&t, t.path, e->d_name);
		else
			printf("%s\n", e->d_name);
	}
	if (errno)
		status = fail_path(&t);
	sdx_closedir(d);
	return close_target(&t, status);
}

/*
 * One side of a copy: a host file descriptor or a file inside a device.
 */
struct side {
	struct target t;
	bool is_device;
	bool is_stream;		/* standard output: no offsets */
	int fd;
};

static ssize_t side_pread(struct side *s, void *buf, size_t n, off_t off)
{
	return s->is_device ? sdx_pread(s->t.fs, s->fd, buf, n, off)
			    : pread(s->fd, buf, n, off);
}

static ssize_t side_pwrite(struct side *s, const void *buf, size_t n,
			   off_t off)
{
	if (s->is_stream)
		return write(s->fd, buf, n);
	return s->is_device ? sdx_pwrite(s->t.fs, s->fd, buf, n, off)
			    : pwrite(s->fd, buf, n, off);
}

static int side_fail(struct side *s, const char *arg)
{
	if (s->is_device)
		return fail_path(&s->t);
	fprintf(stderr, "syncdax: %s: %s\n", arg, strerror(errno));
	return 1;
}

static int side_open(struct side *s, const char *arg, int flags,
		     unsigned mount_flags)
{
	int status;

	s->is_device = strstr(arg, ":/") != NULL;
	s->is_stream = false;
	if (!s->is_device) {
		s->fd = open(arg, flags, 0644);
		return s->fd < 0 ? side_fail(s, arg) : 0;
	}
	status = open_target(arg, mount_flags, &s->t);
	if (status)
		return status;
	s->fd = sdx_open(s->t.fs, s->t.path, flags, 0644);
	if (s->fd < 0) {
		status = side_fail(s, arg);
		return close_target(&s->t, status);
	}
	return 0;
}

static int side_close(struct side *s, const char *arg, int status)
{
	if (!s->is_device) {
		if (close(s->fd) < 0 && status == 0)
			status = side_fail(s, arg);
		return status;
	}
	if (sdx_close(s->t.fs, s->fd) < 0 && status == 0)
		status = side_fail(s, arg);
	return close_target(&s->t, status);
}

static int side_size(struct side *s, off_t *size)
{
	struct stat st;
	int r = s->is_device ? sdx_fstat(s->t.fs, s->fd, &st)
			     : fstat(s->fd, &st);

	*size = st.st_size;
	return r;
}

/* Copy all of @in to @out; status 0 or 1 (message printed). */
static int copy(struct side *in, const char *src, struct side *out,
		const char *dst)
{
	char *buf = malloc(CHUNK);
	off_t off = 0, total = 0;
	ssize_t n = 0;
	int status = 0;

	if (buf == NULL || side_size(in, &total) < 0)
		status = side_fail(in, src);
	while (status == 0 && (n = side_pread(in, buf, CHUNK, off)) > 0) {
		if (side_pwrite(out, buf, (size_t)n, off) != n) {
			status = side_fail(out, dst);
			break;
		}
		off += n;
		if (total >= (64 << 20))	/* a bar for long copies */
			cli_progress("cp", (uint64_t)off >> 20,
				     (uint64_t)total >> 20, "MiB");
	}
	if (status == 0 && n < 0)
		status = side_fail(in, src);
	free(buf);
	return status;
}

int cli_cp(int argc, char **argv)
{
	struct side in, out;
	int status;

	if (argc != 3) {
		cli_usage("cp");
		return 2;
	}
	status = side_open(&in, argv[1], O_RDONLY, SDX_MOUNT_RDONLY);
	if (status)
		return status;
	status = side_open(&out, argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0);
	if (status)
		return side_close(&in, argv[1], status);
	status = copy(&in, argv[1], &out, argv[2]);
	status = side_close(&out, argv[2], status);
	return side_close(&in, argv[1], status);
}

static int cat_op(struct target *t)
{
	struct side in = { .t = *t, .is_device = true };
	struct side out = { .is_stream = true, .fd = STDOUT_FILENO };
	int status;

	in.fd = sdx_open(t->fs, t->path, O_RDONLY, 0);
	if (in.fd < 0)
		return fail_path(t);
	status = copy(&in, t->path, &out, "standard output");
	sdx_close(t->fs, in.fd);
	return status;
}

int cli_cat(int argc, char **argv)
{
	return one_target(argc, argv, SDX_MOUNT_RDONLY, cat_op);
}

static int rm_op(struct target *t)
{
	struct stat st;

	if (sdx_lstat(t->fs, t->path, &st) < 0)
		return fail_path(t);
	if ((S_ISDIR(st.st_mode) ? sdx_rmdir(t->fs, t->path)
				 : sdx_unlink(t->fs, t->path)) < 0)
		return fail_path(t);
	return 0;
}

int cli_rm(int argc, char **argv)
{
	return one_target(argc, argv, 0, rm_op);
}

static int mkdir_op(struct target *t)
{
	return sdx_mkdir(t->fs, t->path, 0755) < 0 ? fail_path(t) : 0;
}

int cli_mkdir(int argc, char **argv)
{
	return one_target(argc, argv, 0, mkdir_op);
}

static int stat_op(struct target *t)
{
	struct stat st;

	if (sdx_lstat(t->fs, t->path, &st) < 0)
		return fail_path(t);
	printf("  File: %s\n  Size: %lld\tBlocks: %lld\tIO Block: %ld\t%s\n"
	       "Inode: %llu\tLinks: %lu\tAccess: (%04o)\tUid: %u\tGid: %u\n"
	       "Modify: %lld.%09ld\nChange: %lld.%09ld\n", t->path,
	       (long long)st.st_size, (long long)st.st_blocks,
	       (long)st.st_blksize,
	       S_ISDIR(st.st_mode) ? "directory" :
	       S_ISLNK(st.st_mode) ? "symbolic link" : "regular file",
	       (unsigned long long)st.st_ino, (unsigned long)st.st_nlink,
	       st.st_mode & 07777, st.st_uid, st.st_gid,
	       (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
	       (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	return 0;
}

int cli_stat(int argc, char **argv)
{
	return one_target(argc, argv, SDX_MOUNT_RDONLY, stat_op);
}

/* The chattr letters ext4 stores, in lsattr's order. */
static const struct { unsigned flag; char letter; } attrs[] = {
	{ FS_SECRM_FL, 's' }, { FS_UNRM_FL, 'u' }, { FS_SYNC_FL, 'S' },
	{ FS_DIRSYNC_FL, 'D' }, { FS_IMMUTABLE_FL, 'i' },
	{ FS_APPEND_FL, 'a' }, { FS_NODUMP_FL, 'd' }, { FS_NOATIME_FL, 'A' },
	{ FS_EXTENT_FL, 'e' }, { FS_NOCOW_FL, 'C' }, { FS_PROJINHERIT_FL, 'P' },
};

static int lsattr_op(struct target *t)
{
	unsigned flags;
	size_t i;
	int fd = sdx_open(t->fs, t->path, O_RDONLY, 0);

	if (fd < 0 || sdx_getflags(t->fs, fd, &flags) < 0) {
		int status = fail_path(t);

		if (fd >= 0)
			sdx_close(t->fs, fd);
		return status;
	}
	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		putchar(flags & attrs[i].flag ? attrs[i].letter : '-');
	printf(" %s\n", t->path);
	sdx_close(t->fs, fd);
	return 0;
}

int cli_lsattr(int argc, char **argv)
{
	return one_target(argc, argv, SDX_MOUNT_RDONLY, lsattr_op);
}

int cli_chattr(int argc, char **argv)
{
	unsigned flags;
	struct target t;
	int fd, status;

	if (argc != 3 || (argv[1][0] != '+' && argv[1][0] != '-') ||
	    strcmp(argv[1] + 1, "S") != 0) {
		cli_usage("chattr");
		return 2;
	}
	status = open_target(argv[2], 0, &t);
	if (status)
		return status;
	fd = sdx_open(t.fs, t.path, O_RDONLY, 0);
	if (fd < 0)
		return close_target(&t, fail_path(&t));
	if (sdx_getflags(t.fs, fd, &flags) < 0)
		status = fail_path(&t);
	else if (argv[1][0] == '+')
		flags |= FS_SYNC_FL;
	else
		flags &= ~FS_SYNC_FL;
	if (status == 0 && sdx_setflags(t.fs, fd, flags) < 0)
		status = fail_path(&t);
	sdx_close(t.fs, fd);
	return close_target(&t, status);
}

static void defrag_progress(uint64_t done, uint64_t total, void *arg)
{
	(void)arg;
	cli_progress("defrag", done, total, "blocks");
}

static int defrag_op(struct target *t)
{
	int fd = sdx_open(t->fs, t->path, O_RDWR, 0);
	int status = 0;

	if (fd < 0)
		return fail_path(t);
	if (sdx_defrag(t->fs, fd, defrag_progress, NULL) < 0)
		status = fail_path(t);
	sdx_close(t->fs, fd);
	return status;
}

int cli_defrag(int argc, char **argv)
{
	return one_target(argc, argv, 0, defrag_op);
}
