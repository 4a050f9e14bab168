/*
 * util.h - what the libFuzzer targets (fuzz/fuzz_*.c) share: the
 * scratch device they mount, and the walk and the writes they make on a
 * mounted (possibly hostile) image.
 *
 * Every walk is bounded (depth, entries, bytes read) so that an image
 * whose directories loop or whose files claim terabytes is walked in
 * bounded time: a slow input is then a finding about syncdax, not about
 * the walk.
 */
#ifndef SDX_FUZZ_UTIL_H
#define SDX_FUZZ_UTIL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct sdx_fs;

/* Paths the walk found, for the writes that follow (empty: none). */
struct fz_found {
	char file[PATH_MAX];	/* the regular file of the most blocks */
	long long file_blocks;	/* its st_blocks */
	char dir[PATH_MAX];	/* a directory other than the root */
};

/*
 * A scratch device /dev/shm/sdxfuzz-<pid>-@name, removed at exit.
 * Return: its path (static storage, one per name; 4 names at most).
 */
const char *fz_device(const char *name);

/*
 * Make @path a device of @dev_size bytes (a multiple of 4 KiB) holding
 * @data at offset 0 and zeroes after it.  Aborts on a host error (that is
 * no finding about the input).
 */
void fz_write_device(const char *path, const void *data, size_t size,
		     uint64_t dev_size);

/* Walk the whole tree: readdir, lstat/stat, read (pread and a mapping),
 * readlink, getflags, and the extended attributes (list, get each). */
void fz_walk(struct sdx_fs *fs, struct fz_found *found);

/* A few writes: create/write/punch/fsync, stores through a MAP_SYNC
 * mapping, COLLAPSE_RANGE and INSERT_RANGE, truncate, mkdir, rename,
 * symlink, and changes to what the walk found (an extended attribute set,
 * grown and removed; a POSIX access ACL set, read and chmodded; the
 * extents shifted; write, truncate, unlink; a default ACL on the directory
 * and a file that inherits it; rename, rmdir). */
void fz_scribble(struct sdx_fs *fs, const struct fz_found *found);

#endif /* SDX_FUZZ_UTIL_H */
