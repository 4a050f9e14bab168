/*
 * util.c - the scratch device, the bounded walk and the writes of the
 * libFuzzer targets (see util.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"
#include "syncdax.h"

#define MAX_DEPTH	8
#define MAX_ENTRIES	2048		/* per walk */
#define READ_CHUNK	65536		/* bytes read at each place of a file */
#define MAX_DEVICES	4

static char device_paths[MAX_DEVICES][64];

static void remove_devices(void)
{
	for (int i = 0; i < MAX_DEVICES; i++)
		if (device_paths[i][0])
			unlink(device_paths[i]);
}

const char *fz_device(const char *name)
{
	int i;

	for (i = 0; i < MAX_DEVICES && device_paths[i][0]; i++)
		;
	if (i == MAX_DEVICES)
		abort();
	if (i == 0)
		atexit(remove_devices);
	snprintf(device_paths[i], sizeof(device_paths[i]),
		 "/dev/shm/sdxfuzz-%d-%s", (int)getpid(), name);
	return device_paths[i];
}

void fz_write_device(const char *path, const void *data, size_t size,
		     uint64_t dev_size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || pwrite(fd, data, size, 0) != (ssize_t)size ||
	    ftruncate(fd, (off_t)dev_size) || close(fd)) {
		perror(path);
		abort();
	}
}

/*
 * Map the first @len bytes of @fd and fault them in (for writing if
 * @is_write, then store and persist); touch them only once sdx_prefault
 * has said they are there -- a page it cannot map would be SIGBUS, as in
 * the kernel, which is no finding.
 */
static void map_file(struct sdx_fs *fs, int fd, size_t len, bool is_write)
{
	int prot = PROT_READ | (is_write ? PROT_WRITE : 0);
	int flags = is_write ? MAP_SHARED_VALIDATE | MAP_SYNC : MAP_SHARED;
	volatile uint8_t *p = sdx_mmap(fs, NULL, len, prot, flags, fd, 0);
	uint8_t sum = 0;

	if (p == MAP_FAILED)
		return;
	if (sdx_prefault((void *)p, len, is_write) == 0) {
		for (size_t i = 0; i < len; i += 512)
			sum += p[i];
		if (is_write) {
			memset((void *)p, sum, len);
			sdx_persist((const void *)p, len);
		}
	}
	sdx_munmap((void *)p, len);
}

static void read_file(struct sdx_fs *fs, const char *path, off_t size)
{
	static char buf[READ_CHUNK];
	const off_t places[] = { 0, size / 2, size - READ_CHUNK / 4 };
	unsigned flags;
	int fd = sdx_open(fs, path, O_RDONLY, 0);

	if (fd < 0)
		return;
	for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++)
		if (sdx_pread(fs, fd, buf, sizeof(buf),
			      places[i] > 0 ? places[i] : 0) < 0)
			break;
	if (size > 0)
		map_file(fs, fd, size < READ_CHUNK ? (size_t)size : READ_CHUNK,
			 false);
	sdx_getflags(fs, fd, &flags);
	sdx_close(fs, fd);
}

/* List the extended attributes of @path (not followed) and get each. */
static void read_xattrs(struct sdx_fs *fs, const char *path)
{
	static char names[65536], value[65536];
	ssize_t n = sdx_llistxattr(fs, path, names, sizeof(names));

	for (ssize_t at = 0; at < n; at += (ssize_t)strlen(names + at) + 1)
		sdx_lgetxattr(fs, path, names + at, value, sizeof(value));
}

static void walk_dir(struct sdx_fs *fs, char *path, size_t len, int depth,
		     unsigned *budget, struct fz_found *found);

static void visit(struct sdx_fs *fs, char *path, size_t len, int depth,
		  unsigned *budget, struct fz_found *found)
{
	struct stat st;
	char target[PATH_MAX];

	if (sdx_lstat(fs, path, &st))
		return;
	read_xattrs(fs, path);
	if (S_ISDIR(st.st_mode)) {
		if (!found->dir[0])
			memcpy(found->dir, path, len + 1);
		if (depth < MAX_DEPTH)
			walk_dir(fs, path, len, depth + 1, budget, found);
	} else if (S_ISREG(st.st_mode)) {
		if (!found->file[0] || st.st_blocks > found->file_blocks) {
			memcpy(found->file, path, len + 1);
			found->file_blocks = st.st_blocks;
		}
		read_file(fs, path, st.st_size);
	} else if (S_ISLNK(st.st_mode)) {
		sdx_readlink(fs, path, target, sizeof(target));
		sdx_stat(fs, path, &st);	/* follows it */
	}
}

/* @path (@len bytes, "" for the root) names a directory. */
static void walk_dir(struct sdx_fs *fs, char *path, size_t len, int depth,
		     unsigned *budget, struct fz_found *found)
{
	struct sdx_dir *dir = sdx_opendir(fs, len ? path : "/");
	struct dirent *de;

	if (!dir)
		return;
	while (*budget && (de = sdx_readdir(dir))) {
		int n;

		--*budget;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n = snprintf(path + len, PATH_MAX - len, "/%s", de->d_name);
		if (n > 0 && (size_t)n < PATH_MAX - len)
			visit(fs, path, len + (size_t)n, depth, budget, found);
		path[len] = '\0';
	}
	sdx_closedir(dir);
}

void fz_walk(struct sdx_fs *fs, struct fz_found *found)
{
	char path[PATH_MAX] = "";
	unsigned budget = MAX_ENTRIES;

	memset(found, 0, sizeof(*found));
	walk_dir(fs, path, 0, 0, &budget, found);
}

/*
 * COLLAPSE_RANGE and INSERT_RANGE on the open @fd, at block-aligned places
 * inside it (the start, the middle, a third), so its extent tree -- maybe
 * mutated -- is shifted both ways.
 */
static void shift_file(struct sdx_fs *fs, int fd)
{
	const off_t bs = 4096;
	struct stat st;
	off_t mid;

	if (sdx_fstat(fs, fd, &st) || st.st_size <= 2 * bs)
		return;
	mid = st.st_size / 2 / bs * bs;
	sdx_fallocate(fs, fd, FALLOC_FL_COLLAPSE_RANGE, mid, bs);
	sdx_fallocate(fs, fd, FALLOC_FL_COLLAPSE_RANGE, 0, bs);
	sdx_fallocate(fs, fd, FALLOC_FL_INSERT_RANGE, st.st_size / 3 / bs * bs,
		      2 * bs);
	sdx_fallocate(fs, fd, FALLOC_FL_INSERT_RANGE, 0, bs);
}

/* An access ACL in Linux's xattr form (posix_acl_xattr.h, version 2):
 * owner rw, user 1000 r, owning group r, mask rw, other none. */
static const uint8_t posix_acl[] = {
	2, 0, 0, 0,
	0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,	/* ACL_USER_OBJ */
	0x02, 0, 4, 0, 0xe8, 0x03, 0, 0,	/* ACL_USER 1000 */
	0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,	/* ACL_GROUP_OBJ */
	0x10, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,	/* ACL_MASK */
	0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,	/* ACL_OTHER */
};

/* Set @name (an ACL) on @path, read it back, and chmod (which rewrites an
 * access ACL). */
static void set_acl(struct sdx_fs *fs, const char *path, const char *name)
{
	static char value[4096];

	sdx_setxattr(fs, path, name, posix_acl, sizeof(posix_acl), 0);
	sdx_getxattr(fs, path, name, value, sizeof(value));
	sdx_chmod(fs, path, 0750);
	sdx_getxattr(fs, path, name, value, sizeof(value));
}

static void write_new_file(struct sdx_fs *fs)
{
	static const char data[8192] = "syncdax fuzz";
	int fd = sdx_open(fs, "/fuzz-new", O_CREAT | O_RDWR | O_TRUNC, 0644);

	if (fd < 0)
		return;
	sdx_pwrite(fs, fd, data, sizeof(data), 0);
	sdx_pwrite(fs, fd, data, 100, 1 << 20);
	sdx_fallocate(fs, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      4096);
	sdx_fsync(fs, fd);
	map_file(fs, fd, sizeof(data), true);
	shift_file(fs, fd);
	sdx_ftruncate(fs, fd, 6000);
	sdx_close(fs, fd);
}

void fz_scribble(struct sdx_fs *fs, const struct fz_found *found)
{
	int fd;

	write_new_file(fs);
	sdx_mkdir(fs, "/fuzz-dir", 0755);
	sdx_rename(fs, "/fuzz-new", "/fuzz-dir/moved");
	sdx_symlink(fs, "moved", "/fuzz-dir/link");
	if (found->file[0]) {
		static const char big[3000];

		/* in the inode, then grown into the attribute block */
		sdx_setxattr(fs, found->file, "user.fuzz", "small", 5, 0);
		sdx_setxattr(fs, found->file, "user.fuzz", big, sizeof(big), 0);
		sdx_removexattr(fs, found->file, "user.fuzz");
		set_acl(fs, found->file, "system.posix_acl_access");
		fd = sdx_open(fs, found->file, O_RDWR, 0);
		if (fd >= 0) {
			shift_file(fs, fd);
			sdx_pwrite(fs, fd, "scribble", 8, 4000);
			sdx_ftruncate(fs, fd, 2048);
			sdx_close(fs, fd);
		}
		sdx_unlink(fs, found->file);
	}
	if (found->dir[0]) {
		char child[PATH_MAX + 16];

		/* a default ACL, and a file that inherits it */
		set_acl(fs, found->dir, "system.posix_acl_default");
		snprintf(child, sizeof(child), "%s/fuzz-acl", found->dir);
		fd = sdx_open(fs, child, O_CREAT | O_WRONLY, 0666);
		if (fd >= 0)
			sdx_close(fs, fd);
		sdx_lgetxattr(fs, child, "system.posix_acl_access", NULL, 0);
		sdx_unlink(fs, child);
		sdx_rename(fs, found->dir, "/fuzz-renamed");
		sdx_rmdir(fs, "/fuzz-renamed");
	}
}
